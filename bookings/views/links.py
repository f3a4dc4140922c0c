"""Addresses that work without logging in, because a token in them is the credential: a
calendar feed (bookings.feeds) and the unsubscribe link of an email (bookings.emails)."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from django.contrib.auth import get_user_model
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import get_conditional_response
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_safe

from bookings import feeds
from bookings.access import Principal, may_subscribe
from bookings.emails.unsubscribe import read_token
from bookings.models import CalendarFeed, EmailOptOut, EmailTopic
from bookings.services.accounts import email_topic_set

NO_FEED = (
    "There is no calendar at this address. It may have been reset or deleted: make a new one "
    "on your Courtside account page.\n"
)
FEED_MAX_AGE = 300  # seconds a calendar app may keep an answer before asking again
USED_EVERY = timedelta(hours=1)  # how often "last used" is written (not on every poll)


@require_safe
def calendar_feed(request: HttpRequest, token: str) -> HttpResponse:
    """The .ics of a feed. 404 for an unknown or revoked token, and for a feed whose owner may
    no longer have it (the same answer, so it says nothing)."""
    feed = feeds.find(token)
    principal = Principal.load(feed.user) if feed else None
    if feed is None or principal is None or not may_subscribe(principal, feed.scope, feed.coach_id):
        return HttpResponse(NO_FEED, status=404, content_type="text/plain; charset=utf-8")
    now = timezone.now()
    body = feeds.calendar_for(feed, principal, now=now)
    _mark_used(feed, now)
    etag = f'"{hashlib.sha256(body).hexdigest()[:32]}"'
    response = get_conditional_response(request, etag=etag) or HttpResponse(
        body, content_type="text/calendar; charset=utf-8"
    )
    response["ETag"] = etag
    response["Cache-Control"] = f"private, max-age={FEED_MAX_AGE}"
    response["Content-Disposition"] = 'inline; filename="courtside.ics"'
    response["X-Robots-Tag"] = "noindex, nofollow"
    return response


def _mark_used(feed: CalendarFeed, now: datetime) -> None:
    """So the account page can say whether a calendar app is reading it (once an hour)."""
    if feed.last_used_at is None or now - feed.last_used_at > USED_EVERY:
        CalendarFeed.objects.filter(pk=feed.pk).update(last_used_at=now)


# A mail client's one-click unsubscribe (RFC 8058) posts without our CSRF token; the signed
# token in the address is what authorizes, and it can only turn emails of one topic off or on.
@csrf_exempt
@require_http_methods(["GET", "HEAD", "POST"])
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    found = read_token(token)
    user = get_user_model().objects.filter(pk=found[0]).first() if found else None
    if found is None or user is None:
        return render(request, "bookings/unsubscribe.html", {"invalid": True}, status=404)
    topic: EmailTopic = found[1]
    if request.method == "POST":
        if request.POST.get("List-Unsubscribe") == "One-Click":
            email_topic_set(user_id=user.pk, topic=topic, wanted=False)
            return HttpResponse("Unsubscribed.\n", content_type="text/plain; charset=utf-8")
        wanted = request.POST.get("action") == "resubscribe"
        email_topic_set(user_id=user.pk, topic=topic, wanted=wanted)
        return redirect(reverse("unsubscribe", args=[token]) + f"?done={'on' if wanted else 'off'}")
    # GET asks first: mail scanners open links, and that must not change anything.
    on = not EmailOptOut.objects.filter(user=user, topic=topic).exists()
    return render(
        request,
        "bookings/unsubscribe.html",
        {"topic": topic, "on": on, "done": request.GET.get("done"), "token": token},
    )
