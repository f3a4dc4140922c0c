"""Steps every booking operation shares: idempotent repeats, the player's other bookings, the
cancellation cut-off."""

from __future__ import annotations

from datetime import datetime

from django.contrib.auth.models import User
from django.db import IntegrityError, connection, models, transaction
from django.db.models import F

from bookings.access import Principal, may_book_for
from bookings.errors import BookingError
from bookings.models import IdempotencyKey, IndividualBooking, Player, SessionReservation
from scheduling.models import Academy, GroupSession

FORM_REUSED = "That form was already used for something else."


def replayed[M: models.Model](
    actor: User, key: str | None, operation: str, model: type[M]
) -> M | None:
    """The object a previous submission with this key produced, if there was one."""
    if not key:
        return None
    previous = IdempotencyKey.objects.filter(user=actor, key=key).first()
    if previous is None:
        return None
    if previous.operation != operation:
        raise BookingError("not_allowed", FORM_REUSED)
    return model._default_manager.get(pk=previous.object_id)


def remember(actor: User, key: str | None, operation: str, obj: models.Model) -> None:
    if not key:
        return
    try:
        IdempotencyKey.objects.create(user=actor, key=key, operation=operation, object_id=obj.pk)
    except IntegrityError as exc:
        # The same key sent at once with a different form: the locks of the two did not
        # overlap, so only the key's unique constraint saw it. Refuse this one: the whole
        # operation rolls back, so no savepoint is needed around the insert (it would cost two
        # more round trips on every keyed booking).
        abandon()
        raise BookingError("not_allowed", FORM_REUSED) from exc


def abandon() -> None:
    """After a failed statement the transaction is unusable; the BookingError raised next leaves
    the operation's atomic block, which then rolls it back. Say so explicitly, so that nothing
    tries another query in it first."""
    transaction.set_rollback(True)


def mark_cancelled(row: SessionReservation | IndividualBooking, actor: User, now: datetime) -> None:
    """Cancel a reservation or a lesson: who did it and when are kept; the row is never deleted."""
    row.status = type(row).Status.CANCELLED
    row.cancelled_by = actor
    row.cancelled_at = now
    row.save(update_fields=["status", "cancelled_by", "cancelled_at", "updated_at"])


def move_counts(
    session: GroupSession, *, reserved: int = 0, held: int = 0, waiting: int = 0
) -> None:
    """Move the session's counters (and version) under its row lock, in one UPDATE without a
    model signal: the reservation's or waiting list entry's own save already tells live pages
    what happened, and a session save would say the session itself changed."""
    GroupSession.objects.filter(pk=session.pk).update(
        reserved_count=F("reserved_count") + reserved,
        held_count=F("held_count") + held,
        waiting_count=F("waiting_count") + waiting,
        version=F("version") + 1,
    )
    session.reserved_count += reserved
    session.held_count += held
    session.waiting_count += waiting
    session.version += 1


def latest_reservation(session: GroupSession, player: Player) -> SessionReservation | None:
    """The player's reservation row in the session, active or cancelled, if any."""
    return SessionReservation.objects.filter(session=session, player=player).order_by("-id").first()


def activate_reservation(
    session: GroupSession,
    player: Player,
    actor: User | None,
    previous: SessionReservation | None,
) -> SessionReservation:
    """The player's reservation in the session, made or made again (under the session's lock,
    after every check; `previous`: latest_reservation's answer). One row per (session, player):
    a cancelled one is reactivated, so the history stays in one place. The caller moves the
    counters."""
    if previous is not None:
        previous.status = SessionReservation.Status.RESERVED
        previous.reserved_by = actor
        previous.cancelled_by = None
        previous.cancelled_at = None
        previous.save(
            update_fields=["status", "reserved_by", "cancelled_by", "cancelled_at", "updated_at"]
        )
        previous.session = session
        return previous
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
    return reservation


def authorize_booking(actor: User, player: Player, session: GroupSession) -> bool:
    """May the actor book this player into this session (self, guardian, staff)? Returns
    whether they are the academy's staff (who may book beyond the horizon)."""
    principal = Principal.load(actor)
    if not may_book_for(principal, player):
        raise BookingError("not_allowed")
    if player.academy_id != session.academy_id:
        raise BookingError("wrong_academy")
    return principal.manages(session.academy_id)


def check_open(session: GroupSession, now: datetime, *, privileged: bool) -> None:
    """A (locked) session that may still be booked or waited for: scheduled, not started, and
    for families inside the booking horizon."""
    if session.is_cancelled:
        raise BookingError("session_cancelled")
    if session.starts_at <= now:
        raise BookingError("session_past")
    if not privileged and session.starts_at > session.academy.horizon(now):
        raise BookingError("beyond_horizon")


def check_eligible(player: Player, session: GroupSession) -> None:
    """The session type's audience (age on the day, level): the one rule, in scheduling."""
    day = session.starts_at.astimezone(session.academy.tz).date()
    reason = session.session_type.refusal(
        first_name=player.first_name, birth_date=player.birth_date, level=player.level, on=day
    )
    if reason is not None:
        raise BookingError("not_eligible", reason)


def check_cutoff(starts_at: datetime, academy: Academy, now: datetime) -> None:
    """A family cancels online only before the academy's cut-off."""
    if starts_at <= now:
        raise BookingError("session_past")
    if not academy.cancellable_online(starts_at, now):
        raise BookingError("cutoff_passed")


def player_busy(
    player: Player, starts_at: datetime, ends_at: datetime, *, exclude_session: int | None = None
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
                exclude_session or 0,  # ids start at 1
            ],
        )
        return cursor.fetchone() is not None


# player_busy's two overlap checks in one round trip. Plain SQL, as it runs on every booking:
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
