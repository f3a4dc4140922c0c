"""Check-in, walk-ins, ratings and goals through the pages, with HTMX and without JavaScript,
and what the dashboard and the front desk show (escaped, limited, only to whom it may).

Pages are used as a browser uses them (tests/test_pages_actions: open the page, press a button
it shows, post the one action form). The check-in session started half an hour ago, whatever
the hour the tests run at (it may be yesterday's: check-in stays open for days).
"""

from __future__ import annotations

import re
from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.urls import reverse
from django.utils import timezone

from bookings.models import Activity, Attendance, Feedback, Goal, SessionReservation
from bookings.services import attendance_mark, feedback_save, reservation_create
from tests.factories import build_world, make_player, make_session, reserve
from tests.test_pages_actions import Page, client_for, open_page, press, status_text

pytestmark = pytest.mark.django_db


@pytest.fixture
def w(db) -> SimpleNamespace:
    w = build_world()
    now = timezone.now()
    w.started = make_session(
        w.academy,
        coaches=[w.coach],
        session_type=w.group_type,
        starts_at=(now - timedelta(minutes=30)).replace(second=0, microsecond=0),
        capacity=3,
    )
    w.started.title = "Morning Clinic"
    w.started.save()
    w.day = timezone.localtime(w.started.starts_at, w.academy.tz).date()
    w.mia = reserve(w.started, w.player, by=w.player_user)
    w.leo = reserve(w.started, w.child, by=w.parent_user)
    w.my_day = reverse("coach_home") + f"?date={w.day.isoformat()}"
    return w


# -- check-in -------------------------------------------------------------------------------------


@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "nojs"])
def test_the_coach_checks_in_with_one_tap(w, htmx):
    client = client_for(w.coach_user)
    page = open_page(client, w.my_day)
    value = f"group:{w.leo.pk}:late"
    response = press(client, page, "mark", value, htmx=htmx, follow=True)
    assert response.status_code == 200
    html = response.content.decode()
    assert f"{w.child.full_name}: checked in, late." in status_text(html)
    attendance = Attendance.objects.get(reservation=w.leo)
    assert (attendance.status, attendance.marked_by) == ("late", w.coach_user)
    # The card shows it, pressed, and counts it (the page re-rendered, or its fragment oob).
    assert re.search(rf'value="{value}"\s+aria-pressed="true"', html)
    assert "Checked in late" in html and "1 of 2 marked" in html
    if htmx:
        assert response.redirect_chain == []
        assert f'id="msg-mark-group-{w.leo.pk}"' in html
    else:
        assert response.redirect_chain[-1][0] == w.my_day

    press(client, Page(html) if not htmx else page, "mark", f"group:{w.mia.pk}:present", htmx=htmx)
    html = client.get(w.my_day).content.decode()
    assert "Check-in complete" in html and "2 of 2 here" in html


def test_only_the_coach_and_staff_may_mark(w):
    page = open_page(client_for(w.coach_user), w.my_day)
    value = f"group:{w.mia.pk}:present"
    for user, status in [
        (w.coach2_user, 403),
        (w.parent_user, 403),
        (w.player_user, 403),
        (w.foreign_staff_user, 403),
    ]:
        response = press(client_for(user), page, "mark", value, htmx=True)
        assert response.status_code == status, user
    assert not Attendance.objects.exists() and not Activity.objects.exists()
    assert press(client_for(w.staff_user), page, "mark", value, htmx=True).status_code == 200


@pytest.mark.parametrize(
    "value, status",
    [
        ("group:1:maybe", 400),
        ("group:x:present", 400),
        ("session:1:present", 400),
        ("group:²:present", 400),
        ("group:1:present:extra", 400),
        ("", 400),
        ("group:999999999:present", 404),
        ("lesson:999999999:absent", 404),
    ],
)
def test_malformed_or_forged_marks(w, value, status):
    page = open_page(client_for(w.coach_user), w.my_day)
    response = press(
        client_for(w.coach_user), page, "mark", value, htmx=True, action="/attendance/mark/"
    )
    assert response.status_code == status
    assert not Attendance.objects.exists()


def test_no_buttons_before_the_day(w):
    later = make_session(
        w.academy, coaches=[w.coach], starts_at=w.started.starts_at + timedelta(days=2)
    )
    r = reserve(later, w.player)
    day = timezone.localtime(later.starts_at, w.academy.tz).date().isoformat()
    html = client_for(w.coach_user).get(reverse("coach_home") + f"?date={day}").content.decode()
    assert f"group:{r.pk}:present" not in html and "Add a walk-in" not in html
    # The calendars show the marks, never the buttons.
    attendance_mark(actor=w.coach_user, reservation=w.mia, status="present")
    week = client_for(w.staff_user).get(reverse("staff_calendar") + f"?date={w.day}").content
    assert b"Checked in" in week and b'name="mark"' not in week


# -- walk-ins -------------------------------------------------------------------------------------


def test_walk_in_without_javascript(w):
    # Kai came to a session of the coach's once: the coach may add him; a stranger is not listed.
    reserve(make_session(w.academy, coaches=[w.coach]), w.other_child)
    stranger = make_player(w.academy, first="Zed")
    client = client_for(w.coach_user)
    url = reverse("walk_in", args=[w.started.pk])
    assert url in client.get(w.my_day).content.decode()  # the card links to it
    page = open_page(client, url)
    assert w.other_child.full_name in page.html
    assert stranger.full_name not in page.html
    assert w.player.full_name not in page.html  # already booked
    assert stranger.full_name not in client.get(url + "?q=Zed").content.decode()

    form = next(
        f for f in page.forms.values() if f["fields"].get("player") == str(w.other_child.pk)
    )
    response = client.post(url, form["fields"], follow=True)
    assert response.redirect_chain[-1][0] == w.my_day
    assert f"Added {w.other_child.full_name} to Morning Clinic: present." in status_text(
        response.content.decode()
    )
    a = Attendance.objects.get(player=w.other_child)
    assert a.walk_in and a.status == "present" and a.reservation.session == w.started
    assert "Walk-in" in response.content.decode()

    # Forged: a player the coach never taught, and one of another academy.
    refused = client.post(url, {"player": stranger.pk}, follow=True).content.decode()
    assert "Only the front desk can add a player you don&#x27;t teach." in status_text(refused)
    assert not Attendance.objects.filter(player=stranger).exists()
    assert client.post(url, {"player": w.foreign_player.pk}).status_code == 404
    assert client.post(url, {"player": "1e3"}).status_code == 302


def test_the_desk_finds_anyone_and_capacity_holds(w):
    client = client_for(w.staff_user)
    url = reverse("walk_in", args=[w.started.pk])
    first, second = make_player(w.academy, first="Quinn"), make_player(w.academy, first="Quill")
    assert first.full_name in client.get(url + "?q=Qu").content.decode()
    response = client.post(url, {"player": first.pk}, follow=True)
    day = w.day.isoformat()
    assert response.redirect_chain[-1][0] == reverse("staff_home") + f"?date={day}"
    response = client.post(url, {"player": second.pk}, follow=True)
    assert "This session is full." in status_text(response.content.decode())
    w.started.refresh_from_db()
    assert w.started.reserved_count == w.started.capacity == 3


# -- ratings --------------------------------------------------------------------------------------


def test_a_parent_rates_from_the_family_list_and_the_coach_reads_it_escaped(w):
    attendance = attendance_mark(actor=w.coach_user, reservation=w.leo, status="present")
    parent = client_for(w.parent_user)
    home = parent.get(reverse("parent_home")).content.decode()
    url = reverse("feedback", args=[attendance.pk])
    assert "Checked in" in home and url in home and "Rate this session" in home

    form = parent.get(url).content.decode()
    assert 'name="rating"' in form and 'maxlength="500"' in form
    comment = '<script>alert("x")</script> Great & fun'
    response = parent.post(url, {"rating": "4", "comment": comment}, follow=True)
    assert response.redirect_chain[-1][0] == reverse("parent_home")
    assert "your rating of Morning Clinic is saved" in status_text(response.content.decode())
    assert "Rated 4/5" in response.content.decode()

    dashboard = client_for(w.coach_user).get(reverse("coach_dashboard")).content.decode()
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; Great &amp; fun" in dashboard
    assert "<script>alert" not in dashboard
    assert "4.0" in dashboard  # the week's and the month's average
    # Other families, other coaches, the desk: no form.
    for user in (w.other_parent_user, w.player_user, w.coach_user, w.staff_user, w.coach2_user):
        assert client_for(user).get(url).status_code == 404, user


@pytest.mark.parametrize(
    "data, status, words",
    [
        ({"rating": "6"}, 400, "Select a valid choice"),
        ({"rating": ""}, 400, "This field is required"),
        ({"rating": "3", "comment": "x" * 501}, 400, "at most 500 characters"),
    ],
)
def test_bad_ratings_change_nothing(w, data, status, words):
    attendance = attendance_mark(actor=w.coach_user, reservation=w.leo, status="present")
    response = client_for(w.parent_user).post(reverse("feedback", args=[attendance.pk]), data)
    assert response.status_code == status and words in response.content.decode()
    assert not Feedback.objects.exists()


def test_an_absent_player_cannot_rate(w):
    attendance = attendance_mark(actor=w.coach_user, reservation=w.leo, status="absent")
    client = client_for(w.parent_user)
    url = reverse("feedback", args=[attendance.pk])
    assert "Only someone who was there" in client.get(url).content.decode()
    assert client.post(url, {"rating": "5"}).status_code == 409
    assert not Feedback.objects.exists()


# -- goals ----------------------------------------------------------------------------------------


def test_goals_from_the_dashboard_to_the_family(w):
    coach = client_for(w.coach_user)
    new = reverse("goal_new", args=[w.coach.pk])
    page = coach.get(new).content.decode()
    assert w.child.full_name in page and w.other_child.full_name not in page  # taught only
    response = coach.post(
        new,
        {"player": w.child.pk, "title": "Split step", "progress": "30", "target_date": ""},
        follow=True,
    )
    assert response.redirect_chain[-1][0] == reverse("coach_dashboard")
    goal = Goal.objects.get()
    assert (goal.player, goal.coach, goal.progress) == (w.child, w.coach, 30)

    dash = Page(response.content.decode())
    for htmx, expected in ((True, 40), (False, 50)):
        press(coach, dash, "step", f"{goal.pk}:10", htmx=htmx)
        goal.refresh_from_db()
        assert goal.progress == expected
    family = client_for(w.parent_user).get(reverse("parent_home")).content.decode()
    assert "Split step" in family and 'value="50"' in family
    assert (
        "Split step"
        not in client_for(w.other_parent_user).get(reverse("parent_home")).content.decode()
    )

    edit = reverse("goal_edit", args=[goal.pk])
    bad = coach.post(edit, {"title": "", "progress": "120"})
    assert bad.status_code == 400 and Goal.objects.get().title == "Split step"
    coach.post(edit, {"title": "Split step, always", "progress": "100", "notes": "Done!"})
    assert Goal.objects.get().is_done
    # A forged step or another coach's step.
    for value, status in [("x:10", 400), (f"{goal.pk}:abc", 400), (f"{goal.pk}:500", 400)]:
        response = press(coach, dash, "step", value, htmx=True, action=reverse("goal_step"))
        assert response.status_code == status, value
    assert (
        press(client_for(w.coach2_user), dash, "step", f"{goal.pk}:-10", htmx=True).status_code
        == 403
    )
    assert Goal.objects.get().progress == 100


# -- the dashboard and the desk -------------------------------------------------------------------


def test_the_dashboard_panels_and_the_polled_trend(w):
    a = attendance_mark(actor=w.coach_user, reservation=w.mia, status="present")
    feedback_save(attendance=a, actor=w.player_user, rating=5, comment="Brilliant")
    html = client_for(w.coach_user).get(reverse("coach_dashboard")).content.decode()
    for text in ("This week", "Activity", "Ratings and comments", "Clients", "Goals", "Brilliant"):
        assert text in html, text
    assert f"checked in <strong>{w.player.full_name}</strong>" in html
    # The trend polls (1-2 minutes, seed 002) and is a partial of its own.
    assert 'hx-trigger="every 90s"' in html and 'hx-swap="outerHTML"' in html
    trend = client_for(w.coach_user).get(reverse("coach_trend", args=[w.coach.pk]))
    assert (
        trend.status_code == 200
        and b'id="trend"' in trend.content
        and b"<html" not in trend.content
    )
    # Staff see the same dashboard from the front desk.
    desk = client_for(w.staff_user).get(reverse("staff_home")).content.decode()
    assert reverse("staff_coach", args=[w.coach.pk]) in desk


def test_the_front_desk_feed_marks_new_bookings_for_a_toast(w):
    early = w.session.starts_at - timedelta(days=2)
    reservation_create(player=w.child2, session=w.session, actor=w.parent_user, now=early)
    html = client_for(w.staff_user).get(reverse("staff_home") + f"?date={w.day}").content.decode()
    name = w.child2.full_name
    assert re.search(rf'data-toast="New booking: {name}, [^"]+"', html)
    assert f"booked <strong>{name}</strong>" in html
    assert "Morning Clinic" in html and "Not checked in yet" in html  # the day's board
    assert "desk.js" in html
    # Nobody but staff gets the desk.
    for user in (w.coach_user, w.parent_user):
        assert client_for(user).get(reverse("staff_home")).status_code == 403
    assert SessionReservation.objects.filter(player=w.child2).exists()


def test_the_coach_s_activity_names_colleagues_and_attendees_never_parents(w):
    """Who did it, as a coach may read it: a coach or the front desk by name, a player who
    booked for themselves by their name, a parent as "The family" (the desk names everyone)."""
    early = w.session.starts_at - timedelta(days=2)
    w.parent_user.first_name, w.parent_user.last_name = "Hannah", "Quincebury"
    w.parent_user.save()
    w.staff_user.first_name, w.staff_user.last_name = "Rebecca", "Hall"
    w.staff_user.save()
    reservation_create(player=w.child2, session=w.session, actor=w.parent_user, now=early)
    reservation_create(player=w.player, session=w.session, actor=w.player_user, now=early)
    reservation_create(player=w.other_child, session=w.session, actor=w.staff_user, now=early)
    coach = client_for(w.coach_user).get(reverse("coach_dashboard")).content.decode()
    assert f"<strong>The family</strong> booked <strong>{w.child2.full_name}</strong>" in coach
    assert f"<strong>{w.player.full_name}</strong> booked Group" in coach  # for herself
    assert f"<strong>Rebecca Hall</strong> booked <strong>{w.other_child.full_name}" in coach
    assert "Quincebury" not in coach
    desk = client_for(w.staff_user).get(reverse("staff_home")).content.decode()
    assert f"<strong>Hannah Quincebury</strong> booked <strong>{w.child2.full_name}" in desk
