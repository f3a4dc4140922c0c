"""`manage.py load_demo`: idempotent, consistent demo data with the five demo logins."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.contrib.auth import authenticate, get_user_model
from django.core.management import CommandError, call_command
from django.db.models import Count, F, Q
from django.test import RequestFactory
from django.utils import timezone

from bookings import dashboards
from bookings.access import Principal, Role
from bookings.management.commands.load_demo import SLUG
from bookings.models import (
    Activity,
    Attendance,
    Feedback,
    Goal,
    IndividualBooking,
    Player,
    SessionReservation,
)
from scheduling.models import Academy, GroupSession
from scheduling.slots import day_bounds
from tests.factories import make_academy, make_player, make_user

pytestmark = pytest.mark.django_db

LOGINS = ["player", "parent", "coach", "staff", "admin", "oliver", "tom.becker"]


def load() -> str:
    out = StringIO()
    call_command("load_demo", "--force", stdout=out)
    return out.getvalue()


def snapshot() -> dict:
    academy = Academy.objects.get(slug=SLUG)
    return {
        "sessions": list(
            GroupSession.objects.filter(academy=academy).values_list(
                "starts_at", "session_type__name", "court__name", "capacity", "reserved_count"
            )
        ),
        "players": sorted(Player.objects.filter(academy=academy).values_list("first_name")),
        "lessons": list(
            IndividualBooking.objects.filter(academy=academy).values_list(
                "starts_at", "coach__display_name", "player__first_name"
            )
        ),
    }


@pytest.fixture
def demo():
    out = load()
    return Academy.objects.get(slug=SLUG), out


def test_refuses_outside_demo_mode(settings):
    settings.DEMO_MODE = False
    settings.DEBUG = False
    with pytest.raises(CommandError, match="COURTSIDE_DEMO"):
        call_command("load_demo", stdout=StringIO())
    assert not Academy.objects.filter(slug=SLUG).exists()


def test_runs_twice_and_the_second_run_replaces_the_first(demo):
    academy, _ = demo
    first = snapshot()
    users = get_user_model().objects.count()

    out = load()

    assert Academy.objects.filter(slug=SLUG).count() == 1
    assert not Academy.objects.filter(pk=academy.pk).exists()  # deleted and made again
    assert snapshot() == first  # the same seed, the same data
    assert get_user_model().objects.count() == users
    assert "Logins (password 'demo')" in out


def test_every_reserved_count_matches_its_reservations(demo):
    academy, _ = demo
    sessions = GroupSession.objects.filter(academy=academy).annotate(
        active=Count("reservations", filter=Q(reservations__status="reserved"))
    )
    assert sessions.count() >= 40
    assert all(s.reserved_count == s.active for s in sessions)
    assert all(s.reserved_count <= s.capacity for s in sessions)
    assert SessionReservation.objects.filter(session__academy=academy, status="reserved").count()
    cancelled = sessions.filter(status="cancelled")
    assert cancelled.count() == 1 and cancelled.get().reserved_count == 0


def test_no_court_player_or_coach_is_in_two_places_at_once(demo):
    academy, _ = demo
    scheduled = list(
        GroupSession.objects.filter(academy=academy, status="scheduled").prefetch_related("coaches")
    )

    def overlap(a, b):
        return a.starts_at < b.ends_at and b.starts_at < a.ends_at

    for i, a in enumerate(scheduled):
        for b in scheduled[i + 1 :]:
            if overlap(a, b):
                assert a.court_id != b.court_id
                assert not set(a.coaches.all()) & set(b.coaches.all())
    by_player: dict[int, list] = {}
    for r in SessionReservation.objects.filter(
        session__academy=academy, status="reserved", session__status="scheduled"
    ).select_related("session"):
        by_player.setdefault(r.player_id, []).append(r.session)
    for sessions in by_player.values():
        for i, a in enumerate(sessions):
            assert not any(overlap(a, b) for b in sessions[i + 1 :])


def test_the_academy_and_its_people(demo):
    academy, out = demo
    assert (academy.name, academy.time_zone) == ("Courtside Tennis Academy", "Europe/London")
    assert (academy.cancellation_cutoff_hours, academy.booking_horizon_days) == (24, 30)
    assert academy.min_notice_minutes == 60
    assert 4 <= academy.coaches.count() <= 5
    assert academy.courts.count() == 4
    assert academy.players.count() >= 30
    assert academy.players.filter(user__isnull=True).count() >= 20  # children without logins
    kinds = set(academy.session_types.values_list("kind", flat=True))
    assert kinds == {"group", "individual"}
    lessons = IndividualBooking.objects.filter(academy=academy, status="booked")
    assert lessons.count() >= 4
    assert academy.coaches.filter(time_off__isnull=False).distinct().count() >= 2
    # Some children have two guardians.
    two = academy.players.annotate(n=Count("guardian_links")).filter(n=2)
    assert two.count() >= 3
    assert "players" in out


def test_the_five_logins(demo):
    academy, _ = demo
    login = RequestFactory().post("/login/")  # the login throttle (axes) needs the request
    users = {name: authenticate(login, username=name, password="demo") for name in LOGINS}
    assert all(users.values()), users

    roles = {name: Principal.load(user).roles(academy.pk) for name, user in users.items()}
    assert roles["player"] == [Role.PLAYER]
    assert roles["parent"] == [Role.PARENT]
    assert roles["coach"] == [Role.COACH]
    assert roles["staff"] == [Role.STAFF]
    assert roles["oliver"] == [Role.PLAYER]
    assert roles["tom.becker"] == [Role.PARENT, Role.COACH]  # two roles, one login
    assert Role.ADMIN in roles["admin"]
    assert users["admin"].is_staff and users["admin"].is_superuser
    assert not any(users[name].is_staff for name in LOGINS if name != "admin")

    player = Player.objects.get(user=users["player"])
    assert player.reservations.filter(status="reserved").exists()
    assert player.individual_bookings.exists()

    children = Player.objects.filter(guardians=users["parent"])
    assert 1 <= children.count() <= 3
    assert SessionReservation.objects.filter(player__in=children, status="reserved").exists()

    coach = academy.coaches.get(user=users["coach"])
    assert coach.group_sessions.exists()

    # A child with a login of their own and a guardian who acts for them too.
    oliver = Player.objects.get(user=users["oliver"])
    assert oliver in children and oliver.birth_date.year > timezone.now().year - 18
    assert Principal.load(users["parent"]).acts_for(oliver.pk)
    # The coach who is a parent: a child of their own in the academy, and sessions to teach.
    becker = Principal.load(users["tom.becker"])
    assert becker.child_academy_by_id and becker.coach_ids_in(academy.pk)
    assert academy.coaches.get(user=users["tom.becker"]).group_sessions.exists()


def test_weeks_of_history_for_the_dashboard_and_the_desk(demo):
    """Attendance over weeks, ratings with comments, goals in progress, the activity log: every
    panel of the coach's dashboard has something to show, and the history keeps the rules."""
    academy, out = demo
    coach = academy.coaches.get(user__username="coach")
    marks = Attendance.objects.filter(player__academy=academy)
    today = timezone.localdate(timezone=academy.tz)
    days = {
        timezone.localtime(at, academy.tz).date()
        for at in marks.values_list("marked_at", flat=True)
    }
    assert min(days) <= today - timedelta(weeks=5) and today - timedelta(days=1) in days
    assert set(marks.values_list("status", flat=True)) == {"present", "late", "absent"}
    # Marks only on active reservations, of the player booked, in the past.
    assert not marks.filter(reservation__status="cancelled").exists()
    assert (
        not marks.exclude(lesson__isnull=False)
        .exclude(player_id=F("reservation__player_id"))
        .exists()
    )
    assert not marks.filter(marked_at__gt=timezone.now() + timedelta(minutes=15)).exists()
    assert marks.filter(lesson__coach=coach).exists()
    # Ratings: only of someone who was there, by their family; some with comments.
    ratings = Feedback.objects.filter(attendance__player__academy=academy)
    assert ratings.count() >= 100 and ratings.exclude(comment="").count() >= 20
    assert not ratings.filter(attendance__status="absent").exists()
    for f in ratings.select_related("attendance"):
        assert Principal.load(f.author).acts_for(f.attendance.player_id)
    assert ratings.filter(updated_at__gte=timezone.now() - timedelta(days=30)).count() >= 20
    # Goals in progress (and one done), for players of the demo coach's, Oliver among them.
    goals = Goal.objects.filter(academy=academy, coach=coach)
    assert goals.count() >= 5 and goals.filter(progress__lt=100, progress__gt=0).count() >= 4
    assert (
        goals.filter(progress=100).exists() and goals.filter(player__first_name="Oliver").exists()
    )
    # The log of it, within what is kept, and the figures of both weeks.
    log = Activity.objects.filter(academy=academy)
    assert set(log.values_list("verb", flat=True)) >= {
        "booked",
        "cancelled",
        "present",
        "late",
        "absent",
        "rated",
        "session_cancelled",
    }
    assert not log.filter(at__lt=timezone.now() - timedelta(days=Activity.KEEP_DAYS)).exists()
    stats = dashboards.coach_stats(coach, today)
    assert stats.last.sessions and stats.last.marked and stats.last.ratings
    assert stats.last.fill_rate and stats.last.attendance_rate
    assert dashboards.coach_clients(coach, today).shown
    assert "ratings" in out and "goals" in out


def test_the_coach_teaches_today(demo):
    academy, _ = demo
    start, end = day_bounds(timezone.localdate(timezone=academy.tz), academy.tz)
    coach = academy.coaches.get(user__username="coach")
    assert coach.group_sessions.filter(starts_at__gte=start, starts_at__lt=end).exists()


def test_other_academies_and_users_are_left_alone():
    other = make_academy("Elsewhere")
    someone = make_user("someone")
    kid = make_player(other, first="Kim", guardians=[someone])

    load()
    load()

    assert Academy.objects.filter(pk=other.pk).exists()
    assert Player.objects.filter(pk=kid.pk, guardians=someone).exists()


def test_no_email_about_the_history_and_the_parents_calendar_address_works(demo):
    from django.test import Client

    from bookings.models import OutgoingEmail

    _, out = demo
    assert not OutgoingEmail.objects.exists()  # the desk's cancellations are history
    address = out.split("calendar address (or make one on the account page):\n")[1].split()[0]
    path = "/" + address.split("://", 1)[1].split("/", 1)[1]
    response = Client().get(path)
    assert response.status_code == 200
    assert response.content.count(b"BEGIN:VEVENT") >= 4  # the three children's sessions


def test_the_demo_has_announcements_in_inboxes(demo):
    from bookings.models import Announcement, InboxItem

    academy, _ = demo
    assert Announcement.objects.filter(academy=academy, audience="academy").count() == 1
    assert Announcement.objects.filter(academy=academy, audience="session").count() == 1
    parent = InboxItem.objects.filter(user__username="parent")
    assert parent.filter(read_at__isnull=False).count() == 1  # the desk's, read
    assert InboxItem.objects.filter(user__username="player").exists()


def test_running_the_academy_is_in_the_demo(demo):
    """Two weekly series, a full session with one of the demo parent's children first in line,
    session types for some ages and levels only, and nobody booked into one not open to them."""
    from bookings.models import WaitlistEntry
    from bookings.services.waitlist import position

    academy, out = demo
    assert academy.series.count() == 2
    assert all(s.occurrences.count() >= 12 for s in academy.series.all())
    junior = academy.session_types.get(name="Junior squad")
    assert (junior.min_age, junior.max_age) == (8, 17)
    parent = get_user_model().objects.get(username="parent")
    first = WaitlistEntry.objects.filter(
        session__academy=academy, status="waiting", player__guardians=parent
    ).first()
    assert first is not None and position(first) == 1 and first.session.is_full
    assert "a waiting list on Junior squad" in out
    for r in SessionReservation.objects.filter(
        session__academy=academy, status="reserved"
    ).select_related("player", "session__session_type"):
        day = r.session.starts_at.astimezone(academy.tz).date()
        assert (
            r.session.session_type.refusal(
                first_name=r.player.first_name,
                birth_date=r.player.birth_date,
                level=r.player.level,
                on=day,
            )
            is None
        ), r
