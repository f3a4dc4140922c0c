"""Live fragments over plain HTTP: what a page shows, what actions answer with, what the
client polls while its socket is down. One rule decides who sees what: fragments.allowed."""

from __future__ import annotations

import json
import secrets
from functools import partial

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.template.loader import render_to_string

from bookings.access import principal_for
from realtime import fragments
from realtime.shared_renders import shared_render
from realtime.store import get_store
from realtime.tokens import sign_streams


def new_nonce() -> str:
    return secrets.token_urlsafe(16)


def page_fragments(request: HttpRequest, keys: dict[str, str]) -> dict[str, object]:
    """Render a page's live fragments (alias -> key) for its first load, with the stream numbers
    they are at least as new as (read first), so the page's socket resyncs only what moved."""
    principal = principal_for(request)
    epoch, seqs = _snapshot(list(keys.values()))
    rendered: dict[str, str] = {}
    for alias, key in keys.items():
        fragment = fragments.resolve(key)
        if fragment is None or not fragment.allowed(principal):
            raise Http404("No such view.")
        rendered[alias] = fragment.render()  # fresh: after a form post it must show the post
    return {
        "live": rendered,
        "live_keys": " ".join(keys.values()),
        "live_token": sign_streams(request.user.pk or 0, list(keys.values())),
        "live_seqs": json.dumps(seqs),
        "live_epoch": epoch,
        "nonce": new_nonce(),
    }


def _snapshot(keys: list[str]) -> tuple[str, dict[str, int]]:
    """The numbers' epoch and the streams' numbers now; nothing when Redis is down (the page
    then resyncs everything once its socket is back)."""
    try:
        return get_store().snapshot(keys)
    except Exception:
        return "", {}


def refreshed_fragments(request: HttpRequest, keys_text: str) -> str:
    """Fresh out-of-band renders of the fragments a page said it shows (only allowed ones)."""
    keys = keys_text.split()[:12]
    allowed = fragments.resolve_allowed(keys, principal_for(request))
    return "".join(fragment.render(oob=True) for fragment in allowed)


def nonce_oob() -> str:
    return render_to_string("includes/nonce.html", {"nonce": new_nonce(), "oob": True})


@login_required
def fragment(request: HttpRequest, key: str) -> HttpResponse:
    """GET one live fragment: for resync after a reconnect and for polling without a socket."""
    found = fragments.resolve(key)
    if found is None or not found.allowed(principal_for(request)):
        raise Http404("No such view.")
    return HttpResponse(found.render())


@login_required
def resync(request: HttpRequest) -> HttpResponse:
    """GET /live/?k=..&k=..: fresh out-of-band renders of a page's fragments, with the stream
    sequence numbers they are at least as new as (read before rendering, so a push with a
    higher number is newer still). Used after (re)connecting, on a gap, and for polling."""
    keys = request.GET.getlist("k")[:12]
    allowed = fragments.resolve_allowed(keys, principal_for(request))
    if len(allowed) != len(set(keys)):
        raise Http404("No such view.")
    # Redis down: the render is still the truth, only its number is unknown (0).
    epoch, seqs = _snapshot([f.key for f in allowed])
    html = "".join(
        shared_render(f.key, epoch, seqs.get(f.key), True, partial(f.render, oob=True))
        for f in allowed
    )
    response = HttpResponse(html)
    response["X-Live-Seqs"] = JsonResponse(seqs).content.decode()
    response["X-Live-Epoch"] = epoch
    response["Cache-Control"] = "no-store"
    return response
