"""A change, as the fragments read it: which academy, days, coaches, players and families it
touches. Fragment kinds decide from this alone (no queries) whether a fragment is affected, so
routing a change costs a pass over the watched keys."""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, tzinfo


@dataclass
class Change:
    academy_id: int
    days: set[date] | None = field(default_factory=set)  # local days touched; None: any day
    coach_ids: set[int] = field(default_factory=set)
    player_ids: set[int] = field(default_factory=set)
    guardian_ids: set[int] = field(default_factory=set)  # parents' user ids (family lists)
    group_sessions: bool = False  # a group session appeared, moved, went or filled
    lessons: bool = False  # an individual lesson changed (slots, calendars)
    session_ids: set[int] = field(default_factory=set)  # group sessions touched
    inbox_user_ids: set[int] = field(default_factory=set)  # users whose inbox changed
    # Only occupancy changed (a reservation made or cancelled, a capacity edit): no session
    # appeared, moved or went, so a calendar can re-render just the touched sessions' cards.
    # Check-in marks, ratings and goals say so too: they move no session either.
    occupancy_only: bool = False
    # Only check-in marks, ratings or goals changed: nothing the academy's shared grids show.
    marks_only: bool = False
    attendance: bool = False  # a check-in mark changed
    feedback: bool = False  # a rating or comment changed
    goals: bool = False  # a goal changed (its coach in coach_ids)
    goal_player_ids: set[int] = field(default_factory=set)  # whose goals changed
    goal_guardian_ids: set[int] = field(default_factory=set)  # their guardians (user ids)
    activity: bool = False  # the activity log got a row (bookings.models.Activity)

    def add_times(self, tz: tzinfo, *moments: datetime | None) -> None:
        if self.days is None:
            return
        for moment in moments:
            if moment is not None:
                self.days.add(moment.astimezone(tz).date())

    def touches_day(self, day: date, span: int = 1) -> bool:
        if self.days is None:
            return True
        return any(0 <= (d - day).days < span for d in self.days)

    def merge(self, other: Change) -> None:
        if self.days is None or other.days is None:
            self.days = None
        else:
            self.days |= other.days
        self.coach_ids |= other.coach_ids
        self.player_ids |= other.player_ids
        self.guardian_ids |= other.guardian_ids
        self.group_sessions |= other.group_sessions
        self.lessons |= other.lessons
        self.session_ids |= other.session_ids
        self.inbox_user_ids |= other.inbox_user_ids
        self.occupancy_only = self.occupancy_only and other.occupancy_only
        self.marks_only = self.marks_only and other.marks_only
        self.attendance |= other.attendance
        self.feedback |= other.feedback
        self.goals |= other.goals
        self.goal_player_ids |= other.goal_player_ids
        self.goal_guardian_ids |= other.goal_guardian_ids
        self.activity |= other.activity


def merge_all(changes: Iterable[Change]) -> list[Change]:
    """One Change per academy (a fragment belongs to one academy)."""
    by_academy: dict[int, Change] = {}
    for change in changes:
        if change.academy_id in by_academy:
            by_academy[change.academy_id].merge(change)
        else:
            by_academy[change.academy_id] = copy.deepcopy(change)
    return list(by_academy.values())
