"""Managing the schedule: the front desk's plan of one day (every session with its bookings,
waiting list, series and notes, and an Edit link), and the "stored now" panel of a session's
edit form, which tells an open form live when someone else saves the same session."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, tzinfo
from typing import Any

from django.utils import timezone
from django.utils.dateformat import format as format_date

from bookings import access, selectors
from bookings.access import Principal
from bookings.dates import within_range
from bookings.live.cards import academy_row
from bookings.live.changes import Change
from bookings.live.presence import academy_presence
from bookings.models import WaitlistEntry
from bookings.services.sessions import PLAN_FIELDS, plan_display, plan_of, plan_values
from realtime.fragments import LiveFragment, Presence
from scheduling.models import Academy, GroupSession
from scheduling.times import day_and_time


@dataclass(frozen=True)
class PlanRows:
    academy: Academy
    day: date


@dataclass(frozen=True)
class StaffPlan(LiveFragment, name="plan", template="fragments/schedule.html#plan", order=2):
    """The day's group sessions as the front desk runs them (names: staff only)."""

    academy: int
    day: date

    def load(self) -> PlanRows | None:
        found = academy_row(self.academy) if within_range(self.day) else None
        return None if found is None else PlanRows(found, self.day)

    def allowed(self, viewer: Principal, rows: PlanRows) -> bool:
        return access.reads_staff_calendar(viewer, self.academy)

    def affected_by(self, change: Change) -> bool:
        return (
            change.group_sessions
            and change.academy_id == self.academy
            and change.touches_day(self.day)
        )

    def context(self, rows: PlanRows) -> dict[str, Any]:
        start, end = selectors.day_range(rows.academy, self.day)
        sessions = selectors.sessions_between(
            self.academy, start, end, include_lessons=False, all_names=True
        )
        waiting: dict[int, list[tuple[str, str]]] = defaultdict(list)
        queue = (
            WaitlistEntry.objects.filter(
                session_id__in=[s.pk for s in sessions], status__in=WaitlistEntry.OPEN
            )
            .select_related("player")
            .order_by("id")
        )
        for entry in queue:
            waiting[entry.session_id].append((entry.player.full_name, entry.status))
        return {
            "academy": rows.academy,
            "day": self.day,
            "now": timezone.now(),
            "sessions": [(s, waiting.get(s.pk, [])) for s in sessions],
        }

    def time_zone(self, rows: PlanRows) -> tzinfo:
        return rows.academy.tz

    def presence(self, viewer: Principal, rows: PlanRows) -> Presence:
        return academy_presence(
            viewer, self.academy, f"the plan for {format_date(self.day, 'l j F')}"
        )


@dataclass(frozen=True)
class SessionEditor(
    LiveFragment, name="editor", template="fragments/schedule.html#editor", order=3
):
    """One session as stored now, field by field (the edit form compares it with what it
    started from), with its bookings. No names: staff and the session's coaches read it."""

    session: int

    def load(self) -> GroupSession | None:
        return (
            GroupSession.objects.select_related("academy", "session_type", "court")
            .filter(pk=self.session)
            .first()
        )

    def allowed(self, viewer: Principal, session: GroupSession) -> bool:
        return access.edits_session(viewer, session)

    def affected_by(self, change: Change) -> bool:
        return self.session in change.session_ids

    def context(self, session: GroupSession) -> dict[str, Any]:
        tz = session.academy.tz
        plan = plan_of(session)
        values, shown = plan_values(plan, tz), plan_display(plan, tz)
        return {
            "session": session,
            "fields": [
                (name, label, values[name], shown[name]) for name, label in PLAN_FIELDS.items()
            ],
        }

    def time_zone(self, session: GroupSession) -> tzinfo:
        return session.academy.tz

    def presence(self, viewer: Principal, session: GroupSession) -> Presence:
        """Who else has this session's form open: two editors know of each other before
        either saves (the save itself is still judged by the service)."""
        when = timezone.localtime(session.starts_at, session.academy.tz)
        place = f"the edit form of {session.display_title}, {day_and_time(when)}"
        return academy_presence(viewer, session.academy_id, place)
