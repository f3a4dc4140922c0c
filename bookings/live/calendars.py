"""Calendars: a coach's day (My day on the tablet, every attendee with check-in buttons), and a
day or week of the whole academy as staff or a coach see it: compact cards with occupancy, the
attendees on each session's details view (bookings.views.calendar)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from typing import Any, Literal

from django.utils import timezone
from django.utils.dateformat import format as format_date

from bookings import access, selectors
from bookings.access import Principal
from bookings.dates import within_range
from bookings.live import calendar_grid
from bookings.live.calendar_grid import Row
from bookings.live.cards import academy_row, occupancy_cards
from bookings.live.changes import Change
from bookings.live.presence import academy_presence
from bookings.windows import checkin_open_on
from realtime.fragments import LiveFragment, Presence
from realtime.render_pass import once
from scheduling.models import Academy, Coach, Court

CARD = "fragments/calendar.html#card"


def _coach(coach_id: int) -> Coach | None:
    return Coach.objects.select_related("academy").filter(pk=coach_id).first()


@dataclass(frozen=True)
class CoachDay(LiveFragment, name="coachday", template="fragments/calendar.html#coachday", order=3):
    """One coach's sessions and lessons of one day, with every attendee."""

    coach: int
    day: date

    def load(self) -> Coach | None:
        return _coach(self.coach) if within_range(self.day) else None

    def allowed(self, viewer: Principal, coach: Coach) -> bool:
        return access.reads_coach_calendar(viewer, coach)

    def affected_by(self, change: Change) -> bool:
        return self.coach in change.coach_ids and change.touches_day(self.day)

    def _range(self, coach: Coach) -> tuple[datetime, datetime]:
        return selectors.day_range(coach.academy, self.day)

    def _card_context(self, coach: Coach) -> dict[str, Any]:
        """What every card of the day shows besides its session: on the tablet, check-in
        buttons once the day has come (bookings.windows, the rule the service enforces)."""
        today = timezone.localdate(timezone.now(), coach.academy.tz)
        return {
            "coach": coach,
            "can_cancel_sessions": True,
            "checkin": checkin_open_on(self.day, today),
        }

    def context(self, coach: Coach) -> dict[str, Any]:
        start, end = self._range(coach)
        return {
            **self._card_context(coach),
            "day": self.day,
            "now": timezone.now(),
            "sessions": selectors.sessions_between(
                coach.academy_id, start, end, coach_id=coach.pk, all_names=True
            ),
        }

    def update(self, coach: Coach, change: Change) -> str | None:
        start, end = self._range(coach)
        context = self._card_context(coach)
        return occupancy_cards(
            CARD,
            change,
            coach.academy_id,
            start,
            end,
            context=context,
            coach=coach,
            only_coach=True,
            all_names=True,
            variant="checkin" if context["checkin"] else "",
        )

    def time_zone(self, coach: Coach) -> tzinfo:
        return coach.academy.tz

    def presence(self, viewer: Principal, coach: Coach) -> Presence:
        place = f"{coach.display_name}'s day, {format_date(self.day, 'l j F')}"
        return academy_presence(viewer, coach.academy_id, place)


@dataclass(frozen=True)
class CalendarRows:
    academy: Academy
    coach: Coach | None  # a coach's view of the academy; None: staff's


def grid_rows(academy_id: int, by: str) -> list[Row]:
    """Every court (or coach) of the academy, and a row for sessions without one: the rows are
    the same whatever the week holds, so a pushed cell always finds its row."""
    model = Coach if by == "coach" else Court

    def load() -> list[Row]:
        found = [Row(pk, str(name)) for pk, name in _row_names(model, academy_id)]
        return [*found, Row(0, "No coach" if by == "coach" else "No court")]

    return once(("calendar-rows", academy_id, by), load)


def _row_names(model: type[Coach] | type[Court], academy_id: int) -> list[tuple[int, str]]:
    label = "display_name" if model is Coach else "name"  # both models are ordered by it
    return list(model.objects.filter(academy_id=academy_id).values_list("pk", label))


class AcademyCalendar(LiveFragment):
    """A day (`days` 1) or a week (`days` 7, from a Monday, so every viewer of a week shares
    one stream) of every session and lesson of the academy, by court or by coach, filtered by
    coach, court and session type (0: any). (The kinds below declare the fields, so that each
    key reads in its own order.)"""

    academy: int
    first: date
    days: int
    by: str
    f_coach: int
    f_court: int
    f_type: int

    def _valid(self) -> bool:
        week = self.days == 7 and self.first.weekday() == 0
        return (self.days == 1 or week) and within_range(self.first)

    def affected_by(self, change: Change) -> bool:
        return (
            (change.group_sessions or change.lessons)
            and change.academy_id == self.academy
            and change.touches_day(self.first, self.days)
        )

    def keep(self, s: selectors.SessionView) -> bool:
        """The filters."""
        return (
            (not self.f_coach or self.f_coach in s.coach_ids)
            and (not self.f_court or self.f_court == s.court_id)
            and (not self.f_type or self.f_type == s.type_id)
        )

    def _sessions(self, rows: CalendarRows) -> list[selectors.SessionView]:
        start, end = selectors.day_range(rows.academy, self.first, self.days)
        # No names: a card carries none (they are on the details view, see calendar_details).
        sessions = selectors.sessions_between(rows.academy.pk, start, end, attendees=False)
        return [s for s in sessions if self.keep(s)]

    def _today(self, rows: CalendarRows) -> date:
        return timezone.localdate(timezone.now(), rows.academy.tz)

    def _rows(self, rows: CalendarRows) -> list[Row]:
        by = "court" if self.days == 1 else self.by
        found = grid_rows(rows.academy.pk, by)
        if self.f_court and by == "court":
            found = [r for r in found if r.ident == self.f_court]
        if self.f_coach and by == "coach":
            found = [r for r in found if r.ident == self.f_coach]
        return found

    def _caption(self) -> str:
        if self.days == 1:
            return f"Sessions of {format_date(self.first, 'l j F')} by court and time"
        by = "coach" if self.by == "coach" else "court"
        return f"Week of {format_date(self.first, 'j F Y')} by {by}"

    def context(self, rows: CalendarRows) -> dict[str, Any]:
        tz = rows.academy.tz
        sessions = self._sessions(rows)
        if self.days == 1:
            grid = calendar_grid.day_grid(
                self._rows(rows), sessions, tz=tz, caption=self._caption()
            )
        else:
            grid = calendar_grid.week_table(
                self._rows(rows),
                [self.first + timedelta(days=i) for i in range(self.days)],
                sessions,
                by=self.by,
                tz=tz,
                today=self._today(rows),
                caption=self._caption(),
            )
        return {"grid": grid, "count": len(sessions), "days": self.days}

    def update(self, rows: CalendarRows, change: Change) -> str | None:
        """Only what a change touched, so a push costs one card, not a week of 1,000 sessions:
        the cards of sessions whose occupancy changed, else (a week) the touched days' cells."""
        start, end = selectors.day_range(rows.academy, self.first, self.days)
        tz = rows.academy.tz
        place = calendar_grid.day_placer(self._rows(rows), tz) if self.days == 1 else None
        cards = occupancy_cards(
            "compact",
            change,
            rows.academy.pk,
            start,
            end,
            context={},
            keep=self.keep,
            variant=self.key if self.days == 1 else "week",
            render=lambda s: calendar_grid.card(s, tz, place=place(s) if place else "", oob=True),
        )
        if cards is not None:
            return cards
        if change.days is None or self.days == 1:
            return None
        touched = [d for d in change.days if 0 <= (d - self.first).days < self.days]
        if len(touched) == self.days:
            return None
        cells = calendar_grid.group_cells(self._sessions(rows), self.by, tz)
        today = self._today(rows)
        return "".join(
            calendar_grid.week_cell(row, d, cells.get((row.ident, d), ()), tz, today, oob=True)
            for d in sorted(set(touched))
            for row in self._rows(rows)
        )

    def time_zone(self, rows: CalendarRows) -> tzinfo:
        return rows.academy.tz

    def presence(self, viewer: Principal, rows: CalendarRows) -> Presence:
        if self.days == 1:
            place = format_date(self.first, "l j F")
        else:
            place = f"the week of {format_date(self.first, 'j F')}"
        return academy_presence(viewer, rows.academy.pk, place)


@dataclass(frozen=True)
class StaffCalendar(
    AcademyCalendar, name="calendar", template="fragments/calendar.html#calendar", order=2
):
    """The front desk's calendar."""

    academy: int
    first: date
    days: int
    by: Literal["court", "coach"] = "court"
    f_coach: int = 0
    f_court: int = 0
    f_type: int = 0

    def load(self) -> CalendarRows | None:
        found = academy_row(self.academy) if self._valid() else None
        return None if found is None else CalendarRows(found, None)

    def allowed(self, viewer: Principal, rows: CalendarRows) -> bool:
        return access.reads_staff_calendar(viewer, self.academy)


@dataclass(frozen=True)
class CoachCalendar(
    AcademyCalendar, name="coachcal", template="fragments/calendar.html#calendar", order=2
):
    """The academy's calendar as one coach sees it."""

    coach: int
    academy: int  # the coach's, in the key so that routing needs no query
    first: date
    days: int
    by: Literal["court", "coach"] = "court"
    f_coach: int = 0
    f_court: int = 0
    f_type: int = 0

    def load(self) -> CalendarRows | None:
        coach = _coach(self.coach) if self._valid() else None
        if coach is None or coach.academy_id != self.academy:
            return None
        return CalendarRows(coach.academy, coach)

    def allowed(self, viewer: Principal, rows: CalendarRows) -> bool:
        assert rows.coach is not None
        return access.reads_coach_calendar(viewer, rows.coach)
