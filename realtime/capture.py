"""Change capture: model signals on the published models become changes, sent after COMMIT.

This is our publication: PUBLISHED lists every model whose rows a live page shows. Handlers
only describe what changed (academy, days, coaches, players, families) and queue it on the
transaction; business rules stay in bookings.services. A rolled-back transaction sends
nothing, because the queue is flushed by transaction.on_commit. Writers that bypass signals
(QuerySet.update, bulk_create) call publish_change() themselves.
"""

from __future__ import annotations

import logging
import time
from datetime import timedelta
from typing import Any

from django.core.exceptions import ObjectDoesNotExist
from django.db import transaction
from django.db.models.signals import post_delete, post_save, pre_save

from bookings.models import GuardianLink, IndividualBooking, Player, SessionReservation
from realtime.changes import Change
from scheduling.models import (
    Academy,
    Coach,
    CoachAvailability,
    CoachTimeOff,
    Court,
    GroupSession,
    SessionType,
    StaffAssignment,
    StaffMember,
)

log = logging.getLogger(__name__)

# -- what a change of each model touches ----------------------------------------------------------


def _guardians(player_id: int) -> set[int]:
    return set(
        _remembered(
            ("guardians", player_id),
            lambda: set(
                GuardianLink.objects.filter(player_id=player_id).values_list(
                    "guardian_id", flat=True
                )
            ),
        )
    )


def _session_coaches(session_id: int) -> dict[int, int]:
    """The session's coaches: coach id -> user id (the ids route changes, the users get toasts)."""
    return dict(
        _remembered(
            ("coaches", session_id),
            lambda: dict(
                StaffAssignment.objects.filter(session_id=session_id).values_list(
                    "coach_id", "coach__user_id"
                )
            ),
        )
    )


def _read_reservation_audience(session_id: int, player_id: int) -> None:
    """A reservation's change and toasts need its session's coaches and its player's guardians:
    read both in one round trip into the transaction's memo, where _session_coaches and
    _guardians then find them. Plain SQL, as every booking runs it: the ORM's compilation of
    these two small queries cost several times their round trip. (Outside a transaction there
    is no memo; then the two look-ups read on their own.)"""
    memo = _memo()
    if memo is None or (("coaches", session_id) in memo and ("guardians", player_id) in memo):
        return
    coaches: dict[int, int] = {}
    guardians: set[int] = set()
    with transaction.get_connection().cursor() as cursor:
        cursor.execute(_RESERVATION_AUDIENCE_SQL, [session_id, player_id])
        for kind, row_id, user_id in cursor.fetchall():
            if kind == "coach":
                coaches[row_id] = user_id
            else:
                guardians.add(user_id)
    memo[("coaches", session_id)] = coaches
    memo[("guardians", player_id)] = guardians


_RESERVATION_AUDIENCE_SQL = f"""
    SELECT 'coach', assignment.coach_id, coach.user_id
    FROM {StaffAssignment._meta.db_table} assignment
    JOIN {Coach._meta.db_table} coach ON coach.id = assignment.coach_id
    WHERE assignment.session_id = %s
    UNION ALL
    SELECT 'guardian', id, guardian_id FROM {GuardianLink._meta.db_table} WHERE player_id = %s
"""


_academies: dict[int, tuple[float, Academy]] = {}


def _academy(academy_id: int) -> Academy:
    """Academies barely change; their time zone only places a change on a day, so a minute-old
    copy is fine and saves a query per captured row (bulk deletes capture thousands)."""
    cached = _academies.get(academy_id)
    now = time.monotonic()
    if cached is None or now - cached[0] > 60:
        cached = (now, Academy.objects.get(pk=academy_id))
        _academies[academy_id] = cached
    return cached[1]


def _session_change(session: GroupSession) -> Change:
    academy = _academy(session.academy_id)
    change = Change(session.academy_id, group_sessions=True)
    change.add_times(academy.tz, session.starts_at, *getattr(session, "_courtside_old_times", ()))
    change.coach_ids = set(_session_coaches(session.pk))
    change.session_ids = {session.pk}
    return change


def _session_of(r: SessionReservation) -> GroupSession:
    """The reservation's session. Reservations are written only by bookings.services, which
    read the session under its row lock in the same transaction and leave that copy on the
    reservation (as fresh as reading it again): reuse it. Otherwise read it."""
    if SessionReservation.session.is_cached(r):
        return r.session
    return GroupSession.objects.select_related("academy", "session_type").get(pk=r.session_id)


def _reservation(r: SessionReservation) -> Change:
    _read_reservation_audience(r.session_id, r.player_id)
    change = _session_change(_session_of(r))
    change.player_ids = {r.player_id}
    change.guardian_ids = _guardians(r.player_id)
    change.occupancy_only = True
    return change


def _booking(b: IndividualBooking) -> Change:
    academy = _academy(b.academy_id)
    change = Change(b.academy_id, lessons=True, coach_ids={b.coach_id}, player_ids={b.player_id})
    change.add_times(academy.tz, b.starts_at, *getattr(b, "_courtside_old_times", ()))
    change.guardian_ids = _guardians(b.player_id)
    return change


def _assignment(a: StaffAssignment) -> Change:
    change = _session_change(GroupSession.objects.get(pk=a.session_id))
    change.coach_ids.add(a.coach_id)
    return change


def _availability(row: CoachAvailability) -> Change:
    coach = Coach.objects.get(pk=row.coach_id)
    return Change(coach.academy_id, days=None, coach_ids={coach.pk})  # a weekly window: any day


def _time_off(row: CoachTimeOff) -> Change:
    coach = Coach.objects.select_related("academy").get(pk=row.coach_id)
    change = Change(coach.academy_id, coach_ids={coach.pk})
    tz = coach.academy.tz
    day, last = row.starts_at.astimezone(tz).date(), row.ends_at.astimezone(tz).date()
    while day <= last and len(change.days or ()) < 400:
        change.days.add(day)  # type: ignore[union-attr]
        day += timedelta(days=1)
    return change


def _player(p: Player) -> Change:
    # A name shows on calendars too; renames are rare, so every watched calendar re-renders.
    change = Change(p.academy_id, days=None, group_sessions=True, lessons=True)
    change.player_ids = {p.pk}
    change.guardian_ids = _guardians(p.pk)
    change.user_ids = {p.user_id} if p.user_id else set()
    return change


def _guardian_link(link: GuardianLink) -> Change:
    player = Player.objects.get(pk=link.player_id)
    return Change(
        player.academy_id,
        player_ids={player.pk},
        guardian_ids={link.guardian_id},
        user_ids={link.guardian_id},
    )


def _coach(c: Coach) -> Change:
    return Change(
        c.academy_id,
        days=None,
        coach_ids={c.pk},
        group_sessions=True,
        lessons=True,
        user_ids={c.user_id},
    )


def _staff(m: StaffMember) -> Change:
    return Change(m.academy_id, user_ids={m.user_id})


def _academy_row(row: Court | SessionType) -> Change:
    return Change(row.academy_id, days=None, group_sessions=True, lessons=True)


# A session saved with only these fields changed its occupancy, not its place in a calendar.
OCCUPANCY_FIELDS = frozenset({"reserved_count", "version", "capacity"})

PUBLISHED: dict[type, Any] = {
    SessionReservation: _reservation,
    IndividualBooking: _booking,
    GroupSession: _session_change,
    StaffAssignment: _assignment,
    CoachAvailability: _availability,
    CoachTimeOff: _time_off,
    Player: _player,
    GuardianLink: _guardian_link,
    Coach: _coach,
    StaffMember: _staff,
    Court: _academy_row,
    SessionType: _academy_row,
}

# -- notifications (toasts) ------------------------------------------------------------------------


def _notes_for(instance: Any, created: bool) -> list[tuple[int, str]]:
    from realtime import notifications

    if isinstance(instance, SessionReservation):
        # What the change just read (in this transaction's memo): nothing is read twice.
        return notifications.for_reservation(
            instance,
            session=_session_of(instance),
            coach_user_ids=set(_session_coaches(instance.session_id).values()),
            guardian_ids=_guardians(instance.player_id),
        )
    if isinstance(instance, IndividualBooking):
        return notifications.for_booking(instance)
    return []


# -- the transaction's queue -----------------------------------------------------------------------


def _pending(connection: Any) -> dict[str, Any]:
    """The current transaction's queue (and look-up memo), made on first use."""
    state: dict[str, Any] | None = getattr(connection, "_courtside_pending", None)
    # A rolled-back transaction drops its on_commit callbacks; then this queue is stale.
    if state is None or not any(item[1] is state["flush"] for item in connection.run_on_commit):
        state = {"changes": [], "notes": [], "memo": None}

        def flush(state: dict[str, Any] = state) -> None:
            if getattr(connection, "_courtside_pending", None) is state:
                connection._courtside_pending = None
            publish(state["changes"], state["notes"])

        state["flush"] = flush
        connection._courtside_pending = state
        transaction.on_commit(flush)
    return state


def queue(change: Change | None, notes: list[tuple[int, str]] | None = None) -> None:
    """Queue a change on the current transaction; it leaves once, after COMMIT, with the rest."""
    connection = transaction.get_connection()
    if not connection.in_atomic_block:  # autocommit: the write is already committed
        publish([change] if change else [], notes or [])
        return
    state = _pending(connection)
    if change is not None:
        state["changes"].append(change)
    state["notes"].extend(notes or [])


def publish_change(change: Change) -> None:
    """For writers that bypass model signals (QuerySet.update, bulk_create)."""
    _forget_look_ups()  # such a writer may have changed what they describe
    queue(change)


# -- look-ups, read once per transaction -----------------------------------------------------------

# One booking saves a reservation and then its session; the reservation's change, its toasts and
# the session's change all need the session's coaches and the player's guardians. Each is read
# once per transaction and kept in the transaction's queue state, which COMMIT and ROLLBACK
# discard (nothing is kept across transactions). Within one, a memo is only used at the savepoint
# level that filled it (a rolled-back savepoint cannot leave its reads behind), and a write of a
# row it is read from (LOOKUP_SOURCES, or any publish_change) empties it first.
LOOKUP_SOURCES = (StaffAssignment, Coach, GuardianLink, Player)


def _memo() -> dict[Any, Any] | None:
    """The look-ups remembered in this transaction at this savepoint level; None outside one."""
    connection = transaction.get_connection()
    if not connection.in_atomic_block:
        return None
    state = _pending(connection)
    scope = tuple(connection.savepoint_ids)
    if state["memo"] is None or state["memo"]["scope"] != scope:
        state["memo"] = {"scope": scope, "values": {}}
    return state["memo"]["values"]


def _remembered(key: tuple[str, int], read: Any) -> Any:
    """read(), or what it returned before in this transaction (callers copy what they change)."""
    memo = _memo()
    if memo is None:
        return read()
    if key not in memo:
        memo[key] = read()
    return memo[key]


def _forget_look_ups() -> None:
    state = getattr(transaction.get_connection(), "_courtside_pending", None)
    if state is not None:
        state["memo"] = None


def publish(changes: list[Change], notes: list[tuple[int, str]]) -> None:
    from realtime.publisher import get_publisher

    try:
        get_publisher().submit(changes, notes)
    except Exception:  # the HTTP path never depends on the live path
        log.exception("could not queue a live update")


def _on_save(sender: type, instance: Any, created: bool = False, **kwargs: Any) -> None:
    if sender in LOOKUP_SOURCES:
        _forget_look_ups()  # before describing the change: it must see the write
    if kwargs.get("raw"):
        return  # fixtures loading
    try:
        change = PUBLISHED[sender](instance)
        update_fields = kwargs.get("update_fields")
        if sender is GroupSession and update_fields and set(update_fields) <= OCCUPANCY_FIELDS:
            change.occupancy_only = True
        notes = _notes_for(instance, created) if kwargs.get("signal") is post_save else []
    except ObjectDoesNotExist:
        return  # a cascade deleted what the change would be described by; its parent publishes
    queue(change, notes)


def _remember_old_times(
    sender: Any, instance: Any, update_fields: Any = None, **kwargs: Any
) -> None:
    """Keep the old start/end of a moved session or lesson, so its old day updates too."""
    if instance.pk is None or kwargs.get("raw"):
        return
    if update_fields is not None and not {"starts_at", "ends_at"} & set(update_fields):
        return
    old = sender._default_manager.filter(pk=instance.pk).values_list("starts_at", "ends_at").first()
    instance._courtside_old_times = old or ()


def connect() -> None:
    for model in PUBLISHED:
        post_save.connect(_on_save, sender=model, dispatch_uid=f"courtside-save-{model.__name__}")
        post_delete.connect(
            _on_save, sender=model, dispatch_uid=f"courtside-delete-{model.__name__}"
        )
    for model in (GroupSession, IndividualBooking):
        pre_save.connect(
            _remember_old_times, sender=model, dispatch_uid=f"courtside-old-{model.__name__}"
        )
