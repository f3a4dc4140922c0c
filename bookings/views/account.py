"""The account page (linked from the user's name in the header): which emails to get, and
private calendar addresses to make, reset or delete. Plain forms, post/redirect/get."""

from __future__ import annotations

import contextlib
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from bookings import feeds
from bookings.access import principal_for
from bookings.context import viewer_for
from bookings.errors import BookingError
from bookings.models import CalendarFeed, EmailOptOut, EmailTopic
from bookings.services.accounts import (
    calendar_feed_create,
    calendar_feed_delete,
    calendar_feed_reset,
    email_topics_set,
)
from bookings.views.requests import SignedInRequest

TOPIC_HINTS = {
    EmailTopic.CANCELLATIONS: "When a coach or the front desk cancels a booking of yours or your "
    "family's, or calls off a whole session.",
    EmailTopic.PROMOTIONS: "When a place comes free and you move up from a waiting list.",
    EmailTopic.ANNOUNCEMENTS: "News from your academy.",
    EmailTopic.REMINDERS: "The day before each session or lesson.",
}
NEW_FEED = "_courtside_new_feed"  # the session's one-shot {feed id, token} after make or reset


def _offer_value(offer: feeds.Offer) -> str:
    return f"{offer.scope}:{offer.coach_id or ''}"


@login_required
def account(request: SignedInRequest) -> HttpResponse:
    # The academy's time zone for the dates shown; in no academy the page still works.
    with contextlib.suppress(PermissionDenied):
        viewer_for(request)
    principal = principal_for(request)
    off = set(EmailOptOut.objects.filter(user=request.user).values_list("topic", flat=True))
    topics = [
        {"value": t.value, "label": t.label, "hint": TOPIC_HINTS[t], "on": t.value not in off}
        for t in EmailTopic
    ]
    mine = {(f.scope, f.coach_id): f for f in CalendarFeed.objects.filter(user=request.user)}
    fresh = request.session.pop(NEW_FEED, None) or {}
    subscriptions: list[dict[str, Any]] = []
    for offer in feeds.offers(principal):
        feed = mine.get((offer.scope, offer.coach_id))
        entry: dict[str, Any] = {"offer": offer, "value": _offer_value(offer), "feed": feed}
        if feed is not None and fresh.get("feed") == feed.pk:
            url = request.build_absolute_uri(reverse("calendar_feed", args=[fresh["token"]]))
            entry["url"] = url
            entry["webcal"] = "webcal://" + url.split("://", 1)[1]
        subscriptions.append(entry)
    return render(
        request,
        "bookings/account.html",
        {"topics": topics, "subscriptions": subscriptions, "has_email": bool(request.user.email)},
    )


@require_POST
@login_required
def email_settings(request: SignedInRequest) -> HttpResponse:
    email_topics_set(user=request.user, wanted=request.POST.getlist("topic"))
    messages.success(request, "Your email choices are saved.")
    return redirect(reverse("account") + "#email")


@require_POST
@login_required
def calendar_settings(request: SignedInRequest) -> HttpResponse:
    """action=create with offer=<scope>:<coach id>, or action=reset|delete with feed=<id>."""
    user = request.user
    action = request.POST.get("action", "")
    back = redirect(reverse("account") + "#calendar")
    try:
        if action == "create":
            wanted = request.POST.get("offer", "")
            offer = next(
                (o for o in feeds.offers(principal_for(request)) if _offer_value(o) == wanted),
                None,
            )
            if offer is None:
                raise BookingError("not_allowed")
            feed, token = calendar_feed_create(user=user, scope=offer.scope, coach=offer.coach)
            request.session[NEW_FEED] = {"feed": feed.pk, "token": token}
            messages.success(request, "Your calendar address is ready: copy it now.")
        elif action in ("reset", "delete"):
            raw = request.POST.get("feed", "")
            if not (raw.isascii() and raw.isdigit() and len(raw) <= 12):
                raise BookingError("not_allowed")
            feed = get_object_or_404(CalendarFeed, pk=int(raw), user=user)
            if action == "reset":
                token = calendar_feed_reset(feed=feed, actor=user)
                request.session[NEW_FEED] = {"feed": feed.pk, "token": token}
                messages.success(
                    request, "A new address is ready: copy it now. The old one no longer works."
                )
            else:
                calendar_feed_delete(feed=feed, actor=user)
                messages.success(request, "The calendar address is deleted; it no longer works.")
        else:
            messages.error(request, "That is not something this page can do.")
            return back
    except BookingError as error:
        messages.error(request, error.message)
    return back
