"""The academy's group sessions: creating, changing and cancelling them.

Creating and changing check what the database cannot see in one row: the session type, court
and coaches belong to the academy, the court and every coach are free at that time (naming the
clash), no coach is away then, and the capacity stays at or above the reservations already made
and the spots offered to waiting players. The coaches', the session's and the court's rows are
locked first (bookings.locks), so two edits, or an edit and a booking, never both pass their
checks against the same state. A capacity increase fills the new spots from the waiting list in
the same transaction.

Edits carry what the editor started from (`expected_version`, and `base`, the plan's fields as
they were shown): when someone else saved a field of the session since, the save is refused
with `stale`, naming those fields, and nothing is written; the form then shows both values per
field ("keep mine" saves again from the new version, still under every check). A version moved
only by bookings (the counters) is no conflict: the capacity floor is checked under the lock
anyway. Staff and admins change everything; a coach changes only the notes of their own
sessions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, tzinfo

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from bookings import emails, selectors
from bookings.access import Principal, coaches_session
from bookings.errors import BookingError
from bookings.live.capture import session_cancelled
from bookings.locks import Locked, lock
from bookings.models import SessionReservation, WaitlistEntry
from bookings.services.activity import Verb, record
from bookings.services.common import mark_cancelled
from bookings.services.waitlist import locked_with_queue, settle
from realtime.publisher import send_on_commit
from scheduling.models import (
    Academy,
    Coach,
    CoachTimeOff,
    Court,
    GroupSession,
    SessionType,
    StaffAssignment,
)
from scheduling.times import short_date


@dataclass(frozen=True)
class SessionPlan:
    """What a group session is to be: every field an edit may set."""

    session_type: SessionType
    starts_at: datetime
    ends_at: datetime
    capacity: int
    court: Court | None = None
    coaches: Sequence[Coach] = ()
    title: str = ""
    notes: str = ""


# The fields of a plan as an editor sees them (the app's form has one input for each), in form
# order, with their labels. A session's times are its local day, start and end.
PLAN_FIELDS = {
    "session_type": "Session type",
    "title": "Title",
    "day": "Date",
    "start": "Starts",
    "end": "Ends",
    "court": "Court",
    "coaches": "Coaches",
    "capacity": "Capacity",
    "notes": "Notes",
}


def plan_of(session: GroupSession) -> SessionPlan:
    """A stored session as a plan (its coaches read once, by id)."""
    return SessionPlan(
        session_type=session.session_type,
        starts_at=session.starts_at,
        ends_at=session.ends_at,
        capacity=session.capacity,
        court=session.court,
        coaches=list(session.coaches.order_by("id")),
        title=session.title,
        notes=session.notes,
    )


def plan_values(plan: SessionPlan, tz: tzinfo) -> dict[str, str]:
    """A plan's fields as text, in the form's own formats: what an edit form carries as its
    base, what the live editor fragment shows as stored, and what a conflict is judged on."""
    starts, ends = plan.starts_at.astimezone(tz), plan.ends_at.astimezone(tz)
    return {
        "session_type": str(plan.session_type.pk),
        "title": plan.title,
        "day": starts.date().isoformat(),
        "start": f"{starts:%H:%M}",
        "end": f"{ends:%H:%M}",
        "court": str(plan.court.pk) if plan.court is not None else "",
        "coaches": ",".join(str(pk) for pk in sorted(c.pk for c in plan.coaches)),
        "capacity": str(plan.capacity),
        "notes": plan.notes.replace("\r\n", "\n").strip(),
    }


def plan_display(plan: SessionPlan, tz: tzinfo) -> dict[str, str]:
    """The same fields as people read them (names, local times)."""
    starts, ends = plan.starts_at.astimezone(tz), plan.ends_at.astimezone(tz)
    return {
        "session_type": plan.session_type.name,
        "title": plan.title or "(the type's name)",
        "day": f"{starts:%a %-d %b %Y}",
        "start": f"{starts:%H:%M}",
        "end": f"{ends:%H:%M}",
        "court": plan.court.name if plan.court is not None else "No court",
        "coaches": ", ".join(c.display_name for c in plan.coaches) or "No coach",
        "capacity": str(plan.capacity),
        "notes": plan.notes or "(none)",
    }


@dataclass(frozen=True)
class Stale:
    """A refused stale save: which fields someone else changed, and the session as stored."""

    version: int
    fields: list[str]
    stored: SessionPlan


def check_plan(academy: Academy, plan: SessionPlan) -> None:
    """What a plan must be on its own, before any lock."""
    rows: list[SessionType | Coach | Court] = [plan.session_type, *plan.coaches]
    if plan.court is not None:
        rows.append(plan.court)
    if any(row.academy_id != academy.pk for row in rows):
        raise BookingError("wrong_academy")
    if plan.session_type.kind != SessionType.Kind.GROUP:
        raise BookingError("not_group")
    if plan.ends_at <= plan.starts_at:
        raise BookingError("bad_times")
    if any(not coach.is_active for coach in plan.coaches):
        raise BookingError("coach_inactive")


def check_free(items: list[tuple[SessionPlan, int | None]], *, name_day: bool = False) -> None:
    """Each plan's court and coaches are free for its time (its own session, the int, left
    out) and no coach is away then, under their locks. A refusal names the clash (and, with
    `name_day`, the day of the plan it is about: a series). A few queries per court and coach
    however many plans: a term's series is checked in one go."""
    plans = [plan for plan, _ in items]
    spans = [(plan.starts_at, plan.ends_at, exclude) for plan, exclude in items]
    courts: dict[int, selectors.Use | None] = {}  # plan index -> what uses its court
    for court in {plan.court for plan in plans if plan.court is not None}:
        mine = [i for i, plan in enumerate(plans) if plan.court == court]
        found = selectors.court_clashes(court, [spans[i] for i in mine])
        courts.update(zip(mine, found, strict=True))
    coaches = {coach.pk: coach for plan in plans for coach in plan.coaches}
    teaching: dict[tuple[int, int], selectors.Use | None] = {}
    away: dict[tuple[int, int], CoachTimeOff | None] = {}
    for coach_id in coaches:
        mine = [i for i, plan in enumerate(plans) if coach_id in {c.pk for c in plan.coaches}]
        their = [spans[i] for i in mine]
        for i, use, off in zip(
            mine,
            selectors.coach_clashes(coach_id, their),
            selectors.coach_away(coach_id, their),
            strict=True,
        ):
            teaching[coach_id, i], away[coach_id, i] = use, off
    for i, plan in enumerate(plans):
        try:
            _refuse_clash(
                plan, courts.get(i), [(c, teaching[c.pk, i], away[c.pk, i]) for c in plan.coaches]
            )
        except BookingError as error:
            if not name_day:
                raise
            day = plan.starts_at.astimezone(plan.session_type.academy.tz)
            raise BookingError(error.code, f"{short_date(day)}: {error.message}") from error


def _refuse_clash(
    plan: SessionPlan,
    court_use: selectors.Use | None,
    coaches: list[tuple[Coach, selectors.Use | None, CoachTimeOff | None]],
) -> None:
    if plan.court is not None and court_use is not None:
        what = selectors.describe_use(court_use, plan.court.academy.tz)
        raise BookingError("court_busy", f"{plan.court.name} is in use then: {what}.")
    for coach, use, off in coaches:
        tz = coach.academy.tz
        if use is not None:
            what = selectors.describe_use(use, tz)
            raise BookingError("coach_busy", f"{coach.display_name} is teaching then: {what}.")
        if off is not None:
            what = selectors.describe_time_off(off, tz)
            raise BookingError("coach_away", f"{coach.display_name} is away then: {what}.")


def _lock_plan(plan: SessionPlan) -> Locked:
    return lock(
        coaches=[coach.pk for coach in plan.coaches],
        courts=[plan.court.pk] if plan.court else [],
    )


def check_capacity(session: GroupSession, capacity: int) -> None:
    """Never below the reservations made and the spots offered (under the session's lock)."""
    floor = session.reserved_count + session.held_count
    if capacity < floor:
        held = (
            f" and the {session.held_count} offered to waiting players"
            if session.held_count
            else ""
        )
        raise BookingError(
            "capacity_below_reservations",
            f"Capacity cannot be lower than the {session.reserved_count} reservations already "
            f"made{held}.",
        )


def check_not_stale(
    session: GroupSession,
    plan: SessionPlan,
    *,
    expected_version: int | None,
    base: Mapping[str, str] | None,
) -> SessionPlan:
    """Refuse a save someone else overtook (see the module's doc); returns the stored plan.
    `base` names the fields the editor was shown (a coach's form: the notes alone)."""
    stored = plan_of(session)
    if expected_version is None or expected_version == session.version:
        return stored
    tz = session.academy.tz
    now_values = plan_values(stored, tz)
    if base is None:  # no base: whatever differs from what the editor sends
        base = plan_values(plan, tz)
    changed = [name for name in PLAN_FIELDS if name in base and now_values[name] != base[name]]
    if changed:
        raise BookingError(
            "stale", existing=Stale(version=session.version, fields=changed, stored=stored)
        )
    return stored


def apply_plan(session: GroupSession, plan: SessionPlan) -> None:
    """Write a checked plan onto a locked session and its coach assignments."""
    session.session_type = plan.session_type
    session.title = plan.title
    session.starts_at, session.ends_at = plan.starts_at, plan.ends_at
    session.capacity = plan.capacity
    session.court = plan.court
    session.notes = plan.notes
    session.version += 1
    session.save()
    current = set(session.assignments.values_list("coach_id", flat=True))
    wanted = {coach.pk for coach in plan.coaches}
    session.assignments.filter(coach_id__in=current - wanted).delete()
    for coach_id in sorted(wanted - current):
        StaffAssignment.objects.create(session=session, coach_id=coach_id)


def group_session_create(*, academy: Academy, plan: SessionPlan, actor: User) -> GroupSession:
    """A new scheduled session (staff and admins)."""
    if not Principal.load(actor).manages(academy.pk):
        raise BookingError("not_allowed")
    check_plan(academy, plan)
    with transaction.atomic():
        _lock_plan(plan)
        check_free([(plan, None)])
        session = GroupSession.objects.create(
            academy=academy,
            session_type=plan.session_type,
            title=plan.title,
            starts_at=plan.starts_at,
            ends_at=plan.ends_at,
            capacity=plan.capacity,
            court=plan.court,
            notes=plan.notes,
        )
        for coach in plan.coaches:
            StaffAssignment.objects.create(session=session, coach=coach)
    return session


def group_session_update(
    *,
    session: GroupSession,
    plan: SessionPlan,
    actor: User,
    expected_version: int | None = None,
    base: Mapping[str, str] | None = None,
    confirm_moves: bool = True,
    now: datetime | None = None,
) -> GroupSession:
    """Change a scheduled session; its reservations stay. Staff and admins change everything,
    the session's own coach only its notes (any other field changed is `not_allowed`).
    `confirm_moves=False`: refuse (`moves_booked`) to move a session that holds reservations to
    another time; the app's form asks first."""
    principal = Principal.load(actor)
    staff = principal.manages(session.academy_id)
    if not (staff or coaches_session(principal, session)):
        raise BookingError("not_allowed")
    if staff:
        check_plan(session.academy, plan)
    else:
        # A coach changes the notes only: against the session as the caller read it (a save
        # someone made since is no change of theirs).
        _notes_only(session, plan_of(session), plan)
    with transaction.atomic():
        if staff:  # with the players waiting: more spots go to them (waitlist.settle)
            locked = locked_with_queue(
                coaches=[coach.pk for coach in plan.coaches],
                sessions=[session.pk],
                courts=[plan.court.pk] if plan.court else [],
            )
        else:
            locked = lock(sessions=[session.pk])
        session = locked.sessions[session.pk]
        if session.is_cancelled:
            raise BookingError("session_cancelled")
        stored = check_not_stale(session, plan, expected_version=expected_version, base=base)
        if not staff:
            plan = replace(stored, notes=plan.notes)
        else:
            check_capacity(session, plan.capacity)
            check_free([(plan, session.pk)])
            moves = (plan.starts_at, plan.ends_at) != (session.starts_at, session.ends_at)
            booked = session.reserved_count + session.held_count
            if moves and booked and not confirm_moves:
                raise BookingError(
                    "moves_booked",
                    f"This session has {booked} booked. Confirm to move it; its players keep "
                    "their places and see the new time.",
                )
        apply_plan(session, plan)
        if staff:
            settle(session, now=now or timezone.now(), locked=locked.players.keys())
    return session


def _notes_only(session: GroupSession, read: SessionPlan, plan: SessionPlan) -> None:
    """Refuse a coach's plan that changes anything but the notes of the session they read."""
    tz = session.academy.tz
    mine, theirs = plan_values(plan, tz), plan_values(read, tz)
    if any(mine[name] != theirs[name] for name in PLAN_FIELDS if name != "notes"):
        raise BookingError("not_allowed", "A coach may change only the notes of a session.")


def cancel_locked(session: GroupSession, actor: User, now: datetime) -> None:
    """Cancel a locked, scheduled session: every active reservation (one save each, so each
    family's pages and toasts hear of their own) and its waiting list."""
    for reservation in session.reservations.filter(status=SessionReservation.Status.RESERVED):
        mark_cancelled(reservation, actor, now)
    for entry in session.waitlist.filter(status__in=WaitlistEntry.OPEN):
        entry.status = WaitlistEntry.Status.CLOSED
        entry.ended_by = actor
        entry.save(update_fields=["status", "ended_by", "updated_at"])
    session.status = GroupSession.Status.CANCELLED
    session.cancelled_at = now
    session.reserved_count = session.held_count = session.waiting_count = 0
    session.version += 1
    session.save(
        update_fields=[
            "status",
            "cancelled_at",
            "reserved_count",
            "held_count",
            "waiting_count",
            "version",
        ]
    )
    emails.session_cancelled(session=session, actor=actor)
    # One line in the log for the whole session (not one per reservation), and one toast for
    # its coaches, who otherwise hear of each reservation (bookings.live.routing).
    record(
        verb=Verb.SESSION_CANCELLED,
        academy_id=session.academy_id,
        actor_id=actor.pk,
        at=now,
        session_id=session.pk,
    )
    send_on_commit(session_cancelled(session.pk, actor.pk))


def group_session_cancel(
    *, session: GroupSession, actor: User, now: datetime | None = None
) -> GroupSession:
    """Cancel a group session and every active reservation in it (its coach, staff or admin)."""
    principal = Principal.load(actor)
    if not (principal.manages(session.academy_id) or coaches_session(principal, session)):
        raise BookingError("not_allowed")

    with transaction.atomic():
        session = lock(sessions=[session.pk]).sessions[session.pk]
        if session.is_cancelled:
            raise BookingError("already_cancelled")
        cancel_locked(session, actor, now or timezone.now())
    return session
