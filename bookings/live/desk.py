"""The front desk's live overview (seed 003): a day's sessions with occupancy and check-in, and
the academy's recent changes. Both are shared among the academy's staff (every name on them is
theirs to read): rendered once per change, whatever the number of front-desk screens. New
bookings in the feed carry a toast (data-toast) that the desk's screens show once
(static/js/desk.js): one push reaches every desk, where a toast per staff member would be a
message per member and change."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, tzinfo
from typing import Any

from django.utils import timezone

from bookings import access, dashboards, selectors
from bookings.access import Principal
from bookings.dates import within_range
from bookings.live.cards import academy_row, occupancy_cards
from bookings.live.changes import Change
from realtime.fragments import LiveFragment
from scheduling.models import Academy

ROW = "fragments/desk.html#row"


@dataclass(frozen=True)
class DeskDay(LiveFragment, name="desk", template="fragments/desk.html#day", order=5):
    """Every session and lesson of one day: occupancy and how far check-in has come."""

    academy: int
    day: date

    def load(self) -> Academy | None:
        return academy_row(self.academy) if within_range(self.day) else None

    def allowed(self, viewer: Principal, academy: Academy) -> bool:
        return access.reads_front_desk(viewer, self.academy)

    def affected_by(self, change: Change) -> bool:
        return (
            (change.group_sessions or change.lessons)
            and change.academy_id == self.academy
            and change.touches_day(self.day)
        )

    def context(self, academy: Academy) -> dict[str, Any]:
        start, end = selectors.day_range(academy, self.day)
        return {
            "academy": academy,
            "day": self.day,
            "now": timezone.now(),
            "sessions": selectors.sessions_between(academy.pk, start, end, all_names=True),
        }

    def update(self, academy: Academy, change: Change) -> str | None:
        """A booking or a check-in: that session's row alone."""
        start, end = selectors.day_range(academy, self.day)
        return occupancy_cards(ROW, change, academy.pk, start, end, context={}, all_names=True)

    def time_zone(self, academy: Academy) -> tzinfo:
        return academy.tz


@dataclass(frozen=True)
class DeskFeed(LiveFragment, name="deskfeed", template="fragments/desk.html#feed", order=6):
    """Recent changes: who booked, cancelled, checked in or rated what, for whom, when."""

    academy: int

    def load(self) -> Academy | None:
        return academy_row(self.academy)

    def allowed(self, viewer: Principal, academy: Academy) -> bool:
        return access.reads_front_desk(viewer, self.academy)

    def affected_by(self, change: Change) -> bool:
        return change.activity and change.academy_id == self.academy

    def context(self, academy: Academy) -> dict[str, Any]:
        return {"items": dashboards.academy_activity(academy.pk), "feed": "desk"}

    def time_zone(self, academy: Academy) -> tzinfo:
        return academy.tz
