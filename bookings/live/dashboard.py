"""The coach's dashboard (seed 002), one live fragment per panel, and a family's goals.

Each panel is keyed by the coach alone and is personal: a change names the coaches it touches,
so it is looked up by name (`personal_for`) rather than scanned, and a panel nobody watches
costs nothing. Its audience is that coach and the academy's staff (access.reads_coach_dashboard),
who may read every name on it. A change re-renders only the panels it can move: a rating the
figures, insights and activity; a goal the goals; a booking the figures, activity and clients.
The month-scale rating trend is not live: its panel polls (views.dashboards.coach_trend).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import tzinfo
from typing import Any, ClassVar, Self

from django.utils import timezone

from bookings import access, dashboards
from bookings.access import Principal
from bookings.live.changes import Change
from bookings.live.lists import Owner, OwnerList
from realtime.fragments import LiveFragment
from realtime.render_pass import once
from scheduling.models import Coach


@dataclass(frozen=True)
class CoachPanel(LiveFragment):
    """A panel of one coach's dashboard. Kinds say which changes move them (`moved_by`)."""

    coach: int

    @classmethod
    def moved_by(cls, change: Change) -> bool:
        raise NotImplementedError

    def load(self) -> Coach | None:
        # Read once per publisher pass: a rating moves three panels of the same coach.
        return once(
            ("coach", self.coach),
            lambda: Coach.objects.select_related("academy").filter(pk=self.coach).first(),
        )

    def allowed(self, viewer: Principal, coach: Coach) -> bool:
        return access.reads_coach_dashboard(viewer, coach)

    @classmethod
    def personal_for(cls, change: Change) -> list[Self]:
        return [cls(c) for c in sorted(change.coach_ids)] if cls.moved_by(change) else []

    def affected_by(self, change: Change) -> bool:
        return self.coach in change.coach_ids and self.moved_by(change)  # as personal_for

    def time_zone(self, coach: Coach) -> tzinfo:
        return coach.academy.tz

    @staticmethod
    def today(coach: Coach) -> Any:
        return timezone.localdate(timezone.now(), coach.academy.tz)


@dataclass(frozen=True)
class CoachStats(
    CoachPanel,
    name="coachstats",
    template="fragments/dashboard.html#stats",
    personal=True,
    order=5,
):
    """This week's sessions, hours, fill and attendance rates, lessons and rating, beside last
    week's."""

    @classmethod
    def moved_by(cls, change: Change) -> bool:
        return change.group_sessions or change.lessons or change.feedback

    def context(self, coach: Coach) -> dict[str, Any]:
        return {"coach": coach, "stats": dashboards.coach_stats(coach, self.today(coach))}


@dataclass(frozen=True)
class CoachActivity(
    CoachPanel,
    name="coachactivity",
    template="fragments/dashboard.html#activity",
    personal=True,
    order=6,
):
    """Bookings, cancellations, check-ins and ratings of the coach's sessions, newest first."""

    @classmethod
    def moved_by(cls, change: Change) -> bool:
        return change.activity

    def context(self, coach: Coach) -> dict[str, Any]:
        return {"items": dashboards.coach_activity(coach), "feed": "coach"}


@dataclass(frozen=True)
class CoachInsights(
    CoachPanel,
    name="coachinsights",
    template="fragments/dashboard.html#insights",
    personal=True,
    order=5,
):
    """The last 30 days' ratings and the latest comments."""

    @classmethod
    def moved_by(cls, change: Change) -> bool:
        return change.feedback

    def context(self, coach: Coach) -> dict[str, Any]:
        return {"insights": dashboards.coach_insights(coach, timezone.now())}


@dataclass(frozen=True)
class CoachClients(
    CoachPanel,
    name="coachclients",
    template="fragments/dashboard.html#clients",
    personal=True,
    order=6,
):
    """Players taught in the last eight weeks, new ones marked."""

    @classmethod
    def moved_by(cls, change: Change) -> bool:
        # Who attends changes with bookings, sessions and lessons, not with a mark or rating.
        return (change.group_sessions or change.lessons) and not change.marks_only

    def context(self, coach: Coach) -> dict[str, Any]:
        return {
            "clients": dashboards.coach_clients(coach, self.today(coach)),
            "weeks": dashboards.CLIENT_WEEKS,
        }


@dataclass(frozen=True)
class CoachGoals(
    CoachPanel,
    name="coachgoals",
    template="fragments/dashboard.html#goals",
    personal=True,
    order=5,
):
    """The goals the coach set for their players, with their progress."""

    @classmethod
    def moved_by(cls, change: Change) -> bool:
        return change.goals

    def context(self, coach: Coach) -> dict[str, Any]:
        return {"coach": coach, "goals": dashboards.coach_goals(coach), "editable": True}


@dataclass(frozen=True)
class Goals(
    OwnerList,
    name="goals",
    template="fragments/dashboard.html#family_goals",
    personal=True,
    order=4,
):
    """A player's goals (`player`, a player id) or every child's of one parent (`family`)."""

    upcoming_only: ClassVar[bool] = False  # (an OwnerList's; goals are not a schedule)

    def allowed(self, viewer: Principal, rows: Owner) -> bool:
        if self.scope == "family":
            return access.reads_family_lists(viewer, self.owner)
        return access.reads_family_goals(viewer, rows.players[0])

    @classmethod
    def owners(cls, change: Change) -> tuple[set[int], set[int]]:
        return change.goal_player_ids, change.goal_guardian_ids

    def context(self, rows: Owner) -> dict[str, Any]:
        return {
            "goals": dashboards.player_goals(p.pk for p in rows.players),
            "show_player": rows.guardian_id is not None,
        }
