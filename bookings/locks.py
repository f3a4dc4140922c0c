"""Row locks for the booking operations: every row an operation needs, in one call, in one order.

pretix's rule: take locks late (inside the transaction, right before the checks they protect),
all at once, and always in the same order, so two operations never wait on each other in a
circle. The order is coach, player, session series, group session, court, and by id within
each. Call `lock` once per transaction with every row the operation will check or write.

Each lock reads only its own row (`of=("self",)`): FOR UPDATE over a join would lock the joined
academy too, a row every operation would then take in a different order (deadlocks, found by
the race tests). A lock that cannot be had within the database's lock_timeout (settings:
DB_LOCK_TIMEOUT) refuses the operation with the code `busy`, rather than hang the request.
On SQLite, the embedded default, every write transaction is BEGIN IMMEDIATE (settings), so the
operation runs alone and these reads are plain reads.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from django.db import OperationalError, connection, models, transaction
from django.db.models import QuerySet

from bookings.errors import BookingError
from bookings.models import Player
from scheduling.models import Coach, Court, GroupSession, SessionSeries

LOCK_NOT_AVAILABLE = "55P03"  # PostgreSQL's SQLSTATE for a lock_timeout that ran out


@dataclass
class Locked:
    coaches: dict[int, Coach] = field(default_factory=dict)
    players: dict[int, Player] = field(default_factory=dict)
    series: dict[int, SessionSeries] = field(default_factory=dict)
    sessions: dict[int, GroupSession] = field(default_factory=dict)
    courts: dict[int, Court] = field(default_factory=dict)


def lock(
    *,
    coaches: Iterable[int] = (),
    players: Iterable[int] = (),
    series: Iterable[int] = (),
    sessions: Iterable[int] = (),
    courts: Iterable[int] = (),
) -> Locked:
    """Lock these rows (ids) and return them as read under the lock. A row that does not exist
    is simply absent from the result: the caller decides what that means."""
    if not connection.in_atomic_block:
        raise RuntimeError("locks are taken inside a transaction")
    try:
        return Locked(
            coaches=_take(Coach.objects.select_related("academy"), coaches),
            players=_take(Player.objects.all(), players),
            # A series' lock covers which occurrences it holds (its edits split it).
            series=_take(SessionSeries.objects.all(), series),
            # With what the services and their answers show of a session (academy, type), so
            # that nothing reads it again.
            sessions=_take(
                GroupSession.objects.select_related("academy", "session_type"), sessions
            ),
            courts=_take(Court.objects.all(), courts),
        )
    except OperationalError as exc:
        if getattr(exc.__cause__, "sqlstate", None) != LOCK_NOT_AVAILABLE:
            raise
        transaction.set_rollback(True)  # the failed statement left the transaction unusable
        raise BookingError("busy") from exc


def _take[M: models.Model](queryset: QuerySet[M], ids: Iterable[int]) -> dict[int, M]:
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    rows = queryset.select_for_update(of=("self",)).filter(pk__in=wanted).order_by("pk")
    return {row.pk: row for row in rows}
