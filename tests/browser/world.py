"""What the browser tests act on: an academy of their own, built relative to the clock.

`prepare()` runs in the stack's set-up process (Django configured, database migrated, no demo
data) and builds, in one transaction, everything the tests need and nothing they would have to
search for: an academy (Europe/London, the demo's booking rules), two coaches, courts, session
types, the logins the tests sign in with (password "demo"), players and families, the coach's
lesson hours, and for every scenario the group sessions and lesson slots it acts on. Its result
(JSON) is `Stack.setup`: ids, names, and each session or slot as the pages show it.

When things happen (`Timetable`): on whole local days of the academy, from the day after the
one on which `now + cut-off + MARGIN` falls, so every start is later than that whatever the
hour, the weekday or a daylight-saving change (a later day starts after any moment of an earlier
one); a handful of days on, well inside the booking horizon. On each day, group sessions and
lessons have fixed wall-clock places that never overlap (the coach teaches them all) and exist
on every day of the year (clocks change at night). Each scenario gets places no other scenario
uses, so no player is ever booked twice at one time, and the coach's lesson hours cover every
day of the week, so a slot's weekday never matters. `prepare(now=...)` builds the same world
for another clock: tests/test_browser_world.py checks all this for many, without Chromium.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.db import transaction
from django.utils import timezone

from bookings.models import GuardianLink, Player, SessionReservation
from bookings.services import (
    attendance_mark,
    individual_booking_create,
    reservation_create,
    waitlist_join,
)
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

PASSWORD = "demo"
TIME_ZONE = "Europe/London"
# How long after prepare() a test may still book or cancel online (a run takes minutes).
MARGIN = timedelta(hours=6)

# A day's places, local wall-clock times: group sessions (none longer than LONGEST_GROUP) and,
# between them, the coach's lesson hours (every day of the week).
GROUP_TIMES = [time(9, 0), time(10, 30), time(17, 0), time(18, 30)]
LONGEST_GROUP = timedelta(minutes=75)
LESSON_HOURS = (time(12, 0), time(16, 0))
LESSON = timedelta(minutes=60)

# Session types: name, kind, minutes, capacity, colour.
TYPES = [
    ("Junior squad", "group", 60, 8, "#16a34a"),
    ("Adult drills", "group", 75, 8, "#2563eb"),
    ("Open play", "group", 60, 8, "#f59e0b"),
    ("Cardio tennis", "group", 60, 10, "#dc2626"),
    ("Private lesson", "individual", 60, 1, "#7c3aed"),
]

# Logins that are not players: username, first name, last name, what they are.
STAFF = [
    ("admin", "Ada", "Admin", "admin"),
    ("staff", "Rebecca", "Hall", "staff"),
    ("coach", "Sam", "Carter", "coach"),  # teaches every scenario's sessions and lessons
    ("elena", "Elena", "Petrova", "coach"),  # a second coach, at the same times now and then
    ("parent", "Hannah", "Wright", "guardian"),
    ("priya.patel", "Priya", "Patel", "guardian"),
]
# Players: key, username (None: no login of their own), first, last, age, guardians.
PLAYERS = [
    ("mia", "player", "Mia", "Thompson", 29, []),
    ("noah", "noah.clarke", "Noah", "Clarke", 41, []),
    ("sofia", "sofia.garcia", "Sofia", "García", 35, []),
    ("pat", "pat", "Pat", "Ryan", 40, []),  # a player and Hugo's father: two roles to switch
    ("oliver", "oliver", "Oliver", "Wright", 14, ["parent"]),  # a child with a login
    ("isla", None, "Isla", "Wright", 11, ["parent"]),
    ("freddie", None, "Freddie", "Wright", 8, ["parent"]),
    ("hugo", None, "Hugo", "Ryan", 10, ["pat"]),
    ("arjun", None, "Arjun", "Patel", 12, ["priya.patel"]),
    ("maya", None, "Maya", "Patel", 9, ["priya.patel"]),
]
CHILDREN = {key for key, _, _, _, age, _ in PLAYERS if age < 18}
# Players nobody signs in for: they fill spots, so counts never start at zero.
FILLERS = [
    ("grace", "Grace", "Turner", 33),
    ("ben", "Ben", "Foster", 52),
    ("lucy", "Lucy", "Adams", 27),
    ("daniel", "Daniel", "Reid", 45),
    ("zofia", "Zofia", "Nowak", 13),
    ("jan", "Jan", "Nowak", 10),
]

# Who books over plain HTTP in the fault tests (the front desk and the crowd).
HTTP_USERS = [
    "staff",
    "player",
    "oliver",
    "parent",
    "pat",
    "noah.clarke",
    "sofia.garcia",
    "priya.patel",
]


def prepare(now: datetime | None = None) -> dict[str, Any]:
    """Build the world for the clock `now` (default: the real one)."""
    with transaction.atomic():
        return _World(now or timezone.now()).build()


@dataclass
class Timetable:
    """Days and places for the world, relative to `now`. `day()` is a day of one scenario's
    own; `place(kind)` the next free group or lesson place on the shared days."""

    now: datetime
    tz: Any
    lead: timedelta  # the shortest notice at which everything must still be bookable
    horizon: timedelta  # how far ahead families may book
    days: list[date] = field(default_factory=list)  # in use, in order
    shared: list[date] = field(default_factory=list)  # those opened by place()
    free: dict[str, list[datetime]] = field(default_factory=lambda: {"group": [], "lesson": []})

    @property
    def earliest(self) -> datetime:
        return self.now + self.lead

    @property
    def first_day(self) -> date:
        return timezone.localdate(self.earliest, self.tz) + timedelta(days=1)

    def day(self) -> date:
        day = self.first_day + timedelta(days=len(self.days))
        self.days.append(day)
        return day

    def group_places(self, day: date) -> list[datetime]:
        return [self.at(day, wall, LONGEST_GROUP) for wall in GROUP_TIMES]

    def lesson_places(self, day: date) -> list[datetime]:
        start, end = (datetime.combine(day, t) for t in LESSON_HOURS)
        walls = []
        while start + LESSON <= end:
            walls.append(start.time())
            start += LESSON
        return [self.at(day, wall, LESSON) for wall in walls]

    def place(self, kind: str) -> datetime:
        if not self.free[kind]:
            day = self.day()
            self.shared.append(day)
            self.free["group"] += self.group_places(day)
            self.free["lesson"] += self.lesson_places(day)
        return self.free[kind].pop(0)

    def at(self, day: date, wall: time, length: timedelta) -> datetime:
        """The moment of a place, checked: it exists, it starts and ends on that day, and it is
        bookable and cancellable online from now until now + MARGIN."""
        moment = datetime.combine(day, wall, tzinfo=self.tz)
        utc = moment.astimezone(UTC)
        ends = (utc + length).astimezone(self.tz)
        if (
            utc.astimezone(self.tz).replace(tzinfo=None) != moment.replace(tzinfo=None)
            or ends.date() != day
            or moment < self.earliest
            or ends > self.now + self.horizon
        ):
            raise RuntimeError(f"{day} {wall} is no place for a browser test at {self.now}")
        return moment


class _World:
    def __init__(self, now: datetime) -> None:
        if now.tzinfo is None:
            raise ValueError("now must be an aware datetime")
        self.now = now
        self.academy = Academy.objects.create(
            name="Riverside Test Tennis Club",
            slug="browser-tests",
            time_zone=TIME_ZONE,
            cancellation_cutoff_hours=24,
            booking_horizon_days=30,
            min_notice_minutes=60,
        )
        self.tz = self.academy.tz
        self.today = timezone.localdate(now, self.tz)
        lead = max(
            timedelta(hours=self.academy.cancellation_cutoff_hours),
            timedelta(minutes=self.academy.min_notice_minutes),
        )
        self.timetable = Timetable(
            now, self.tz, lead + MARGIN, timedelta(days=self.academy.booking_horizon_days)
        )
        self.busy: dict[int, list[tuple[datetime, datetime]]] = {}  # fillers' sessions

    def build(self) -> dict[str, Any]:
        self.people()
        self.places()
        p, t = self.players, self.timetable
        out: dict[str, Any] = {
            "academy": self.academy.pk,
            "academy_name": self.academy.name,
            "coach": self.sam.pk,
            "players": {key: player.pk for key, player in p.items()},
            "names": {key: player.full_name for key, player in p.items()},
            "first_names": {key: player.first_name for key, player in p.items()},
            "sessions": self.signed_in(HTTP_USERS),
        }

        # What the families already hold, at places of its own: lists are never empty, so
        # each check has to find its own line.
        out["held"] = {
            "session": self.session(
                t.place("group"),
                [p["mia"], p["isla"], p["freddie"], p["hugo"], p["pat"]],
                book_as=self.users["staff"],
                spots=0,
            ),
            "lesson": self.lesson(t.place("lesson"), [p["oliver"]], book_as=self.users["parent"]),
        }

        out["group_player"] = self.session(t.place("group"), [p["oliver"]])
        out["lesson_player"] = self.lesson(t.place("lesson"), [p["oliver"]])
        out["group_parent"] = self.session(t.place("group"), [p["isla"]])
        out["lesson_parent"] = self.lesson(t.place("lesson"), [p["freddie"]])
        out["coach_cancel"] = self.session(
            t.place("group"), [p["oliver"]], book_as=self.users["oliver"]
        )
        out["duplicate"] = self.session(t.place("group"), [p["oliver"]])
        out["switch_child"] = self.session(t.place("group"), [p["oliver"]])
        out["switch_hugo"] = self.session(t.place("group"), [p["hugo"]])
        out["switch_pat"] = self.session(t.place("group"), [p["pat"]])
        out["race"] = self.lesson(t.place("lesson"), [p["mia"], p["isla"]])
        out["offline"] = self.session(t.place("group"), [p["mia"], p["oliver"]], spots=3)
        out["indicator"] = self.session(t.place("group"), [p["oliver"]])
        out["redis_down"] = self.session(t.place("group"), [p["oliver"]])
        out["worker"] = self.session(t.place("group"), [p["oliver"]])
        out["metrics"] = self.session(t.place("group"), [p["oliver"]])  # test_metrics.py
        out["sync"] = self.sync_day([p["oliver"], p["isla"]])
        # Isla's place, which the front desk cancels: her parent's email and calendar feed.
        out["desk_cancel"] = self.session(
            t.place("group"), [p["isla"]], book_as=self.users["parent"]
        )
        out["desk_feed"] = self.session(t.place("group"), [p["isla"]])
        # Running the academy (tests/browser/test_ops.py).
        out["waitlist"] = self.full_with_a_queue(t.place("group"), p["mia"], p["isla"])
        out["editing"] = self.session(t.place("group"), [p["mia"]])
        out["new_series"] = self.series_place()
        # The fault tests' crowd: one day of its own, every session on it nearly full.
        out["crowd"] = self.crowd_day()
        # Collaboration (presence, holds, optimistic actions): days and places of their own.
        out["presence"] = {"date": t.day().isoformat()}
        out["hold"] = self.lesson(t.place("lesson"), [p["isla"]])
        last = self.group(t.place("group"), self._type_for([p["mia"]]), capacity=3, filled=2)
        out["last_spot"] = self.describe_session(last, [p["mia"], p["noah"]])  # one spot left
        out["double_click"] = self.session(t.place("group"), [p["sofia"]], spots=4)
        # Accessibility after each action (tests/browser/test_accessibility.py): a day of its own.
        out["a11y"] = self.sync_day([p["oliver"], p["isla"]])
        out["a11y_live"] = self.sync_day([p["oliver"], p["isla"]])
        out["a11y_desk"] = self.session(t.place("group"), [p["isla"]], book_as=self.users["parent"])
        out["calendar_card"] = self.session(t.place("group"), [p["oliver"]], spots=4)
        self.second_coach()
        out["days"] = [day.isoformat() for day in t.days]
        # Two sessions of the coach's that have begun (the only ones before now): check-in on
        # the tablet, and a rating. Not in `days`: they are no place to book.
        out["past"] = self.past()
        return out

    # -- people and places -------------------------------------------------------------------

    def people(self) -> None:
        User = get_user_model()
        password = make_password(PASSWORD)  # hashed once: hashing is the slow part

        def user(username: str, first: str, last: str, **extra: Any) -> Any:
            return User.objects.create(
                username=username,
                first_name=first,
                last_name=last,
                email=f"{username}@browser.courtside.test",
                password=password,
                **extra,
            )

        def born(age: int) -> date:
            return self.today - timedelta(days=age * 365 + 100)

        self.users: dict[str, Any] = {}
        self.coaches: dict[str, Coach] = {}
        for username, first, last, what in STAFF:
            admin = what == "admin"
            self.users[username] = user(username, first, last, is_staff=admin, is_superuser=admin)
            if what == "staff":
                StaffMember.objects.create(academy=self.academy, user=self.users[username])
            if what == "coach":
                self.coaches[username] = Coach.objects.create(
                    academy=self.academy, user=self.users[username], display_name=f"{first} {last}"
                )
        self.sam, self.elena = self.coaches["coach"], self.coaches["elena"]

        self.players: dict[str, Player] = {}
        for key, username, first, last, age, guardians in PLAYERS:
            login = user(username, first, last) if username else None
            if username:
                self.users[username] = login
            self.players[key] = player = Player.objects.create(
                academy=self.academy,
                user=login,
                first_name=first,
                last_name=last,
                birth_date=born(age),
            )
            for guardian in guardians:
                GuardianLink.objects.create(
                    guardian=self.users[guardian],
                    player=player,
                    relationship="mother" if guardian != "pat" else "father",
                )
        self.fillers = [
            Player.objects.create(
                academy=self.academy, first_name=first, last_name=last, birth_date=born(age)
            )
            for _, first, last, age in FILLERS
        ]

    def places(self) -> None:
        self.courts = [
            Court.objects.create(academy=self.academy, name=f"Court {n}") for n in (1, 2, 3)
        ]
        self.types = {
            name: SessionType.objects.create(
                academy=self.academy,
                name=name,
                kind=kind,
                duration_minutes=minutes,
                default_capacity=capacity,
                colour=colour,
            )
            for name, kind, minutes, capacity, colour in TYPES
        }
        self.lesson_type = self.types["Private lesson"]
        if timedelta(minutes=self.lesson_type.duration_minutes) != LESSON:
            raise RuntimeError("lesson places are LESSON apart, as the coach's slots are")
        for weekday in range(7):
            CoachAvailability.objects.create(
                coach=self.sam,
                session_type=self.lesson_type,
                weekday=weekday,
                start_time=LESSON_HOURS[0],
                end_time=LESSON_HOURS[1],
            )

    def signed_in(self, usernames: list[str]) -> dict[str, str]:
        """Signed-in sessions for the tests' plain HTTP users, as a login would leave them
        (hashing the password once per user is most of a login's cost)."""
        from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
        from django.contrib.sessions.backends.db import SessionStore

        keys = {}
        for username in usernames:
            user = self.users[username]
            session = SessionStore()
            session[SESSION_KEY] = str(user.pk)
            session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
            session[HASH_SESSION_KEY] = user.get_session_auth_hash()
            session.create()
            keys[username] = session.session_key
        return keys

    # -- sessions and slots ------------------------------------------------------------------

    def _type_for(self, players: list[Player]) -> SessionType:
        children = {self._key(p) in CHILDREN for p in players}
        if children == {True}:
            return self.types["Junior squad"]
        return self.types["Adult drills"] if children == {False} else self.types["Open play"]

    def group(
        self,
        starts_at: datetime,
        session_type: SessionType,
        *,
        coach: Coach | None = None,
        court: int = 0,
        capacity: int | None = None,
        filled: int = 2,
    ) -> GroupSession:
        """A scheduled group session with `filled` spots taken by fillers (through the service,
        as the front desk would book them)."""
        length = timedelta(minutes=session_type.duration_minutes)
        if length > LONGEST_GROUP:
            raise RuntimeError(f"{session_type} is longer than a group place")
        ends_at = starts_at.astimezone(UTC) + length
        session = GroupSession.objects.create(
            academy=self.academy,
            session_type=session_type,
            court=self.courts[court],
            starts_at=starts_at,
            ends_at=ends_at,
            capacity=capacity or session_type.default_capacity,
        )
        StaffAssignment.objects.create(session=session, coach=coach or self.sam)
        free = [
            f
            for f in self.fillers
            if not any(s < ends_at and starts_at < e for s, e in self.busy.get(f.pk, []))
        ]
        if len(free) < filled:
            raise RuntimeError(f"not enough fillers for the session at {starts_at}")
        used = free[:filled]
        for filler in used:
            reservation_create(
                player=filler, session=session, actor=self.users["staff"], now=self.now
            )
            self.busy.setdefault(filler.pk, []).append((starts_at, ends_at))
        self.fillers = [f for f in self.fillers if f not in used] + used  # spread them out
        session.refresh_from_db()
        return session

    def session(
        self,
        starts_at: datetime,
        players: list[Player],
        *,
        spots: int = 2,
        book_as: Any = None,
    ) -> dict[str, Any]:
        """A session of the coach's for these players, `spots` of it still free for the test;
        with book_as, each of them already holds a reservation (made by that user)."""
        s = self.group(starts_at, self._type_for(players))
        if book_as is not None:
            for player in players:
                reservation_create(player=player, session=s, actor=book_as, now=self.now)
            s.refresh_from_db()
        if s.capacity - s.reserved_count < spots:
            raise RuntimeError(f"{s} has fewer than {spots} spots left")
        return self.describe_session(s, players)

    def lesson(
        self, starts_at: datetime, players: list[Player], *, book_as: Any = None
    ) -> dict[str, Any]:
        """A lesson slot of the coach's for these players; with book_as, booked for the first."""
        if book_as is not None:
            individual_booking_create(
                player=players[0],
                coach=self.sam,
                session_type=self.lesson_type,
                starts_at=starts_at,
                actor=book_as,
                now=self.now,
            )
        return self.describe_slot(starts_at, players)

    def full_with_a_queue(self, at: datetime, holder: Player, waiting: Player) -> dict[str, Any]:
        """A session of three: two fillers and `holder` (booked by themself), full; `waiting`
        first on its waiting list (put there by their guardian)."""
        s = self.group(at, self._type_for([holder, waiting]), capacity=3, filled=2)
        reservation_create(player=holder, session=s, actor=holder.user, now=self.now)
        guardian = waiting.guardians.get()
        waitlist_join(player=waiting, session=s, actor=guardian, now=self.now)
        s.refresh_from_db()
        if not s.is_full or s.waiting_count != 1:
            raise RuntimeError(f"{s} is not full with one waiting")
        return self.describe_session(s, [holder, waiting])

    def series_place(self) -> dict[str, Any]:
        """Where the front desk makes a weekly series: an early hour of the first shared day,
        on a court and with a coach nothing else uses then, for three weeks (the later weeks
        fall after the world's days)."""
        day = self.timetable.shared[0]
        return {
            "date": day.isoformat(),
            "until": (day + timedelta(weeks=2)).isoformat(),
            "dates": [(day + timedelta(weeks=n)).isoformat() for n in range(3)],
            "start": "07:00",
            "end": "08:00",
            "title": "Early birds squad",
            "type": self.types["Open play"].pk,
            "court": self.courts[2].pk,
            "coach": self.elena.pk,
        }

    def sync_day(self, players: list[Player]) -> dict[str, Any]:
        """A day of its own: a group session and one lesson slot per player."""
        day = self.timetable.day()
        groups, lessons = self.timetable.group_places(day), self.timetable.lesson_places(day)
        return {
            "date": day.isoformat(),
            "session": self.session(groups[0], players),
            "slots": [self.lesson(lessons[n], [p]) for n, p in enumerate(players)],
        }

    def crowd_day(self) -> dict[str, Any]:
        """A day of its own, where concurrent bookings fight over sessions with two spots left
        (one of them the second coach's, at the same time as one of the first's) and every one
        of the coach's lesson slots."""
        day = self.timetable.day()
        times = self.timetable.group_places(day)
        made = [
            self.group(at, self.types[name], capacity=4)
            for at, name in zip(
                times, ["Junior squad", "Adult drills", "Open play", "Adult drills"], strict=True
            )
        ]
        made.insert(
            2,
            self.group(
                times[1], self.types["Cardio tennis"], coach=self.elena, court=1, capacity=4
            ),
        )
        return {
            "date": day.isoformat(),
            "sessions": [self.describe_session(s, []) for s in made],
            "slots": [self.describe_slot(at, []) for at in self.timetable.lesson_places(day)],
        }

    def second_coach(self) -> None:
        """The second coach teaches on every shared day at the same time as the first (other
        courts, another type): calendars and day lists show both, and tests tell them apart."""
        for day in self.timetable.shared:
            at = self.timetable.group_places(day)[2]
            self.group(at, self.types["Cardio tennis"], coach=self.elena, court=1, filled=3)

    def past(self) -> dict[str, Any]:
        """Two Junior squads of the coach's: `checkin` began 90 minutes ago, Oliver and Isla
        booked, nobody checked in yet; `rated` began 3 hours ago (they never overlap), Oliver
        checked in, so his family may rate it. Booked through the services two days before."""
        start = (self.now - timedelta(minutes=90)).replace(second=0, microsecond=0)
        out = {}
        for name, at, keys in (
            ("checkin", start, ["oliver", "isla"]),
            ("rated", start - timedelta(minutes=90), ["oliver"]),
        ):
            kind = self.types["Junior squad"]
            session = GroupSession.objects.create(
                academy=self.academy,
                session_type=kind,
                court=self.courts[2],
                starts_at=at,
                ends_at=at + timedelta(minutes=kind.duration_minutes),
                capacity=kind.default_capacity,
            )
            StaffAssignment.objects.create(session=session, coach=self.sam)
            booked = {
                key: reservation_create(
                    player=self.players[key],
                    session=session,
                    actor=self.users["staff"],
                    now=at - timedelta(days=2),
                ).pk
                for key in keys
            }
            session.refresh_from_db()
            out[name] = {**self.describe_session(session, []), "reservations": booked}
        mark = attendance_mark(
            actor=self.sam.user,
            reservation=SessionReservation.objects.get(pk=out["rated"]["reservations"]["oliver"]),
            status="present",
            now=self.now,
        )
        out["rated"]["attendance"] = mark.pk
        return out

    def describe_session(self, s: GroupSession, players: list[Player]) -> dict[str, Any]:
        local = timezone.localtime(s.starts_at, self.tz)
        coach = s.coaches.get()
        return {
            "id": s.pk,
            "title": s.display_title,
            "coach": coach.display_name,
            "iso": local.isoformat(),
            "date": local.date().isoformat(),
            "ymd": local.strftime("%Y%m%d"),
            "hhmm": local.strftime("%H:%M"),
            "capacity": s.capacity,
            "reserved": s.reserved_count,
            "for": [self._key(p) for p in players],
        }

    def describe_slot(self, starts_at: datetime, players: list[Player]) -> dict[str, Any]:
        local = timezone.localtime(starts_at, self.tz)
        iso, day = local.isoformat(), local.date().isoformat()
        sam, kind = self.sam, self.lesson_type
        return {
            "value": f"{sam.pk}|{kind.pk}|{iso}",
            "utc": starts_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S"),
            "iso": iso,
            "date": day,
            "ymd": local.strftime("%Y%m%d"),
            "hhmm": local.strftime("%H:%M"),
            "type": kind.pk,
            "type_name": kind.name,
            "coach": sam.display_name,
            "query": f"date={day}&type={kind.pk}&coach={sam.pk}",
            "for": [self._key(p) for p in players],
        }

    def _key(self, player: Player) -> str:
        return next(key for key, p in self.players.items() if p.pk == player.pk)
