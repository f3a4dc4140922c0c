"""A coach with a year of history, for the dashboard's bench rows (issue 12) and the query-count
test: by default 2,000 group sessions over the last 52 weeks with 10 attendees each (20,000
reservations and check-ins), 5,000 ratings (a third with comments), two months of the activity
log, this week's sessions, and 40 goals, a family's among them. Built with bulk_create (no
signals fire, nothing is published).

`measure()` gives what the bench reports: each panel's render time, the pages' response times,
the server CPU of the push a rating and a goal step cause (routing plus the renders of the
fragments they touch, as the publisher thread does it), and how many times a burst of check-ins
renders the coach's figures."""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from datetime import time as clock
from typing import Any

from django.db import connection
from django.utils import timezone

from bookings.models import (
    Activity,
    Attendance,
    Feedback,
    Goal,
    GuardianLink,
    SessionReservation,
)
from scheduling.models import (
    Academy,
    Coach,
    GroupSession,
    SessionType,
    StaffAssignment,
    StaffMember,
)
from tests.bench.stats import time_pages, timed

TZ = "Europe/London"
HOURS = [8, 10, 12, 14, 16, 18, 20]  # a coach's slots in a day, an hour each
COMMENTS = ["Great session", "Too crowded", "Loved the drills", "More match play please"]


@dataclass
class History:
    academy: int
    coach: int
    coach_user: int
    staff_user: int
    parent_user: int
    children: list[int]
    player: int  # a player with a goal
    sessions: int = 0
    attendances: int = 0
    ratings: int = 0
    log_lines: int = 0
    goals: int = 0
    today_reservations: list[int] = field(default_factory=list)  # for the check-in burst


def build(
    *,
    sessions: int = 2000,
    per_session: int = 10,
    rating_share: float = 0.25,
    name: str = "History",
) -> History:
    from tests.bench.data import _players, _users

    rng = random.Random(12)
    now = timezone.now()
    academy = Academy.objects.create(
        name=f"Bench {name}", slug=f"bench-{name.lower()}-{rng.randrange(10**9)}", time_zone=TZ
    )
    tz = academy.tz
    today = timezone.localdate(now, tz)
    kind = SessionType.objects.create(academy=academy, name="Squad", kind=SessionType.Kind.GROUP)
    coach_user, staff_user, parent_user = _users(f"h{academy.pk}-", 3)
    coach = Coach.objects.create(academy=academy, user_id=coach_user, display_name="Year Coach")
    StaffMember.objects.create(academy=academy, user_id=staff_user)
    players = _players(academy, [None] * 200)
    children = players[:2]
    GuardianLink.objects.bulk_create(
        GuardianLink(guardian_id=parent_user, player_id=c) for c in children
    )

    def session(day: date, hour: int) -> GroupSession:
        starts_at = datetime.combine(day, clock(hour), tzinfo=tz)
        return GroupSession(
            academy=academy,
            session_type=kind,
            starts_at=starts_at,
            ends_at=starts_at + timedelta(hours=1),
            capacity=12,
            reserved_count=per_session,
        )

    # The year, newest first: up to len(HOURS) sessions a day, from yesterday back; and today's
    # two, for the check-in burst (any hour: a mark is allowed all day).
    planned: list[GroupSession] = []
    day = today - timedelta(days=1)
    while len(planned) < sessions:
        planned += [session(day, hour) for hour in HOURS[: sessions - len(planned)]]
        day -= timedelta(days=1)
    planned += [session(today, 6), session(today, 22)]
    today_start = datetime.combine(today, clock(0), tzinfo=tz)
    GroupSession.objects.bulk_create(planned, batch_size=2000)
    StaffAssignment.objects.bulk_create(
        (StaffAssignment(session=s, coach=coach) for s in planned), batch_size=2000
    )
    reservations = [
        SessionReservation(session=s, player_id=players[(i * 7 + j) % len(players)])
        for i, s in enumerate(planned)
        for j in range(per_session)
    ]
    SessionReservation.objects.bulk_create(reservations, batch_size=5000)
    past = [r for r in reservations if r.session.starts_at < today_start]
    marks = [
        Attendance(
            player_id=r.player_id,
            session=r.session,
            reservation=r,
            status=rng.choices(["present", "late", "absent"], [88, 6, 6])[0],
            marked_at=r.session.starts_at + timedelta(minutes=rng.randint(-5, 10)),
        )
        for r in past
    ]
    Attendance.objects.bulk_create(marks, batch_size=5000)
    attended = [a for a in marks if a.status != "absent"]
    rated = rng.sample(attended, min(len(attended), round(len(marks) * rating_share)))
    Feedback.objects.bulk_create(
        (
            Feedback(
                attendance=a,
                rating=rng.choices([5, 4, 3, 2, 1], [45, 35, 12, 5, 3])[0],
                comment=rng.choice(COMMENTS) if rng.random() < 0.33 else "",
            )
            for a in rated
        ),
        batch_size=5000,
    )
    # The log keeps two months: bookings, check-ins and ratings of those.
    since = now - timedelta(days=Activity.KEEP_DAYS)
    lines = [
        Activity(
            academy=academy,
            verb=verb,
            at=at,
            actor_id=actor,
            player_id=a.player_id,
            session=a.session,
        )
        for a in marks
        if a.session.starts_at >= since
        for verb, at, actor in [
            ("booked", a.session.starts_at - timedelta(days=2), parent_user),
            (a.status, a.marked_at, coach_user),
        ]
    ]
    Activity.objects.bulk_create(lines, batch_size=5000)
    goals = [
        Goal(academy=academy, coach=coach, player_id=p, title=f"Goal {i}", progress=(i * 13) % 101)
        for i, p in enumerate([*children, *players[2:40]])
    ]
    Goal.objects.bulk_create(goals)
    analyze()
    return History(
        academy=academy.pk,
        coach=coach.pk,
        coach_user=coach_user,
        staff_user=staff_user,
        parent_user=parent_user,
        children=children,
        player=children[0],
        sessions=len(planned),
        attendances=len(marks),
        ratings=len(rated),
        log_lines=len(lines),
        goals=len(goals),
        today_reservations=[r.pk for r in reservations if r.session.starts_at >= today_start],
    )


def analyze() -> None:
    """What autovacuum does soon after a bulk load: the planner's statistics of the tables just
    filled (without them it plans for the empty tables they were a moment ago)."""
    if connection.vendor != "postgresql":
        return
    tables = [
        m._meta.db_table
        for m in (Activity, Attendance, Feedback, Goal, SessionReservation, GroupSession)
    ]
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {', '.join([*tables, StaffAssignment._meta.db_table])}")


# -- measuring -----------------------------------------------------------------------------------


def panels(h: History) -> dict[str, Any]:
    from bookings.live.dashboard import (
        CoachActivity,
        CoachClients,
        CoachGoals,
        CoachInsights,
        CoachStats,
        Goals,
    )
    from bookings.live.desk import DeskDay, DeskFeed

    today = timezone.localdate(timezone.now(), Academy.objects.get(pk=h.academy).tz)
    return {
        "figures": CoachStats(h.coach),
        "activity": CoachActivity(h.coach),
        "ratings and comments": CoachInsights(h.coach),
        "clients": CoachClients(h.coach),
        "goals (coach)": CoachGoals(h.coach),
        "goals (family)": Goals.of_family(h.parent_user),
        "front desk day": DeskDay(h.academy, today),
        "front desk feed": DeskFeed(h.academy),
    }


def render_times(h: History, reps: int) -> dict[str, Any]:
    from realtime.fragments import resolve

    out = {}
    for label, fragment in panels(h).items():
        times, size = [], 0
        for i in range(reps + 1):
            t0 = time.perf_counter()
            resolved = resolve(fragment.key)
            assert resolved is not None, fragment.key
            html = resolved.render(oob=True)
            if i:  # the first warms caches
                times.append(time.perf_counter() - t0)
            size = len(html)
        out[label] = {"key": fragment.key, "bytes": size, **timed(times)}
    return out


def push_cpu(h: History, reps: int) -> dict[str, Any]:
    """Server CPU of one push, as the publisher thread spends it: route the change's events, then
    render every fragment of the dashboard and the family pages it touches (thread CPU time,
    so other processes on the machine do not count). A rating (written as the service writes
    it) and a goal step."""
    from bookings.services import GoalPlan, goal_step, goal_update
    from realtime.events import Event, route
    from realtime.fragments import parse, resolve
    from realtime.render_pass import one_pass

    watched = [f.key for f in panels(h).values()]

    def cost(events: list[Event]) -> tuple[float, float, dict[str, float]]:
        t0 = time.thread_time()
        routing = route(events)
        touched: dict[str, Any] = {}
        for change in routing.changes:
            for key in watched:
                fragment = parse(key)
                if fragment is not None and fragment.affected_by(change):
                    touched[key] = None if key in touched else change
        routed = time.thread_time() - t0
        each = {}
        with one_pass():
            for key, change in touched.items():
                t1 = time.thread_time()
                resolved = resolve(key)
                assert resolved is not None
                resolved.render_change(change)
                each[key] = time.thread_time() - t1
        return time.thread_time() - t0, routed, each

    feedback = Feedback.objects.filter(attendance__session__academy_id=h.academy).first()
    assert feedback is not None
    goal = Goal.objects.filter(coach_id=h.coach, player_id=h.player).first()
    assert goal is not None
    from django.contrib.auth import get_user_model

    coach_user = get_user_model().objects.get(pk=h.coach_user)
    out: dict[str, Any] = {}
    attendance = feedback.attendance
    for label, make in {
        "check-in": lambda: [
            Event(
                "attendance",
                {
                    "id": attendance.pk,
                    "player": attendance.player_id,
                    "status": attendance.status,
                    "session": attendance.session_id,
                },
            )
        ],
        "rating": lambda: [Event("feedback", {"attendance": feedback.attendance_id})],
        "goal step": lambda: (
            goal_step(actor=coach_user, goal=goal, step=1 if goal.progress < 100 else -1),
            [
                Event(
                    "goal",
                    {"academy": h.academy, "coaches": [h.coach], "players": [h.player]},
                )
            ],
        )[1],
    }.items():
        times, routing, dashboard = [], [], []
        per: dict[str, list[float]] = {}
        for i in range(reps + 2):
            spent, routed, each = cost(make())
            if i:  # the first warms caches
                times.append(spent)
                routing.append(routed)
                panels_only = [t for key, t in each.items() if key.startswith("coach")]
                dashboard.append(routed + sum(panels_only))
                for key, t in each.items():
                    per.setdefault(key, []).append(t)
        out[label] = {
            "cpu_ms": timed(times),  # everything the change touched (the desk and family too)
            "dashboard_cpu_ms": timed(dashboard),  # routing + the coach's dashboard panels
            "routing_ms": timed(routing)["median_ms"],
            "fragments": {key: timed(t)["median_ms"] for key, t in sorted(per.items())},
        }
    # Keep the goal as it was (a goal_update through the service, not a raw write).
    goal.refresh_from_db()
    goal_update(
        actor=coach_user, goal=goal, plan=GoalPlan(title=goal.title, progress=goal.progress)
    )
    return out


def http_times(h: History, port: int, reps: int) -> dict[str, Any]:
    from tests.bench.data import session_cookies

    coach, staff, parent = session_cookies(
        [h.coach_user, h.staff_user, h.parent_user], extra={"academy_id": h.academy}
    )
    pages = {
        "coach dashboard": ("/coach/dashboard/", coach),
        "front desk": ("/staff/", staff),
        "a family's home with its goals": ("/parent/", parent),
    }
    return time_pages("127.0.0.1", port, pages, reps)


def burst(h: History, threads: int = 4) -> dict[str, Any]:
    """Every attendee of today's two sessions checked in at once from `threads` tablets (each
    its own connection), with the coach's figures watched: how many times were they rendered?
    The publisher coalesces what queues while it works, so far fewer than one per check-in."""
    from django.contrib.auth import get_user_model

    from bookings.live.dashboard import CoachStats
    from bookings.services import attendance_mark
    from realtime.publisher import get_publisher
    from realtime.store import get_store

    key = CoachStats(h.coach).key
    store = get_store()
    store.watch([key])
    before = store.current_seqs([key])[key]
    coach_user = get_user_model().objects.get(pk=h.coach_user)
    ids = list(h.today_reservations)
    chunks = [ids[i::threads] for i in range(threads)]
    barrier = threading.Barrier(threads)

    def tablet(chunk: list[int]) -> None:
        try:
            barrier.wait(10)
            for pk in chunk:
                attendance_mark(
                    actor=coach_user,
                    reservation=SessionReservation.objects.get(pk=pk),
                    status="present",
                )
        finally:
            connection.close()

    t0 = time.perf_counter()
    workers = [threading.Thread(target=tablet, args=(c,)) for c in chunks]
    for t in workers:
        t.start()
    for t in workers:
        t.join(60)
    written = time.perf_counter() - t0
    get_publisher().wait_idle(30)
    renders = store.current_seqs([key])[key] - before
    store.unwatch([key])
    return {
        "check_ins": len(ids),
        "tablets": threads,
        "seconds": round(written, 2),
        "renders_of_the_figures": renders,
    }


def measure(h: History, port: int, reps: int) -> dict[str, Any]:
    return {
        "history": {
            "sessions": h.sessions,
            "attendances": h.attendances,
            "ratings": h.ratings,
            "log_lines": h.log_lines,
            "goals": h.goals,
        },
        "fragments": render_times(h, reps),
        "push": push_cpu(h, reps),
        "http": http_times(h, port, reps),
        "burst": burst(h),
    }
