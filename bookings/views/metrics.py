"""The live path's figures: the staff's live metrics page, and `/metrics` for Prometheus.

`/metrics` is not public. It answers a request carrying `Authorization: Bearer <METRICS_TOKEN>`
(the scraper; the token from the environment, compared in constant time) or a signed-in user
whom the access rules let read the live metrics (staff, admins); anyone else, signed in or not,
gets the same 404 as an address that does not exist.
"""

from __future__ import annotations

import hmac

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.shortcuts import render

from bookings import access
from bookings.access import Role, principal_for
from bookings.context import viewer_for
from bookings.live.metrics import LiveMetrics
from bookings.views.act_form import page_fragments
from realtime import metrics_report

PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8"


@login_required
def live_metrics(request: HttpRequest) -> HttpResponse:
    viewer_for(request, Role.STAFF)
    if not access.reads_live_metrics(principal_for(request)):
        raise Http404("No such page.")
    context = page_fragments(request, {"metrics": LiveMetrics()})
    return render(request, "bookings/live_metrics.html", context)


def prometheus(request: HttpRequest) -> HttpResponse:
    if not (_scraper(request) or access.reads_live_metrics(principal_for(request))):
        raise Http404("No such page.")  # before the method: a refusal says nothing
    if request.method not in ("GET", "HEAD"):
        return HttpResponseNotAllowed(["GET", "HEAD"])
    response = HttpResponse(metrics_report.exposition(), content_type=PROMETHEUS_TEXT)
    response["Cache-Control"] = "no-store"
    return response


def _scraper(request: HttpRequest) -> bool:
    token = settings.METRICS_TOKEN
    given = request.headers.get("Authorization", "")
    scheme, _, value = given.partition(" ")
    return (
        bool(token)
        and scheme.lower() == "bearer"
        and hmac.compare_digest(value.strip().encode(), token.encode())
    )
