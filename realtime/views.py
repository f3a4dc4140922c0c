"""The engine's HTTP side: one fragment, or a page's fragments, re-rendered on request.

Used after (re)connecting, on a gap in a stream's numbers, and for polling while the socket is
down. Who may read what is the fragments' `allowed`, the same rule as for sockets.
"""

from __future__ import annotations

from functools import partial

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse

from realtime import fragments, metrics
from realtime.pages import snapshot
from realtime.shared_renders import shared_render
from realtime.viewers import viewer_of


@login_required
def fragment(request: HttpRequest, key: str) -> HttpResponse:
    """GET one live fragment."""
    resolved = fragments.resolve(key)
    if resolved is None or not resolved.allowed(viewer_of(request)):
        raise Http404("No such view.")
    return HttpResponse(resolved.render())


@login_required
def resync(request: HttpRequest) -> HttpResponse:
    """GET /live/?k=..&k=..: fresh out-of-band renders of a page's fragments, with the stream
    sequence numbers they are at least as new as (read before rendering, so a push with a
    higher number is newer still)."""
    keys = request.GET.getlist("k")[:12]
    allowed = fragments.resolve_allowed(keys, viewer_of(request))
    if len(allowed) != len(set(keys)):
        raise Http404("No such view.")
    metrics.resynced(len(allowed))
    # Redis down: the render is still the truth, only its number is unknown (0).
    epoch, seqs = snapshot([resolved.key for resolved in allowed])
    html = "".join(
        shared_render(r.key, epoch, seqs.get(r.key), True, partial(r.render, oob=True))
        for r in allowed
    )
    response = HttpResponse(html)
    response["X-Live-Seqs"] = JsonResponse(seqs).content.decode()
    response["X-Live-Epoch"] = epoch
    response["Cache-Control"] = "no-store"
    return response
