"""Running the academy under load (the `ops` phase):

- A term's timetable made as weekly series while the last level's pages watch: 20 series of
  15 weeks (300 sessions, 20 a week) on day D's weekday, each by `series_create` (one
  transaction, bulk inserts, one event), one after the other's push is out, timed per call,
  and its push measured commit to fragment like any change (the day grid every schedule page
  shows, the staff and coach weeks). The series are cancelled afterwards, so the phases that
  follow see the grid as before.
- What promotion from the waiting list adds to a cancellation: `reservation_cancel` on a full
  session with nobody waiting, against one whose freed spot goes to the first in line in the
  same transaction; service time and statements per call.
"""

from __future__ import annotations

import statistics
import time
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from bookings.live.changes import Change
from bookings.models import Player, SessionReservation
from bookings.services import (
    reservation_cancel,
    reservation_create,
    series_cancel,
    series_create,
    waitlist_join,
)
from bookings.services.sessions import SessionPlan
from realtime.publisher import affected_keys
from scheduling.models import Academy, Coach, Court, GroupSession, SessionType
from tests.bench.stats import delivery, pct, push_latency

WEEKS = 15
HOURS = [6, 7, 8, 10, 11]  # free of the live grid (9, 12, 16, 19), 55 minutes each


def _ms(values: list[float]) -> dict[str, Any]:
    if not values:
        return {"n": 0}
    return {
        "n": len(values),
        "median_ms": round(statistics.median(values) * 1000, 1),
        "p95_ms": round(pct(values, 95) * 1000, 1),
        "max_ms": round(max(values) * 1000, 1),
    }


def series_push(
    bench: Any, group: str, viewers: int, count: int, weeks: int = WEEKS
) -> dict[str, Any]:
    """`count` weekly series of `weeks` created one after another in the live academy, from
    day D, while `group`'s sockets watch."""
    from tests.bench.trigger import use_publisher

    w = bench.world
    academy = Academy.objects.get(pk=w.live_academy)
    tz = academy.tz
    staff = get_user_model().objects.get(pk=w.staff_users[0])
    kind = SessionType.objects.filter(academy=academy, kind="group").order_by("pk").first()
    coaches = list(Coach.objects.filter(pk__in=[c for c, _ in w.coaches[8:12]]).order_by("pk"))
    courts = [
        Court.objects.get_or_create(academy=academy, name=f"Series court {n}")[0]
        for n in range(len(coaches))
    ]
    plans = []
    for hour in HOURS:
        for coach, court in zip(coaches, courts, strict=True):
            starts = datetime.combine(w.day, datetime.min.time(), tzinfo=tz) + timedelta(hours=hour)
            plans.append(
                SessionPlan(
                    session_type=kind,
                    starts_at=starts,
                    ends_at=starts + timedelta(minutes=55),
                    capacity=12,
                    court=court,
                    coaches=[coach],
                    title=f"Squad {hour}:00 {coach.display_name}",
                )
            )
    plans = plans[:count]
    days = {w.day + timedelta(weeks=k) for k in range(weeks)}
    specs = bench.specs[:viewers]
    keys = bench.keys_of(specs)
    publisher = use_publisher("live")
    # The comparison runs before this cleared the watched set; the hubs' next refresh would
    # restore it, this does so now.
    bench.store.watch(keys)
    bench.clients.call({"cmd": "mark", "group": group})
    before = bench.store.current_seqs(keys)
    events: list[tuple[str, int, float]] = []
    took: list[float] = []
    made = []
    for plan in plans:
        # One at a time, as the front desk makes them: each push is measured on its own, not
        # behind the previous one's renders (a push is ~10 renders: the day grid, the staff
        # week's and each coach week's column of D).
        publisher.wait_idle(60)
        time.sleep(0.2)
        change = Change(
            w.live_academy,
            days=set(days),
            coach_ids={plan.coaches[0].pk},
            group_sessions=True,
        )
        watched = affected_keys(keys, change)
        mark: dict[str, Any] = {}

        def committed(watched: list[str] = watched, mark: dict[str, Any] = mark) -> None:
            mark["t"] = time.time()
            mark["seqs"] = bench.store.current_seqs(watched) if watched else {}

        t0 = time.perf_counter()
        with transaction.atomic():
            transaction.on_commit(committed)  # before the series' own event
            made.append(
                series_create(
                    academy=academy,
                    plan=plan,
                    until=w.day + timedelta(weeks=weeks - 1),
                    actor=staff,
                )
            )
        took.append(time.perf_counter() - t0)
        events += [(key, seq, mark["t"]) for key, seq in mark["seqs"].items()]
    publisher.wait_idle(60)
    after = bench.store.current_seqs(keys)
    expected = bench.expected_msgs(specs, before, after)
    settled = bench.wait_delivered(group, expected, timeout=60)
    got = bench.clients.collect(group)
    latency = push_latency(events, got)
    sessions = sum(s.occurrences.count() for s in made)
    out = {
        "series": len(made),
        "weeks": weeks,
        "sessions": sessions,
        "viewers": viewers,
        "create_ms": _ms(took),
        "create_total_s": round(sum(took), 2),
        "latency_ms": latency["all"],
        "latency_by_stream_ms": latency["by_stream"],
        "unmatched": latency["missing"],
        "delivery": {**delivery(got, before, after), "settled": settled},
    }
    # Leave the grid as it was for the phases that follow (cancelled sessions are not shown).
    for series in made:
        first = series.occurrences.order_by("starts_at").first()
        if first is not None:
            series_cancel(session=first, actor=staff)
    publisher.wait_idle(60)
    bench.clients.collect(group)  # the cancellations' pushes so far, not measured
    return out


def promotion_cost(bench: Any, repeats: int) -> dict[str, Any]:
    """reservation_cancel with nobody waiting, against one that promotes the first in line:
    two full sessions of the race academy, the same players cancelling and coming back."""
    w = bench.world
    race = GroupSession.objects.select_related("academy", "session_type").get(pk=w.race_sessions[0])
    academy, kind = race.academy, race.session_type
    players = list(
        Player.objects.filter(pk__in=[p for p, _ in w.race_players])
        .select_related("user")
        .order_by("pk")
    )
    # Two days after the race's sessions: nobody here is busy then.
    starts = datetime.combine(w.day + timedelta(days=3), datetime.min.time(), tzinfo=academy.tz)
    capacity = 6

    def full_session(hour: int, holders: list[Player]) -> GroupSession:
        s = GroupSession.objects.create(
            academy=academy,
            session_type=kind,
            starts_at=starts + timedelta(hours=hour),
            ends_at=starts + timedelta(hours=hour, minutes=55),
            capacity=capacity,
        )
        for p in holders:
            reservation_create(player=p, session=s, actor=p.user)
        return s

    plain = full_session(8, players[:capacity])
    queued = full_session(10, players[capacity : 2 * capacity])
    line = players[2 * capacity : 2 * capacity + 4]
    for p in line:
        waitlist_join(player=p, session=queued, actor=p.user)

    def one(session: GroupSession, rejoin: bool) -> tuple[float, int]:
        r = (
            SessionReservation.objects.filter(session=session, status="reserved")
            .select_related("player__user")
            .order_by("?")
            .first()
        )
        assert r is not None
        with CaptureQueriesContext(connection) as queries:
            t0 = time.perf_counter()
            reservation_cancel(reservation=r, actor=r.player.user)
            took = time.perf_counter() - t0
        back = r.player
        if rejoin:  # the one who left waits again: the queue keeps its length
            waitlist_join(player=back, session=session, actor=back.user)
        else:
            reservation_create(player=back, session=session, actor=back.user)
        return took, len(queries)

    runs: dict[str, list[tuple[float, int]]] = {"no_waiting_list": [], "promotes": []}
    for _ in range(repeats):
        runs["no_waiting_list"].append(one(plain, rejoin=False))
        runs["promotes"].append(one(queued, rejoin=True))
    out = {
        name: {**_ms([t for t, _ in got]), "statements": statistics.median(q for _, q in got)}
        for name, got in runs.items()
    }
    a, b = out["no_waiting_list"], out["promotes"]
    if a.get("median_ms") and b.get("median_ms"):
        out["added_ms"] = round(b["median_ms"] - a["median_ms"], 1)
    return out
