"""Reserving a spot in a group session, and cancelling it."""

from __future__ import annotations

from datetime import datetime

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from bookings import emails
from bookings.access import Principal, coaches_session, may_book_for
from bookings.errors import BookingError
from bookings.locks import lock
from bookings.models import Player, SessionReservation
from bookings.services.activity import Verb, record
from bookings.services.common import (
    abandon,
    check_cutoff,
    mark_cancelled,
    player_busy,
    remember,
    replayed,
)
from scheduling.models import GroupSession


def _count(session: GroupSession, delta: int) -> None:
    """Move the session's reserved count (and version) under its row lock. An UPDATE without a
    model signal: the reservation's own save already tells live pages what happened, and a
    session save would say the session itself changed."""
    GroupSession.objects.filter(pk=session.pk).update(
        reserved_count=F("reserved_count") + delta, version=F("version") + 1
    )
    session.reserved_count += delta
    session.version += 1


def reservation_create(
    *,
    player: Player,
    session: GroupSession,
    actor: User,
    idempotency_key: str | None = None,
    now: datetime | None = None,
) -> SessionReservation:
    principal = Principal.load(actor)
    if not may_book_for(principal, player):
        raise BookingError("not_allowed")
    if player.academy_id != session.academy_id:
        raise BookingError("wrong_academy")
    privileged = principal.manages(session.academy_id)

    with transaction.atomic():
        locked = lock(players=[player.pk], sessions=[session.pk])
        session = locked.sessions[session.pk]
        replay = replayed(actor, idempotency_key, "reservation_create", SessionReservation)
        if replay is not None:
            return replay

        now = now or timezone.now()
        if session.is_cancelled:
            raise BookingError("session_cancelled")
        if session.starts_at <= now:
            raise BookingError("session_past")
        if not privileged and session.starts_at > session.academy.horizon(now):
            raise BookingError("beyond_horizon")

        previous = (
            SessionReservation.objects.filter(session=session, player=player)
            .order_by("-id")
            .first()
        )
        if previous is not None and previous.is_active:
            raise BookingError("already_reserved", existing=previous)
        if session.is_full:
            raise BookingError("session_full")
        if player_busy(player, session.starts_at, session.ends_at, exclude_session=session.pk):
            raise BookingError("player_busy")

        reservation = take_spot(session, player, actor, previous)
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


def take_spot(
    session: GroupSession,
    player: Player,
    actor: User,
    previous: SessionReservation | None,
) -> SessionReservation:
    """Write the player's reservation and count it, once every check has passed, under the
    player's and the session's locks (a booking and a walk-in share this). `previous`: the
    player's last reservation of this session, cancelled, to reactivate."""
    if previous is not None:
        # Reactivate rather than add a row: one history per (session, player).
        reservation = previous
        reservation.status = SessionReservation.Status.RESERVED
        reservation.reserved_by = actor
        reservation.cancelled_by = None
        reservation.cancelled_at = None
        reservation.save(
            update_fields=[
                "status",
                "reserved_by",
                "cancelled_by",
                "cancelled_at",
                "updated_at",
            ]
        )
    else:
        try:
            reservation = SessionReservation.objects.create(
                session=session, player=player, reserved_by=actor
            )
        except IntegrityError as exc:
            # The partial unique constraint, the last guard (for a writer that skipped the
            # player's lock). The operation is refused and rolled back as a whole, so no
            # savepoint is needed around the insert.
            abandon()
            raise BookingError("already_reserved") from exc
    reservation.session = session  # the locked copy, fresh, for the caller's answer
    _count(session, +1)
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
        session = lock(sessions=[reservation.session_id]).sessions[reservation.session_id]
        # The session's lock covers its reservations: every writer of one takes it first.
        reservation = SessionReservation.objects.select_related("player").get(pk=reservation.pk)
        reservation.session = session
        if not reservation.is_active:
            raise BookingError("already_cancelled")
        now = now or timezone.now()
        if not privileged:
            check_cutoff(session.starts_at, session.academy, now)
        mark_cancelled(reservation, actor, now)
        _count(session, -1)
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
    return reservation
