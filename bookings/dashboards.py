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
from django.db import connection
from django.db.models import Count, Max, Min, Q, QuerySet
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString

from bookings.models import Activity, Attendance, Feedback, Goal, IndividualBooking, Player
from bookings.models import SessionReservation as Reservation
from scheduling.models import Academy, Coach, GroupSession, StaffAssignment
from scheduling.slots import day_bounds
from scheduling.times import day_and_time

CLIENT_WEEKS = 8  # "clients": players taught in the last this many weeks
NEW_CLIENT_DAYS = 14  # marked new: their first session with the coach is this recent
CLIENTS_SHOWN = 40  # the most recent; the panel says how many more
TREND_WEEKS = 12
FEED_LENGTH = 20
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
    week of `today` (from Monday, in the academy's time) and of the week before. Three queries,
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
    `middle`): one row per mark (two weeks of them), counted here. Plain SQL: it is read on
    every push of the figures, and the ORM's compilation of the same joins cost several times
    the query (as for bookings.access's principal and bookings.live.routing's facts)."""
    adapt = connection.ops.adapt_datetimefield_value  # what the ORM does to a datetime (SQLite)
    m, a, b = adapt(middle), adapt(start), adapt(end)
    found: dict[bool, dict[str, int]] = {
        week: {"marked": 0, "attended": 0, "ratings": 0, "rating_sum": 0} for week in (True, False)
    }
    with connection.cursor() as cursor:
        group = [m, coach.pk, SCHEDULED.value, Reservation.Status.RESERVED.value, a, b]
        lesson = [m, coach.pk, IndividualBooking.Status.BOOKED.value, a, b]
        cursor.execute(_MARKS_SQL, [*group, *lesson])
        for this_week, status, rating in cursor.fetchall():
            counts = found[bool(this_week)]
            counts["marked"] += 1
            counts["attended"] += status in ATTENDED
            if rating is not None:
                counts["ratings"] += 1
                counts["rating_sum"] += rating
    return found


_MARKS_SQL = f"""
    SELECT CASE WHEN s.starts_at >= %s THEN 1 ELSE 0 END, a.status, f.rating
    FROM {Attendance._meta.db_table} a
    JOIN {GroupSession._meta.db_table} s ON s.id = a.session_id
    JOIN {StaffAssignment._meta.db_table} sa ON sa.session_id = s.id AND sa.coach_id = %s
    JOIN {Reservation._meta.db_table} r ON r.id = a.reservation_id
    LEFT JOIN {Feedback._meta.db_table} f ON f.attendance_id = a.id
    WHERE s.status = %s AND r.status = %s AND s.starts_at >= %s AND s.starts_at < %s
    UNION ALL
    SELECT CASE WHEN l.starts_at >= %s THEN 1 ELSE 0 END, a.status, f.rating
    FROM {Attendance._meta.db_table} a
    JOIN {IndividualBooking._meta.db_table} l ON l.id = a.lesson_id AND l.coach_id = %s
    LEFT JOIN {Feedback._meta.db_table} f ON f.attendance_id = a.id
    WHERE l.status = %s AND l.starts_at >= %s AND l.starts_at < %s
"""


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
        return self.verb in (Activity.Verb.BOOKED, Activity.Verb.PROMOTED)

    @property
    def sentence(self) -> SafeString:
        """The line as it reads ("Hannah Wright booked Isla Wright on Junior squad, Tue 1 Dec
        17:00"), in the time zone the fragment renders in. Built here rather than in the
        template: a feed is re-rendered on every change it shows, and one format_html per line
        costs a fraction of the template's tags."""
        what = self.title
        if self.starts_at is not None:
            what += ", " + day_and_time(timezone.localtime(self.starts_at))
        mine = self.actor == self.player and self.verb in _OWN_SENTENCES  # for themselves
        pattern = (_OWN_SENTENCES if mine else _SENTENCES).get(
            self.verb, "<strong>{actor}</strong> {what}"
        )
        return format_html(
            pattern, actor=self.actor, player=self.player, what=what, detail=self.detail
        )

    @property
    def toast(self) -> str:
        """A new booking's toast at the front desk: the player's name and the time."""
        when = day_and_time(timezone.localtime(self.starts_at)) if self.starts_at else ""
        return f"New booking: {self.player}, {when} {self.title}"


_OWN_SENTENCES = {
    "booked": "<strong>{actor}</strong> booked {what}",
    "cancelled": "<strong>{actor}</strong> cancelled {what}",
    "rated": (
        '<strong>{actor}</strong> rated <span class="stars" aria-label="{detail} out of 5">'
        "{detail}/5</span>: {what}"
    ),
}
_SENTENCES = {
    "booked": "<strong>{actor}</strong> booked <strong>{player}</strong> on {what}",
    "cancelled": "<strong>{actor}</strong> cancelled <strong>{player}</strong> from {what}",
    "session_cancelled": "<strong>{actor}</strong> cancelled the whole session {what}",
    "promoted": "<strong>{player}</strong> moved up from the waiting list into {what}",
    "offered": "A place in {what} is held for <strong>{player}</strong> from the waiting list",
    "present": "<strong>{actor}</strong> checked in <strong>{player}</strong> at {what}",
    "late": "<strong>{actor}</strong> checked in <strong>{player}</strong> late at {what}",
    "absent": "<strong>{actor}</strong> marked <strong>{player}</strong> absent from {what}",
    "walk_in": "<strong>{actor}</strong> added <strong>{player}</strong> as a walk-in to {what}",
    "rated": (
        '<strong>{actor}</strong> rated <span class="stars" aria-label="{detail} out of 5">'
        "{detail}/5</span> for <strong>{player}</strong>: {what}"
    ),
}


def academy_activity(academy_id: int, limit: int = FEED_LENGTH) -> list[ActivityItem]:
    """The front desk's recent changes: everything in the academy, newest first, with who did
    it by name (staff read every name)."""
    return _items(Activity.objects.filter(academy_id=academy_id), academy_id, limit)


def coach_activity(coach: Coach, limit: int = FEED_LENGTH) -> list[ActivityItem]:
    """Bookings, cancellations, check-ins and ratings of the coach's sessions and lessons. A
    coach reads their attendees' names, not their parents': a guardian's action reads as the
    family's."""
    rows = Activity.objects.filter(
        Q(session_id__in=_sessions_of(coach)) | Q(lesson_id__in=_lessons_of(coach)),
        academy_id=coach.academy_id,
    )
    return _items(rows, coach.academy_id, limit, families_unnamed=True)


def _items(
    rows: QuerySet[Activity], academy_id: int, limit: int, *, families_unnamed: bool = False
) -> list[ActivityItem]:
    # The newest lines' ids first, through the (academy, time) index and no join, then those
    # lines with what they name (as values: no model instances, the feed is re-rendered on
    # every change it shows); a join before the limit would join the whole two months.
    ids = list(rows.order_by("-at", "-id").values_list("pk", flat=True)[:limit])
    found = sorted(
        Activity.objects.filter(pk__in=ids).values_list(*_ITEM_FIELDS),
        key=lambda row: (row[1], row[0]),
        reverse=True,
    )
    actors = {row[3] for row in found if row[3]}
    coaches = dict(
        Coach.objects.filter(academy_id=academy_id, user_id__in=actors).values_list(
            "user_id", "display_name"
        )
    )
    # Who may be named to a coach: their colleagues (coaches, the front desk, admins).
    colleagues = set(coaches)
    if families_unnamed and actors - colleagues:
        colleagues |= set(
            get_user_model()
            .objects.filter(pk__in=actors - colleagues)
            .filter(Q(staff_memberships__academy_id=academy_id) | Q(is_superuser=True))
            .values_list("pk", flat=True)
        )
    items = []
    for (
        pk,
        at,
        verb,
        actor_id,
        first,
        last,
        username,
        player_first,
        player_last,
        player_user,
        title,
        type_name,
        starts_at,
        lesson_type,
        lesson_at,
        detail,
    ) in found:
        player = f"{player_first or ''} {player_last or ''}".strip()
        if actor_id is None:
            actor = "The academy"
        elif families_unnamed and actor_id not in colleagues:
            actor = player if actor_id == player_user else "The family"
        else:
            actor = coaches.get(actor_id) or f"{first} {last}".strip() or username
        items.append(
            ActivityItem(
                pk=pk,
                at=at,
                verb=verb,
                verb_label=Activity.Verb(verb).label,
                actor=actor,
                player=player,
                title=title or type_name or lesson_type or "",
                starts_at=starts_at or lesson_at,
                detail=detail,
            )
        )
    return items


_ITEM_FIELDS = (
    "pk",
    "at",
    "verb",
    "actor_id",
    "actor__first_name",
    "actor__last_name",
    "actor__username",
    "player__first_name",
    "player__last_name",
    "player__user_id",
    "session__title",
    "session__session_type__name",
    "session__starts_at",
    "lesson__session_type__name",
    "lesson__starts_at",
    "detail",
)


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
    since = connection.ops.adapt_datetimefield_value(now - timedelta(days=30))
    with connection.cursor() as cursor:  # plain SQL, as the figures' marks: on every push
        cursor.execute(_STARS_SQL, [coach.pk, since, coach.pk, since])
        counts: dict[int, int] = {}
        for rating, n in cursor.fetchall():
            counts[rating] = counts.get(rating, 0) + n
    total = sum(counts.values())
    average = sum(r * n for r, n in counts.items()) / total if total else None
    latest = (
        _feedback_of(coach)
        .exclude(comment="")
        .order_by("-updated_at", "-id")
        .values_list(
            "rating",
            "comment",
            "attendance__player__first_name",
            "attendance__player__last_name",
            "attendance__session__title",
            "attendance__session__session_type__name",
            "attendance__session__starts_at",
            "attendance__lesson__session_type__name",
            "attendance__lesson__starts_at",
            "updated_at",
        )[:comments]
    )
    found = [
        Comment(
            rating,
            comment,
            f"{first} {last}".strip(),
            title or type_name or lesson_type,
            session_at or lesson_at,
            at,
        )
        for (
            rating,
            comment,
            first,
            last,
            title,
            type_name,
            session_at,
            lesson_type,
            lesson_at,
            at,
        ) in latest
    ]
    return Insights(average, total, [(r, counts.get(r, 0)) for r in range(5, 0, -1)], found)


_STARS_SQL = f"""
    SELECT f.rating, COUNT(*) FROM {Feedback._meta.db_table} f
    JOIN {Attendance._meta.db_table} a ON a.id = f.attendance_id
    JOIN {StaffAssignment._meta.db_table} sa ON sa.session_id = a.session_id AND sa.coach_id = %s
    WHERE f.updated_at >= %s
    GROUP BY f.rating
    UNION ALL
    SELECT f.rating, COUNT(*) FROM {Feedback._meta.db_table} f
    JOIN {Attendance._meta.db_table} a ON a.id = f.attendance_id
    JOIN {IndividualBooking._meta.db_table} l ON l.id = a.lesson_id AND l.coach_id = %s
    WHERE f.updated_at >= %s
    GROUP BY f.rating
"""


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


@dataclass(frozen=True)
class Clients:
    shown: list[Client]  # new ones first, then the most recent
    total: int  # in the window

    @property
    def more(self) -> int:
        return self.total - len(self.shown)


def coach_clients(coach: Coach, today: date, shown: int = CLIENTS_SHOWN) -> Clients:
    """Players the coach taught in the last CLIENT_WEEKS weeks (up to the end of today:
    today's attendees count from the moment they book): the `shown` most recent, those whose
    first session with the coach is under NEW_CLIENT_DAYS old marked new and listed first.
    Five queries."""
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
        return Clients([], 0)
    recent = sorted(seen, key=lambda pid: seen[pid][1], reverse=True)[:shown]
    ids = recent
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
        Client(pid, names.get(pid, ""), *seen[pid], firsts.get(pid, seen[pid][1]) >= new_since)
        for pid in ids
    ]
    clients.sort(key=lambda c: (not c.is_new, -c.last.timestamp(), c.name))
    return Clients(clients, len(seen))


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
