"""The waiting list and the schedule through the pages, as a browser uses them: the day grid's
Join and Leave, the family list's Leave and Take the spot (HTMX and without JavaScript); the
front desk's new session and series, the edit form with its stale-save conflicts ("keep mine",
"take theirs"), a coach's notes, cancelling the following sessions of a series, coaches' hours.
Every test checks the database afterwards; a refused action changes nothing.
"""

# The fixtures shared with another test module are imported, and tests take them by name.
# ruff: noqa: F811

from __future__ import annotations

import re
from dataclasses import replace
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse

from bookings.live.grids import DayGrid
from bookings.live.lists import Reservations
from bookings.models import SessionReservation, WaitlistEntry
from bookings.services import (
    group_session_update,
    reservation_cancel,
    series_create,
    waitlist_join,
)
from bookings.services.sessions import SessionPlan, plan_of
from scheduling.models import Academy, CoachAvailability, CoachTimeOff, GroupSession
from tests.factories import days_ahead, local, make_player, make_user, reserve
from tests.test_pages_access import audit
from tests.test_pages_actions import (
    HX,
    Page,
    client_for,
    open_page,
    press,
    status_text,
    w,  # noqa: F401  # the fixture
)

pytestmark = pytest.mark.django_db

Status = WaitlistEntry.Status


@pytest.fixture
def full(w):
    """Coach's session (capacity 4) full with Mia, Kai and two others."""
    w.others = [make_player(w.academy, guardians=[make_user()]) for _ in range(2)]
    w.held = {p.pk: reserve(w.session, p) for p in (w.player, w.other_child, *w.others)}
    return w.session


def parent_schedule(w) -> str:
    return reverse("parent_schedule") + f"?date={w.day3}&player={w.child.pk}"


def fragment(client: Client, key: str) -> str:
    response = client.get(reverse("live_fragment", args=[key]))
    assert response.status_code == 200
    return response.content.decode()


# -- the waiting list on the day grid and the family's list -------------------------------------


@pytest.mark.parametrize("htmx", [True, False])
def test_a_parent_joins_from_the_day_grid_and_sees_the_place(w, full, htmx):
    client = client_for(w.parent_user)
    page = open_page(client, parent_schedule(w))
    row = re.search(rf'<li id="day-s{full.pk}".*?</li>', page.html, re.S).group(0)
    assert "Join the waiting list" in row and "Full" in row

    response = press(
        client,
        page,
        "session",
        full.pk,
        htmx=htmx,
        extra={"player": w.child.pk},
        action=reverse("waitlist_join"),
        follow=not htmx,
    )

    entry = WaitlistEntry.objects.get(session=full, player=w.child)
    assert entry.status == Status.WAITING
    text = status_text(response.content.decode())
    assert "Leo" in text and "is 1st on the waiting list" in text
    page = open_page(client, parent_schedule(w))
    assert "1 waiting" in page.html
    # The family's own list shows the place, with Leave (and the holdings the page marks).
    listed = fragment(client, Reservations.of_family(w.parent_user.pk).key)
    assert "1st in line" in listed and "Leave the list" in listed
    assert f'data-session="{full.pk}" data-player="{w.child.pk}" data-state="waiting"' in listed


def test_the_grids_buttons_for_every_state_are_in_the_one_render(w, full):
    html = fragment(client_for(w.player_user), DayGrid(w.academy.pk, w.day3).key)
    row = re.search(rf'<li id="day-s{full.pk}".*?</li>', html, re.S).group(0)
    for text in ("Join the waiting list", "Take the spot", "Leave the waiting list"):
        assert text in row
    assert f'data-type="{full.session_type_id}"' in row
    for name in (w.player.first_name, w.player.last_name):
        assert name not in html  # the shared grid carries no one's booking


@pytest.mark.parametrize("htmx", [True, False])
def test_leaving_from_the_list_and_from_the_grid(w, full, htmx):
    now = full.starts_at - timedelta(days=2)
    waitlist_join(player=w.child, session=full, actor=w.parent_user, now=now)
    waitlist_join(player=w.child2, session=full, actor=w.parent_user, now=now)
    client = client_for(w.parent_user)
    entry = WaitlistEntry.objects.get(session=full, player=w.child)
    page = open_page(client, reverse("parent_home") + "?tab=reservations")

    response = press(client, page, "entry", entry.pk, htmx=htmx, follow=not htmx)

    assert "left the waiting list" in status_text(response.content.decode())
    entry.refresh_from_db()
    assert entry.status == Status.LEFT
    # From the grid: by session, for the acting player.
    page = open_page(client, parent_schedule(w))
    press(
        client,
        page,
        "session",
        full.pk,
        htmx=True,
        action=reverse("waitlist_leave"),
        extra={"player": w.child2.pk},
    )
    assert not WaitlistEntry.objects.filter(session=full, status=Status.WAITING).exists()


def test_a_cancellation_promotes_and_the_family_list_shows_it(w, full):
    now = full.starts_at - timedelta(days=2)
    waitlist_join(player=w.child, session=full, actor=w.parent_user, now=now)
    client = client_for(w.player_user)
    page = open_page(client, reverse("player_home") + "?tab=reservations")

    press(client, page, "reservation", w.held[w.player.pk].pk, htmx=True)

    assert SessionReservation.objects.get(session=full, player=w.child).is_active
    listed = fragment(client_for(w.parent_user), Reservations.of_family(w.parent_user.pk).key)
    assert f'data-session="{full.pk}" data-player="{w.child.pk}" data-state="reserved"' in listed


def test_taking_an_offered_spot(w, full):
    Academy.objects.filter(pk=w.academy.pk).update(late_waitlist="offer")
    waitlist_join(
        player=w.child, session=full, actor=w.parent_user, now=full.starts_at - timedelta(days=2)
    )
    # Inside the cut-off the front desk cancels Mia: the spot is offered to Leo (held until the
    # session starts, the claim window being longer than what is left).
    reservation_cancel(
        reservation=w.held[w.player.pk], actor=w.staff_user, now=full.starts_at - timedelta(hours=1)
    )
    entry = WaitlistEntry.objects.get(session=full, player=w.child)
    assert entry.status == Status.OFFERED
    client = client_for(w.parent_user)
    page = open_page(client, reverse("parent_home") + "?tab=reservations")
    assert "A spot is held until" in page.html

    response = press(client, page, "entry", entry.pk, htmx=True, action=reverse("waitlist_claim"))

    assert "Reserved" in status_text(response.content.decode())
    assert SessionReservation.objects.get(session=full, player=w.child).is_active


def test_waitlist_refusals_and_bad_input(w, full):
    client = client_for(w.parent_user)
    page = open_page(client, parent_schedule(w))
    session2 = w.session2  # not full
    response = press(
        client,
        page,
        "session",
        session2.pk,
        htmx=True,
        action=reverse("waitlist_join"),
        extra={"player": w.child.pk},
    )
    assert response.status_code == 409
    assert "There is a free spot: reserve it instead" in response.content.decode()
    # Another family's child, someone else's entry, forged and malformed ids.
    response = press(
        client,
        page,
        "session",
        full.pk,
        htmx=True,
        action=reverse("waitlist_join"),
        extra={"player": w.other_child.pk},
    )
    assert response.status_code == 403
    now = full.starts_at - timedelta(days=2)
    theirs = waitlist_join(player=w.child2, session=full, actor=w.staff_user, now=now)
    other = client_for(w.other_parent_user)
    assert (
        other.post(reverse("waitlist_leave"), {"entry": theirs.pk}, headers=HX).status_code == 403
    )
    assert (
        other.post(reverse("waitlist_claim"), {"entry": theirs.pk}, headers=HX).status_code == 403
    )
    assert (
        client.post(reverse("waitlist_leave"), {"entry": 99999999}, headers=HX).status_code == 404
    )
    assert client.post(reverse("waitlist_join"), {"session": "x1"}, headers=HX).status_code == 400
    assert client.get(reverse("waitlist_join")).status_code == 405
    anonymous = Client().post(reverse("waitlist_join"), {"session": full.pk, "player": w.child.pk})
    assert anonymous.status_code == 302 and anonymous["Location"].startswith(reverse("login"))
    assert WaitlistEntry.objects.get(pk=theirs.pk).status == Status.WAITING


def test_holdings_name_the_types_closed_to_each_child(w):
    w.session.session_type.min_age = 18
    w.session.session_type.save()
    w.child.birth_date = w.session.starts_at.date() - timedelta(days=365 * 10)
    w.child.save()
    listed = fragment(client_for(w.parent_user), Reservations.of_family(w.parent_user.pk).key)
    holder = re.search(rf'<li data-holder="{w.child.pk}" data-closed="([^"]*)">', listed)
    assert holder and f" {w.session.session_type_id} " in holder.group(1)
    grid = fragment(client_for(w.parent_user), DayGrid(w.academy.pk, w.day3).key)
    assert "Ages 18 and over" in grid


# -- the front desk: a new session or series -----------------------------------------------------


def new_form(w, **fields):
    day = days_ahead(6)
    return {
        "session_type": w.group_type.pk,
        "title": "Performance squad",
        "day": day.isoformat(),
        "start": "18:30",
        "end": "20:00",
        "court": w.court.pk,
        "coaches": [w.coach.pk],
        "capacity": 8,
        "notes": "Bring two rackets",
        "repeat_until": "",
        "skip": "",
        **fields,
    }


def test_staff_create_a_single_session(w):
    client = client_for(w.staff_user)
    response = client.post(reverse("session_new"), new_form(w), follow=True)

    made = GroupSession.objects.get(title="Performance squad")
    assert made.notes == "Bring two rackets" and list(made.coaches.all()) == [w.coach]
    assert made.starts_at.astimezone(w.academy.tz).strftime("%H:%M") == "18:30"
    assert "Created Performance squad" in status_text(response.content.decode())
    assert response.redirect_chain[-1][0].startswith(reverse("staff_sessions"))


def test_staff_create_a_weekly_series_skipping_a_day(w):
    client = client_for(w.staff_user)
    first = days_ahead(6)
    skipped = first + timedelta(weeks=2)
    form = new_form(
        w, repeat_until=(first + timedelta(weeks=5)).isoformat(), skip=skipped.isoformat()
    )

    response = client.post(reverse("session_new"), form, follow=True)

    made = GroupSession.objects.filter(title="Performance squad")
    assert made.count() == 5
    assert "Created 5 sessions" in status_text(response.content.decode())
    days = {s.starts_at.astimezone(w.academy.tz).date() for s in made}
    assert skipped not in days


@pytest.mark.parametrize(
    "fields, error",
    [
        ({"end": "18:00"}, "A session must end after it starts."),
        ({"skip": "27 Oct", "repeat_until": days_ahead(40).isoformat()}, "Write dates as"),
        ({"skip": days_ahead(7).isoformat()}, "Only a weekly series has dates to skip."),
        ({"day": "2999-01-01"}, "Choose a date within a year of today."),
        ({"capacity": "0"}, "greater than or equal to 1"),
        ({"session_type": "0"}, "Select a valid choice."),
    ],
)
def test_new_session_form_errors(w, fields, error):
    response = client_for(w.staff_user).post(reverse("session_new"), new_form(w, **fields))
    assert response.status_code == 200
    assert error in response.content.decode()
    assert not GroupSession.objects.filter(title="Performance squad").exists()


def test_a_clash_is_named_on_the_form(w):
    form = new_form(w, day=w.day3.isoformat(), start="09:30", end="10:30", court="")
    response = client_for(w.staff_user).post(reverse("session_new"), form)
    html = response.content.decode()
    assert response.status_code == 200
    assert "is teaching then:" in html and "Forehand Clinic" in html


# -- editing a session: conflicts --------------------------------------------------------------


def edit_fields(page: Page, **changes) -> dict:
    fields = dict(page.forms["session-form"]["fields"])
    fields.pop("confirm_moves", None)
    html = page.html
    fields["coaches"] = re.findall(r'name="coaches" value="(\d+)"[^>]*checked', html)
    fields["notes"] = (
        re.search(r'<textarea name="notes"[^>]*>(.*?)</textarea>', html, re.S).group(1).strip()
    )
    fields["scope"] = "one"
    return {**fields, **changes}


def test_staff_edit_a_session(w):
    client = client_for(w.staff_user)
    url = reverse("session_edit", args=[w.session.pk])
    page = open_page(client, url)
    assert 'data-live="editor:' in page.html  # told live of others' saves

    response = client.post(url, edit_fields(page, capacity="6"), follow=True)

    assert "Saved Forehand Clinic" in status_text(response.content.decode())
    assert GroupSession.objects.get(pk=w.session.pk).capacity == 6


def test_a_stale_save_shows_both_values_and_keep_mine_or_take_theirs(w):
    client = client_for(w.staff_user)
    url = reverse("session_edit", args=[w.session.pk])
    page = open_page(client, url)
    theirs = replace(plan_of(w.session), capacity=10, notes="Balls in the shed")
    group_session_update(session=w.session, plan=theirs, actor=w.admin_user)

    response = client.post(url, edit_fields(page, capacity="7", notes="Serve work"))

    html = response.content.decode()
    assert response.status_code == 200
    assert "Someone else saved this session while you were editing" in html
    rows = re.findall(r'<th scope="row">(.*?)</th>\s*<td>(.*?)</td>\s*<td>(.*?)</td>', html)
    assert rows == [("Capacity", "7", "10"), ("Notes", "Serve work", "Balls in the shed")]
    assert GroupSession.objects.get(pk=w.session.pk).capacity == 10  # nothing written
    a11y = audit(html)
    assert all(c.get("id") in a11y.label_for for c in a11y.controls if c.get("type") == "radio")

    # Keep my capacity, take their notes.
    conflict = Page(html)
    fields = edit_fields(conflict, choose_capacity="mine", choose_notes="theirs")
    fields["notes"] = "Serve work"  # what the user wrote stays in the input
    response = client.post(url, fields, follow=True)

    saved = GroupSession.objects.get(pk=w.session.pk)
    assert (saved.capacity, saved.notes) == (7, "Balls in the shed")
    assert "Saved" in status_text(response.content.decode())


def test_keep_mine_is_still_refused_below_the_reservations(w):
    client = client_for(w.staff_user)
    url = reverse("session_edit", args=[w.session.pk])
    page = open_page(client, url)
    for p in (w.player, w.child, w.child2):
        reserve(w.session, p)
    response = client.post(url, edit_fields(page, capacity="2"))
    assert "Capacity cannot be lower than the 3 reservations" in response.content.decode()
    assert GroupSession.objects.get(pk=w.session.pk).capacity == 4


def test_a_coach_edits_only_the_notes_of_their_session(w):
    client = client_for(w.coach_user)
    url = reverse("session_edit", args=[w.session.pk])
    page = open_page(client, url)
    assert 'name="capacity"' not in page.html and 'name="notes"' in page.html
    fields = dict(page.forms["session-form"]["fields"])

    response = client.post(
        url, {**fields, "notes": "Cones on court", "capacity": "40"}, follow=True
    )

    saved = GroupSession.objects.get(pk=w.session.pk)
    assert (saved.notes, saved.capacity) == ("Cones on court", 4)
    assert "Saved the notes" in status_text(response.content.decode())
    assert client_for(w.coach2_user).get(url).status_code == 403
    assert "Cones on court" in open_page(client, reverse("coach_sessions")).html


def test_moving_a_booked_session_asks_first(w):
    reserve(w.session, w.player)
    client = client_for(w.staff_user)
    url = reverse("session_edit", args=[w.session.pk])
    page = open_page(client, url)
    response = client.post(url, edit_fields(page, start="11:00", end="12:00"))
    assert "Confirm to move it" in response.content.decode()
    client.post(url, edit_fields(page, start="11:00", end="12:00", confirm_moves="on"))
    moved = GroupSession.objects.get(pk=w.session.pk)
    assert moved.starts_at.astimezone(w.academy.tz).strftime("%H:%M") == "11:00"
    assert SessionReservation.objects.get(session=moved, player=w.player).is_active


# -- series through the pages ------------------------------------------------------------------


@pytest.fixture
def term(w):
    starts = local(w.academy, days_ahead(8), 19)
    plan = SessionPlan(
        session_type=w.group_type,
        starts_at=starts,
        ends_at=starts + timedelta(hours=1),
        capacity=6,
        coaches=[w.coach2],
        title="Evening squad",
    )
    series = series_create(
        academy=w.academy, plan=plan, until=days_ahead(8 + 28), actor=w.staff_user
    )
    return list(series.occurrences.order_by("starts_at"))


def test_this_and_the_following_sessions(w, term):
    client = client_for(w.staff_user)
    url = reverse("session_edit", args=[term[2].pk])
    page = open_page(client, url)
    assert "This and the following sessions of the series" in page.html

    client.post(url, edit_fields(page, capacity="9", scope="following"))

    assert [GroupSession.objects.get(pk=s.pk).capacity for s in term] == [6, 6, 9, 9, 9]
    page = open_page(
        client, reverse("series_detail", args=[GroupSession.objects.get(pk=term[2].pk).series_id])
    )
    assert "Evening squad" in page.html


def test_cancelling_the_following_sessions_asks_first(w, term):
    client = client_for(w.staff_user)
    url = reverse("series_cancel", args=[term[3].pk])
    response = client.post(url)
    assert "Cancel this and the following sessions?" in response.content.decode()
    assert not GroupSession.objects.get(pk=term[3].pk).is_cancelled

    response = client.post(url, {"confirmed": "yes"}, follow=True)

    assert [GroupSession.objects.get(pk=s.pk).is_cancelled for s in term] == [False] * 3 + [
        True
    ] * 2
    assert "Cancelled 2 sessions" in status_text(response.content.decode())
    assert client_for(w.coach2_user).post(url, {"confirmed": "yes"}).status_code == 403


# -- coaches' hours ---------------------------------------------------------------------------


def test_hours_and_time_off_kept_by_staff_and_the_coach(w):
    url = reverse("coach_hours", args=[w.coach.pk])
    for user in (w.staff_user, w.coach_user):
        client = client_for(user)
        response = client.post(
            reverse("window_add", args=[w.coach.pk]),
            {
                "session_type": w.lesson_type.pk,
                "weekday": 0,
                "start_time": "06:00",
                "end_time": "07:00",
            },
            follow=True,
        )
        assert "Added Monday 06:00\u201307:00" in status_text(response.content.decode())
        window = CoachAvailability.objects.get(coach=w.coach, start_time="06:00")
        client.post(reverse("window_remove", args=[w.coach.pk, window.pk]))
        assert not CoachAvailability.objects.filter(pk=window.pk).exists()
    client = client_for(w.coach_user)
    response = client.post(
        reverse("window_add", args=[w.coach.pk]),
        {
            "session_type": w.lesson_type.pk,
            "weekday": 0,
            "start_time": "09:00",
            "end_time": "10:00",
        },
    )
    assert response.status_code == 409 and "overlaps" in response.content.decode()
    day = days_ahead(3).isoformat()
    response = client.post(
        reverse("away_add", args=[w.coach.pk]),
        {
            "from_day": day,
            "from_time": "09:00",
            "to_day": day,
            "to_time": "11:00",
            "reason": "Dentist",
        },
    )
    assert (
        response.status_code == 409 and "teaches then: Forehand Clinic" in response.content.decode()
    )
    response = client.post(
        reverse("away_add", args=[w.coach.pk]),
        {
            "from_day": day,
            "from_time": "06:00",
            "to_day": day,
            "to_time": "07:00",
            "reason": "Dentist",
        },
        follow=True,
    )
    assert CoachTimeOff.objects.filter(coach=w.coach, reason="Dentist").exists()
    assert open_page(client, url)
    assert client_for(w.coach2_user).get(url).status_code == 403
    assert client_for(w.coach_user).get(reverse("my_hours"))["Location"] == url
    assert (
        client_for(w.staff_user)
        .post(reverse("away_add", args=[w.coach.pk]), {"from_day": "x"})
        .status_code
        == 400
    )
