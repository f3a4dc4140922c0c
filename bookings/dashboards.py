"""Reads for the coach's dashboard and the front desk: this week's figures beside last week's,
the activity log, ratings and comments, clients and goals.

Like bookings.selectors, each read issues a fixed number of queries whatever the history: the
figures read two weeks of rows, the lists are limited, the log is read newest first through
its (academy, time) index. A coach's sessions are found through their assignments (a group
session can have two coaches), their lessons by coach.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import Count, Max, Min, Q, QuerySet, Sum

from bookings.models import Activity, Attendance, Feedback, Goal, IndividualBooking, Player
from bookings.models import SessionReservation as Reservation
from scheduling.models import Academy, Coach, GroupSession, StaffAssignment
from scheduling.slots import day_bounds

CLIENT_WEEKS = 8  # "clients": players taught in the last this many weeks
NEW_CLIENT_DAYS = 14  # marked new: their first session with the coach is this recent
TREND_WEEKS = 12
FEED_LENGTH = 25
COMMENTS = 5

SCHEDULED = GroupSession.Status.SCHEDULED
ATTENDED = (Attendance.Status.PRESENT, Attendance.Status.LATE)


def monday_of(day: date) -> date:
    return day - timedelta(days=day.weekday())


def _local_start(academy: Academy, day: date) -> datetime:
    return day_bounds(day, academy.tz)[0]


def _sessions_of(coach: Coach) -> QuerySet[StaffAssignment, Any]:
    """The ids of the coach's group sessions, as a subquery."""
    return StaffAssignment.objects.filter(coach_id=coach.pk).values("session_id")


def _lessons_of(coach: Coach) -> QuerySet[IndividualBooking, Any]:
    """The ids of the coach's lessons, as a subquery."""
    return IndividualBooking.objects.filter(coach_id=coach.pk).values("id")


# -- this week beside last week ----------------------------------------------------------------


@dataclass(frozen=True)
class WeekFigures:
    sessions: int = 0  # group sessions and lessons taught
    minutes: int = 0
    capacity: int = 0  # of the group sessions
    booked: int = 0
    lessons: int = 0
    marked: int = 0
    attended: int = 0  # present or late
    ratings: int = 0
    rating_sum: int = 0

    @property
    def hours(self) -> float:
        return self.minutes / 60

    @property
    def fill_rate(self) -> int | None:
        return round(100 * self.booked / self.capacity) if self.capacity else None

    @property
    def attendance_rate(self) -> int | None:
        return round(100 * self.attended / self.marked) if self.marked else None

    @property
    def average_rating(self) -> float | None:
        return self.rating_sum / self.ratings if self.ratings else None


@dataclass(frozen=True)
class Stats:
    monday: date
    this: WeekFigures
    last: WeekFigures


def coach_stats(coach: Coach, today: date) -> Stats:
    """Sessions and hours, fill rate, attendance rate, lessons booked and average rating of the
    week of `today` (from Monday, in the academy's time) and of the week before. Six queries,
    each over two weeks of rows."""
    academy = coach.academy
    monday = monday_of(today)
    start = _local_start(academy, monday - timedelta(days=7))
    middle = _local_start(academy, monday)
    end = _local_start(academy, monday + timedelta(days=7))
    figures: dict[bool, dict[str, int]] = {True: {}, False: {}}  # this week? -> counts

    def add(this_week: bool, **counts: int) -> None:
        for name, n in counts.items():
            figures[this_week][name] = figures[this_week].get(name, 0) + n

    sessions = GroupSession.objects.filter(
        pk__in=_sessions_of(coach), status=SCHEDULED, starts_at__gte=start, starts_at__lt=end
    ).values_list("starts_at", "ends_at", "capacity", "reserved_count")
    for starts_at, ends_at, capacity, booked in sessions:
        minutes = round((ends_at - starts_at).total_seconds() / 60)
        add(starts_at >= middle, sessions=1, minutes=minutes, capacity=capacity, booked=booked)
    lessons = IndividualBooking.objects.filter(
        coach_id=coach.pk,
        status=IndividualBooking.Status.BOOKED,
        starts_at__gte=start,
        starts_at__lt=end,
    ).values_list("starts_at", "ends_at")
    for starts_at, ends_at in lessons:
        minutes = round((ends_at - starts_at).total_seconds() / 60)
        add(starts_at >= middle, sessions=1, minutes=minutes, lessons=1)

    for this_week, counts in _marks_and_ratings(coach, start, middle, end).items():
        add(this_week, **counts)
    return Stats(
        monday=monday,
        this=WeekFigures(**figures[True]),
        last=WeekFigures(**figures[False]),
    )


def _marks_and_ratings(
    coach: Coach, start: datetime, middle: datetime, end: datetime
) -> dict[bool, dict[str, int]]:
    """Marks and ratings of the coach's attendees in [start, end), per week (this week: from
    `middle`): one aggregate for group sessions, one for lessons."""
    group = Q(
        session_id__in=_sessions_of(coach),
        session__status=SCHEDULED,
        session__starts_at__gte=start,
        session__starts_at__lt=end,
        reservation__status=Reservation.Status.RESERVED,
    )
    lesson = Q(
        lesson__coach_id=coach.pk,
        lesson__status=IndividualBooking.Status.BOOKED,
        lesson__starts_at__gte=start,
        lesson__starts_at__lt=end,
    )
    found: dict[bool, dict[str, int]] = {True: {}, False: {}}
    for where, starts in ((group, "session__starts_at"), (lesson, "lesson__starts_at")):
        weeks = {True: Q(**{f"{starts}__gte": middle}), False: Q(**{f"{starts}__lt": middle})}
        sums: dict[str, Count | Sum] = {}
        for this_week, week in weeks.items():
            tag = "this" if this_week else "last"
            sums[f"{tag}_marked"] = Count("id", filter=week)
            sums[f"{tag}_attended"] = Count("id", filter=week & Q(status__in=ATTENDED))
            sums[f"{tag}_ratings"] = Count("feedback__id", filter=week)
            sums[f"{tag}_rating_sum"] = Sum("feedback__rating", filter=week)
        row = Attendance.objects.filter(where).aggregate(**sums)
        for this_week in weeks:
            tag = "this" if this_week else "last"
            for name in ("marked", "attended", "ratings", "rating_sum"):
                counts = found[this_week]
                counts[name] = counts.get(name, 0) + (row[f"{tag}_{name}"] or 0)
    return found


# -- the activity log ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ActivityItem:
    """One line of a feed: who did what, for whom, on which session, when."""

    pk: int
    at: datetime
    verb: str
    verb_label: str
    actor: str
    player: str
    title: str
    starts_at: datetime | None
    detail: str

    @property
    def is_booking(self) -> bool:
        return self.verb == Activity.Verb.BOOKED


def academy_activity(academy_id: int, limit: int = FEED_LENGTH) -> list[ActivityItem]:
    """The front desk's recent changes: everything in the academy, newest first."""
    return _items(Activity.objects.filter(academy_id=academy_id), academy_id, limit)


def coach_activity(coach: Coach, limit: int = FEED_LENGTH) -> list[ActivityItem]:
    """Bookings, cancellations, check-ins and ratings of the coach's sessions and lessons."""
    rows = Activity.objects.filter(
        Q(session_id__in=_sessions_of(coach)) | Q(lesson_id__in=_lessons_of(coach)),
        academy_id=coach.academy_id,
    )
    return _items(rows, coach.academy_id, limit)


def _items(rows: QuerySet[Activity], academy_id: int, limit: int) -> list[ActivityItem]:
    found = list(
        rows.select_related(
            "actor", "player", "session__session_type", "lesson__session_type"
        ).order_by("-at", "-id")[:limit]
    )
    names = actor_names(academy_id, {row.actor_id for row in found if row.actor_id})
    items = []
    for row in found:
        if row.session is not None:
            title, starts_at = row.session.display_title, row.session.starts_at
        elif row.lesson is not None:
            title, starts_at = row.lesson.session_type.name, row.lesson.starts_at
        else:
            title, starts_at = "", None
        items.append(
            ActivityItem(
                pk=row.pk,
                at=row.at,
                verb=row.verb,
                verb_label=Activity.Verb(row.verb).label,
                actor=names.get(row.actor_id or 0, "The academy"),
                player=row.player.full_name if row.player else "",
                title=title,
                starts_at=starts_at,
                detail=row.detail,
            )
        )
    return items


def actor_names(academy_id: int, user_ids: Iterable[int]) -> dict[int, str]:
    """How people are named in feeds: a coach by their coaching name in this academy, anyone
    else by their full name (or user name). Two queries for any number of people."""
    ids = set(user_ids)
    if not ids:
        return {}
    names = {
        u.pk: u.get_full_name() or u.get_username()
        for u in get_user_model().objects.filter(pk__in=ids)
    }
    coaches = Coach.objects.filter(academy_id=academy_id, user_id__in=ids)
    names.update(coaches.values_list("user_id", "display_name"))
    return names


# -- ratings -------------------------------------------------------------------------------------


def _feedback_of(coach: Coach) -> QuerySet[Feedback]:
    return Feedback.objects.filter(
        Q(attendance__session_id__in=_sessions_of(coach))
        | Q(attendance__lesson_id__in=_lessons_of(coach))
    )


@dataclass(frozen=True)
class Comment:
    rating: int
    comment: str
    player: str
    title: str
    starts_at: datetime
    at: datetime


@dataclass(frozen=True)
class Insights:
    average: float | None  # over the last 30 days
    ratings: int
    stars: list[tuple[int, int]]  # (rating, how many) for 5 down to 1, last 30 days
    comments: list[Comment]


def coach_insights(coach: Coach, now: datetime, comments: int = COMMENTS) -> Insights:
    """The last 30 days' ratings of the coach's sessions and lessons, and the latest comments.
    Two queries."""
    recent = _feedback_of(coach).filter(updated_at__gte=now - timedelta(days=30))
    counts = dict(recent.values_list("rating").annotate(n=Count("id")).values_list("rating", "n"))
    total = sum(counts.values())
    average = sum(r * n for r, n in counts.items()) / total if total else None
    latest = (
        _feedback_of(coach)
        .exclude(comment="")
        .select_related(
            "attendance__player",
            "attendance__session__session_type",
            "attendance__lesson__session_type",
        )
        .order_by("-updated_at", "-id")[:comments]
    )
    found = []
    for f in latest:
        a = f.attendance
        if a.session is not None:
            title, starts_at = a.session.display_title, a.session.starts_at
        else:
            assert a.lesson is not None
            title, starts_at = a.lesson.session_type.name, a.lesson.starts_at
        player = a.player.full_name
        found.append(Comment(f.rating, f.comment, player, title, starts_at, f.updated_at))
    return Insights(average, total, [(r, counts.get(r, 0)) for r in range(5, 0, -1)], found)


@dataclass(frozen=True)
class TrendWeek:
    monday: date
    average: float | None
    ratings: int


def rating_trend(coach: Coach, today: date, weeks: int = TREND_WEEKS) -> list[TrendWeek]:
    """The average rating of each of the last `weeks` weeks (by the session's date), oldest
    first: a month-scale figure, polled rather than pushed. One query per kind of session."""
    academy = coach.academy
    first = monday_of(today) - timedelta(days=7 * (weeks - 1))
    start = _local_start(academy, first)
    by_day: dict[date, list[int]] = {}
    rows = [
        *_feedback_of(coach)
        .filter(attendance__session__starts_at__gte=start)
        .values_list("attendance__session__starts_at", "rating"),
        *_feedback_of(coach)
        .filter(attendance__lesson__starts_at__gte=start)
        .values_list("attendance__lesson__starts_at", "rating"),
    ]
    for starts_at, rating in rows:
        by_day.setdefault(monday_of(starts_at.astimezone(academy.tz).date()), []).append(rating)
    trend = []
    for n in range(weeks):
        monday = first + timedelta(days=7 * n)
        ratings = by_day.get(monday, [])
        trend.append(
            TrendWeek(monday, sum(ratings) / len(ratings) if ratings else None, len(ratings))
        )
    return trend


# -- clients -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Client:
    player_id: int
    name: str
    sessions: int  # in the window
    last: datetime
    is_new: bool  # their first session with the coach is recent


def coach_clients(coach: Coach, today: date) -> list[Client]:
    """Players the coach taught in the last CLIENT_WEEKS weeks (up to the end of today:
    today's attendees count from the moment they book), most recent first, with those whose
    first session with the coach is under NEW_CLIENT_DAYS old marked new. Five queries."""
    academy = coach.academy
    start = _local_start(academy, today - timedelta(weeks=CLIENT_WEEKS))
    end = _local_start(academy, today + timedelta(days=1))
    new_since = _local_start(academy, today - timedelta(days=NEW_CLIENT_DAYS))
    reserved = Reservation.objects.filter(
        session_id__in=_sessions_of(coach),
        status=Reservation.Status.RESERVED,
        session__status=SCHEDULED,
    )
    lessons = IndividualBooking.objects.filter(
        coach_id=coach.pk, status=IndividualBooking.Status.BOOKED
    )
    seen: dict[int, tuple[int, datetime]] = {}
    for player_id, n, last in [
        *reserved.filter(session__starts_at__gte=start, session__starts_at__lt=end)
        .values("player_id")
        .annotate(n=Count("id"), last=Max("session__starts_at"))
        .values_list("player_id", "n", "last"),
        *lessons.filter(starts_at__gte=start, starts_at__lt=end)
        .values("player_id")
        .annotate(n=Count("id"), last=Max("starts_at"))
        .values_list("player_id", "n", "last"),
    ]:
        count, latest = seen.get(player_id, (0, last))
        seen[player_id] = (count + n, max(latest, last))
    if not seen:
        return []
    ids = list(seen)
    firsts: dict[int, datetime] = {}
    for player_id, first in [
        *reserved.filter(player_id__in=ids)
        .values("player_id")
        .annotate(first=Min("session__starts_at"))
        .values_list("player_id", "first"),
        *lessons.filter(player_id__in=ids)
        .values("player_id")
        .annotate(first=Min("starts_at"))
        .values_list("player_id", "first"),
    ]:
        firsts[player_id] = min(firsts.get(player_id, first), first)
    players = Player.objects.filter(pk__in=ids).only("first_name", "last_name")
    names = {p.pk: p.full_name for p in players}
    clients = [
        Client(pid, names.get(pid, ""), n, last, firsts.get(pid, last) >= new_since)
        for pid, (n, last) in seen.items()
    ]
    clients.sort(key=lambda c: (-c.last.timestamp(), c.name))
    return clients


def taught_players(coach: Coach) -> list[Player]:
    """Every player the coach has taught or teaches (any time): who they may set goals for and
    add as a walk-in (bookings.access.coaches_player, as a list)."""
    in_sessions = Reservation.objects.filter(session_id__in=_sessions_of(coach)).values("player_id")
    in_lessons = IndividualBooking.objects.filter(coach_id=coach.pk).values("player_id")
    return list(
        Player.objects.filter(Q(pk__in=in_sessions) | Q(pk__in=in_lessons)).order_by(
            "first_name", "last_name"
        )
    )


# -- goals ---------------------------------------------------------------------------------------


def coach_goals(coach: Coach) -> list[Goal]:
    """The goals the coach set, open ones first, soonest target first."""
    goals = list(Goal.objects.filter(coach_id=coach.pk).select_related("player"))
    goals.sort(key=lambda g: (g.is_done, g.target_date or date.max, g.player.full_name, g.pk))
    return goals


def player_goals(player_ids: Iterable[int]) -> list[Goal]:
    goals = list(
        Goal.objects.filter(player_id__in=list(player_ids)).select_related("coach", "player")
    )
    goals.sort(key=lambda g: (g.is_done, g.player.first_name, g.target_date or date.max, g.pk))
    return goals
