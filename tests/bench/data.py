"""The bench's own data, built fast with bulk_create on the fresh database (no signals fire, so
nothing is published while it loads), and the viewers: logged-in sessions and signed tokens.

Three academies:
- "live" (academy L): the one every latency viewer watches. Day D (two days ahead) has a
  realistic grid of group sessions; the week around it is filled the same way, with a few
  attendees each, so the staff and coach calendars carry names.
- "big": 1,000+ group sessions in one week, for the calendar render times.
- "race": a few sessions with 3 spots each, for the contended reservations.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
from django.contrib.auth.hashers import make_password
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session
from django.utils import timezone
from django.utils.crypto import get_random_string

from bookings.live.calendars import CoachCalendar, CoachDay, StaffCalendar
from bookings.live.grids import DayGrid, LessonSlots
from bookings.live.lists import Reservations, Schedule
from bookings.models import GuardianLink, Player, SessionReservation
from realtime.tokens import sign_streams
from scheduling.models import (
    Academy,
    Coach,
    CoachAvailability,
    Court,
    GroupSession,
    SessionType,
    StaffAssignment,
    StaffMember,
)

User = get_user_model()
TZ = "Europe/London"
FIRST = ["Mia", "Leo", "Ada", "Kai", "Noah", "Isla", "Arjun", "Zofia", "Luca", "Amara", "Hugo"]
LAST = ["Thompson", "Clarke", "Garcia", "Brooks", "Dubois", "Mehta", "Larsen", "Nilsson", "Khan"]

# Who watches what (shares of the viewers), after the pages in bookings/views/pages.py.
MIX = [
    ("player_schedule", 0.45),  # day grid + lesson slots + own reservations
    ("parent_schedule", 0.25),  # day grid + lesson slots + family reservations
    ("player_home", 0.10),  # own schedule list only (personal stream)
    ("coach", 0.08),  # a coach's day or week calendar (tablets)
    ("staff", 0.12),  # the academy's week calendar at the front desk
]


@dataclass
class World:
    live_academy: int
    day: date
    monday: date
    day_sessions: list[int]  # group sessions of academy L on day D
    session_coach: dict[int, int]  # session -> its coach
    coaches: list[tuple[int, int]]  # (coach id, user id) of academy L
    lesson_type: int
    staff_users: list[int]
    player_users: list[tuple[int, int]]  # (player id, user id), players with a login
    parents: list[tuple[int, list[int]]]  # (user id, child player ids)
    big_academy: int = 0
    big_sessions_in_week: int = 0
    big_staff_user: int = 0
    big_coach: tuple[int, int] = (0, 0)
    race_sessions: list[int] = field(default_factory=list)
    race_players: list[tuple[int, int]] = field(default_factory=list)  # (player id, user id)
    guardians: dict[int, list[int]] = field(default_factory=dict)  # child -> guardian users
    # The browser phase's parent: guardian of the last player with a login (tests/bench/browser.py)
    browser_parent: int = 0


def _users(prefix: str, n: int) -> list[int]:
    password = make_password(None)  # unusable, and the same for all: no hashing per user
    rows = [
        User(
            username=f"{prefix}{i}",
            first_name=random.choice(FIRST),
            last_name=random.choice(LAST),
            password=password,
        )
        for i in range(n)
    ]
    return [u.pk for u in User.objects.bulk_create(rows, batch_size=2000)]


def _players(academy: Academy, users: list[int | None]) -> list[int]:
    rows = [
        Player(
            academy=academy,
            user_id=uid,
            first_name=random.choice(FIRST),
            last_name=f"{random.choice(LAST)}-{i}",
        )
        for i, uid in enumerate(users)
    ]
    return [p.pk for p in Player.objects.bulk_create(rows, batch_size=2000)]


def _at(day: date, hour: int, minute: int, tz) -> datetime:  # type: ignore[no-untyped-def]
    return datetime.combine(day, time(hour, minute), tzinfo=tz)


def _grid(
    academy: Academy,
    days: list[date],
    courts: list[Court],
    types: list[SessionType],
    coaches: list[Coach],
    starts: list[int],
    capacity: int,
    attendees: list[int],
    per_session: int,
) -> list[GroupSession]:
    """Sessions at each start hour on each court, every day; coaches and attendees round-robin."""
    tz = academy.tz
    sessions = []
    for day in days:
        for hour in starts:
            for court in courts:
                t = types[(hour + court.pk) % len(types)]
                start = _at(day, hour, 0, tz)
                sessions.append(
                    GroupSession(
                        academy=academy,
                        session_type=t,
                        court=court,
                        starts_at=start,
                        ends_at=start + timedelta(minutes=55),
                        capacity=capacity,
                        reserved_count=per_session,
                    )
                )
    sessions = GroupSession.objects.bulk_create(sessions, batch_size=2000)
    StaffAssignment.objects.bulk_create(
        [
            StaffAssignment(session=s, coach=coaches[i % len(coaches)])
            for i, s in enumerate(sessions)
        ],
        batch_size=2000,
    )
    # Attendees: per_session players per session, never two overlapping sessions per player.
    rows = []
    cursor = 0
    for s in sessions:
        for _ in range(per_session):
            rows.append(SessionReservation(session=s, player_id=attendees[cursor % len(attendees)]))
            cursor += 1
    SessionReservation.objects.bulk_create(rows, batch_size=5000)
    return sessions


def build(*, viewers: int, big_sessions: int = 1050, race_players: int = 256) -> World:
    """Everything the bench needs for up to `viewers` concurrent sockets."""
    random.seed(5)
    today = timezone.now().astimezone(timezone.get_default_timezone()).date()
    day = today + timedelta(days=2)
    monday = day - timedelta(days=day.weekday())
    week = [monday + timedelta(days=i) for i in range(7)]

    # -- academy L: the live one --
    live = Academy.objects.create(
        name="Bench Live", slug="bench-live", time_zone=TZ, booking_horizon_days=60
    )
    courts = Court.objects.bulk_create(
        [Court(academy=live, name=f"Court {i}") for i in range(1, 5)]
    )
    types = SessionType.objects.bulk_create(
        [
            SessionType(academy=live, name=n, kind=SessionType.Kind.GROUP, colour=c)
            for n, c in [
                ("Junior squad", "#16a34a"),
                ("Adult drills", "#2563eb"),
                ("Cardio", "#dc2626"),
            ]
        ]
    )
    lesson = SessionType.objects.create(
        academy=live, name="Private lesson", kind=SessionType.Kind.INDIVIDUAL, duration_minutes=60
    )
    coach_users = _users("coach", 12)
    coaches = Coach.objects.bulk_create(
        [
            Coach(academy=live, user_id=u, display_name=f"Coach {i}")
            for i, u in enumerate(coach_users)
        ]
    )
    CoachAvailability.objects.bulk_create(
        [
            CoachAvailability(
                coach=c, session_type=lesson, weekday=w, start_time=time(8), end_time=time(21)
            )
            for c in coaches
            for w in range(7)
        ]
    )
    staff_users = _users("staff", 60)
    StaffMember.objects.bulk_create([StaffMember(academy=live, user_id=u) for u in staff_users])

    shares = dict(MIX)
    n_player_users = int(viewers * (shares["player_schedule"] + shares["player_home"])) + 200
    n_parents = int(viewers * shares["parent_schedule"]) + 50
    player_user_ids = _users("player", n_player_users)
    player_ids = _players(live, player_user_ids)
    parent_user_ids = _users("parent", n_parents)
    child_ids = _players(live, [None] * (2 * n_parents))
    GuardianLink.objects.bulk_create(
        [
            GuardianLink(guardian_id=parent, player_id=child_ids[2 * i + j])
            for i, parent in enumerate(parent_user_ids)
            for j in range(2)
        ],
        batch_size=5000,
    )
    # Sessions every day of D's week: 4 courts x 4 start hours = 16 a day, 4 attendees each
    # (players of their own, so the trigger's players are free at every session).
    attendees = _players(live, [None] * 300)
    sessions = _grid(live, week, courts, types, coaches[:8], [9, 12, 16, 19], 400, attendees, 4)
    day_sessions, session_coach = [], {}
    for i, s in enumerate(sessions):
        if s.starts_at.astimezone(live.tz).date() == day:
            day_sessions.append(s)
            session_coach[s.pk] = coaches[i % 8].pk

    world = World(
        live_academy=live.pk,
        day=day,
        monday=monday,
        day_sessions=[s.pk for s in day_sessions],
        session_coach=session_coach,
        coaches=[(c.pk, c.user_id) for c in coaches],
        lesson_type=lesson.pk,
        staff_users=staff_users,
        player_users=list(zip(player_ids, player_user_ids, strict=True)),
        parents=[
            (p, [child_ids[2 * i], child_ids[2 * i + 1]]) for i, p in enumerate(parent_user_ids)
        ],
    )
    world.guardians = {c: [p] for p, cs in world.parents for c in cs}
    # A parent of a player who books for themself (the browser phase's clicking player, whose
    # bookings this parent's home page lists): no viewer, trigger pair or race uses either.
    world.browser_parent = _users("browserparent", 1)[0]
    GuardianLink.objects.bulk_create(
        [GuardianLink(guardian_id=world.browser_parent, player_id=player_ids[-1])]
    )

    # -- the big academy: 1,000+ sessions in the week --
    big = Academy.objects.create(name="Bench Big", slug="bench-big", time_zone=TZ)
    per_day_hours = list(range(7, 22))  # 15 start hours
    n_courts = max(1, -(-big_sessions // (7 * len(per_day_hours))))
    big_courts = Court.objects.bulk_create(
        [Court(academy=big, name=f"Court {i}") for i in range(1, n_courts + 1)]
    )
    big_types = SessionType.objects.bulk_create(
        [SessionType(academy=big, name=f"Group {i}", kind=SessionType.Kind.GROUP) for i in range(4)]
    )
    big_coach_users = _users("bigcoach", 20)
    big_coaches = Coach.objects.bulk_create(
        [
            Coach(academy=big, user_id=u, display_name=f"Big coach {i}")
            for i, u in enumerate(big_coach_users)
        ]
    )
    big_players = _players(big, [None] * 400)
    big_grid = _grid(
        big, week, big_courts, big_types, big_coaches, per_day_hours, 12, big_players, 3
    )
    big_staff = _users("bigstaff", 1)[0]
    StaffMember.objects.create(academy=big, user_id=big_staff)
    world.big_academy = big.pk
    world.big_sessions_in_week = len(big_grid)
    world.big_staff_user = big_staff
    world.big_coach = (big_coaches[0].pk, big_coaches[0].user_id)

    # -- the race: few spots, many players --
    race = Academy.objects.create(name="Bench Race", slug="bench-race", time_zone=TZ)
    race_type = SessionType.objects.create(academy=race, name="Clinic", kind=SessionType.Kind.GROUP)
    race_coach = Coach.objects.create(
        academy=race, user_id=_users("racecoach", 1)[0], display_name="Race coach"
    )
    race_day = today + timedelta(days=3)
    race_sessions = GroupSession.objects.bulk_create(
        [
            GroupSession(
                academy=race,
                session_type=race_type,
                starts_at=_at(race_day, 8 + i, 0, race.tz),
                ends_at=_at(race_day, 8 + i, 50, race.tz),
                capacity=3,
            )
            for i in range(8)
        ]
    )
    StaffAssignment.objects.bulk_create(
        [StaffAssignment(session=s, coach=race_coach) for s in race_sessions]
    )
    race_users = _users("racer", race_players)
    world.race_sessions = [s.pk for s in race_sessions]
    world.race_players = list(zip(_players(race, race_users), race_users, strict=True))
    return world


# -- viewers ---------------------------------------------------------------------------------------


def session_cookies(user_ids: list[int], extra: dict | None = None) -> list[str]:
    """One Django session per entry (one browser each), written in bulk; returns cookie values."""
    users = User.objects.in_bulk(set(user_ids))
    store = SessionStore()
    expire = timezone.now() + timedelta(days=1)
    rows, cookies = [], []
    for uid in user_ids:
        user = users[uid]
        key = get_random_string(32, "abcdefghijklmnopqrstuvwxyz0123456789")
        data = {
            SESSION_KEY: str(uid),
            BACKEND_SESSION_KEY: "django.contrib.auth.backends.ModelBackend",
            HASH_SESSION_KEY: user.get_session_auth_hash(),
            **(extra or {}),
        }
        rows.append(Session(session_key=key, session_data=store.encode(data), expire_date=expire))
        cookies.append(f"sessionid={key}")
    Session.objects.bulk_create(rows, batch_size=2000)
    return cookies


def viewer_specs(world: World, n: int) -> list[dict]:
    """n viewers in the MIX, each with its own session and signed stream token, shuffled so
    that any prefix of the list has about the same mix (phases with fewer viewers use one)."""
    d, mon = world.day, world.monday
    a = world.live_academy
    counts = {role: round(share * n) for role, share in MIX}
    counts["player_schedule"] += n - sum(counts.values())
    slot_coaches = [c for c, _ in world.coaches[:4]]
    plan: list[tuple[str, int, list[str]]] = []
    players = world.player_users
    parents = world.parents
    pi = 0
    for i in range(counts["player_schedule"]):
        pid, uid = players[pi]
        pi += 1
        coach = slot_coaches[i % len(slot_coaches)]
        keys = [
            DayGrid(a, d).key,
            LessonSlots(coach, world.lesson_type, d).key,
            Reservations.of_player(pid).key,
        ]
        plan.append(("player_schedule", uid, keys))
    for i in range(counts["parent_schedule"]):
        uid, _children = parents[i]
        coach = slot_coaches[i % len(slot_coaches)]
        keys = [
            DayGrid(a, d).key,
            LessonSlots(coach, world.lesson_type, d).key,
            Reservations.of_family(uid).key,
        ]
        plan.append(("parent_schedule", uid, keys))
    for _ in range(counts["player_home"]):
        pid, uid = players[pi]
        pi += 1
        plan.append(("player_home", uid, [Schedule.of_player(pid).key]))
    for i in range(counts["coach"]):
        cid, uid = world.coaches[i % 8]
        coach_view = CoachDay(cid, d) if i % 2 else CoachCalendar(cid, a, mon, 7)
        plan.append(("coach", uid, [coach_view.key]))
    for i in range(counts["staff"]):
        uid = world.staff_users[i % len(world.staff_users)]
        plan.append(("staff", uid, [StaffCalendar(a, mon, 7).key]))
    cookies = session_cookies([uid for _, uid, _ in plan])
    specs = []
    for i, ((role, uid, keys), cookie) in enumerate(zip(plan, cookies, strict=True)):
        specs.append(
            {
                "role": role,
                "keys": keys,
                "cookie": cookie,
                "token": sign_streams(uid, keys),
                "uid": uid,
                "src": f"127.0.0.{2 + i % 40}",
            }
        )
    random.Random(n).shuffle(specs)  # roles interleave as they connect
    return specs


def trigger_pairs(world: World, n: int = 240) -> list[tuple[int, int, int | None]]:
    """(player, session, guardian user or None) pairs the trigger toggles: one session per
    player, so a player is never busy elsewhere. Players with a login and parents' children."""
    sessions = world.day_sessions
    players = [(pid, None) for pid, _ in world.player_users[: n - n // 4]]
    children = [(kids[0], parent) for parent, kids in world.parents[: n // 4]]
    # Interleave: three players with a login, then a parent's child.
    order = []
    while players or children:
        order.extend(players[:3])
        del players[:3]
        order.extend(children[:1])
        del children[:1]
    return [(pid, sessions[i % len(sessions)], g) for i, (pid, g) in enumerate(order)]
