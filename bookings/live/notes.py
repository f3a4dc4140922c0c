"""Toasts (seed 003): who is told about a booking or a cancellation, in which words.

A coach hears of new bookings and of cancellations on their sessions and lessons, whoever made
them (with who, when it was not the family); a family hears when someone else (a coach, the
front desk) cancels for them. Nobody is told about their own action. The front desk hears of
new bookings from its live feed (bookings.live.desk), one push for all of its screens.
Each toast goes to one user's own stream, so a name in it reaches only people who may read it.
"""

from __future__ import annotations

from datetime import datetime, tzinfo

from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils.text import Truncator

from bookings.models import Announcement, InboxItem
from realtime.events import Note
from scheduling.models import Coach


def actor_name(user_id: int | None) -> str:
    """How a family sees who acted: a coach by their coaching name, else the user's name."""
    if user_id is None:
        return "The academy"
    coach = Coach.objects.filter(user_id=user_id).values_list("display_name", flat=True).first()
    if coach:
        return coach
    user = get_user_model().objects.filter(pk=user_id).first()
    return (user.get_full_name() if user else "") or "The academy"


def for_reservation(
    *,
    active: bool,
    actor_id: int | None,
    coach_user_ids: set[int],
    family: set[int],
    first_name: str,
    title: str,
    starts_at: datetime,
    tz: tzinfo,
    tell_coaches: bool = True,
) -> list[Note]:
    """The toasts of a reservation or lesson made (active) or cancelled. `tell_coaches`: False
    when the whole session was called off (its coaches hear that once, see for_session)."""
    when = starts_at.astimezone(tz).strftime("%a %H:%M")
    coaches = sorted(coach_user_ids - {actor_id}) if tell_coaches else []
    if active:
        text = f"New booking: {first_name}, {when} {title}"
        return [Note(uid, text) for uid in coaches]
    if actor_id in family:
        text = f"Cancelled: {first_name}, {when} {title}"
        return [Note(uid, text) for uid in coaches]
    # Someone else cancelled (the front desk, a coach): the family and the coaches hear who.
    who = actor_name(actor_id)
    told = [
        Note(uid, f"{who} cancelled {title} on {when} for {first_name}.") for uid in sorted(family)
    ]
    told += [Note(uid, f"{who} cancelled {first_name}, {when} {title}") for uid in coaches]
    return told


def for_session(
    *, actor_id: int | None, coach_user_ids: set[int], title: str, starts_at: datetime, tz: tzinfo
) -> list[Note]:
    """A whole session called off: its coaches hear it once (the families, each their own)."""
    when = starts_at.astimezone(tz).strftime("%a %H:%M")
    text = f"{actor_name(actor_id)} cancelled the session {title} on {when}."
    return [Note(uid, text) for uid in sorted(coach_user_ids - {actor_id})]


def for_announcement(announcement_id: int) -> tuple[set[int], list[Note]] | None:
    """An announcement's recipients (their inbox copies) and their toasts, which lead to it."""
    announcement = Announcement.objects.select_related("sender").filter(pk=announcement_id).first()
    if announcement is None:
        return None
    recipients = set(
        InboxItem.objects.filter(announcement=announcement).values_list("user_id", flat=True)
    )
    sender = actor_name(announcement.sender_id)
    text = f"Message from {sender}: {Truncator(announcement.text).chars(140)}"
    url = f"{reverse('inbox')}#announcement-{announcement.pk}"
    return recipients, [Note(uid, text, url) for uid in sorted(recipients)]


def for_waitlist(
    *,
    status: str,
    actor_id: int | None,
    family: set[int],
    first_name: str,
    title: str,
    starts_at: datetime,
    until: datetime | None,
    tz: tzinfo,
) -> list[Note]:
    """The family's toasts about a waiting list entry: a spot given or offered, an offer that
    lapsed, taken off the list by someone else, the session called off. Joining or leaving
    oneself says nothing (the answer next to the button did)."""
    when = starts_at.astimezone(tz).strftime("%a %H:%M")
    if status == "promoted":
        text = f"Good news: {first_name} has a spot in {title}, {when}, from the waiting list."
    elif status == "offered" and until is not None:
        by = until.astimezone(tz).strftime("%a %H:%M")
        text = (
            f"A spot in {title}, {when} is held for {first_name} until {by}: "
            "take it from your reservations."
        )
    elif status == "expired":
        text = f"The spot held for {first_name} in {title}, {when} was not taken in time."
    elif status == "left" and actor_id not in family:
        text = f"{actor_name(actor_id)} took {first_name} off the waiting list for {title}, {when}."
    elif status == "closed":
        text = f"{title} on {when} was cancelled; {first_name} is no longer on its waiting list."
    else:
        return []
    return [Note(uid, text) for uid in sorted(family - {actor_id})]
