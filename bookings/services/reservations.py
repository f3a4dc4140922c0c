"""Reserving a spot in a group session, and cancelling it (which fills the spot from the
waiting list in the same transaction: bookings.services.waitlist)."""

from __future__ import annotations

from datetime import datetime

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from bookings import emails
from bookings.access import Principal, coaches_session
from bookings.errors import BookingError
from bookings.locks import lock
from bookings.models import Player, SessionReservation, WaitlistEntry
from bookings.services.activity import Verb, record
from bookings.services.common import (
    activate_reservation,
    authorize_booking,
    check_cutoff,
    check_eligible,
    check_open,
    latest_reservation,
    mark_cancelled,
    move_counts,
    player_busy,
    remember,
    replayed,
)
from bookings.services.waitlist import lapsed, locked_with_queue, open_entry, settle
from scheduling.models import GroupSession


def reservation_create(
    *,
    player: Player,
    session: GroupSession,
    actor: User,
    idempotency_key: str | None = None,
    now: datetime | None = None,
) -> SessionReservation:
    """Reserve a spot (the player, a guardian, staff). A player offered a spot from the waiting
    list claims it here: the held spot is theirs."""
    privileged = authorize_booking(actor, player, session)

    with transaction.atomic():
        locked = lock(players=[player.pk], sessions=[session.pk])
        session = locked.sessions[session.pk]
        replay = replayed(actor, idempotency_key, "reservation_create", SessionReservation)
        if replay is not None:
            return replay

        now = now or timezone.now()
        check_open(session, now, privileged=privileged)

        previous = latest_reservation(session, player)
        if previous is not None and previous.is_active:
            raise BookingError("already_reserved", existing=previous)
        check_eligible(player, session)
        entry = room_for(session, player, now)
        if player_busy(player, session.starts_at, session.ends_at, exclude_session=session.pk):
            raise BookingError("player_busy")

        reservation = take_spot(session, player, actor, previous, entry)
        record(
            verb=Verb.BOOKED,
            academy_id=session.academy_id,
            actor_id=actor.pk,
            at=now,
            player_id=player.pk,
            session_id=session.pk,
        )
        remember(actor, idempotency_key, "reservation_create", reservation)
    return reservation


def room_for(session: GroupSession, player: Player, now: datetime) -> WaitlistEntry | None:
    """Is there a spot for the player in the (locked) session: a free one, or the one held for
    them from the waiting list? Answers their open waiting list entry, for take_spot."""
    entry = open_entry(session, player)
    claims_offer = entry is not None and entry.status == WaitlistEntry.Status.OFFERED
    if entry is not None and claims_offer and lapsed(entry, now):
        raise BookingError("offer_lapsed")
    if session.is_full and not claims_offer:
        raise BookingError("session_full")
    return entry


def take_spot(
    session: GroupSession,
    player: Player,
    actor: User,
    previous: SessionReservation | None,
    entry: WaitlistEntry | None,
) -> SessionReservation:
    """Write the player's reservation and count it, once every check has passed, under the
    player's and the session's locks (a booking and a walk-in share this). `previous`: the
    player's last reservation of this session (latest_reservation); `entry`: their open
    waiting list entry (room_for), which ends here: never both reserved and waiting."""
    reservation = activate_reservation(session, player, actor, previous)
    reservation.session = session  # the locked copy, fresh, for the caller's answer
    claims_offer = entry is not None and entry.status == WaitlistEntry.Status.OFFERED
    if entry is not None:
        entry.status = WaitlistEntry.Status.PROMOTED
        entry.ended_by = actor
        entry.save(update_fields=["status", "ended_by", "updated_at"])
    move_counts(
        session,
        reserved=+1,
        held=-1 if claims_offer else 0,
        waiting=-1 if entry is not None and not claims_offer else 0,
    )
    return reservation


def _oversees(principal: Principal, reservation: SessionReservation) -> bool:
    """Staff or admin of the reservation's academy, or a coach of its session. A player or
    parent with no such role anywhere never is: for them, who make most cancellations, the
    session is not even read."""
    if not (principal.is_admin or principal.staff_academy_ids or principal.coach_academy_by_id):
        return False
    session = reservation.session
    return principal.manages(session.academy_id) or coaches_session(principal, session)


def reservation_cancel(
    *, reservation: SessionReservation, actor: User, now: datetime | None = None
) -> SessionReservation:
    principal = Principal.load(actor)
    family = principal.acts_for(reservation.player_id)
    privileged = _oversees(principal, reservation)
    if not (family or privileged):
        raise BookingError("not_allowed")

    with transaction.atomic():
        # With the players waiting for a spot: the one freed goes to them (waitlist.settle).
        locked = locked_with_queue(sessions=[reservation.session_id])
        session = locked.sessions[reservation.session_id]
        # The session's lock covers its reservations: every writer of one takes it first.
        reservation = SessionReservation.objects.select_related("player").get(pk=reservation.pk)
        reservation.session = session
        if not reservation.is_active:
            raise BookingError("already_cancelled")
        now = now or timezone.now()
        if not privileged:
            check_cutoff(session.starts_at, session.academy, now)
        mark_cancelled(reservation, actor, now)
        move_counts(session, reserved=-1)
        if not family:  # a family knows what it did itself
            emails.reservation_cancelled(reservation=reservation, actor=actor)
        record(
            verb=Verb.CANCELLED,
            academy_id=session.academy_id,
            actor_id=actor.pk,
            at=now,
            player_id=reservation.player_id,
            session_id=session.pk,
        )
        # The freed spot goes to the waiting list, in this transaction.
        settle(session, now=now, locked=locked.players.keys())
    return reservation
