"""Who sees which page and what is on it: the page matrix, the role switcher, hostile query
strings and the accessibility basics of every page.

The world (tests/factories.build_world) gets a fixed Tuesday with two group sessions and two
lessons in academy A: coach's "Forehand Clinic" (Mia and Leo), coach2's "Serve Lab" (Kai), a
lesson of Ada with coach and one of Kai with coach2; academy B has "Foreign Camp" with its
player. Each role may read only some of those names; every page it may open is checked for the
names it may not read.
"""

from __future__ import annotations

from datetime import date, timedelta
from html.parser import HTMLParser
from types import SimpleNamespace

import pytest
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from bookings.live.calendars import CoachCalendar, CoachDay, StaffCalendar
from bookings.live.dashboard import (
    CoachActivity,
    CoachClients,
    CoachGoals,
    CoachInsights,
    CoachStats,
    Goals,
)
from bookings.live.desk import DeskDay, DeskFeed
from bookings.live.grids import DayGrid, LessonSlots
from bookings.live.inbox import InboxBadge
from bookings.live.lists import Reservations, Schedule
from bookings.live.schedule import SessionEditor, StaffPlan
from bookings.models import Activity, Attendance, Feedback, Goal, IndividualBooking
from bookings.services import series_create
from bookings.services.sessions import SessionPlan
from realtime.fragments import LiveFragment
from scheduling.models import StaffMember
from tests.factories import (
    book,
    build_world,
    local,
    make_coach,
    make_player,
    make_user,
    reserve,
)

pytestmark = pytest.mark.django_db

ROLES = (
    "player",
    "parent",
    "other_parent",
    "coach",
    "coach2",
    "staff",
    "admin",
    "anon",
    "f_staff",
    "f_coach",
    "f_player",
    "f_parent",
)

# The page matrix. 200: the page; 403: not this role's page; 302: to the login page; 404: the
# row or fragment is in another academy or not the viewer's (a fragment never says 403, so its
# existence is not confirmed to whoever may not read it). A foreign user's 200 is their own
# academy's page, checked below to show nothing of academy A.
# Fragments: *_player = Mia (the player), *_child = Leo (parent's child), *_family = every child
# of `parent` (only that parent: staff and admins read each child's own list instead).
MATRIX = """
page                      player parent other_parent coach coach2 staff admin anon f_staff f_coach f_player f_parent
player_home                  200    403          403   403    403   403   403  302     403     403      200      403
player_schedule              200    403          403   403    403   403   403  302     403     403      200      403
parent_home                  403    200          200   403    403   403   403  302     403     403      403      200
parent_schedule              403    200          200   403    403   403   403  302     403     403      403      200
coach_home_mine              403    403          403   200    200   403   403  302     403     200      403      403
coach_home_full              403    403          403   200    200   403   403  302     403     200      403      403
coach_schedule_week          403    403          403   200    200   403   403  302     403     200      403      403
coach_schedule_day           403    403          403   200    200   403   403  302     403     200      403      403
staff_home                   403    403          403   403    403   200   200  302     200     403      403      403
staff_home_q                 403    403          403   403    403   200   200  302     200     403      403      403
staff_calendar               403    403          403   403    403   200   200  302     200     403      403      403
staff_player                 403    403          403   403    403   200   200  302     404     403      403      403
staff_player_book            403    403          403   403    403   200   200  302     404     403      403      403
live_schedule_player         200    404          404   404    404   200   200  302     404     404      404      404
live_schedule_child          404    200          404   404    404   200   200  302     404     404      404      404
live_schedule_family         404    200          404   404    404   404   404  302     404     404      404      404
live_reservations_player     200    404          404   404    404   200   200  302     404     404      404      404
live_reservations_child      404    200          404   404    404   200   200  302     404     404      404      404
live_reservations_family     404    200          404   404    404   404   404  302     404     404      404      404
live_slots                   200    200          200   200    200   200   200  302     404     404      404      404
live_day                     200    200          200   200    200   200   200  302     404     404      404      404
live_coachday                404    404          404   200    404   200   200  302     404     404      404      404
live_calendar_coach          404    404          404   200    404   200   200  302     404     404      404      404
live_calendar_staff          404    404          404   404    404   200   200  302     404     404      404      404
calendar_session             200    200          200   200    200   200   200  302     404     404      404      404
calendar_lesson              200    200          200   200    200   200   200  302     404     404      404      404
live_foreign_day             404    404          404   404    404   404   200  302     200     200      200      200
account                      200    200          200   200    200   200   200  302     200     200      200      200
inbox                        200    200          200   200    200   200   200  302     200     200      200      200
announce                     403    403          403   200    200   200   200  302     200     200      403      403
live_inbox_parent            404    200          404   404    404   404   404  302     404     404      404      404
coach_dashboard              403    403          403   200    200   403   403  302     403     200      403      403
staff_coach                  403    403          403   403    403   200   200  302     404     403      403      403
coach_trend                  404    404          404   200    404   200   200  302     404     404      404      404
walk_in                      404    404          404   200    404   200   200  302     404     404      404      404
feedback                     404    200          404   404    404   404   404  302     404     404      404      404
goal_new                     404    404          404   200    404   200   200  302     404     404      404      404
goal_edit                    404    404          404   200    404   200   200  302     404     404      404      404
live_coachstats              404    404          404   200    404   200   200  302     404     404      404      404
live_coachactivity           404    404          404   200    404   200   200  302     404     404      404      404
live_coachinsights           404    404          404   200    404   200   200  302     404     404      404      404
live_coachclients            404    404          404   200    404   200   200  302     404     404      404      404
live_coachgoals              404    404          404   200    404   200   200  302     404     404      404      404
live_goals_player            200    404          404   404    404   200   200  302     404     404      404      404
live_goals_child             404    200          404   404    404   200   200  302     404     404      404      404
live_goals_family            404    200          404   404    404   404   404  302     404     404      404      404
live_desk                    404    404          404   404    404   200   200  302     404     404      404      404
live_deskfeed                404    404          404   404    404   200   200  302     404     404      404      404
staff_sessions               403    403          403   403    403   200   200  302     200     403      403      403
session_new                  403    403          403   403    403   200   200  302     200     403      403      403
session_edit                 403    403          403   200    403   200   200  302     404     404      404      404
series_detail                403    403          403   403    403   200   200  302     404     403      403      403
staff_coaches                403    403          403   403    403   200   200  302     200     403      403      403
coach_hours                  403    403          403   200    403   200   200  302     404     404      404      404
coach_sessions               403    403          403   200    200   403   403  302     403     200      403      403
live_plan                    404    404          404   404    404   200   200  302     404     404      404      404
live_editor                  404    404          404   200    404   200   200  302     404     404      404      404
"""  # noqa: E501


def _parse_matrix() -> dict[str, dict[str, int]]:
    lines = [line.split() for line in MATRIX.strip().splitlines()]
    header, rows = lines[0][1:], lines[1:]
    assert tuple(header) == ROLES
    return {row[0]: dict(zip(header, map(int, row[1:]), strict=True)) for row in rows}


EXPECTED = _parse_matrix()


@pytest.fixture
def pw(db):
    """build_world plus one Tuesday of sessions, reservations and lessons in each academy."""
    w = build_world()
    today = timezone.localdate()
    w.day = today + timedelta(days=7 - today.weekday() + 1)  # a Tuesday 2 to 8 days ahead
    w.session.title = "Forehand Clinic"
    w.session.starts_at = local(w.academy, w.day, 10)
    w.session.ends_at = w.session.starts_at + timedelta(hours=1)
    w.session.save()
    w.session2.title = "Serve Lab"
    w.session2.starts_at = local(w.academy, w.day, 12)
    w.session2.ends_at = w.session2.starts_at + timedelta(hours=1)
    w.session2.save()
    w.foreign_session.title = "Foreign Camp"
    w.foreign_session.starts_at = local(w.other_academy, w.day, 10)
    w.foreign_session.ends_at = w.foreign_session.starts_at + timedelta(hours=1)
    w.foreign_session.save()
    reserve(w.session, w.player)
    leo = reserve(w.session, w.child)
    reserve(w.session2, w.other_child)
    reserve(w.foreign_session, w.foreign_player)
    book(w.coach, w.child2, w.lesson_type, local(w.academy, w.day, 15))
    book(w.coach2, w.other_child, w.lesson_type, local(w.academy, w.day, 16))
    # Leo's check-in, rated by his parent with a comment; a goal of coach's for him; the log.
    now = w.session.starts_at
    w.attendance = Attendance.objects.create(
        player=w.child, session=w.session, reservation=leo, status="present", marked_at=now
    )
    Feedback.objects.create(attendance=w.attendance, rating=4, comment="Leo loved it")
    w.goal = Goal.objects.create(academy=w.academy, coach=w.coach, player=w.child, title="Serve")
    for player, session in ((w.child, w.session), (w.other_child, w.session2)):
        Activity.objects.create(
            academy=w.academy, verb="booked", at=now, player=player, session=session
        )
    starts = local(w.academy, w.day + timedelta(days=7), 18)
    w.series = series_create(
        academy=w.academy,
        plan=SessionPlan(
            session_type=w.group_type,
            starts_at=starts,
            ends_at=starts + timedelta(hours=1),
            capacity=6,
            coaches=[w.coach2],
        ),
        until=w.day + timedelta(days=21),
        actor=w.staff_user,
    )

    w.users = {
        "player": w.player_user,
        "parent": w.parent_user,
        "other_parent": w.other_parent_user,
        "coach": w.coach_user,
        "coach2": w.coach2_user,
        "staff": w.staff_user,
        "admin": w.admin_user,
        "anon": None,
        "f_staff": w.foreign_staff_user,
        "f_coach": w.foreign_coach_user,
        "f_player": w.foreign_player_user,
        "f_parent": w.foreign_parent_user,
    }
    w.mia, w.leo, w.ada, w.kai = (p.full_name for p in (w.player, w.child, w.child2, w.other_child))
    a_names = {w.mia, w.leo, w.ada, w.kai}
    # The academy-A names each role may ever read (on any page or fragment it may open).
    w.readable = {
        "player": {w.mia},
        "parent": {w.leo, w.ada},
        "other_parent": {w.kai},
        "coach": {w.mia, w.leo, w.ada},  # the attendees of their own sessions and lessons
        "coach2": {w.kai},
        "staff": a_names,
        "admin": a_names,
        "anon": set(),
        "f_staff": set(),
        "f_coach": set(),
        "f_player": set(),
        "f_parent": set(),
    }
    w.a_names = a_names
    w.urls = _urls(w)
    return w


def _urls(w: SimpleNamespace) -> dict[str, str]:
    day = w.day.isoformat()
    monday = w.day - timedelta(days=w.day.weekday())  # week keys start on Monday
    a = w.academy.pk
    return {
        "player_home": reverse("player_home"),
        "player_schedule": reverse("player_schedule") + f"?date={day}",
        "parent_home": reverse("parent_home"),
        "parent_schedule": reverse("parent_schedule") + f"?date={day}",
        "coach_home_mine": reverse("coach_home") + f"?tab=mine&date={day}",
        "coach_home_full": reverse("coach_home") + f"?tab=full&date={day}",
        "coach_schedule_week": reverse("coach_schedule") + f"?view=week&date={day}",
        "coach_schedule_day": reverse("coach_schedule") + f"?view=day&date={day}",
        "staff_home": reverse("staff_home"),
        "staff_home_q": reverse("staff_home") + "?q=P",
        "staff_calendar": reverse("staff_calendar") + f"?date={day}",
        "staff_player": reverse("staff_player", args=[w.player.pk]),
        "staff_player_book": reverse("staff_player_book", args=[w.player.pk]) + f"?date={day}",
        "live_schedule_player": _live(Schedule.of_player(w.player.pk)),
        "live_schedule_child": _live(Schedule.of_player(w.child.pk)),
        "live_schedule_family": _live(Schedule.of_family(w.parent_user.pk)),
        "live_reservations_player": _live(Reservations.of_player(w.player.pk)),
        "live_reservations_child": _live(Reservations.of_player(w.child.pk)),
        "live_reservations_family": _live(Reservations.of_family(w.parent_user.pk)),
        "live_slots": _live(LessonSlots(w.coach.pk, w.lesson_type.pk, w.day)),
        "live_day": _live(DayGrid(a, w.day)),
        "live_coachday": _live(CoachDay(w.coach.pk, w.day)),
        "live_calendar_coach": _live(CoachCalendar(w.coach.pk, a, monday, 7)),
        "live_calendar_staff": _live(StaffCalendar(a, monday, 7)),
        "calendar_session": reverse("calendar_session", args=[w.session.pk]),
        "calendar_lesson": reverse(
            "calendar_lesson", args=[IndividualBooking.objects.get(player=w.child2).pk]
        ),
        "live_foreign_day": _live(DayGrid(w.other_academy.pk, w.day)),
        "account": reverse("account"),  # one's own emails and calendar addresses
        "inbox": reverse("inbox"),
        "announce": reverse("announce") + f"?date={day}",
        "live_inbox_parent": _live(InboxBadge(w.parent_user.pk)),
        "coach_dashboard": reverse("coach_dashboard"),
        "staff_coach": reverse("staff_coach", args=[w.coach.pk]),
        "coach_trend": reverse("coach_trend", args=[w.coach.pk]),
        "walk_in": reverse("walk_in", args=[w.session.pk]) + "?q=P",
        "feedback": reverse("feedback", args=[w.attendance.pk]),
        "goal_new": reverse("goal_new", args=[w.coach.pk]),
        "goal_edit": reverse("goal_edit", args=[w.goal.pk]),
        **{
            f"live_{kind.name}": _live(kind(w.coach.pk))
            for kind in (CoachStats, CoachActivity, CoachInsights, CoachClients, CoachGoals)
        },
        "live_goals_player": _live(Goals.of_player(w.player.pk)),
        "live_goals_child": _live(Goals.of_player(w.child.pk)),
        "live_goals_family": _live(Goals.of_family(w.parent_user.pk)),
        "live_desk": _live(DeskDay(a, w.day)),
        "live_deskfeed": _live(DeskFeed(a)),
        "staff_sessions": reverse("staff_sessions") + f"?date={day}",
        "session_new": reverse("session_new") + f"?date={day}",
        "session_edit": reverse("session_edit", args=[w.session.pk]),
        "series_detail": reverse("series_detail", args=[w.series.pk]),
        "staff_coaches": reverse("staff_coaches"),
        "coach_hours": reverse("coach_hours", args=[w.coach.pk]),
        "coach_sessions": reverse("coach_sessions"),
        "live_plan": _live(StaffPlan(a, w.day)),
        "live_editor": _live(SessionEditor(w.session.pk)),
    }


def _live(key: str | LiveFragment) -> str:
    return reverse("live_fragment", args=[key if isinstance(key, str) else key.key])


def client_for(user) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def messages_of(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


# -- the matrix ----------------------------------------------------------------------------------


def test_the_matrix_names_every_page_and_fragment(pw):
    assert set(EXPECTED) == set(pw.urls)


@pytest.mark.parametrize("role", ROLES)
def test_page_matrix(pw, role):
    """Every page and fragment for this role: the status of the table, and on every page the role
    may open, none of the academy-A names it may not read."""
    client = client_for(pw.users[role])
    forbidden = pw.a_names - pw.readable[role]
    wrong = []
    for page, url in pw.urls.items():
        response = client.get(url)
        expected = EXPECTED[page][role]
        if response.status_code != expected:
            wrong.append(f"{page}: {response.status_code}, expected {expected}")
            continue
        if expected == 302:
            assert response["Location"].startswith(reverse("login") + "?next=")
        if expected == 200:
            html = response.content.decode()
            leaked = sorted(name for name in forbidden if name in html)
            if leaked:
                wrong.append(f"{page}: shows {leaked}")
    assert not wrong, f"{role}:\n" + "\n".join(wrong)


# -- what the pages show -------------------------------------------------------------------------


def test_player_home_lists_their_reservation_and_lesson(pw):
    book(pw.coach, pw.player, pw.lesson_type, local(pw.academy, pw.day, 17))
    html = client_for(pw.player_user).get(reverse("player_home")).content.decode()
    assert "Forehand Clinic" in html
    assert pw.lesson_type.name in html
    assert "Serve Lab" not in html  # Kai's session, not Mia's


def test_parent_home_lists_each_child_and_never_another_familys(pw):
    client = client_for(pw.parent_user)
    html = client.get(reverse("parent_home")).content.decode()
    assert "Forehand Clinic" in html  # Leo's
    assert pw.lesson_type.name in html  # Ada's lesson
    assert f"for {pw.leo}" in html and f"for {pw.ada}" in html
    assert "Serve Lab" not in html and pw.kai not in html
    leo_only = client.get(reverse("parent_home") + f"?player={pw.child.pk}").content.decode()
    assert "Forehand Clinic" in leo_only and pw.lesson_type.name not in leo_only


def test_parent_page_ignores_another_familys_child_in_the_query(pw):
    client = client_for(pw.parent_user)
    response = client.get(reverse("parent_home") + f"?player={pw.other_child.pk}")
    assert response.status_code == 200
    html = response.content.decode()
    assert pw.kai not in html and "Serve Lab" not in html
    assert any("not linked to your account" in m for m in messages_of(response))
    response = client.get(
        reverse("parent_schedule") + f"?player={pw.other_child.pk}&date={pw.day.isoformat()}"
    )
    assert response.status_code == 200
    assert pw.kai not in response.content.decode()
    for raw in ("abc", "99999999999", "-1", ""):
        response = client.get(reverse("parent_home") + f"?player={raw}")
        assert response.status_code == 200, raw
        assert pw.kai not in response.content.decode()


def test_parent_schedule_shows_group_sessions_without_names(pw):
    html = (
        client_for(pw.parent_user)
        .get(reverse("parent_schedule") + f"?date={pw.day.isoformat()}")
        .content.decode()
    )
    assert "Forehand Clinic" in html and "Serve Lab" in html
    assert "2 of 4 spots left" in html and "3 of 4 spots left" in html
    assert pw.kai not in html and pw.mia not in html
    assert 'name="slot"' in html  # the coach's lesson slots with Book buttons


def test_coach_calendar_names_own_attendees_and_only_counts_on_others(pw):
    client = client_for(pw.coach_user)
    for url in (
        reverse("coach_schedule") + f"?view=week&date={pw.day.isoformat()}",
        reverse("coach_schedule") + f"?view=day&date={pw.day.isoformat()}",
        reverse("coach_home") + f"?tab=full&date={pw.day.isoformat()}",
    ):
        html = client.get(url).content.decode()
        assert "Serve Lab" in html and "1/4" in html, url  # coach2's: occupancy only
        assert pw.kai not in html, url
        if "coach_home" in url:
            assert pw.mia in html and pw.leo in html and pw.ada in html, url
            continue
        # the week and day grids carry no names: each card's details view does
        assert pw.mia not in html, url
    own = client.get(reverse("calendar_session", args=[pw.session.pk])).content.decode()
    assert pw.mia in own and pw.leo in own
    lesson = IndividualBooking.objects.get(player=pw.child2)  # Ada's, with this coach
    assert pw.ada in client.get(reverse("calendar_lesson", args=[lesson.pk])).content.decode()
    theirs = IndividualBooking.objects.get(player=pw.other_child)  # coach2's: no name
    html = client.get(reverse("calendar_lesson", args=[theirs.pk])).content.decode()
    assert "A private lesson" in html and pw.kai not in html
    assert f'name="session" value="{pw.session.pk}"' in own  # may cancel their own session
    other = client.get(reverse("calendar_session", args=[pw.session2.pk])).content.decode()
    assert "Serve Lab" in other and pw.kai not in other
    assert f'name="session" value="{pw.session2.pk}"' not in other
    mine = client.get(reverse("coach_home") + f"?date={pw.day.isoformat()}").content.decode()
    assert "Forehand Clinic" in mine and pw.mia in mine and pw.ada in mine
    assert "Serve Lab" not in mine and pw.kai not in mine


# Who reads the names on a calendar card's details (bookings.access.sees_session_names and
# sees_lesson_name): the session's session has Mia and Leo, the lesson is Ada's (parent's child2)
# with `coach`. Everyone else of the academy sees the counts only.
DETAIL_NAMES = {
    "player": (False, False),
    "parent": (False, True),
    "other_parent": (False, False),
    "coach": (True, True),
    "coach2": (False, False),
    "staff": (True, True),
    "admin": (True, True),
}


@pytest.mark.parametrize(("who", "expected"), DETAIL_NAMES.items())
def test_calendar_details_show_names_only_where_access_allows(pw, who, expected):
    client = client_for(getattr(pw, f"{who}_user"))
    session = client.get(reverse("calendar_session", args=[pw.session.pk])).content.decode()
    lesson = IndividualBooking.objects.get(player=pw.child2)
    lesson_html = client.get(reverse("calendar_lesson", args=[lesson.pk])).content.decode()
    assert "Forehand Clinic" in session and "2/4" in session
    assert (pw.mia in session, pw.ada in lesson_html) == expected
    assert (f'name="session" value="{pw.session.pk}"' in session) == (
        who in ("coach", "staff", "admin")
    )
    assert (f"/sessions/{pw.session.pk}/edit/" in session) == (who in ("coach", "staff", "admin"))


def test_calendar_details_open_as_a_panel_with_htmx(pw):
    client = client_for(pw.staff_user)
    url = reverse("calendar_session", args=[pw.session.pk])
    html = client.get(url, headers={"HX-Request": "true"}).content.decode()
    assert "<html" not in html and '<h2 class="cal-detail-title"' in html and pw.mia in html


def test_staff_calendar_shows_every_name(pw):
    for user in (pw.staff_user, pw.admin_user):
        html = (
            client_for(user)
            .get(reverse("staff_calendar") + f"?date={pw.day.isoformat()}")
            .content.decode()
        )
        assert "Forehand Clinic" in html and "Serve Lab" in html
        client = client_for(user)
        details = "".join(
            client.get(reverse("calendar_session", args=[s.pk])).content.decode()
            for s in (pw.session, pw.session2)
        ) + "".join(
            client.get(reverse("calendar_lesson", args=[b.pk])).content.decode()
            for b in IndividualBooking.objects.filter(academy=pw.academy)
        )
        for name in pw.a_names:
            assert name in details
        assert "Foreign Camp" not in html and pw.foreign_player.full_name not in html


def test_foreign_staff_see_their_own_academy_only(pw):
    client = client_for(pw.foreign_staff_user)
    html = client.get(reverse("staff_calendar") + f"?date={pw.day.isoformat()}").content.decode()
    assert "Foreign Camp" in html and "Forehand Clinic" not in html
    for s in (pw.session, pw.session2):  # another academy's session: not even that it exists
        assert client.get(reverse("calendar_session", args=[s.pk])).status_code == 404
    html = client.get(reverse("staff_home") + "?q=Kai").content.decode()
    assert "No player matches" in html and pw.kai not in html


def test_staff_search_finds_players_of_their_academy(pw):
    html = client_for(pw.staff_user).get(reverse("staff_home") + "?q=kai").content.decode()
    assert pw.kai in html
    assert reverse("staff_player", args=[pw.other_child.pk]) in html
    assert reverse("staff_player_book", args=[pw.other_child.pk]) in html


def test_staff_player_pages(pw):
    client = client_for(pw.staff_user)
    html = client.get(reverse("staff_player", args=[pw.player.pk])).content.decode()
    assert pw.mia in html and "Forehand Clinic" in html and pw.leo not in html
    response = client.get(reverse("staff_player", args=[pw.foreign_player.pk]))
    assert response.status_code == 404
    assert client.get(reverse("staff_player", args=[999_999_999])).status_code == 404
    html = client.get(
        reverse("staff_player_book", args=[pw.player.pk]) + f"?date={pw.day.isoformat()}"
    ).content.decode()
    assert f"Booking for <strong>{pw.mia}</strong>" in html


def test_forged_fragment_keys_are_404(pw):
    client = client_for(pw.staff_user)
    day = pw.day.isoformat()
    a, b = pw.academy.pk, pw.other_academy.pk
    monday = pw.day - timedelta(days=pw.day.weekday())
    for key in (
        "nothing:1",
        "schedule:x:1",
        "schedule:player",
        "schedule:player:1:2",
        Schedule.of_player(pw.foreign_player.pk).key,
        "schedule:player:999999999999",
        "schedule:player:-1",
        "schedule:player:1e3",
        "schedule:player:\uff10",  # a digit, but not an ASCII one
        LessonSlots(pw.foreign_coach.pk, pw.lesson_type.pk, pw.day).key,  # coach, type differ
        f"slots:{pw.coach.pk}:{pw.lesson_type.pk}:2026-13-45",
        f"day:{a}:----------",
        DayGrid(a, date(9999, 1, 1)).key,  # too far from today to render
        f"day:{a}:{day}T00",
        DayGrid(b, pw.day).key,
        StaffCalendar(a, monday, 3).key,
        StaffCalendar(a, pw.day, 7).key,  # a week starts on Monday (the day is a Tuesday)
        CoachCalendar(pw.foreign_coach.pk, a, monday, 7).key,  # not this academy's coach
        CoachCalendar(pw.foreign_coach.pk, b, monday, 7).key,
        StaffCalendar(b, monday, 7).key,
        CoachDay(pw.foreign_coach.pk, pw.day).key,
        "x" * 200,
    ):
        assert client.get(_live(key)).status_code == 404, key


# -- the front door and the role switcher --------------------------------------------------------


HOMES = {
    "player": "player_home",
    "parent": "parent_home",
    "other_parent": "parent_home",
    "coach": "coach_dashboard",
    "coach2": "coach_dashboard",
    "staff": "staff_home",
    "admin": "staff_home",
    "f_staff": "staff_home",
    "f_coach": "coach_dashboard",
    "f_player": "player_home",
    "f_parent": "parent_home",
}


def test_root_redirects_each_role_to_its_home(pw):
    for role, home in HOMES.items():
        client = client_for(pw.users[role])
        response = client.get("/")
        assert response.status_code == 302, role
        assert response["Location"] == reverse(home), role
        assert client.get(response["Location"]).status_code == 200, role


def test_root_sends_anonymous_to_login_and_refuses_a_user_without_academy(pw):
    response = Client().get("/")
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))
    assert client_for(make_user("nobody")).get("/").status_code == 403


@pytest.fixture
def dual(pw):
    """A user who coaches in academy A, is a parent there, and is front desk in academy B."""
    user = make_user("dual")
    pw.dual_coach = make_coach(pw.academy, user)
    pw.dual_child = make_player(pw.academy, first="Zoe", guardians=[user])
    StaffMember.objects.create(academy=pw.other_academy, user=user)
    return user


def test_role_switcher_moves_between_held_roles(pw, dual):
    client = client_for(dual)
    a, b = pw.academy.pk, pw.other_academy.pk
    assert client.get("/")["Location"] == reverse("parent_home")  # A first, parent before coach
    html = client.get(reverse("parent_home")).content.decode()
    for value in (f"{a}:parent", f"{a}:coach", f"{b}:staff"):
        assert f'value="{value}"' in html

    response = client.post(reverse("switch_role"), {"to": f"{a}:coach"})
    assert response["Location"] == reverse("coach_dashboard")
    assert client.get("/")["Location"] == reverse("coach_dashboard")
    assert client.get(reverse("coach_home")).status_code == 200

    response = client.post(reverse("switch_role"), {"to": f"{b}:staff"})
    assert response["Location"] == reverse("staff_home")
    html = client.get(reverse("staff_home")).content.decode()
    assert pw.other_academy.name in html
    # in academy B this user is no parent
    assert client.get(reverse("parent_home")).status_code == 403

    response = client.post(reverse("switch_role"), {"to": f"{a}:parent"}, follow=True)
    assert response.redirect_chain[-1][0] == reverse("parent_home")
    assert pw.dual_child.full_name in response.content.decode()


def test_role_switcher_refuses_what_the_user_does_not_hold(pw, dual):
    client = client_for(dual)
    client.post(reverse("switch_role"), {"to": f"{pw.academy.pk}:coach"})
    a, b = pw.academy.pk, pw.other_academy.pk
    for target in (
        f"{a}:staff",
        f"{a}:player",
        f"{a}:admin",
        f"{b}:coach",
        f"{b}:parent",
        f"{a}:root",
        "",
        f"{a}",
        "x:y",
        "999999:parent",
    ):
        response = client.post(reverse("switch_role"), {"to": target}, follow=True)
        assert response.status_code == 200, target
        assert "That view is not available to you." in response.content.decode(), target
        # nothing changed: still the coach of academy A
        assert response.redirect_chain[-1][0] == reverse("coach_dashboard"), target
        assert client.session["role"] == "coach", target
        assert client.session["academy_id"] == pw.academy.pk, target


def test_role_switcher_refuses_a_foreign_academy_and_needs_login(pw):
    client = client_for(pw.parent_user)
    response = client.post(reverse("switch_role"), {"to": f"{pw.other_academy.pk}:parent"})
    assert response["Location"] == reverse("home")
    assert client.get(reverse("parent_home")).status_code == 200  # still academy A
    response = Client().post(reverse("switch_role"), {"to": f"{pw.academy.pk}:parent"})
    assert response["Location"].startswith(reverse("login"))


def test_admin_switches_to_the_front_desk_of_any_academy(pw):
    client = client_for(pw.admin_user)
    response = client.post(reverse("switch_role"), {"to": f"{pw.other_academy.pk}:staff"})
    assert response["Location"] == reverse("staff_home")
    html = client.get(reverse("staff_calendar") + f"?date={pw.day.isoformat()}").content.decode()
    assert "Foreign Camp" in html and "Forehand Clinic" not in html


# -- hostile query strings -----------------------------------------------------------------------


DATED_PAGES = [
    ("player", "player_schedule", ""),
    ("parent", "parent_schedule", ""),
    ("coach", "coach_home", "tab=mine&"),
    ("coach", "coach_home", "tab=full&"),
    ("coach", "coach_schedule", "view=week&"),
    ("coach", "coach_schedule", "view=day&"),
    ("staff", "staff_calendar", ""),
    ("staff", "staff_player_book", ""),
]


@pytest.mark.parametrize(("role", "page", "extra"), DATED_PAGES)
def test_malformed_date_shows_a_message_and_today(pw, role, page, extra):
    client = client_for(pw.users[role])
    args = [pw.player.pk] if page == "staff_player_book" else []
    for raw in ("2026-02-30", "notadate", "9999-01-01", "<script>x</script>", "2026-1-1", "²"):
        response = client.get(reverse(page, args=args) + f"?{extra}date={raw}")
        assert response.status_code == 200, raw
        html = response.content.decode()
        assert "is not a date we can show; showing today." in html, raw
        assert "<script>x" not in html
    response = client.get(reverse(page, args=args) + f"?{extra}date=")
    assert response.status_code == 200
    assert "is not a date we can show" not in response.content.decode()


@pytest.mark.parametrize(
    ("role", "page"),
    [("player", "player_schedule"), ("parent", "parent_schedule"), ("staff", "staff_player_book")],
)
def test_forged_coach_and_type_ids_show_a_message(pw, role, page):
    client = client_for(pw.users[role])
    url = reverse(page, args=[pw.player.pk] if page == "staff_player_book" else [])
    day = pw.day.isoformat()
    cases = {
        "coach=999999999": "That coach is not offered here.",
        f"coach={pw.foreign_coach.pk}": "That coach is not offered here.",
        "coach=abc": "That coach is not offered here.",
        "type=999999999": "That session type is not offered here.",
        f"type={pw.group_type.pk}": "That session type is not offered here.",  # not a lesson
    }
    for query, message in cases.items():
        response = client.get(f"{url}?date={day}&{query}")
        assert response.status_code == 200, query
        assert message in response.content.decode(), query
        assert 'name="slot"' in response.content.decode(), query  # the defaults still show
    # A control character is refused before the page reads it (config.security).
    assert client.get(f"{url}?date={day}&type=%00").status_code == 400


# -- accessibility basics --------------------------------------------------------------------------


class _Audit(HTMLParser):
    """Collects what the accessibility checks need from one page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.controls: list[dict[str, str | None]] = []
        self.label_for: set[str] = set()
        self.h1 = 0
        self.status: dict[str, str | None] | None = None
        self.buttons: list[str] = []
        self._button: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag in ("input", "select", "textarea") and a.get("type") != "hidden":
            self.controls.append(a)
        elif tag == "label" and a.get("for"):
            self.label_for.add(a["for"] or "")
        elif tag == "h1":
            self.h1 += 1
        elif tag == "button":
            self._button = [a.get("aria-label") or ""]
        if a.get("id") == "status":
            self.status = a

    def handle_data(self, data):
        if self._button is not None:
            self._button.append(data)

    def handle_endtag(self, tag):
        if tag == "button" and self._button is not None:
            self.buttons.append("".join(self._button).strip())
            self._button = None


def audit(html: str) -> _Audit:
    parser = _Audit()
    parser.feed(html)
    parser.close()
    return parser


A11Y_PAGES = [
    ("player", "player_home"),
    ("player", "player_schedule"),
    ("parent", "parent_home"),
    ("parent", "parent_schedule"),
    ("coach", "coach_home_mine"),
    ("coach", "coach_home_full"),
    ("coach", "coach_schedule_week"),
    ("coach", "coach_schedule_day"),
    ("staff", "staff_home"),
    ("staff", "staff_home_q"),
    ("staff", "staff_calendar"),
    ("staff", "staff_player"),
    ("staff", "staff_player_book"),
    ("parent", "account"),
    ("coach", "account"),
    ("staff", "staff_sessions"),
    ("staff", "session_new"),
    ("staff", "session_edit"),
    ("coach", "session_edit"),
    ("staff", "coach_hours"),
    ("coach", "coach_hours"),
]


def test_pages_meet_the_accessibility_basics(pw):
    pages = [(pw.users[role], pw.urls[page]) for role, page in A11Y_PAGES]
    pages.append((None, reverse("login")))
    problems = []
    for user, url in pages:
        response = client_for(user).get(url)
        assert response.status_code == 200, url
        page = audit(response.content.decode())
        for control in page.controls:
            labelled = control.get("aria-label") or control.get("aria-labelledby")
            if not labelled and control.get("id") not in page.label_for:
                problems.append(f"{url}: unlabelled {control}")
        if page.h1 != 1:
            problems.append(f"{url}: {page.h1} <h1>")
        status = page.status or {}
        if status.get("role") != "status" or not status.get("aria-live"):
            problems.append(f"{url}: #status is {status}")
        problems += [f"{url}: a button without text" for text in page.buttons if not text]
        if not page.buttons:
            problems.append(f"{url}: no buttons at all")
    assert not problems, "\n".join(problems)


def test_fragment_buttons_have_text(pw):
    client = client_for(pw.staff_user)
    # a lesson for Mia too, so her reservations list has both kinds of cancel button
    book(pw.coach, pw.player, pw.lesson_type, local(pw.academy, pw.day, 17))
    kinds = set()
    for page, url in pw.urls.items():
        if not page.startswith("live_") or page == "live_foreign_day":
            continue
        if page.endswith(("_family", "_inbox_parent")):
            response = client_for(pw.parent_user).get(url)
        else:
            response = client.get(url)
        assert response.status_code == 200, page
        fragment = audit(response.content.decode())
        assert all(fragment.buttons), page
        kinds.update(fragment.buttons)
    joined = " | ".join(sorted(kinds))
    for word in ("Book", "Reserve", "Cancel", "Cancel session"):
        assert any(text.startswith(word) for text in kinds), joined


def test_the_confirmation_page_meets_the_basics(pw):
    client = client_for(pw.player_user)
    reservation = pw.player.reservations.get()
    response = client.post(reverse("cancel"), {"reservation": reservation.pk})
    assert response.status_code == 200
    page = audit(response.content.decode())
    assert page.h1 == 1 and page.status and page.status.get("role") == "status"
    assert "Yes, cancel it" in page.buttons


def test_status_region_carries_messages(pw):
    client = client_for(pw.player_user)
    response = client.get(reverse("player_schedule") + "?date=nope")
    html = response.content.decode()
    start = html.index('id="status"')
    assert "is not a date we can show" in html[start : html.index("</div>", start)]
