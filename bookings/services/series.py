"""Weekly series of group sessions for a term: creating one, changing "this and the following
sessions", cancelling this and the following.

A series (scheduling.models.SessionSeries) is the template its occurrences were made from; the
occurrences are ordinary group sessions, so booking, the waiting list, a one-off edit ("this
session only": bookings.services.sessions.group_session_update) and a one-off cancellation work
on them as on any session. Every occurrence is checked as a single session would be: the court
and the coaches free (the clash named, with its date), no coach away, the capacity not below
an occurrence's reservations. Reservations stay with their occurrence through every edit; moving
occurrences that hold reservations to another time needs `confirm_moves` (their families then
see the new time live). A refusal names the occurrence and writes nothing.

Locks: the coaches, the series, every occurrence touched, the court, in one call. A series'
lock covers which occurrences it holds, so two edits of one series run one after the other,
and an edit and a booking of an occurrence meet on that occurrence's lock.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta, tzinfo

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.utils import timezone

from bookings.access import Principal
from bookings.errors import BookingError
from bookings.live.capture import sessions_added
from bookings.locks import lock
from bookings.services.common import abandon
from bookings.services.sessions import (
    SessionPlan,
    apply_plan,
    cancel_locked,
    check_capacity,
    check_free,
    check_not_stale,
    check_plan,
)
from bookings.services.waitlist import locked_with_queue, settle
from realtime.publisher import send_on_commit
from scheduling.models import Academy, GroupSession, SessionSeries, StaffAssignment
from scheduling.times import short_date

MAX_SPAN_DAYS = 366


def occurrence_days(first: date, last: date, skip: Iterable[date] = ()) -> list[date]:
    """Every 7th day from `first` through `last`, without the skipped ones."""
    skipped = set(skip)
    days = []
    day = first
    while day <= last:
        if day not in skipped:
            days.append(day)
        day += timedelta(days=7)
    return days


def _at(day: date, wall: time, tz: tzinfo) -> datetime:
    """A local wall-clock time on a day, in UTC (the same time every week, across DST)."""
    return datetime.combine(day, wall, tzinfo=tz).astimezone(UTC)


def _on(day: date, error: BookingError) -> BookingError:
    """A refusal about one occurrence, saying which."""
    return BookingError(error.code, f"{short_date(day)}: {error.message}", existing=error.existing)


def series_create(
    *,
    academy: Academy,
    plan: SessionPlan,
    until: date,
    skip: Iterable[date] = (),
    actor: User,
) -> SessionSeries:
    """A weekly series from the plan's day through `until` on the same weekday and time, without
    the `skip` days (staff and admins). One transaction: every occurrence or none."""
    if not Principal.load(actor).manages(academy.pk):
        raise BookingError("not_allowed")
    check_plan(academy, plan)
    tz = academy.tz
    local_start = plan.starts_at.astimezone(tz)
    first, wall = local_start.date(), local_start.time().replace(second=0, microsecond=0)
    if until < first:
        raise BookingError("bad_dates")
    if (until - first).days > MAX_SPAN_DAYS:
        raise BookingError("series_too_long")
    skipped = set(skip)
    strays = sorted(d for d in skipped if d not in occurrence_days(first, until))
    if strays:
        raise BookingError(
            "bad_dates",
            f"{strays[0]:%a %-d %b %Y} is not one of the series' days "
            f"({first:%A}s from {first:%-d %b} to {until:%-d %b %Y}).",
        )
    days = occurrence_days(first, until, skipped)
    if not days:
        raise BookingError("series_empty")
    length = plan.ends_at - plan.starts_at
    plans = [
        (day, replace(plan, starts_at=_at(day, wall, tz), ends_at=_at(day, wall, tz) + length))
        for day in days
    ]

    with transaction.atomic():
        lock(
            coaches=[coach.pk for coach in plan.coaches],
            courts=[plan.court.pk] if plan.court else [],
        )
        check_free([(each, None) for _, each in plans], name_day=True)
        series = SessionSeries.objects.create(
            academy=academy,
            session_type=plan.session_type,
            title=plan.title,
            weekday=first.weekday(),
            start_time=wall,
            duration_minutes=round(length.total_seconds() / 60),
            court=plan.court,
            capacity=plan.capacity,
            notes=plan.notes,
            first_day=first,
            last_day=until,
            skip_days=sorted(d.isoformat() for d in skipped),
            created_by=actor,
        )
        series.coaches.set(plan.coaches)
        try:
            # One INSERT for the sessions and one for their coaches, and one event for the lot
            # (bulk_create sends no signals): a term's series reaches open pages as one change.
            sessions = GroupSession.objects.bulk_create(
                GroupSession(
                    academy=academy,
                    session_type=each.session_type,
                    title=each.title,
                    starts_at=each.starts_at,
                    ends_at=each.ends_at,
                    capacity=each.capacity,
                    court=each.court,
                    notes=each.notes,
                    series=series,
                )
                for _, each in plans
            )
        except IntegrityError as exc:  # the court's exclusion constraint, the last guard
            abandon()
            raise BookingError("court_busy") from exc
        StaffAssignment.objects.bulk_create(
            StaffAssignment(session=session, coach=coach)
            for session in sessions
            for coach in plan.coaches
        )
        send_on_commit(sessions_added(academy.pk, sessions, [c.pk for c in plan.coaches]))
    return series


def _following(session: GroupSession) -> list[int]:
    """The scheduled occurrences of the session's series from this one on (ids)."""
    return list(
        GroupSession.objects.filter(
            series_id=session.series_id,
            status=GroupSession.Status.SCHEDULED,
            starts_at__gte=session.starts_at,
        ).values_list("pk", flat=True)
    )


def series_update(
    *,
    session: GroupSession,
    plan: SessionPlan,
    actor: User,
    expected_version: int | None = None,
    base: Mapping[str, str] | None = None,
    confirm_moves: bool = False,
    now: datetime | None = None,
) -> SessionSeries:
    """Change an occurrence and every following one of its series to the plan (staff and
    admins). The edited occurrence gets the plan exactly; each following one keeps its own day
    (moved by as many days as the edited one moves) and takes the plan's time and the rest.
    Earlier occurrences keep the old series: the series is split at this date."""
    if not Principal.load(actor).manages(session.academy_id):
        raise BookingError("not_allowed")
    if session.series_id is None:
        raise BookingError("not_allowed", "This session is not part of a series.")
    academy = session.academy
    check_plan(academy, plan)
    tz = academy.tz

    with transaction.atomic():
        ids = _following(session)
        locked = locked_with_queue(
            coaches=[coach.pk for coach in plan.coaches],
            series=[session.series_id],
            sessions=ids,
            courts=[plan.court.pk] if plan.court else [],
        )
        series = locked.series.get(session.series_id)
        edited = locked.sessions.get(session.pk)
        if series is None or edited is None or edited.series_id != series.pk:
            raise BookingError("busy")  # split or cancelled between our read and our lock
        if edited.is_cancelled:
            raise BookingError("session_cancelled")
        if set(_following(edited)) != set(ids):
            raise BookingError("busy")
        now = now or timezone.now()
        if edited.starts_at <= now:
            raise BookingError("session_past")
        check_not_stale(edited, plan, expected_version=expected_version, base=base)

        edited_day = edited.starts_at.astimezone(tz).date()
        local_start = plan.starts_at.astimezone(tz)
        shift = local_start.date() - edited_day
        wall, length = local_start.time(), plan.ends_at - plan.starts_at
        occurrences = sorted((locked.sessions[pk] for pk in ids), key=lambda s: (s.starts_at, s.pk))
        planned: list[tuple[GroupSession, SessionPlan]] = []
        moved_booked: list[GroupSession] = []
        for occurrence in occurrences:
            day = occurrence.starts_at.astimezone(tz).date()
            if occurrence.pk == edited.pk:
                each = plan
            else:
                starts = _at(day + shift, wall, tz)
                each = replace(plan, starts_at=starts, ends_at=starts + length)
            moves = (each.starts_at, each.ends_at) != (occurrence.starts_at, occurrence.ends_at)
            if moves and occurrence.reserved_count + occurrence.held_count:
                moved_booked.append(occurrence)
            try:
                check_capacity(occurrence, each.capacity)
            except BookingError as error:
                raise _on(day, error) from error
            planned.append((occurrence, each))
        check_free([(each, occurrence.pk) for occurrence, each in planned], name_day=True)
        if moved_booked and not confirm_moves:
            raise BookingError("moves_booked", _moves_message(moved_booked, tz))

        target = _split(series, edited, shift, actor) if _has_earlier(series, edited) else series
        _retemplate(target, plan, tz, shift, first_day=local_start.date())
        for occurrence, each in planned:
            occurrence.series = target
            apply_plan(occurrence, each)
            settle(occurrence, now=now, locked=locked.players.keys())
    return target


def _moves_message(moved: list[GroupSession], tz: tzinfo) -> str:
    booked = sum(s.reserved_count + s.held_count for s in moved)
    days = ", ".join(short_date(s.starts_at.astimezone(tz)) for s in moved[:4])
    more = f" and {len(moved) - 4} more" if len(moved) > 4 else ""
    sessions = "session" if len(moved) == 1 else "sessions"
    return (
        f"{len(moved)} {sessions} with {booked} booked would move to the new time ({days}{more}). "
        "Confirm to move them; their players keep their places and see the new time."
    )


def _has_earlier(series: SessionSeries, edited: GroupSession) -> bool:
    return series.occurrences.filter(starts_at__lt=edited.starts_at).exists()


def _split(
    series: SessionSeries, edited: GroupSession, shift: timedelta, actor: User
) -> SessionSeries:
    """End the series the day before the edited occurrence; a new one takes the rest."""
    day = edited.starts_at.astimezone(series.academy.tz).date()
    later = [d for d in series.skip_days if d >= day.isoformat()]
    rest = SessionSeries.objects.create(
        academy=series.academy,
        session_type=series.session_type,
        title=series.title,
        weekday=series.weekday,
        start_time=series.start_time,
        duration_minutes=series.duration_minutes,
        court=series.court,
        capacity=series.capacity,
        notes=series.notes,
        first_day=day,
        last_day=max(series.last_day, day),
        skip_days=later,
        created_by=actor,
    )
    rest.coaches.set(series.coaches.all())
    series.last_day = max(series.first_day, day - timedelta(days=1))
    series.skip_days = [d for d in series.skip_days if d < day.isoformat()]
    series.save(update_fields=["last_day", "skip_days"])
    return rest


def _retemplate(
    series: SessionSeries, plan: SessionPlan, tz: tzinfo, shift: timedelta, *, first_day: date
) -> None:
    """The series row describes its occurrences as they now are."""
    local_start = plan.starts_at.astimezone(tz)
    series.session_type = plan.session_type
    series.title = plan.title
    series.weekday = local_start.weekday()
    series.start_time = local_start.time()
    series.duration_minutes = round((plan.ends_at - plan.starts_at).total_seconds() / 60)
    series.court = plan.court
    series.capacity = plan.capacity
    series.notes = plan.notes
    series.first_day = first_day if shift else series.first_day
    series.last_day = max(series.last_day + shift, series.first_day)
    series.skip_days = [(date.fromisoformat(d) + shift).isoformat() for d in series.skip_days]
    series.save()
    series.coaches.set(plan.coaches)


def series_cancel(
    *, session: GroupSession, actor: User, now: datetime | None = None
) -> list[GroupSession]:
    """Cancel an occurrence and every following one of its series that has not started, with
    their reservations and waiting lists (staff and admins). Returns the cancelled sessions."""
    if not Principal.load(actor).manages(session.academy_id):
        raise BookingError("not_allowed")
    if session.series_id is None:
        raise BookingError("not_allowed", "This session is not part of a series.")
    with transaction.atomic():
        ids = _following(session)
        locked = lock(series=[session.series_id], sessions=ids)
        now = now or timezone.now()
        cancelled = []
        for pk in ids:
            occurrence = locked.sessions.get(pk)
            if occurrence is None or occurrence.is_cancelled or occurrence.starts_at <= now:
                continue
            if occurrence.series_id != session.series_id:
                continue  # split off meanwhile: no longer this series
            cancel_locked(occurrence, actor, now)
            cancelled.append(occurrence)
        if not cancelled:
            raise BookingError("already_cancelled", "No following session is left to cancel.")
    return cancelled
