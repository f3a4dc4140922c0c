"""The demo's past (load_demo): six weeks of group sessions with attendance marks, ratings and
comments, a few private lessons, today's finished sessions checked in, the activity log of all
that, and goals in progress, so every panel of the coach's dashboard and the front desk's
recent changes have something to show.

Written in bulk (a few thousand rows; through the services it would take a minute): the same
rules hold as the services keep them (reserved_count equals the reservations, capacity holds,
nobody is in two places at once, marks only on active reservations, ratings only by the family
of someone who attended), which tests/test_demo_data.py checks.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Iterable
from datetime import date, datetime, time, timedelta
from typing import Any

from django.utils import timezone

from bookings.models import (
    Activity,
    Attendance,
    Feedback,
    GuardianLink,
    IndividualBooking,
    Player,
    SessionReservation,
)
from bookings.services import GoalPlan, goal_create
from scheduling.models import Academy, Coach, Court, GroupSession, SessionType, StaffAssignment

HISTORY_DAYS = 42
Timetable = list[tuple[str, str, str]]  # (start, group type, court)

MARKS = [("present", 85), ("late", 8), ("absent", 7)]
RATINGS = [(5, 46), (4, 34), (3, 12), (2, 5), (1, 3)]
COMMENTS = [
    "Great energy today, the drills were just right.",
    "Loved the serve practice: finally getting the toss right!",
    "A bit crowded on court, but the coach kept everyone busy.",
    "Really clear explanations of the backhand grip.",
    "My daughter came home beaming. Thank you!",
    "Would like more match play at the end.",
    "Fun session, good mix of levels.",
    "Started ten minutes late.",
    "The footwork ladder was hard work but worth it.",
    "Best session this term.",
    "Nice feedback on my volleys, very specific.",
    "Too much waiting in line for the ball machine.",
    "Brilliant with the little ones.",
]
GOALS = [
    ("Second serve in: 7 out of 10", 60, 21),
    ("Backhand cross-court rally of 10", 40, 35),
    ("Split step on every return", 80, 14),
    ("Play a first junior tournament", 25, 56),
    ("Volleys: close the net after the approach", 10, 42),
    ("Serve toss: same height every time", 100, -3),
]


def _pick(rng: random.Random, weights: list[tuple[Any, int]]) -> Any:
    return rng.choices([v for v, _ in weights], weights=[w for _, w in weights])[0]


def _free(busy: list[tuple[datetime, datetime]], start: datetime, end: datetime) -> bool:
    return not any(s < end and start < e for s, e in busy)


def build(
    *,
    academy: Academy,
    coaches: list[Coach],
    demo_coach: Coach,
    staff_user: Any,
    courts: dict[str, Court],
    types: dict[str, SessionType],
    adults: list[Player],
    children: list[Player],
    adult_types: set[str],
    weekday: Timetable,
    weekend: Timetable,
    now: datetime,
    rng: random.Random,
) -> None:
    history = History(academy, coaches, demo_coach, staff_user, now, rng)
    sessions = history.sessions(courts, types, weekday, weekend)
    reservations = history.reservations(sessions, adults, children, adult_types)
    history.check_in(reservations, history.lessons(courts["Court 4"], types, adults))
    history.goals(adults, children)


class History:
    def __init__(
        self,
        academy: Academy,
        coaches: list[Coach],
        demo_coach: Coach,
        staff_user: Any,
        now: datetime,
        rng: random.Random,
    ) -> None:
        self.academy, self.coaches, self.sam = academy, coaches, demo_coach
        self.staff, self.now, self.rng = staff_user, now, rng
        self.tz = academy.tz
        self.today = timezone.localdate(now, self.tz)
        self.activity: list[Activity] = []
        self.family: dict[int, list[int]] = defaultdict(list)  # player -> users acting for them
        for link in GuardianLink.objects.filter(player__academy=academy):
            self.family[link.player_id].append(link.guardian_id)
        own = Player.objects.filter(academy=academy, user__isnull=False)
        for player_id, user_id in own.values_list("pk", "user_id"):
            self.family[player_id].insert(0, user_id)

    def at(self, day: date, hhmm: str) -> datetime:
        return datetime.combine(day, time.fromisoformat(hhmm), tzinfo=self.tz)

    def log(self, verb: str, at: datetime, actor: int | None, player: int, **where: Any) -> None:
        if at <= self.now:
            self.activity.append(
                Activity(
                    academy=self.academy,
                    verb=verb,
                    at=at,
                    actor_id=actor,
                    player_id=player,
                    **where,
                )
            )

    # -- sessions, reservations, lessons -------------------------------------------------------

    def sessions(
        self,
        courts: dict[str, Court],
        types: dict[str, SessionType],
        weekday: Timetable,
        weekend: Timetable,
    ) -> list[tuple[GroupSession, list[Coach]]]:
        """The timetable on each of the last HISTORY_DAYS days, the demo coach on about half."""
        rng = self.rng
        busy: dict[int, list[tuple[datetime, datetime]]] = defaultdict(list)
        planned: list[tuple[GroupSession, list[Coach]]] = []
        for back in range(HISTORY_DAYS, 0, -1):
            day = self.today - timedelta(days=back)
            for start, type_name, court_name in weekend if day.weekday() >= 5 else weekday:
                if rng.random() < 0.15:
                    continue
                kind = types[type_name]
                starts_at = self.at(day, start)
                ends_at = starts_at + timedelta(minutes=kind.duration_minutes)
                others = [c for c in self.coaches if c != self.sam]
                rng.shuffle(others)
                candidates = [self.sam, *others] if rng.random() < 0.55 else [*others, self.sam]
                free = [c for c in candidates if _free(busy[c.pk], starts_at, ends_at)]
                chosen = free[: 2 if type_name == "Junior squad" else 1]
                for coach in chosen:
                    busy[coach.pk].append((starts_at, ends_at))
                session = GroupSession(
                    academy=self.academy,
                    session_type=kind,
                    court=courts[court_name],
                    starts_at=starts_at,
                    ends_at=ends_at,
                    capacity=kind.default_capacity,
                )
                planned.append((session, chosen))
        GroupSession.objects.bulk_create([s for s, _ in planned])
        StaffAssignment.objects.bulk_create(
            StaffAssignment(session=s, coach=c) for s, chosen in planned for c in chosen
        )
        self.coach_users = {
            s.pk: [c.user_id for c in chosen] or [self.staff.pk] for s, chosen in planned
        }
        return planned

    def reservations(
        self,
        planned: list[tuple[GroupSession, list[Coach]]],
        adults: list[Player],
        children: list[Player],
        adult_types: set[str],
    ) -> list[SessionReservation]:
        """Each past session half to completely full, a few cancellations along the way."""
        rng = self.rng
        busy: dict[int, list[tuple[datetime, datetime]]] = defaultdict(list)
        rows: list[SessionReservation] = []
        for session, _ in planned:
            kind = session.session_type
            day = session.starts_at.astimezone(self.academy.tz).date()
            pool = [
                p
                for p in (adults if kind.name in adult_types else children)
                if kind.refusal(
                    first_name=p.first_name, birth_date=p.birth_date, level=p.level, on=day
                )
                is None  # the session type's audience, as a booking would check it
            ]
            rng.shuffle(pool)
            wanted = rng.randint(session.capacity // 2, session.capacity)
            for player in pool:
                if session.reserved_count >= wanted:
                    break
                if not _free(busy[player.pk], session.starts_at, session.ends_at):
                    continue
                busy[player.pk].append((session.starts_at, session.ends_at))
                booked_at = session.starts_at - timedelta(days=rng.randint(1, 9), hours=3)
                by = rng.choice(self.family.get(player.pk) or [self.staff.pk])
                cancelled = rng.random() < 0.05
                rows.append(
                    SessionReservation(
                        session=session,
                        player=player,
                        reserved_by_id=by,
                        status="cancelled" if cancelled else "reserved",
                        cancelled_by_id=by if cancelled else None,
                        cancelled_at=booked_at + timedelta(days=1) if cancelled else None,
                    )
                )
                self.log("booked", booked_at, by, player.pk, session=session)
                if cancelled:
                    self.log(
                        "cancelled", booked_at + timedelta(days=1), by, player.pk, session=session
                    )
                else:
                    session.reserved_count += 1
        GroupSession.objects.bulk_update([s for s, _ in planned], ["reserved_count"])
        SessionReservation.objects.bulk_create(rows, batch_size=2000)
        return [r for r in rows if r.status == "reserved"]

    def lessons(
        self, court: Court, types: dict[str, SessionType], adults: list[Player]
    ) -> list[IndividualBooking]:
        """A private lesson of the demo coach's most weekdays of the last two weeks, at noon (his
        lesson hours; no group session of anyone's then)."""
        kind = types["Private lesson 60 min"]
        rows = []
        for back in range(14, 0, -1):
            day = self.today - timedelta(days=back)
            if day.weekday() >= 5 or self.rng.random() < 0.3:
                continue
            starts_at = self.at(day, "12:00")
            player = adults[back % len(adults)]
            by = (self.family.get(player.pk) or [self.staff.pk])[0]
            rows.append(
                IndividualBooking(
                    academy=self.academy,
                    coach=self.sam,
                    player=player,
                    session_type=kind,
                    court=court,
                    starts_at=starts_at,
                    ends_at=starts_at + timedelta(minutes=kind.duration_minutes),
                    booked_by_id=by,
                )
            )
        IndividualBooking.objects.bulk_create(rows)
        for lesson in rows:
            self.log(
                "booked",
                lesson.starts_at - timedelta(days=3),
                lesson.booked_by_id,
                lesson.player_id,
                lesson=lesson,
            )
        return rows

    # -- marks and ratings --------------------------------------------------------------------

    def check_in(
        self, reservations: list[SessionReservation], lessons: list[IndividualBooking]
    ) -> None:
        """Marks for the past's reservations and lessons and today's finished sessions,
        ratings of some, and the log of all that."""
        # Today's sessions that are over are checked in too; the rest of today is the demo's.
        today_done = GroupSession.objects.filter(
            academy=self.academy,
            status=GroupSession.Status.SCHEDULED,
            starts_at__gte=self.at(self.today, "00:00"),
            ends_at__lte=self.now,
        )
        reservations = reservations + list(
            SessionReservation.objects.filter(
                session__in=today_done, status=SessionReservation.Status.RESERVED
            ).select_related("session")
        )
        rng = self.rng
        marks: list[Attendance] = []
        coach_users = dict(self.coach_users)
        for session_id, user_id in StaffAssignment.objects.filter(
            session__academy=self.academy, session__starts_at__gte=self.at(self.today, "00:00")
        ).values_list("session_id", "coach__user_id"):
            coach_users.setdefault(session_id, [user_id])
        for r in reservations:
            marker = rng.choice(coach_users.get(r.session_id) or [self.staff.pk])
            marks.append(
                self._mark(
                    r.session.starts_at, r.player_id, marker, reservation=r, session_id=r.session_id
                )
            )
        for lesson in lessons:
            marks.append(
                self._mark(lesson.starts_at, lesson.player_id, self.sam.user_id, lesson=lesson)
            )
        Attendance.objects.bulk_create(marks, batch_size=2000)

        ratings: list[Feedback] = []
        when: dict[int, datetime] = {}
        held_rows: list[SessionReservation | IndividualBooking] = [*reservations, *lessons]
        for mark, held in zip(marks, held_rows, strict=True):
            family = self.family.get(mark.player_id)
            if mark.status == "absent" or not family or rng.random() > 0.4:
                continue
            ends_at = held.session.ends_at if isinstance(held, SessionReservation) else held.ends_at
            rated_at = ends_at + timedelta(hours=rng.randint(1, 60))
            if rated_at > self.now:
                continue
            author = rng.choice(family)
            comment = rng.choice(COMMENTS) if rng.random() < 0.35 else ""
            feedback = Feedback(
                attendance=mark, rating=_pick(rng, RATINGS), comment=comment, author_id=author
            )
            ratings.append(feedback)
            when[id(feedback)] = rated_at
            self.log(
                "rated",
                rated_at,
                author,
                mark.player_id,
                session_id=mark.session_id,
                lesson=mark.lesson,
                detail=str(feedback.rating),
            )
        Feedback.objects.bulk_create(ratings, batch_size=2000)
        # created_at and updated_at are set on save: put them back to when each was given.
        _backdate(Feedback, {f.pk: when[id(f)] for f in ratings}, ["created_at", "updated_at"])
        Activity.objects.bulk_create(self.activity, batch_size=2000)

    def _mark(self, starts_at: datetime, player_id: int, marker: int, **of: Any) -> Attendance:
        status = _pick(self.rng, MARKS)
        marked_at = starts_at + timedelta(
            minutes=self.rng.randint(-8, 12 if status == "late" else 3)
        )
        where = {k: v for k, v in of.items() if k in ("session_id", "lesson")}
        self.log(status, marked_at, marker, player_id, **where)
        return Attendance(
            player_id=player_id, status=status, marked_by_id=marker, marked_at=marked_at, **of
        )

    # -- goals --------------------------------------------------------------------------------

    def goals(self, adults: list[Player], children: list[Player]) -> None:
        """Goals of the demo coach's for the players they saw most (and for Oliver, whose family
        logs in), through the service, as the front desk would set them."""
        counts: dict[int, int] = defaultdict(int)
        for player_id in SessionReservation.objects.filter(
            session__assignments__coach=self.sam, status="reserved"
        ).values_list("player_id", flat=True):
            counts[player_id] += 1
        regulars = sorted(counts, key=lambda pid: (-counts[pid], pid))[: len(GOALS) - 1]
        oliver = next((c for c in children if c.first_name == "Oliver"), None)
        players = {p.pk: p for p in [*adults, *children]}
        chosen = [players[pid] for pid in regulars if pid in players]
        if oliver is not None and oliver not in chosen:
            chosen.insert(0, oliver)
        for player, (title, progress, days) in zip(chosen, GOALS, strict=False):
            goal_create(
                actor=self.staff,
                coach=self.sam,
                player=player,
                plan=GoalPlan(
                    title=title,
                    target_date=self.today + timedelta(days=days),
                    progress=progress,
                    notes="Agreed at the last session." if progress < 100 else "Done: well played.",
                ),
            )


def _backdate(model: Any, moments: dict[int, datetime], fields: Iterable[str]) -> None:
    """Set these timestamp fields (auto_now on save) per row: rows of one hour share an
    UPDATE."""
    by_hour: dict[datetime, list[int]] = defaultdict(list)
    for pk, moment in moments.items():
        by_hour[moment.replace(minute=0, second=0, microsecond=0)].append(pk)
    for hour, ids in by_hour.items():
        model.objects.filter(pk__in=ids).update(**dict.fromkeys(fields, hour))
