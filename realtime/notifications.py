"""Toasts (seed 003): who is told about a booking or a cancellation, in which words.

A coach hears of new bookings and cancellations on their sessions; a family hears when
someone else (a coach, the front desk) cancels for them. Nobody is told about their own action.
Each toast goes to one user's personal stream, so a name in it reaches only people who may read it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bookings.models import GuardianLink, IndividualBooking, Player, SessionReservation
from scheduling.models import Academy, Coach, GroupSession


def _when(moment: datetime, academy: Academy) -> str:
    return moment.astimezone(academy.tz).strftime("%a %H:%M")


def _family_user_ids(player: Player, guardian_ids: set[int] | None = None) -> set[int]:
    if guardian_ids is None:
        guardian_ids = set(
            GuardianLink.objects.filter(player=player).values_list("guardian_id", flat=True)
        )
    ids = set(guardian_ids)
    if player.user_id:
        ids.add(player.user_id)
    return ids


def _actor_name(user_id: int | None, user: Any = None) -> str:
    from django.contrib.auth import get_user_model

    if user is None or user.pk != user_id:
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
    guardian_ids: set[int] | None = None,
    actor: Any = None,
) -> list[tuple[int, str]]:
    family = _family_user_ids(player, guardian_ids)
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
    text = f"{_actor_name(actor_id, actor)} cancelled {title} on {when} for {player.first_name}."
    return [(uid, text) for uid in family]


def for_reservation(
    r: SessionReservation,
    *,
    session: GroupSession | None = None,
    coach_user_ids: set[int] | None = None,
    guardian_ids: set[int] | None = None,
) -> list[tuple[int, str]]:
    """The toasts of a reservation's save. Change capture passes what it has already read in
    this transaction (the session, its coaches' users, the player's guardians); the player and
    the actor come from the reservation when the booking service left them on it (its locked
    or joined copies). Whatever is missing is read here."""
    if session is None:
        session = GroupSession.objects.select_related("academy", "session_type").get(
            pk=r.session_id
        )
    if coach_user_ids is None:
        coach_user_ids = set(session.coaches.values_list("user_id", flat=True))
    active = r.status == SessionReservation.Status.RESERVED
    player = r.player if SessionReservation.player.is_cached(r) else None
    if player is None or player.pk != r.player_id:
        player = Player.objects.get(pk=r.player_id)
    actor = r.cancelled_by if SessionReservation.cancelled_by.is_cached(r) else None
    return _notes(
        active=active,
        actor_id=r.reserved_by_id if active else r.cancelled_by_id,
        coach_user_ids=coach_user_ids,
        player=player,
        title=session.display_title,
        when=_when(session.starts_at, session.academy),
        guardian_ids=guardian_ids,
        actor=None if active else actor,
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
