"""Live fragments in pages: what a page loads with and what an HTMX action answers with."""

from __future__ import annotations

import json
from typing import Any

from django.http import Http404, HttpRequest

from realtime import fragments
from realtime.fragments import LiveFragment
from realtime.store import get_store
from realtime.tokens import sign_streams
from realtime.viewers import viewer_of


def live_context(request: HttpRequest, shown: dict[str, LiveFragment]) -> dict[str, Any]:
    """Render a page's live fragments (alias -> fragment) for its first load, with the stream
    numbers they are at least as new as (read first), so the page's socket resyncs only what
    moved. A fragment that names nothing or that the viewer may not read is a 404."""
    viewer = viewer_of(request)
    keys = [fragment.key for fragment in shown.values()]
    epoch, seqs = snapshot(keys)
    rendered: dict[str, str] = {}
    for alias, fragment in shown.items():
        resolved = fragments.resolve(fragment.key)
        if resolved is None or not resolved.allowed(viewer):
            raise Http404("No such view.")
        rendered[alias] = resolved.render()  # fresh: after a form post it must show the post
    return {
        "live": rendered,
        "live_keys": " ".join(keys),
        "live_token": sign_streams(request.user.pk or 0, keys),
        "live_seqs": json.dumps(seqs),
        "live_epoch": epoch,
    }


def snapshot(keys: list[str]) -> tuple[str, dict[str, int]]:
    """The numbers' epoch and the streams' numbers now; nothing when Redis is down (the page
    then resyncs everything once its socket is back)."""
    try:
        return get_store().snapshot(keys)
    except Exception:
        return "", {}


def refreshed(request: HttpRequest, keys_text: str) -> str:
    """Fresh out-of-band renders of the fragments a page said it shows (only allowed ones)."""
    keys = keys_text.split()[:12]
    allowed = fragments.resolve_allowed(keys, viewer_of(request))
    return "".join(resolved.render(oob=True) for resolved in allowed)
