"""python manage.py load_demo: one realistic academy for trying Courtside out (`make demo`).

Idempotent: each run deletes the demo academy (by slug) and the demo users and builds them
again, in one transaction. Reservations and lessons are made through bookings.services, as a
staff member, so reserved_count and every other invariant hold exactly as in real use. A fixed
random seed makes the data the same on every run (relative to today).

The demo users exist only because this command made them; migrations never create users.
"""

from __future__ import annotations

import contextlib
import random
from collections import defaultdict
from dataclasses import replace
from datetime import date, datetime, time, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.db.models import Count, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils import timezone

from bookings.errors import BookingError
from bookings.management import history
from bookings.models import (
    Activity,
    Attendance,
    Feedback,
    Goal,
    GuardianLink,
    InboxItem,
    IndividualBooking,
    OutgoingEmail,
    Player,
    SessionReservation,
)
from bookings.selectors import lesson_slots
from bookings.services import (
    group_session_cancel,
    group_session_create,
    individual_booking_create,
    reservation_cancel,
    reservation_create,
    series_create,
    waitlist_join,
)
from bookings.services.accounts import calendar_feed_create
from bookings.services.announcements import announcement_send
from bookings.services.sessions import SessionPlan
from scheduling.models import (
    Academy,
    Coach,
    CoachAvailability,
    CoachTimeOff,
    Court,
    GroupSession,
    Level,
    SessionSeries,
    SessionType,
    StaffAssignment,
    StaffMember,
)
from scheduling.slots import day_bounds

SLUG = "courtside-demo"
EMAIL_DOMAIN = "demo.courtside.test"  # marks every demo user, so a rerun finds them all
PASSWORD = "demo"
SEED = 20240611
DAYS = 14  # group sessions from today to today + DAYS
MAX_PER_PLAYER = 10  # group sessions a player books in those two weeks

# (username, first name, last name)
COACHES = [
    ("coach", "Sam", "Carter"),
    ("elena.petrova", "Elena", "Petrova"),
    ("james.okafor", "James", "Okafor"),
    ("lucia.fernandez", "Lucía", "Fernández"),
    ("tom.becker", "Tom", "Becker"),
]
COURTS = ["Court 1", "Court 2", "Court 3", "Court 4"]  # Court 4 is kept for private lessons

# name, minutes, capacity, colour, for children?
GROUP_TYPES = [
    ("Junior squad", 60, 8, "#16a34a", True),
    ("Mini tennis", 45, 6, "#f59e0b", True),
    ("Adult drills", 90, 10, "#2563eb", False),
    ("Cardio tennis", 60, 12, "#dc2626", False),
]
# Who each group type is for: (min age, max age, min level); None: no limit.
AUDIENCES = {
    "Junior squad": (8, 17, None),
    "Mini tennis": (4, 9, None),
    "Adult drills": (18, None, Level.IMPROVER),
    "Cardio tennis": (16, None, None),
}
# The demo parent's children, with fixed ages so that one of them (Freddie, 7) shows a type
# that is not open to him. Other children's ages are drawn at random.
FIXED_AGES = {("Wright", "Oliver"): 14, ("Wright", "Isla"): 11, ("Wright", "Freddie"): 7}

# Weekly series for the term, on courts and at times the daily timetable leaves free:
# (title, type, weekday, start, court, weeks, skipped week, notes).
SERIES = [
    (
        "Performance squad",
        "Junior squad",
        1,
        "18:30",
        "Court 2",
        15,
        7,
        "Selected juniors: match play and serve work. Bring two rackets.",
    ),
    ("Saturday mini tennis", "Mini tennis", 5, "12:00", "Court 3", 12, None, ""),
]
ADULT_TYPES = {name for name, *_, for_children in GROUP_TYPES if not for_children}
LESSON_TYPES = [("Private lesson 60 min", 60, "#7c3aed"), ("Private lesson 30 min", 30, "#db2777")]

# The weekly timetable: (start, group type, court). No two rows share a court at once.
WEEKDAY_TIMETABLE = [
    ("07:00", "Cardio tennis", "Court 1"),
    ("09:30", "Adult drills", "Court 2"),
    ("16:00", "Mini tennis", "Court 3"),
    ("16:30", "Junior squad", "Court 1"),
    ("17:00", "Junior squad", "Court 2"),
    ("18:00", "Adult drills", "Court 3"),
    ("19:30", "Cardio tennis", "Court 1"),
]
WEEKEND_TIMETABLE = [
    ("09:00", "Mini tennis", "Court 3"),
    ("09:00", "Junior squad", "Court 1"),
    ("10:00", "Junior squad", "Court 2"),
    ("10:30", "Adult drills", "Court 1"),
    ("11:00", "Cardio tennis", "Court 3"),
]

# Lesson windows: (coach username, lesson type, weekdays, start, end), local time.
AVAILABILITY = [
    ("coach", "Private lesson 60 min", [0, 2, 4], "12:00", "15:00"),
    ("coach", "Private lesson 30 min", [1, 3], "12:00", "14:00"),
    ("elena.petrova", "Private lesson 60 min", [1, 3], "11:00", "15:00"),
    ("elena.petrova", "Private lesson 60 min", [5], "13:00", "16:00"),
    ("james.okafor", "Private lesson 30 min", [0, 1, 2, 3, 4], "12:00", "14:00"),
    ("lucia.fernandez", "Private lesson 60 min", [2, 4], "11:30", "15:30"),
    ("lucia.fernandez", "Private lesson 30 min", [6], "13:00", "16:00"),
    ("tom.becker", "Private lesson 60 min", [0, 1, 3], "11:00", "15:00"),
]

# Adult players: (username or None for no login, first, last).
ADULTS = [
    ("player", "Mia", "Thompson"),
    ("noah.clarke", "Noah", "Clarke"),
    ("sofia.garcia", "Sofia", "García"),
    ("ethan.brooks", "Ethan", "Brooks"),
    ("chloe.dubois", "Chloé", "Dubois"),
    ("raj.mehta", "Raj", "Mehta"),
    ("emma.larsen", "Emma", "Larsen"),
    ("oscar.nilsson", "Oscar", "Nilsson"),
    (None, "Grace", "Turner"),
    (None, "Ben", "Foster"),
    (None, "Lucy", "Adams"),
    (None, "Daniel", "Reid"),
    (None, "Hannah", "Moore"),
    (None, "Marco", "Bianchi"),
    (None, "Aisha", "Khan"),
    (None, "Peter", "Walsh"),
    (None, "Yuki", "Tanaka"),
    (None, "Laura", "Bennett"),
]

# Families: surname, parents (username, first name, relationship), children's first names.
FAMILIES = [
    (
        "Wright",
        [("parent", "Hannah", "mother"), ("david.wright", "David", "father")],
        ["Oliver", "Isla", "Freddie"],
    ),
    ("Patel", [("priya.patel", "Priya", "mother")], ["Arjun", "Maya"]),
    (
        "O'Brien",
        [("siobhan.obrien", "Siobhan", "mother"), ("liam.obrien", "Liam", "father")],
        ["Aoife"],
    ),
    ("Nowak", [("kasia.nowak", "Kasia", "mother")], ["Zofia", "Jan"]),
    ("Okoye", [("chidi.okoye", "Chidi", "father")], ["Amara", "Tobi", "Ifeoma"]),
    (
        "Schmidt",
        [("anna.schmidt", "Anna", "mother"), ("markus.schmidt", "Markus", "father")],
        ["Lena", "Felix"],
    ),
    ("Rossi", [("giulia.rossi", "Giulia", "mother")], ["Luca"]),
    ("Kim", [("jiwoo.kim", "Ji-woo", "mother")], ["Min-jun", "Seo-yeon"]),
    ("Hughes", [("rachel.hughes", "Rachel", "mother")], ["Alfie", "Poppy"]),
    ("Martin", [("claire.martin", "Claire", "mother")], ["Hugo"]),
    (
        "Silva",
        [("ana.silva", "Ana", "mother"), ("pedro.silva", "Pedro", "father")],
        ["Beatriz", "Tomás"],
    ),
    ("Evans", [("gareth.evans", "Gareth", "father")], ["Megan", "Rhys"]),
    # A coach who is also a parent: one login, two roles (the "View as" switcher).
    ("Becker", [("tom.becker", "Tom", "father")], ["Mila"]),
]
# Children with a login of their own (their guardians act for them too): first name -> (username,
# age).
CHILD_LOGINS = {"Oliver": "oliver"}  # a child with a login of their own (age: FIXED_AGES)

LOGINS = [
    ("player", "an adult player with reservations and a lesson"),
    ("parent", "a parent of three children (Oliver has a login of his own)"),
    ("oliver", "a 14-year-old player with his own login; his mother is `parent`"),
    ("coach", "a coach: dashboard with weeks of history, check-in on My day"),
    ("tom.becker", "a coach who is also a parent (switch with View as)"),
    ("staff", "front-desk staff: today live, recent changes, coaches' dashboards"),
    ("admin", "superuser: everything, and /admin/"),
]


# The waiting list's session: after the day's timetable and the series on Court 2.
WAITLIST_START, WAITLIST_CAPACITY = "19:30", 6


def _at(day: date, hhmm: str, tz) -> datetime:
    hour, minute = map(int, hhmm.split(":"))
    return datetime.combine(day, time(hour, minute), tzinfo=tz)


class Command(BaseCommand):
    help = "Replace the demo academy and the demo users (password 'demo') with fresh demo data."

    def add_arguments(self, parser):
        parser.add_argument(
            "--force",
            action="store_true",
            help="Run even outside demo mode (COURTSIDE_DEMO=1 or DEBUG).",
        )

    def handle(self, *args, force: bool = False, **options):
        # It deletes users called admin, staff, ...: never by accident on a real site.
        if not (force or getattr(settings, "DEMO_MODE", False) or settings.DEBUG):
            raise CommandError("load_demo replaces users; run it with COURTSIDE_DEMO=1 or --force.")
        self.rng = random.Random(SEED)
        self.now = timezone.now()
        with transaction.atomic():
            self.delete_previous()
            self.build()
        self.summary()

    # -- reset -------------------------------------------------------------------------------

    def usernames(self) -> set[str]:
        names = {"staff", "admin"} | {username for username, *_ in COACHES}
        names |= {username for username, *_ in ADULTS if username}
        names |= {username for _, parents, _ in FAMILIES for username, *_ in parents}
        names |= set(CHILD_LOGINS.values())
        return names

    def delete_previous(self) -> None:
        academy = Academy.objects.filter(slug=SLUG).first()
        if academy is not None:
            # The log first, in one statement (nothing refers to it); then lessons and sessions:
            # they PROTECT the coaches, types and courts that deleting the academy cascades to.
            Activity.objects.filter(academy=academy).delete()
            IndividualBooking.objects.filter(academy=academy).delete()
            GroupSession.objects.filter(academy=academy).delete()
            SessionSeries.objects.filter(academy=academy).delete()
            academy.delete()
        User = get_user_model()
        User.objects.filter(
            Q(username__in=self.usernames()) | Q(email__iendswith="@" + EMAIL_DOMAIN)
        ).delete()

    # -- build -------------------------------------------------------------------------------

    def build(self) -> None:
        self.academy = Academy.objects.create(
            name="Courtside Tennis Academy",
            slug=SLUG,
            time_zone="Europe/London",
            cancellation_cutoff_hours=24,
            booking_horizon_days=30,
            min_notice_minutes=60,
            # Inside the 24-hour cut-off a freed spot is offered to the first waiting player
            # for an hour (before it, they are promoted at once).
            late_waitlist=Academy.LateWaitlist.OFFER,
            offer_minutes=60,
        )
        self.tz = self.academy.tz
        self.today = timezone.localdate(self.now, self.tz)
        self.password = make_password(PASSWORD)  # hashed once: hashing is the slow part

        self.admin_user = self.user("admin", "Ada", "Admin", is_staff=True, is_superuser=True)
        self.staff_user = self.user("staff", "Rebecca", "Hall")
        StaffMember.objects.create(academy=self.academy, user=self.staff_user)

        self.coaches = {
            username: Coach.objects.create(
                academy=self.academy,
                user=self.user(username, first, last),
                display_name=f"{first} {last}",
            )
            for username, first, last in COACHES
        }
        self.courts = {
            name: Court.objects.create(academy=self.academy, name=name) for name in COURTS
        }
        self.types = {}
        for name, minutes, capacity, colour, _ in GROUP_TYPES:
            min_age, max_age, min_level = AUDIENCES[name]
            self.types[name] = SessionType.objects.create(
                academy=self.academy,
                name=name,
                kind=SessionType.Kind.GROUP,
                duration_minutes=minutes,
                default_capacity=capacity,
                colour=colour,
                min_age=min_age,
                max_age=max_age,
                min_level=min_level,
            )
        for name, minutes, colour in LESSON_TYPES:
            self.types[name] = SessionType.objects.create(
                academy=self.academy,
                name=name,
                kind=SessionType.Kind.INDIVIDUAL,
                duration_minutes=minutes,
                default_capacity=1,
                colour=colour,
            )

        self.make_availability()
        self.make_time_off()
        self.make_players()
        self.make_series()
        self.make_sessions()
        self.make_reservations()
        self.make_waitlist()
        self.make_lessons()
        history.build(
            academy=self.academy,
            coaches=list(self.coaches.values()),
            demo_coach=self.coaches["coach"],
            staff_user=self.staff_user,
            courts=self.courts,
            types=self.types,
            adults=self.adults,
            children=self.children,
            adult_types=ADULT_TYPES,
            weekday=WEEKDAY_TIMETABLE,
            weekend=WEEKEND_TIMETABLE,
            now=self.now,
            rng=self.rng,
        )
        self.make_announcements()
        # The desk's cancellations and messages above are the demo's history, not news: nobody
        # is emailed about them. What you do as staff or coach is (printed by `send_mail`).
        OutgoingEmail.objects.filter(recipient__email__iendswith="@" + EMAIL_DOMAIN).delete()
        # The parent's calendar address, to paste into a calendar app (shown in the summary).
        _, self.feed_token = calendar_feed_create(user=self.parent_user, scope="family")

    def user(self, username: str, first: str, last: str, **extra):
        return get_user_model().objects.create(
            username=username,
            first_name=first,
            last_name=last,
            email=f"{username}@{EMAIL_DOMAIN}",
            password=self.password,
            **extra,
        )

    def make_availability(self) -> None:
        for username, type_name, weekdays, start, end in AVAILABILITY:
            for weekday in weekdays:
                CoachAvailability.objects.create(
                    coach=self.coaches[username],
                    session_type=self.types[type_name],
                    weekday=weekday,
                    start_time=time.fromisoformat(start),
                    end_time=time.fromisoformat(end),
                )

    def make_time_off(self) -> None:
        away = self.today + timedelta(days=6)
        CoachTimeOff.objects.create(
            coach=self.coaches["elena.petrova"],
            starts_at=_at(away, "00:00", self.tz),
            ends_at=_at(away + timedelta(days=1), "00:00", self.tz),
            reason="Coaching at a tournament",
        )
        dentist = self.today + timedelta(days=3)
        CoachTimeOff.objects.create(
            coach=self.coaches["tom.becker"],
            starts_at=_at(dentist, "12:00", self.tz),
            ends_at=_at(dentist, "15:00", self.tz),
            reason="Dentist",
        )

    def make_players(self) -> None:
        rng = self.rng
        self.adults: list[Player] = []
        for username, first, last in ADULTS:
            user = self.user(username, first, last) if username else None
            age = rng.randint(22, 60)
            self.adults.append(self.player(user, first, last, age, rng.randint(2, 5)))
        self.player_user = self.adults[0].user

        self.children: list[Player] = []
        User = get_user_model()
        for surname, parents, children in FAMILIES:
            parent_users = [
                # A coach who is a parent too keeps the one login.
                (
                    User.objects.filter(username=username).first()
                    or self.user(username, first, surname),
                    relationship,
                )
                for username, first, relationship in parents
            ]
            for first in children:
                age = FIXED_AGES.get((surname, first)) or rng.randint(6, 16)
                login = None
                if first in CHILD_LOGINS:
                    login = self.user(CHILD_LOGINS[first], first, surname)
                child = self.player(login, first, surname, age, rng.randint(1, 4))
                self.children.append(child)
                for parent, relationship in parent_users:
                    GuardianLink.objects.create(
                        guardian=parent, player=child, relationship=relationship
                    )
        self.parent_user = get_user_model().objects.get(username="parent")
        self.parent_children = list(Player.objects.filter(guardians=self.parent_user))

    def player(self, user, first: str, last: str, age: int, level: int) -> Player:
        # A birthday 30 to 330 days ago: the age holds for every session of the demo.
        birth_date = self.today - timedelta(days=age * 365 + self.rng.randint(30, 330))
        return Player.objects.create(
            academy=self.academy,
            user=user,
            first_name=first,
            last_name=last,
            birth_date=birth_date,
            level=level,
        )

    def make_series(self) -> None:
        """The term's weekly series, through the service as the front desk makes them: each
        by the first coach free at every one of its times."""
        self.series_sessions: list[GroupSession] = []
        for title, type_name, weekday, start, court, weeks, skip, notes in SERIES:
            first = self.today + timedelta(days=(weekday - self.today.weekday()) % 7 or 7)
            session_type = self.types[type_name]
            starts_at = _at(first, start, self.tz)
            until = first + timedelta(weeks=weeks - 1)
            skipped = [first + timedelta(weeks=skip)] if skip is not None else []
            for coach in self.coaches.values():
                plan = SessionPlan(
                    session_type=session_type,
                    starts_at=starts_at,
                    ends_at=starts_at + timedelta(minutes=session_type.duration_minutes + 30),
                    capacity=session_type.default_capacity,
                    court=self.courts[court],
                    coaches=[coach],
                    title=title,
                    notes=notes,
                )
                try:
                    series = series_create(
                        academy=self.academy,
                        plan=plan,
                        until=until,
                        skip=skipped,
                        actor=self.staff_user,
                    )
                except BookingError:
                    continue  # this coach is away or teaching at one of its times
                self.series_sessions += list(series.occurrences.all())
                break

    def make_sessions(self) -> None:
        """Two weeks of the timetable, a few slots dropped, each with one or two free coaches."""
        rng = self.rng
        busy: dict[int, list[tuple[datetime, datetime]]] = {
            coach.pk: [
                *coach.time_off.values_list("starts_at", "ends_at"),
                *coach.group_sessions.values_list("starts_at", "ends_at"),  # the series'
            ]
            for coach in self.coaches.values()
        }
        sam = self.coaches["coach"]
        self.sessions: list[GroupSession] = []
        for offset in range(DAYS + 1):
            day = self.today + timedelta(days=offset)
            timetable = WEEKEND_TIMETABLE if day.weekday() >= 5 else WEEKDAY_TIMETABLE
            for start, type_name, court_name in timetable:
                if offset > 0 and rng.random() < 0.15:
                    continue  # not every slot runs every day
                session_type = self.types[type_name]
                starts_at = _at(day, start, self.tz)
                ends_at = starts_at + timedelta(minutes=session_type.duration_minutes)
                candidates = list(self.coaches.values())
                rng.shuffle(candidates)
                if offset == 0:  # the demo coach teaches today
                    candidates.remove(sam)
                    candidates.insert(0, sam)
                free = [
                    coach
                    for coach in candidates
                    if not any(s < ends_at and starts_at < e for s, e in busy[coach.pk])
                ]
                if not free:
                    continue
                wanted = 2 if type_name == "Junior squad" or rng.random() < 0.3 else 1
                capacity = session_type.default_capacity
                session = GroupSession.objects.create(
                    academy=self.academy,
                    session_type=session_type,
                    court=self.courts[court_name],
                    starts_at=starts_at,
                    ends_at=ends_at,
                    capacity=rng.choice([capacity, capacity, capacity - 2]),
                )
                for coach in free[:wanted]:
                    StaffAssignment.objects.create(session=session, coach=coach)
                    busy[coach.pk].append((starts_at, ends_at))
                self.sessions.append(session)
        soon = self.today + timedelta(days=DAYS)
        self.sessions += [
            s for s in self.series_sessions if s.starts_at.astimezone(self.tz).date() <= soon
        ]
        self.sessions.sort(key=lambda s: (s.starts_at, s.pk))

    def eligible(self, player: Player, session: GroupSession) -> bool:
        return (
            session.session_type.refusal(
                first_name=player.first_name,
                birth_date=player.birth_date,
                level=player.level,
                on=session.starts_at.astimezone(self.tz).date(),
            )
            is None
        )

    def make_reservations(self) -> None:
        rng = self.rng
        upcoming = [s for s in self.sessions if s.starts_at > self.now + timedelta(days=1)]

        # The demo logins first, through the service as the desk would book them.
        adult_sessions = [
            s for s in upcoming if s.session_type.name in ADULT_TYPES and s.series_id is None
        ]
        for session in adult_sessions[:: max(len(adult_sessions) // 4, 1)][:4]:
            reservation_create(player=self.adults[0], session=session, actor=self.staff_user)
        junior_sessions = [s for s in upcoming if s.session_type.name not in ADULT_TYPES]
        for index, child in enumerate(self.parent_children):
            theirs = [s for s in junior_sessions if self.eligible(child, s)]
            for session in theirs[index * 3 :: 9][:2]:
                reservation_create(player=child, session=session, actor=self.staff_user)

        # The other few hundred are written directly: the service costs ~15 ms a call, which
        # would make this command take ten seconds. The same rules are checked in memory (capacity,
        # one reservation per player and session, no player in two places at once), and
        # reserved_count is then set from the rows themselves. bulk_create and update() skip
        # the change-capture signals, which is fine here: the academy is new (new ids), so no
        # open page is following it yet.
        existing = SessionReservation.objects.filter(session__academy=self.academy).values_list(
            "session_id", "player_id", "session__starts_at", "session__ends_at"
        )
        taken: set[tuple[int, int]] = set()
        busy: dict[int, list[tuple[datetime, datetime]]] = defaultdict(list)
        counts: dict[int, int] = defaultdict(int)  # per session
        per_player: dict[int, int] = defaultdict(int)
        for session_id, player_id, starts_at, ends_at in existing:
            taken.add((session_id, player_id))
            busy[player_id].append((starts_at, ends_at))
            counts[session_id] += 1
            per_player[player_id] += 1
        rows = []
        for session in self.sessions:
            pool = self.children if session.session_type.name not in ADULT_TYPES else self.adults
            pool = list(pool)
            rng.shuffle(pool)
            target = session.capacity if rng.random() < 0.2 else rng.randint(2, session.capacity)
            for player in pool:
                if counts[session.pk] >= target:
                    break
                clash = any(
                    s < session.ends_at and session.starts_at < e for s, e in busy[player.pk]
                )
                too_many = per_player[player.pk] >= MAX_PER_PLAYER
                if clash or too_many or (session.pk, player.pk) in taken:
                    continue
                if not self.eligible(player, session):
                    continue
                rows.append(
                    SessionReservation(session=session, player=player, reserved_by=self.staff_user)
                )
                taken.add((session.pk, player.pk))
                busy[player.pk].append((session.starts_at, session.ends_at))
                counts[session.pk] += 1
                per_player[player.pk] += 1
        SessionReservation.objects.bulk_create(rows)
        active = SessionReservation.objects.filter(
            session=OuterRef("pk"), status=SessionReservation.Status.RESERVED
        )
        GroupSession.objects.filter(academy=self.academy).update(
            reserved_count=Coalesce(
                Subquery(active.values("session").annotate(n=Count("pk")).values("n")), 0
            )
        )

        # A little history: a few cancelled reservations and one cancelled session.
        later = SessionReservation.objects.filter(
            session__academy=self.academy, session__starts_at__gt=self.now
        ).exclude(player__in=[self.adults[0], *self.parent_children])
        for reservation in rng.sample(list(later.order_by("pk")), 5):
            reservation_cancel(reservation=reservation, actor=self.staff_user)
        # One session is called off with people booked (none of them the demo logins).
        cancellable = (
            GroupSession.objects.filter(
                pk__in=[s.pk for s in upcoming], reserved_count__gt=0, court__isnull=False
            )
            .exclude(reservations__player__in=[self.adults[0], *self.parent_children])
            .order_by("starts_at")
        )
        group_session_cancel(session=rng.choice(list(cancellable)), actor=self.staff_user)

    def make_waitlist(self) -> None:
        """A full Junior squad session three to six days ahead with a waiting list: one of the
        demo parent's children first in line, another child second. Cancel a reservation in it
        (as staff, or as a family before the cut-off) and the first is promoted live. It runs
        at an hour the timetable leaves free (after it, on Court 2), so that whatever the day and
        hour the demo is loaded, the parent's children are free to wait for it."""
        kind = self.types["Junior squad"]
        for offset in range(3, 7):
            starts_at = _at(self.today + timedelta(days=offset), WAITLIST_START, self.tz)
            plan = SessionPlan(
                session_type=kind,
                starts_at=starts_at,
                ends_at=starts_at + timedelta(minutes=kind.duration_minutes),
                capacity=WAITLIST_CAPACITY,
                court=self.courts["Court 2"],
            )
            session = None
            for coach in self.coaches.values():
                with contextlib.suppress(BookingError):
                    session = group_session_create(
                        academy=self.academy,
                        plan=replace(plan, coaches=[coach]),
                        actor=self.staff_user,
                    )
                    break
            if session is None:
                continue
            first_in_line = [c for c in self.parent_children if self.eligible(c, session)]
            others = [
                c
                for c in self.children
                if c not in self.parent_children and self.eligible(c, session)
            ]
            self.rng.shuffle(others)
            for child in others:  # fill it, as the front desk would
                if session.is_full:
                    break
                with contextlib.suppress(BookingError):
                    session = reservation_create(
                        player=child, session=session, actor=self.staff_user
                    ).session
            waiting = []
            for child, actor in [
                *((c, self.parent_user) for c in first_in_line),
                *((c, self.staff_user) for c in others),
            ]:
                with contextlib.suppress(BookingError):
                    waiting.append(waitlist_join(player=child, session=session, actor=actor))
                if len(waiting) == 2:
                    break
            if session.is_full and waiting and waiting[0].player in self.parent_children:
                self.waitlisted = session
                return
        raise CommandError("The demo could not make its waiting list.")

    def make_lessons(self) -> None:
        """A handful of private lessons on free slots, as the front desk would book them."""
        rng = self.rng
        lesson_players = [self.adults[0], self.parent_children[0]]
        lesson_players += rng.sample([*self.adults[1:], *self.children], 6)
        windows = list(
            CoachAvailability.objects.filter(coach__academy=self.academy).select_related(
                "coach__academy", "session_type"
            )
        )
        for player in lesson_players:
            for _ in range(20):  # a few tries to find a free slot the player can take
                window = rng.choice(windows)
                days_ahead = rng.randint(1, DAYS)
                day = self.today + timedelta(days=days_ahead)
                day += timedelta(days=(window.weekday - day.weekday()) % 7)
                free = [
                    slot
                    for slot in lesson_slots(
                        window.coach,
                        window.session_type,
                        day,
                        now=self.now,
                        enforce_notice=False,
                    )
                    if slot.is_free
                ]
                if not free:
                    continue
                try:
                    individual_booking_create(
                        player=player,
                        coach=window.coach,
                        session_type=window.session_type,
                        starts_at=rng.choice(free).starts_at,
                        court=self.courts["Court 4"] if rng.random() < 0.7 else None,
                        actor=self.staff_user,
                    )
                except BookingError:
                    continue
                break

    # -- report ------------------------------------------------------------------------------

    def make_announcements(self) -> None:
        """A message from the front desk to everyone, one from the demo coach to the people of
        their next session (through the service, so every inbox gets its copy); the parent has
        read the first."""
        announcement_send(
            actor=self.staff_user,
            academy=self.academy,
            text="The car park is resurfaced this week: please use the side entrance.",
            now=self.now,
        )
        nxt = (
            GroupSession.objects.filter(
                assignments__coach=self.coaches["coach"],
                starts_at__gt=self.now,
                reserved_count__gt=0,
                status=GroupSession.Status.SCHEDULED,
            )
            .order_by("starts_at")
            .first()
        )
        if nxt is not None:
            announcement_send(
                actor=self.coaches["coach"].user,
                academy=self.academy,
                text="Bring a water bottle and a spare racquet if you have one. See you there!",
                session=nxt,
                now=self.now,
            )
        parent = get_user_model().objects.get(username="parent")
        InboxItem.objects.filter(user=parent, announcement__sender=self.staff_user).update(
            read_at=self.now
        )

    def summary(self) -> None:
        a = self.academy
        sessions = GroupSession.objects.filter(academy=a)
        reservations = SessionReservation.objects.filter(session__academy=a)
        coach = self.coaches["coach"]
        day_start, day_end = day_bounds(self.today, self.tz)
        today_sessions = sessions.filter(
            assignments__coach=coach, starts_at__gte=day_start, starts_at__lt=day_end
        )
        waiting = getattr(self, "waitlisted", None)
        lines = [
            f"Loaded {a.name} ({a.time_zone}), slug {a.slug}:",
            f"  {a.coaches.count()} coaches, {a.courts.count()} courts, "
            f"{a.session_types.count()} session types",
            f"  {sessions.count()} group sessions ({sessions.filter(status='cancelled').count()} "
            f"cancelled), {today_sessions.count()} for the demo coach today",
            f"  {a.players.count()} players ({a.players.filter(user__isnull=False).count()} with "
            f"logins), {GuardianLink.objects.filter(player__academy=a).count()} guardian links",
            f"  {reservations.filter(status='reserved').count()} reservations "
            f"({reservations.filter(status='cancelled').count()} cancelled), "
            f"{IndividualBooking.objects.filter(academy=a).count()} private lessons",
            f"  {Attendance.objects.filter(player__academy=a).count()} check-ins over "
            f"{history.HISTORY_DAYS // 7} weeks, "
            f"{Feedback.objects.filter(attendance__player__academy=a).count()} ratings, "
            f"{Goal.objects.filter(academy=a).count()} goals, "
            f"{Activity.objects.filter(academy=a).count()} lines of recent changes",
            f"  {a.series.count()} weekly series; "
            + (
                f"a waiting list on {waiting.display_title} "
                f"{waiting.starts_at.astimezone(self.tz):%a %-d %b %H:%M}"
                if waiting
                else "no waiting list"
            ),
            f"Logins (password '{PASSWORD}'):",
            *(f"  {username:<10} {what}" for username, what in LOGINS),
            "The parent's calendar address (or make one on the account page):",
            f"  {settings.SITE_URL}{reverse('calendar_feed', args=[self.feed_token])}",
        ]
        self.stdout.write("\n".join(lines))
