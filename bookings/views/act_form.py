"""A live page's one action form (templates/includes/act_form.html): every action button on the
page submits it, with the page's live fragments (so an HTMX answer can refresh them) and a
nonce (so a double click repeats the first answer instead of acting twice)."""

from __future__ import annotations

import secrets
from typing import Any

from django.http import HttpRequest
from django.template.loader import render_to_string

from bookings.live.inbox import InboxBadge
from realtime.fragments import LiveFragment
from realtime.pages import live_context


def new_nonce() -> str:
    return secrets.token_urlsafe(16)


def page_fragments(request: HttpRequest, shown: dict[str, LiveFragment]) -> dict[str, Any]:
    """A page's live fragments (alias -> fragment), rendered, and a fresh nonce for its form.
    Every live page also follows its viewer's inbox count (the header's badge)."""
    shown = {**shown, "inbox": InboxBadge(request.user.pk or 0)}
    return {**live_context(request, shown), "nonce": new_nonce()}


def nonce_oob() -> str:
    """A new nonce for the page's form, out of band: after a success, the next click is new."""
    return render_to_string("includes/nonce.html", {"nonce": new_nonce(), "oob": True})
