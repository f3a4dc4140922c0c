"""Toasts (seed 003): who is told about a booking or a cancellation, in which words.

A coach hears of new bookings and cancellations on their sessions; a family hears when
someone else (a coach, the front desk) cancels for them. Nobody is told about their own action.
Each toast goes to one user's personal stream, so a name in it reaches only people who may read it.
"""

from __future__ import annotations

from datetime import datetime

from bookings.models import GuardianLink, IndividualBooking, Player, SessionReservation
from scheduling.models import Academy, Coach, GroupSession


def _when(moment: datetime, academy: Academy) -> str:
    return moment.astimezone(academy.tz).strftime("%a %H:%M")


def _family_user_ids(player: Player) -> set[int]:
    ids = set(GuardianLink.objects.filter(player=player).values_list("guardian_id", flat=True))
    if player.user_id:
        ids.add(player.user_id)
    return ids


def _actor_name(user_id: int | None) -> str:
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.filter(pk=user_id).first() if user_id else None
    if user is None:
        return "The academy"
    coach = Coach.objects.filter(user=user).first()
    if coach is not None:
        return coach.display_name
    return user.get_full_name() or "The academy"


def _notes(
    *,
    active: bool,
    actor_id: int | None,
    coach_user_ids: set[int],
    player: Player,
    title: str,
    when: str,
) -> list[tuple[int, str]]:
    family = _family_user_ids(player)
    if active:
        return [
            (uid, f"New booking: {player.first_name}, {when} {title}")
            for uid in coach_user_ids - {actor_id}
        ]
    if actor_id in family:
        return [
            (uid, f"Cancelled: {player.first_name}, {when} {title}")
            for uid in coach_user_ids - {actor_id}
        ]
    text = f"{_actor_name(actor_id)} cancelled {title} on {when} for {player.first_name}."
    return [(uid, text) for uid in family]


def for_reservation(r: SessionReservation) -> list[tuple[int, str]]:
    session = GroupSession.objects.select_related("academy", "session_type").get(pk=r.session_id)
    coach_user_ids = set(session.coaches.values_list("user_id", flat=True))
    active = r.status == SessionReservation.Status.RESERVED
    return _notes(
        active=active,
        actor_id=r.reserved_by_id if active else r.cancelled_by_id,
        coach_user_ids=coach_user_ids,
        player=Player.objects.get(pk=r.player_id),
        title=session.display_title,
        when=_when(session.starts_at, session.academy),
    )


def for_booking(b: IndividualBooking) -> list[tuple[int, str]]:
    booking = IndividualBooking.objects.select_related(
        "academy", "coach", "session_type", "player"
    ).get(pk=b.pk)
    active = booking.status == IndividualBooking.Status.BOOKED
    return _notes(
        active=active,
        actor_id=booking.booked_by_id if active else booking.cancelled_by_id,
        coach_user_ids={booking.coach.user_id},
        player=booking.player,
        title=booking.session_type.name,
        when=_when(booking.starts_at, booking.academy),
    )
