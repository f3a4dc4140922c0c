"""A user's own settings: calendar feeds (make, reset, delete) and which emails they get.

Nothing here takes booking locks: these rows belong to one user and touch nobody's bookings.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.utils import timezone

from bookings.access import Principal, may_subscribe
from bookings.errors import BookingError
from bookings.feeds import digest, new_token
from bookings.models import CalendarFeed, EmailOptOut, EmailTopic
from scheduling.models import Coach


def calendar_feed_create(
    *, user: User, scope: str, coach: Coach | None = None
) -> tuple[CalendarFeed, str]:
    """A new feed and its token (shown once: only its hash is kept)."""
    if scope not in CalendarFeed.Scope.values or (scope == CalendarFeed.Scope.COACH) != bool(coach):
        raise BookingError("not_allowed")
    if not may_subscribe(Principal.load(user), scope, coach.pk if coach else None):
        raise BookingError("not_allowed")
    token = new_token()
    try:
        with transaction.atomic():
            feed = CalendarFeed.objects.create(
                user=user, scope=scope, coach=coach, token_hash=digest(token)
            )
    except IntegrityError as exc:  # one per scope (a double click, two tabs)
        raise BookingError("feed_exists") from exc
    return feed, token


def calendar_feed_reset(*, feed: CalendarFeed, actor: User) -> str:
    """A new address for the feed; the old one stops working at once."""
    if feed.user_id != actor.pk:
        raise BookingError("not_allowed")
    token = new_token()
    updated = CalendarFeed.objects.filter(pk=feed.pk, user=actor).update(
        token_hash=digest(token), created_at=timezone.now(), last_used_at=None
    )
    if not updated:  # deleted meanwhile (another tab)
        raise BookingError("not_allowed")
    return token


def calendar_feed_delete(*, feed: CalendarFeed, actor: User) -> None:
    if feed.user_id != actor.pk:
        raise BookingError("not_allowed")
    CalendarFeed.objects.filter(pk=feed.pk, user=actor).delete()


def email_topics_set(*, user: User, wanted: Iterable[str]) -> None:
    """The user gets emails of these topics and of no other."""
    keep = set(wanted) & set(EmailTopic.values)
    with transaction.atomic():
        EmailOptOut.objects.filter(user=user, topic__in=keep).delete()
        EmailOptOut.objects.bulk_create(
            [EmailOptOut(user=user, topic=t) for t in EmailTopic.values if t not in keep],
            ignore_conflicts=True,
        )


def email_topic_set(*, user_id: int, topic: str, wanted: bool) -> None:
    """Turn one topic on or off (the unsubscribe link)."""
    if topic not in EmailTopic.values:
        raise BookingError("not_allowed")
    if wanted:
        EmailOptOut.objects.filter(user_id=user_id, topic=topic).delete()
    else:
        EmailOptOut.objects.bulk_create(
            [EmailOptOut(user_id=user_id, topic=topic)], ignore_conflicts=True
        )
