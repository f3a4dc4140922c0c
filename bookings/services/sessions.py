"""The academy's group sessions: creating, changing and cancelling them.

Creating and changing check what the database cannot see in one row: the session type, court
and coaches belong to the academy, the court and every coach are free at that time (naming the
clash), and the capacity stays at or above the reservations already made. The coaches', the
session's and the court's rows are locked first (bookings.locks), so two edits, or an edit and
a booking, never both pass their checks against the same state.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from bookings import emails, selectors
from bookings.access import Principal, coaches_session
from bookings.errors import BookingError
from bookings.live.capture import session_cancelled
from bookings.locks import Locked, lock
from bookings.models import SessionReservation
from bookings.services.activity import Verb, record
from bookings.services.common import mark_cancelled
from realtime.publisher import send_on_commit
from scheduling.models import Academy, Coach, Court, GroupSession, SessionType, StaffAssignment


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


def _check_plan(academy: Academy, plan: SessionPlan) -> None:
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


def _check_free(plan: SessionPlan, exclude_session: int | None) -> None:
    """The court and every coach are free for the plan's time (under their locks)."""
    if plan.court is not None:
        clash = selectors.court_clash(
            plan.court, plan.starts_at, plan.ends_at, exclude_session=exclude_session
        )
        if clash is not None:
            what = selectors.describe_use(clash, plan.court.academy.tz)
            raise BookingError("court_busy", f"{plan.court.name} is in use then: {what}.")
    for coach in plan.coaches:
        clash = selectors.coach_clash(
            coach.pk, plan.starts_at, plan.ends_at, exclude_session=exclude_session
        )
        if clash is not None:
            what = selectors.describe_use(clash, coach.academy.tz)
            raise BookingError("coach_busy", f"{coach.display_name} is teaching then: {what}.")


def _lock_plan(plan: SessionPlan, session_id: int | None = None) -> Locked:
    return lock(
        coaches=[coach.pk for coach in plan.coaches],
        sessions=[session_id] if session_id else [],
        courts=[plan.court.pk] if plan.court else [],
    )


def group_session_create(*, academy: Academy, plan: SessionPlan, actor: User) -> GroupSession:
    """A new scheduled session (staff and admins)."""
    if not Principal.load(actor).manages(academy.pk):
        raise BookingError("not_allowed")
    _check_plan(academy, plan)
    with transaction.atomic():
        _lock_plan(plan)
        _check_free(plan, exclude_session=None)
        session = GroupSession.objects.create(
            academy=academy,
            session_type=plan.session_type,
            title=plan.title,
            starts_at=plan.starts_at,
            ends_at=plan.ends_at,
            capacity=plan.capacity,
            court=plan.court,
        )
        for coach in plan.coaches:
            StaffAssignment.objects.create(session=session, coach=coach)
    return session


def group_session_update(*, session: GroupSession, plan: SessionPlan, actor: User) -> GroupSession:
    """Change a scheduled session (staff and admins); its reservations stay."""
    if not Principal.load(actor).manages(session.academy_id):
        raise BookingError("not_allowed")
    _check_plan(session.academy, plan)
    with transaction.atomic():
        session = _lock_plan(plan, session.pk).sessions[session.pk]
        if session.is_cancelled:
            raise BookingError("session_cancelled")
        if plan.capacity < session.reserved_count:
            raise BookingError(
                "capacity_below_reservations",
                f"Capacity cannot be lower than the {session.reserved_count} reservations "
                "already made.",
            )
        _check_free(plan, exclude_session=session.pk)
        session.session_type = plan.session_type
        session.title = plan.title
        session.starts_at, session.ends_at = plan.starts_at, plan.ends_at
        session.capacity = plan.capacity
        session.court = plan.court
        session.version += 1
        session.save()
        current = set(session.assignments.values_list("coach_id", flat=True))
        wanted = {coach.pk for coach in plan.coaches}
        session.assignments.filter(coach_id__in=current - wanted).delete()
        for coach_id in sorted(wanted - current):
            StaffAssignment.objects.create(session=session, coach_id=coach_id)
    return session


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
        now = now or timezone.now()
        # One save per reservation, so each family's pages and toasts hear of their own.
        for reservation in session.reservations.filter(status=SessionReservation.Status.RESERVED):
            mark_cancelled(reservation, actor, now)
        session.status = GroupSession.Status.CANCELLED
        session.cancelled_at = now
        session.reserved_count = 0
        session.version += 1
        session.save(update_fields=["status", "cancelled_at", "reserved_count", "version"])
        emails.session_cancelled(session=session, actor=actor)
        # One line in the log for the whole session (not one per reservation), and one toast
        # for its coaches, who otherwise hear of each reservation (bookings.live.routing).
        record(
            verb=Verb.SESSION_CANCELLED,
            academy_id=session.academy_id,
            actor_id=actor.pk,
            at=now,
            session_id=session.pk,
        )
        send_on_commit(session_cancelled(session.pk, actor.pk))
    return session
