"""Toasts (seed 003): who is told about a booking or a cancellation, in which words.

A coach hears of new bookings and cancellations on their sessions and lessons; a family hears
when someone else (a coach, the front desk) cancels for them. Nobody is told about their own
action. Each toast goes to one user's own stream, so a name in it reaches only people who may
read it.
"""

from __future__ import annotations

from datetime import datetime, tzinfo

from django.contrib.auth import get_user_model

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
) -> list[Note]:
    """The toasts of a reservation or lesson made (active) or cancelled."""
    when = starts_at.astimezone(tz).strftime("%a %H:%M")
    if active:
        text = f"New booking: {first_name}, {when} {title}"
        return [Note(uid, text) for uid in sorted(coach_user_ids - {actor_id})]
    if actor_id in family:
        text = f"Cancelled: {first_name}, {when} {title}"
        return [Note(uid, text) for uid in sorted(coach_user_ids - {actor_id})]
    text = f"{actor_name(actor_id)} cancelled {title} on {when} for {first_name}."
    return [Note(uid, text) for uid in sorted(family)]


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
