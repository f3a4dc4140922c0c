"""The reservation operations (seed 000's RPCs). Each is one transaction that authorizes its
actor first, takes its row locks in a fixed order (coach, player, session, court), validates
and writes. A locking query that joins the academy locks only its own row (`of=("self",)`):
FOR UPDATE over a join would lock the academy too, a row every operation would then take in a
different order (deadlocks). Capacity and overlaps are also held by database constraints, so a
writer that skips these functions still cannot oversell or double-book on PostgreSQL.

Change capture for live pages hangs off model signals and sends after COMMIT, so these
functions never broadcast themselves.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.utils import timezone

from bookings.access import Principal, coaches_session, may_book_for
from bookings.errors import BookingError
from bookings.models import IdempotencyKey, IndividualBooking, Player, SessionReservation
from scheduling.models import Coach, Court, GroupSession, SessionType
from scheduling.slots import SlotStatus, generate_slots

# -- shared steps --------------------------------------------------------------------------------


def _replayed(actor: Any, key: str | None, operation: str, model: Any) -> Any | None:
    """The object a previous submission with this key produced, if there was one."""
    if not key:
        return None
    previous = IdempotencyKey.objects.filter(user=actor, key=key).first()
    if previous is None:
        return None
    if previous.operation != operation:
        raise BookingError("not_allowed", "That form was already used for something else.")
    return model.objects.get(pk=previous.object_id)


def _remember(actor: Any, key: str | None, operation: str, obj: Any) -> None:
    if not key:
        return
    try:
        IdempotencyKey.objects.create(user=actor, key=key, operation=operation, object_id=obj.pk)
    except IntegrityError as exc:
        # The same key sent at once with a different form: the locks of the two did not
        # overlap, so only the key's unique constraint saw it. Refuse this one: the whole
        # operation rolls back, so no savepoint is needed around the insert (it would cost two
        # more round trips on every keyed booking).
        _abandon()
        raise BookingError("not_allowed", "That form was already used for something else.") from exc


def _abandon() -> None:
    """After a failed statement the transaction is unusable; the BookingError raised next leaves
    the operation's atomic block, which then rolls it back. Say so explicitly, so that nothing
    tries another query in it first."""
    transaction.set_rollback(True)


def _player_busy(
    player: Player, starts_at: datetime, ends_at: datetime, *, exclude_session=None
) -> bool:
    """Does the player already have a lesson or a reserved session overlapping this time?"""
    adapt = connection.ops.adapt_datetimefield_value  # what the ORM does to a datetime (SQLite)
    with connection.cursor() as cursor:
        cursor.execute(
            _PLAYER_BUSY_SQL,
            [
                player.pk,
                IndividualBooking.Status.BOOKED.value,
                adapt(ends_at),
                adapt(starts_at),
                player.pk,
                SessionReservation.Status.RESERVED.value,
                GroupSession.Status.SCHEDULED.value,
                adapt(ends_at),
                adapt(starts_at),
                exclude_session.pk if exclude_session is not None else 0,  # ids start at 1
            ],
        )
        return cursor.fetchone() is not None


# _player_busy's two overlap checks in one round trip. Plain SQL, as it runs on every booking:
# the ORM's compilation of this union cost ~1 ms of CPU per call, ten times the query itself.
_PLAYER_BUSY_SQL = f"""
    SELECT 1 FROM {IndividualBooking._meta.db_table}
    WHERE player_id = %s AND status = %s AND starts_at < %s AND ends_at > %s
    UNION ALL
    SELECT 1 FROM {SessionReservation._meta.db_table} reservation
    JOIN {GroupSession._meta.db_table} grp ON grp.id = reservation.session_id
    WHERE reservation.player_id = %s AND reservation.status = %s AND grp.status = %s
        AND grp.starts_at < %s AND grp.ends_at > %s AND grp.id <> %s
    LIMIT 1
"""


def _check_cutoff(starts_at: datetime, academy: Any, now: datetime) -> None:
    if starts_at <= now:
        raise BookingError("session_past")
    if starts_at - now < timedelta(hours=academy.cancellation_cutoff_hours):
        raise BookingError("cutoff_passed")


def _bump(session: GroupSession, delta: int) -> None:
    """Change the session's reserved count and version; the caller holds its row lock."""
    session.reserved_count += delta
    session.version += 1
    session.save(update_fields=["reserved_count", "version"])


# -- group session reservations -------------------------------------------------------------------


def _lock_session(session_id: int) -> GroupSession:
    """Lock a group session's row (only its own: see the module's docstring) and read it with
    what change capture and the toasts show of it (academy, type), so they need not read it
    again: the copy read under the lock is as fresh as another read would be."""
    return (
        GroupSession.objects.select_for_update(of=("self",))
        .select_related("academy", "session_type")
        .get(pk=session_id)
    )


def reservation_create(
    *,
    player: Player,
    session: GroupSession,
    actor: Any,
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
        # Keep the locked copy of the player (fresh, for the toasts) when the row is there.
        player = Player.objects.select_for_update().filter(pk=player.pk).first() or player
        session = _lock_session(session.pk)
        replay = _replayed(actor, idempotency_key, "reservation_create", SessionReservation)
        if replay is not None:
            return replay

        now = now or timezone.now()
        if session.is_cancelled:
            raise BookingError("session_cancelled")
        if session.starts_at <= now:
            raise BookingError("session_past")
        horizon = now + timedelta(days=session.academy.booking_horizon_days)
        if not privileged and session.starts_at > horizon:
            raise BookingError("beyond_horizon")

        previous = (
            SessionReservation.objects.filter(session=session, player=player)
            .order_by("-id")
            .first()
        )
        if previous is not None and previous.is_active:
            raise BookingError("already_reserved", existing=previous)
        if session.reserved_count >= session.capacity:
            raise BookingError("session_full")
        if _player_busy(player, session.starts_at, session.ends_at, exclude_session=session):
            raise BookingError("player_busy")

        if previous is not None:
            # Reactivate rather than add a row: one history per (session, player).
            reservation = previous
            reservation.session, reservation.player = session, player  # the locked copies
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
                _abandon()
                raise BookingError("already_reserved") from exc
        _bump(session, +1)
        _remember(actor, idempotency_key, "reservation_create", reservation)
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
    *, reservation: SessionReservation, actor: Any, now: datetime | None = None
) -> SessionReservation:
    principal = Principal.load(actor)
    family = principal.acts_for(reservation.player_id)
    privileged = _oversees(principal, reservation)
    if not (family or privileged):
        raise BookingError("not_allowed")

    with transaction.atomic():
        session = _lock_session(reservation.session_id)
        reservation = (
            SessionReservation.objects.select_for_update(of=("self",))
            .select_related("player")  # for the toasts; only the reservation's row is locked
            .get(pk=reservation.pk)
        )
        reservation.session = session  # the locked copy, for change capture and the toasts
        if not reservation.is_active:
            raise BookingError("already_cancelled")
        now = now or timezone.now()
        if not privileged:
            _check_cutoff(session.starts_at, session.academy, now)
        reservation.status = SessionReservation.Status.CANCELLED
        reservation.cancelled_by = actor
        reservation.cancelled_at = now
        reservation.save(update_fields=["status", "cancelled_by", "cancelled_at", "updated_at"])
        _bump(session, -1)
    return reservation


def group_session_cancel(
    *, session: GroupSession, actor: Any, now: datetime | None = None
) -> GroupSession:
    """Cancel a group session and every active reservation in it (its coach, staff or admin)."""
    principal = Principal.load(actor)
    if not (principal.manages(session.academy_id) or coaches_session(principal, session)):
        raise BookingError("not_allowed")

    with transaction.atomic():
        session = _lock_session(session.pk)
        if session.is_cancelled:
            raise BookingError("already_cancelled")
        now = now or timezone.now()
        # One save per reservation, so each family's pages and notifications see their own change.
        for reservation in session.reservations.select_for_update().filter(
            status=SessionReservation.Status.RESERVED
        ):
            reservation.status = SessionReservation.Status.CANCELLED
            reservation.cancelled_by = actor
            reservation.cancelled_at = now
            reservation.save()
        session.status = GroupSession.Status.CANCELLED
        session.cancelled_at = now
        session.reserved_count = 0
        session.version += 1
        session.save(update_fields=["status", "cancelled_at", "reserved_count", "version"])
    return session


# -- individual lessons ---------------------------------------------------------------------------


def individual_booking_create(
    *,
    player: Player,
    coach: Coach,
    session_type: SessionType,
    starts_at: datetime,
    actor: Any,
    court: Court | None = None,
    idempotency_key: str | None = None,
    now: datetime | None = None,
) -> IndividualBooking:
    principal = Principal.load(actor)
    if not may_book_for(principal, player):
        raise BookingError("not_allowed")
    academy_ids = {player.academy_id, coach.academy_id, session_type.academy_id}
    if court is not None:
        academy_ids.add(court.academy_id)
    if len(academy_ids) != 1:
        raise BookingError("wrong_academy")
    if session_type.kind != SessionType.Kind.INDIVIDUAL:
        raise BookingError("not_individual")
    if not coach.is_active:
        raise BookingError("slot_unavailable")
    privileged = principal.manages(player.academy_id)
    # In UTC: a lesson lasts its real duration even across a DST change, and comparing in UTC
    # tells the two 01:00s of an autumn night apart (same-zone comparisons ignore `fold`).
    starts_at = starts_at.astimezone(UTC)
    ends_at = starts_at + timedelta(minutes=session_type.duration_minutes)

    with transaction.atomic():
        coach = (
            Coach.objects.select_for_update(of=("self",)).select_related("academy").get(pk=coach.pk)
        )
        Player.objects.select_for_update().filter(pk=player.pk).first()
        if court is not None:
            Court.objects.select_for_update().filter(pk=court.pk).first()
        replay = _replayed(actor, idempotency_key, "individual_booking_create", IndividualBooking)
        if replay is not None:
            return replay

        now = now or timezone.now()
        local_day = starts_at.astimezone(coach.academy.tz).date()
        slots = generate_slots(
            coach=coach,
            session_type=session_type,
            day=local_day,
            now=now,
            enforce_notice=not privileged,
        )
        slot = next((s for s in slots if s.starts_at.astimezone(UTC) == starts_at), None)
        if slot is None:
            raise BookingError("slot_unavailable")
        if slot.status == SlotStatus.PAST:
            raise BookingError("session_past")
        if slot.status == SlotStatus.TAKEN:
            lesson_clash = IndividualBooking.objects.filter(
                coach=coach,
                status=IndividualBooking.Status.BOOKED,
                starts_at__lt=ends_at,
                ends_at__gt=starts_at,
            ).exists()
            raise BookingError("slot_taken" if lesson_clash else "coach_busy")
        if slot.status == SlotStatus.CLOSED:
            too_far = starts_at > now + timedelta(days=coach.academy.booking_horizon_days)
            raise BookingError("beyond_horizon" if too_far else "too_soon")
        if _player_busy(player, starts_at, ends_at):
            raise BookingError("player_busy")
        if court is not None and _court_busy(court, starts_at, ends_at):
            raise BookingError("court_busy")

        try:
            with transaction.atomic():
                booking = IndividualBooking.objects.create(
                    academy_id=player.academy_id,
                    coach=coach,
                    player=player,
                    session_type=session_type,
                    court=court,
                    starts_at=starts_at,
                    ends_at=ends_at,
                    booked_by=actor,
                )
        except IntegrityError as exc:  # the exclusion constraints, the last guard
            raise BookingError("slot_taken") from exc
        _remember(actor, idempotency_key, "individual_booking_create", booking)
    return booking


def _court_busy(court: Court, starts_at: datetime, ends_at: datetime) -> bool:
    overlap = Q(starts_at__lt=ends_at, ends_at__gt=starts_at)
    return (
        GroupSession.objects.filter(
            overlap, court=court, status=GroupSession.Status.SCHEDULED
        ).exists()
        or IndividualBooking.objects.filter(
            overlap, court=court, status=IndividualBooking.Status.BOOKED
        ).exists()
    )


def individual_booking_cancel(
    *, booking: IndividualBooking, actor: Any, now: datetime | None = None
) -> IndividualBooking:
    principal = Principal.load(actor)
    family = principal.acts_for(booking.player_id)
    privileged = principal.manages(
        booking.academy_id
    ) or booking.coach_id in principal.coach_ids_in(booking.academy_id)
    if not (family or privileged):
        raise BookingError("not_allowed")

    with transaction.atomic():
        booking = (
            IndividualBooking.objects.select_for_update(of=("self",))
            .select_related("academy")
            .get(pk=booking.pk)
        )
        if not booking.is_active:
            raise BookingError("already_cancelled")
        now = now or timezone.now()
        if not privileged:
            _check_cutoff(booking.starts_at, booking.academy, now)
        booking.status = IndividualBooking.Status.CANCELLED
        booking.cancelled_by = actor
        booking.cancelled_at = now
        booking.save()
    return booking


# -- capacity edits (staff and the admin) ---------------------------------------------------------


def group_session_set_capacity(*, session: GroupSession, capacity: int, actor: Any) -> GroupSession:
    principal = Principal.load(actor)
    if not principal.manages(session.academy_id):
        raise BookingError("not_allowed")
    with transaction.atomic():
        session = _lock_session(session.pk)
        if capacity < session.reserved_count:
            raise BookingError("capacity_below_reservations")
        session.capacity = capacity
        session.version += 1
        session.save(update_fields=["capacity", "version"])
    return session
