"""Calendars: a coach's day (My day on the tablet), and a day or week of the whole academy as
staff see it (every attendee) or as a coach sees it (the attendees of their own sessions, only
the occupancy of the others)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from typing import Any

from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.dateformat import format as format_date

from bookings import access, selectors
from bookings.access import Principal
from bookings.dates import within_range
from bookings.live.cards import academy_row, occupancy_cards
from bookings.live.changes import Change
from bookings.live.presence import academy_presence
from bookings.windows import checkin_open_on
from realtime.fragments import LiveFragment, Presence
from scheduling.models import Academy, Coach

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


class AcademyCalendar(LiveFragment):
    """A day (`days` 1) or a week (`days` 7, from a Monday, so every viewer of a week shares
    one stream) of every session and lesson of the academy. (The kinds below declare the
    fields, so that each key reads in its own order.)"""

    academy: int
    first: date
    days: int

    def _valid(self) -> bool:
        week = self.days == 7 and self.first.weekday() == 0
        return (self.days == 1 or week) and within_range(self.first)

    def affected_by(self, change: Change) -> bool:
        return (
            (change.group_sessions or change.lessons)
            and change.academy_id == self.academy
            and change.touches_day(self.first, self.days)
        )

    def _names(self, rows: CalendarRows) -> dict[str, Any]:
        coach = rows.coach
        return {
            "all_names": coach is None,
            "names_for_coach_ids": frozenset([coach.pk]) if coach else None,
        }

    def context(self, rows: CalendarRows, *, days_only: set[date] | None = None) -> dict[str, Any]:
        start, end = selectors.day_range(rows.academy, self.first, self.days)
        sessions = selectors.sessions_between(rows.academy.pk, start, end, **self._names(rows))
        tz = rows.academy.tz
        columns = []
        for offset in range(self.days):
            day = self.first + timedelta(days=offset)
            if days_only is None or day in days_only:
                columns.append(
                    (day, [s for s in sessions if s.starts_at.astimezone(tz).date() == day])
                )
        # Both audiences may cancel: staff any session, a coach their own (checked in the
        # template per session, and again by the service).
        return {
            "academy": rows.academy,
            "coach": rows.coach,
            "day": self.first,
            "days": self.days,
            "columns": columns,
            "now": timezone.now(),
            "can_cancel_sessions": True,
        }

    def update(self, rows: CalendarRows, change: Change) -> str | None:
        """Only what a change touched, so a push costs one card, not a week of 1,000 sessions:
        the cards of sessions whose occupancy changed, else the touched days' columns."""
        start, end = selectors.day_range(rows.academy, self.first, self.days)
        cards = occupancy_cards(
            CARD,
            change,
            rows.academy.pk,
            start,
            end,
            context={"coach": rows.coach, "can_cancel_sessions": True},
            coach=rows.coach,
            all_names=rows.coach is None,
        )
        if cards is not None:
            return cards
        if change.days is None:
            return None
        touched = {d for d in change.days if 0 <= (d - self.first).days < self.days}
        if len(touched) == self.days:
            return None
        context = {**self.context(rows, days_only=touched), "oob": True}
        return "".join(
            render_to_string(
                "fragments/calendar.html#column", {**context, "day": day, "items": items}
            )
            for day, items in context["columns"]
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
    """The front desk's calendar: every attendee of every session."""

    academy: int
    first: date
    days: int

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

    def load(self) -> CalendarRows | None:
        coach = _coach(self.coach) if self._valid() else None
        if coach is None or coach.academy_id != self.academy:
            return None
        return CalendarRows(coach.academy, coach)

    def allowed(self, viewer: Principal, rows: CalendarRows) -> bool:
        assert rows.coach is not None
        return access.reads_coach_calendar(viewer, rows.coach)
