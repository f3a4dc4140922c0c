"""Plain factory functions for tests: small, explicit, no magic."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, time, timedelta
from types import SimpleNamespace

from django.contrib.auth import get_user_model
from django.utils import timezone

from bookings.models import GuardianLink, IndividualBooking, Player, SessionReservation
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
_seq = itertools.count(1)


def make_user(username: str | None = None, **extra):
    username = username or f"user{next(_seq)}"
    return User.objects.create_user(username=username, password="pw", **extra)


def make_academy(name: str = "Academy", tz: str = "Europe/London", **extra) -> Academy:
    n = next(_seq)
    return Academy.objects.create(name=f"{name} {n}", slug=f"academy-{n}", time_zone=tz, **extra)


def make_coach(academy: Academy, user=None, name: str = "Coach") -> Coach:
    user = user or make_user()
    return Coach.objects.create(academy=academy, user=user, display_name=f"{name} {user.pk}")


def make_player(academy: Academy, user=None, first: str = "Pat", guardians=()) -> Player:
    player = Player.objects.create(
        academy=academy, user=user, first_name=first, last_name=f"P{next(_seq)}"
    )
    for guardian in guardians:
        GuardianLink.objects.create(guardian=guardian, player=player)
    return player


def make_group_type(academy: Academy, **extra) -> SessionType:
    return SessionType.objects.create(
        academy=academy, name=f"Group {next(_seq)}", kind=SessionType.Kind.GROUP, **extra
    )


def make_individual_type(academy: Academy, minutes: int = 60) -> SessionType:
    return SessionType.objects.create(
        academy=academy,
        name=f"Lesson {next(_seq)}",
        kind=SessionType.Kind.INDIVIDUAL,
        duration_minutes=minutes,
        default_capacity=1,
    )


def local(academy: Academy, day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=academy.tz)


def days_ahead(n: int) -> date:
    return timezone.localdate() + timedelta(days=n)


def make_session(
    academy: Academy,
    *,
    coaches=(),
    session_type: SessionType | None = None,
    starts_at: datetime | None = None,
    minutes: int = 60,
    capacity: int = 4,
    court: Court | None = None,
) -> GroupSession:
    session_type = session_type or make_group_type(academy)
    starts_at = starts_at or local(academy, days_ahead(3), 10)
    session = GroupSession.objects.create(
        academy=academy,
        session_type=session_type,
        court=court,
        starts_at=starts_at,
        ends_at=starts_at.astimezone(UTC) + timedelta(minutes=minutes),  # real minutes, across DST
        capacity=capacity,
    )
    for coach in coaches:
        StaffAssignment.objects.create(session=session, coach=coach)
    return session


def open_all_week(coach: Coach, session_type: SessionType, start: int = 8, end: int = 20) -> None:
    for weekday in range(7):
        CoachAvailability.objects.create(
            coach=coach,
            session_type=session_type,
            weekday=weekday,
            start_time=time(start),
            end_time=time(end),
        )


def build_world() -> SimpleNamespace:
    """Academy A with one user per role (and a second family), academy B with its own users."""
    w = SimpleNamespace()
    w.academy = make_academy("North", cancellation_cutoff_hours=24, min_notice_minutes=60)
    w.other_academy = make_academy("South")

    w.player_user = make_user("player")
    w.player = make_player(w.academy, user=w.player_user, first="Mia")
    w.parent_user = make_user("parent")
    w.child = make_player(w.academy, first="Leo", guardians=[w.parent_user])  # no login
    w.child2 = make_player(w.academy, first="Ada", guardians=[w.parent_user])
    w.other_parent_user = make_user("other_parent")
    w.other_child = make_player(w.academy, first="Kai", guardians=[w.other_parent_user])
    w.coach_user = make_user("coach")
    w.coach = make_coach(w.academy, w.coach_user)
    w.coach2_user = make_user("coach2")
    w.coach2 = make_coach(w.academy, w.coach2_user)
    w.staff_user = make_user("staff")
    StaffMember.objects.create(academy=w.academy, user=w.staff_user)
    w.admin_user = User.objects.create_superuser("admin", "admin@example.com", "pw")

    w.foreign_staff_user = make_user("foreign_staff")
    StaffMember.objects.create(academy=w.other_academy, user=w.foreign_staff_user)
    w.foreign_coach_user = make_user("foreign_coach")
    w.foreign_coach = make_coach(w.other_academy, w.foreign_coach_user)
    w.foreign_player_user = make_user("foreign_player")
    w.foreign_player = make_player(w.other_academy, user=w.foreign_player_user)
    w.foreign_parent_user = make_user("foreign_parent")
    w.foreign_child = make_player(w.other_academy, guardians=[w.foreign_parent_user])

    w.group_type = make_group_type(w.academy)
    w.lesson_type = make_individual_type(w.academy)
    w.court = Court.objects.create(academy=w.academy, name="Court 1")
    w.session = make_session(w.academy, coaches=[w.coach], session_type=w.group_type, capacity=4)
    w.session2 = make_session(
        w.academy,
        coaches=[w.coach2],
        session_type=w.group_type,
        starts_at=local(w.academy, days_ahead(4), 10),
    )
    open_all_week(w.coach, w.lesson_type)
    open_all_week(w.coach2, w.lesson_type)
    w.foreign_session = make_session(w.other_academy, coaches=[w.foreign_coach])
    return w


def reserve(session: GroupSession, player: Player, by=None) -> SessionReservation:
    """A reservation row written directly (set-up only; tests of behaviour use the services)."""
    session.reserved_count += 1
    session.save(update_fields=["reserved_count"])
    return SessionReservation.objects.create(session=session, player=player, reserved_by=by)


def book(coach: Coach, player: Player, session_type: SessionType, starts_at: datetime, by=None):
    return IndividualBooking.objects.create(
        academy=coach.academy,
        coach=coach,
        player=player,
        session_type=session_type,
        starts_at=starts_at,
        ends_at=starts_at.astimezone(UTC) + timedelta(minutes=session_type.duration_minutes),
        booked_by=by,
    )


def give_emails(*users) -> None:
    """An address for each (the factories make users without one, so they get no email)."""
    for user in users:
        user.email = f"{user.username}@example.test"
        user.save(update_fields=["email"])
