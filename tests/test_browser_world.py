"""The browser tests' world (tests/browser/world.py) holds at any hour. Built for many clocks
(late evening, just after midnight, weekends, both daylight-saving changes in Europe/London,
the day it once failed on), every session and slot it hands a scenario is in the future, inside
the booking horizon, outside the cancellation cut-off and the minimum notice until MARGIN after
it was built, and clear of every other scenario's and the same player's other bookings; and it
can really be booked and cancelled online as the browser tests will: each scenario's actions
are rehearsed through the booking services with their clock set to the end of that margin, then
rolled back. No Chromium needed.
"""

from __future__ import annotations

import itertools
import json
import zoneinfo
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest
from django.db import transaction

from bookings.errors import BookingError
from bookings.models import (
    Attendance,
    GuardianLink,
    IndividualBooking,
    Player,
    SessionReservation,
)
from bookings.services import (
    attendance_mark,
    attendance_walk_in,
    feedback_save,
    group_session_cancel,
    individual_booking_cancel,
    individual_booking_create,
    reservation_cancel,
    reservation_create,
)
from scheduling.models import Academy, Coach, GroupSession, SessionType
from tests.browser.world import MARGIN, Timetable, prepare

CUTOFF, NOTICE, HORIZON = timedelta(hours=24), timedelta(minutes=60), timedelta(days=30)
SWEEP_DAYS = 11  # at least the days prepare() uses (asserted below)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# (what the clock shows, the clock in UTC, whether one of the world's days has a clock change)
CLOCKS = [
    ("the day it failed, 14:00", utc("2026-11-30 14:00"), False),
    ("Friday 23:59:59", utc("2026-12-04 23:59:59"), False),
    ("Saturday 00:00:01", utc("2026-12-05 00:00:01"), False),
    ("Sunday noon", utc("2026-12-06 12:00"), False),
    ("summer, 23:59:59 local", utc("2026-07-10 22:59:59"), False),
    ("summer, 00:00:01 local, the day before in UTC", utc("2026-07-10 23:00:01"), False),
    ("spring forward among the world's days", utc("2027-03-25 12:00"), True),
    ("the night clocks go forward, 00:30", utc("2027-03-28 00:30"), False),
    ("autumn back among the world's days", utc("2026-10-22 10:00"), True),
    ("the first 01:30 of the night clocks go back", utc("2026-10-25 00:30"), False),
    ("the second 01:30 of that night", utc("2026-10-25 01:30"), False),
    ("New Year's Eve 23:59", utc("2026-12-31 23:59"), False),
    ("the eve of 29 February", utc("2028-02-28 23:30"), False),
]


# -- the timetable alone, at every hour of two years ------------------------------------------


def clocks(tz: Any) -> Iterator[datetime]:
    """Two years of clocks: every 4 h 7 min (so every hour of the day, on every weekday, comes
    round), and every 17 minutes from ten days before each clock change to a day after, when the
    change falls on the world's days."""
    start, end = utc("2026-01-01 00:00"), utc("2028-01-01 00:00")
    moment = start
    while moment < end:
        yield moment
        moment += timedelta(hours=4, minutes=7)
    hour = start
    while hour < end:
        if (hour + timedelta(hours=1)).astimezone(tz).utcoffset() != hour.astimezone(
            tz
        ).utcoffset():
            moment = hour - timedelta(days=10)
            while moment < hour + timedelta(days=1):
                yield moment
                moment += timedelta(minutes=17)
        hour += timedelta(hours=1)


def test_every_place_is_valid_at_any_hour() -> None:
    """Checked here from first principles, not with the timetable's own checks."""
    tz = zoneinfo.ZoneInfo("Europe/London")
    lead = max(CUTOFF, NOTICE) + MARGIN
    checked = 0
    for now in clocks(tz):
        timetable = Timetable(now, tz, lead, HORIZON)
        moments = []
        for _ in range(SWEEP_DAYS):
            day = timetable.day()
            for length, places in [
                (timedelta(minutes=75), timetable.group_places(day)),
                (timedelta(minutes=60), timetable.lesson_places(day)),
            ]:
                for start in places:
                    end = start.astimezone(UTC) + length
                    assert start.astimezone(tz).date() == day == end.astimezone(tz).date()
                    assert start - now >= lead, (now, start)
                    assert end - now <= HORIZON, (now, start)
                    moments.append((start.astimezone(UTC), end))
        moments.sort()
        for (_, end), (start, _) in itertools.pairwise(moments):
            assert end <= start, (now, moments)
        checked += 1
    assert checked > 4 * 10 * 24 * 60 // 17  # four clock changes in two years


# -- the whole world, for chosen clocks ----------------------------------------------------------


class _Undo(Exception):
    pass


@contextmanager
def rolled_back() -> Iterator[None]:
    try:
        with transaction.atomic():
            yield
            raise _Undo
    except _Undo:
        pass


def items(world: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every session ("id") and slot ("value") the world describes, with where it is, to
    book: not the two that have begun (`past`, checked on their own)."""

    def walk(path: str, value: Any) -> Iterator[tuple[str, dict[str, Any]]]:
        if isinstance(value, dict) and "iso" in value:
            yield path, value
        elif isinstance(value, dict):
            for key, inner in value.items():
                yield from walk(f"{path}.{key}".strip("."), inner)
        elif isinstance(value, list):
            for n, inner in enumerate(value):
                yield from walk(f"{path}[{n}]", inner)

    yield from walk("", {k: v for k, v in world.items() if k != "past"})


def span(item: dict[str, Any]) -> tuple[datetime, datetime]:
    start = datetime.fromisoformat(item["iso"])
    if "id" in item:
        session = GroupSession.objects.get(pk=item["id"])
        return start, session.ends_at
    return start, start + timedelta(
        minutes=SessionType.objects.get(pk=item["type"]).duration_minutes
    )


def family_user(player: Player) -> Any:
    """Who books for the player online: their own login, else a guardian."""
    if player.user is not None:
        return player.user
    return GuardianLink.objects.filter(player=player).order_by("pk").first().guardian


def _overlap(intervals: list[tuple[datetime, datetime]]) -> list[Any]:
    intervals = sorted(intervals)
    return [(a, b) for a, b in itertools.pairwise(intervals) if a[1] > b[0]]


def day_length(day: date, tz: Any) -> timedelta:
    start = datetime.combine(day, time.min, tzinfo=tz).astimezone(UTC)
    return datetime.combine(day + timedelta(days=1), time.min, tzinfo=tz).astimezone(UTC) - start


@pytest.mark.django_db
@pytest.mark.parametrize(("label", "now", "clock_change"), CLOCKS, ids=[c[0] for c in CLOCKS])
def test_world_is_bookable_and_cancellable(label: str, now: datetime, clock_change: bool) -> None:
    world = json.loads(json.dumps(prepare(now=now)))  # what the stack hands the tests
    academy = Academy.objects.get(pk=world["academy"])
    tz = academy.tz
    assert Academy.objects.count() == 1  # its own academy, no demo data
    assert academy.name == world["academy_name"]
    assert (academy.cancellation_cutoff_hours, academy.booking_horizon_days) == (24, 30)
    assert academy.min_notice_minutes == 60
    players = {key: Player.objects.get(pk=pk) for key, pk in world["players"].items()}
    assert {key: p.full_name for key, p in players.items()} == world["names"]
    later = now + MARGIN  # the clock at which the tests may still act

    # The days: distinct, after today, a handful; the flagged clocks include a clock change.
    days = [date.fromisoformat(d) for d in world["days"]]
    assert len(set(days)) == len(days) <= SWEEP_DAYS
    assert min(days) > now.astimezone(tz).date()
    assert any(day_length(d, tz) != timedelta(hours=24) for d in days) == clock_change

    # Each session and slot: described as the pages render it, and inside every limit.
    described = list(items(world))
    assert len(described) > 20
    for path, item in described:
        start, end = span(item)
        local = start.astimezone(tz)
        assert item["iso"] == local.isoformat(), path
        assert (item["date"], item["ymd"], item["hhmm"]) == (
            local.date().isoformat(),
            local.strftime("%Y%m%d"),
            local.strftime("%H:%M"),
        ), path
        assert local.date().isoformat() in world["days"], path
        assert start - later >= max(CUTOFF, NOTICE), (path, start)
        assert end - now <= HORIZON, (path, start)
        if "id" in item:
            s = GroupSession.objects.get(pk=item["id"])
            assert s.status == GroupSession.Status.SCHEDULED and s.starts_at == start, path
            assert (s.capacity, s.reserved_count) == (item["capacity"], item["reserved"]), path
            assert s.coaches.get().display_name == item["coach"], path
        else:
            coach_id, type_id, iso = item["value"].split("|")
            assert (int(coach_id), int(type_id), iso) == (world["coach"], item["type"], item["iso"])
            assert item["utc"] == start.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S"), path
            assert Coach.objects.get(pk=world["coach"]).display_name == item["coach"], path

    # No coach teaches two things at once, and no player is due in two places at once: what
    # they hold already plus every session and slot a scenario hands them.
    by_coach: dict[str, set[tuple[datetime, datetime]]] = {}
    by_player: dict[str, set[tuple[datetime, datetime]]] = {key: set() for key in players}
    for _, item in described:
        by_coach.setdefault(item["coach"], set()).add(span(item))
        for key in item["for"]:
            by_player[key].add(span(item))
    for key, player in players.items():
        held = SessionReservation.objects.filter(
            player=player, status="reserved", session__status="scheduled"
        ).values_list("session__starts_at", "session__ends_at")
        lessons = IndividualBooking.objects.filter(player=player, status="booked")
        by_player[key] |= set(held) | set(lessons.values_list("starts_at", "ends_at"))
        assert not _overlap(list(by_player[key])), key
    for coach, taught in by_coach.items():
        assert not _overlap(list(taught)), coach
    # Days of their own: nothing else happens on the crowd's and the sync test's days.
    for own in ("crowd", "sync"):
        others = [p for p, i in described if i["date"] == world[own]["date"]]
        assert all(p.startswith(own) for p in others), others

    # Every session's count is its reservations (what the crowd test checks afterwards).
    for s in GroupSession.objects.filter(academy=academy):
        assert s.reserved_count == s.reservations.filter(status="reserved").count() <= s.capacity

    # Rehearsals at the end of the margin, each rolled back.
    staff = get_user("staff")
    for path, item in described:
        if path.startswith(("held", "crowd", "waitlist")) or path in (
            "coach_cancel",
            "desk_cancel",
            "a11y_desk",
        ):
            continue
        for key in item["for"]:
            player, actor = players[key], family_user(players[key])
            with rolled_back():
                if "id" in item:
                    session = GroupSession.objects.get(pk=item["id"])
                    r = reservation_create(player=player, session=session, actor=actor, now=later)
                    reservation_cancel(reservation=r, actor=actor, now=later)
                else:
                    b = individual_booking_create(
                        player=player,
                        coach=Coach.objects.get(pk=world["coach"]),
                        session_type=SessionType.objects.get(pk=item["type"]),
                        starts_at=datetime.fromisoformat(item["iso"]),
                        actor=actor,
                        now=later,
                    )
                    individual_booking_cancel(booking=b, actor=actor, now=later)
        if "id" in item:
            needed = {"offline": 3, "last_spot": 1}.get(path, 2)  # Mia and Oliver, one more
            assert item["capacity"] - item["reserved"] >= needed, path
            if path == "last_spot":  # exactly one: the optimistic test's refusal needs it
                assert item["capacity"] - item["reserved"] == 1

    # Scenario by scenario, what the browser tests do that the loop above does not.
    sam = Coach.objects.get(pk=world["coach"])
    lesson_type = SessionType.objects.get(pk=world["race"]["type"])

    def book(key: str, slot: dict[str, Any]) -> IndividualBooking:
        return individual_booking_create(
            player=players[key],
            coach=sam,
            session_type=lesson_type,
            starts_at=datetime.fromisoformat(slot["iso"]),
            actor=family_user(players[key]),
            now=later,
        )

    with rolled_back():  # the race: one books, the other is told it has just gone
        book("mia", world["race"])
        with pytest.raises(BookingError) as refused:
            book("isla", world["race"])
        assert refused.value.code == "slot_taken"
    with rolled_back():  # Mia cancels a full session: Isla, first in line, gets her spot
        s = GroupSession.objects.get(pk=world["waitlist"]["id"])
        assert (s.reserved_count, s.waiting_count) == (s.capacity, 1)
        mia = players["mia"]
        held = s.reservations.get(player=mia, status="reserved")
        reservation_cancel(reservation=held, actor=mia.user, now=later)
        assert s.reservations.filter(player=players["isla"], status="reserved").exists()
    with rolled_back():  # the coach calls off a session Oliver holds
        s = GroupSession.objects.get(pk=world["coach_cancel"]["id"])
        assert s.reservations.filter(player=players["oliver"], status="reserved").exists()
        group_session_cancel(session=s, actor=sam.user, now=later)
    for desk_cancels in ("desk_cancel", "a11y_desk"):
        with rolled_back():  # the front desk cancels Isla's place (her parent is emailed)
            s = GroupSession.objects.get(pk=world[desk_cancels]["id"])
            isla = s.reservations.get(player=players["isla"], status="reserved")
            reservation_cancel(reservation=isla, actor=staff, now=later)
    with rolled_back():  # a second reservation of the same session is refused
        s = GroupSession.objects.get(pk=world["duplicate"]["id"])
        oliver = players["oliver"]
        reservation_create(player=oliver, session=s, actor=oliver.user, now=later)
        with pytest.raises(BookingError) as refused:
            reservation_create(player=oliver, session=s, actor=oliver.user, now=later)
        assert refused.value.code == "already_reserved"
    with rolled_back():  # the front desk books Hugo and Pat (the role switcher)
        for key in ("hugo", "pat"):
            s = GroupSession.objects.get(pk=world[f"switch_{key}"]["id"])
            reservation_create(player=players[key], session=s, actor=staff, now=later)
    with rolled_back():  # the sync test's turns, in its order, on one day
        sync = world["sync"]
        assert {sync["session"]["date"], *(s["date"] for s in sync["slots"])} == {sync["date"]}
        assert len({s["type"] for s in sync["slots"]}) == 1
        mine = book("oliver", sync["slots"][0])
        book("isla", sync["slots"][1])
        s = GroupSession.objects.get(pk=sync["session"]["id"])
        reservation_create(
            player=players["oliver"], session=s, actor=players["oliver"].user, now=later
        )
        isla = reservation_create(
            player=players["isla"], session=s, actor=family_user(players["isla"]), now=later
        )
        individual_booking_cancel(booking=mine, actor=players["oliver"].user, now=later)
        reservation_cancel(reservation=isla, actor=family_user(players["isla"]), now=later)

    # The crowd: every session two spots from full, every slot open; crowd members book for
    # themselves and their children, and cancel online.
    crowd = world["crowd"]
    assert len(crowd["sessions"]) >= 3 and len(crowd["slots"]) >= 2
    on_the_day = {
        s.pk
        for s in GroupSession.objects.filter(academy=academy)
        if s.starts_at.astimezone(tz).date().isoformat() == crowd["date"]
    }
    assert on_the_day == {s["id"] for s in crowd["sessions"]}
    for item in crowd["sessions"]:
        assert item["capacity"] - item["reserved"] == 2
    for slot in crowd["slots"]:
        with rolled_back():
            b = book("mia", slot)
            individual_booking_cancel(booking=b, actor=players["mia"].user, now=later)
    with rolled_back():
        s = GroupSession.objects.get(pk=crowd["sessions"][0]["id"])
        for key in ("arjun", "maya"):
            reservation_create(
                player=players[key], session=s, actor=family_user(players[key]), now=later
            )
        with pytest.raises(BookingError) as refused:
            noah = players["noah"]
            reservation_create(player=noah, session=s, actor=noah.user, now=later)
        assert refused.value.code == "session_full"
    # The two sessions that have begun: the coach's, before now and never at once; the tablet
    # may check in on the first, and Oliver (checked in) may rate the second, until MARGIN.
    past = world["past"]
    begun = {name: GroupSession.objects.get(pk=item["id"]) for name, item in past.items()}
    for name, s in begun.items():
        assert s.starts_at <= now and s.coaches.get() == sam, name
        assert s.starts_at.astimezone(tz).isoformat() == past[name]["iso"], name
    assert begun["rated"].ends_at <= begun["checkin"].starts_at
    assert set(past["checkin"]["reservations"]) == {"oliver", "isla"}
    with rolled_back():
        for pk in past["checkin"]["reservations"].values():
            attendance_mark(
                actor=sam.user,
                reservation=SessionReservation.objects.get(pk=pk),
                status="present",
                now=later,
            )
        newcomer = players["mia"]  # a walk-in the coach teaches (her held session is theirs)
        attendance_walk_in(actor=sam.user, session=begun["checkin"], player=newcomer, now=later)
        feedback_save(
            attendance=Attendance.objects.get(pk=past["rated"]["attendance"]),
            actor=players["oliver"].user,
            rating=5,
            now=later,
        )
    # Logins: every HTTP user of the fault tests has a session, everyone has password "demo".
    assert set(world["sessions"]) >= {"staff", "player", "oliver", "parent", "pat"}
    for username in ("player", "parent", "coach", "staff", "admin", "oliver", "pat"):
        assert get_user(username).check_password("demo"), username


def get_user(username: str) -> Any:
    from django.contrib.auth import get_user_model

    return get_user_model().objects.get(username=username)
