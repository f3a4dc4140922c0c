"""Toasts (seed 003): who is told about a booking or a cancellation, in which words.

A coach hears of new bookings and cancellations on their sessions and lessons; a family hears
when someone else (a coach, the front desk) cancels for them. Nobody is told about their own
action. Each toast goes to one user's own stream, so a name in it reaches only people who may
read it.
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
