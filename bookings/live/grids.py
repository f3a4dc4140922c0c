"""What every member of an academy shares: the day's group sessions and a coach's lesson slots.
No names: everyone in the academy reads the same render."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, tzinfo
from typing import Any

from django.utils import timezone
from django.utils.dateformat import format as format_date

from bookings import access, selectors
from bookings.access import Principal
from bookings.dates import within_range
from bookings.live.cards import academy_row, occupancy_cards
from bookings.live.changes import Change
from bookings.live.presence import academy_presence
from realtime.fragments import LiveFragment, Presence
from scheduling.models import Academy, Coach, SessionType


@dataclass(frozen=True)
class DayRows:
    academy: Academy
    day: date


@dataclass(frozen=True)
class DayGrid(LiveFragment, name="day", template="fragments/slots.html#day", order=0):
    """The group sessions of one day, with spots left and Reserve buttons."""

    holds = True  # "someone is booking this" on a session's last spots

    academy: int
    day: date

    def load(self) -> DayRows | None:
        found = academy_row(self.academy) if within_range(self.day) else None
        return None if found is None else DayRows(found, self.day)

    def allowed(self, viewer: Principal, rows: DayRows) -> bool:
        return access.reads_academy_grids(viewer, self.academy)

    def affected_by(self, change: Change) -> bool:
        return (
            change.group_sessions
            and not change.marks_only  # check-in marks and ratings: nothing shown here
            and change.academy_id == self.academy
            and change.touches_day(self.day)
        )

    def context(self, rows: DayRows) -> dict[str, Any]:
        start, end = selectors.day_range(rows.academy, self.day)
        return {
            "academy": rows.academy,
            "day": self.day,
            "now": timezone.now(),
            "sessions": selectors.sessions_between(self.academy, start, end, include_lessons=False),
        }

    def update(self, rows: DayRows, change: Change) -> str | None:
        start, end = selectors.day_range(rows.academy, self.day)
        return occupancy_cards(
            "fragments/slots.html#session",
            change,
            self.academy,
            start,
            end,
            context={"academy": rows.academy, "day": self.day},
        )

    def time_zone(self, rows: DayRows) -> tzinfo:
        return rows.academy.tz

    def presence(self, viewer: Principal, rows: DayRows) -> Presence:
        return academy_presence(viewer, self.academy, format_date(self.day, "l j F"))


@dataclass(frozen=True)
class SlotRows:
    coach: Coach
    session_type: SessionType


@dataclass(frozen=True)
class LessonSlots(LiveFragment, name="slots", template="fragments/slots.html#slots", order=1):
    """One coach's lesson slots of one type on one day: free, taken, past or closed."""

    holds = True  # "someone is booking this" on a slot

    coach: int
    session_type: int
    day: date

    def load(self) -> SlotRows | None:
        if not within_range(self.day):
            return None
        coach = Coach.objects.select_related("academy").filter(pk=self.coach).first()
        session_type = SessionType.objects.filter(pk=self.session_type).first()
        if coach is None or session_type is None or session_type.academy_id != coach.academy_id:
            return None
        return SlotRows(coach, session_type)

    def allowed(self, viewer: Principal, rows: SlotRows) -> bool:
        return access.reads_academy_grids(viewer, rows.coach.academy_id)

    def affected_by(self, change: Change) -> bool:
        # A coach's group session blocks their lesson slots however full it is, so a reservation
        # made or cancelled (occupancy only) leaves the slots as they were.
        return (
            not change.occupancy_only
            and self.coach in change.coach_ids
            and change.touches_day(self.day)
        )

    def context(self, rows: SlotRows) -> dict[str, Any]:
        return {
            "coach": rows.coach,
            "session_type": rows.session_type,
            "day": self.day,
            "slots": selectors.lesson_slots(rows.coach, rows.session_type, self.day),
        }

    def time_zone(self, rows: SlotRows) -> tzinfo:
        return rows.coach.academy.tz

    def presence(self, viewer: Principal, rows: SlotRows) -> Presence:
        place = f"{rows.coach.display_name}'s lessons on {format_date(self.day, 'l j F')}"
        return academy_presence(viewer, rows.coach.academy_id, place)
