"""Reserve, book and cancel through the pages, by HTMX and without JavaScript.

Every action is done the way a browser does it: open the page, take the one form `#act-form`
(CSRF aside: the test client skips it), press a button that the page shows (its name, value and
formaction), and post. The HTMX path sends `HX-Request: true` and gets out-of-band fragments;
the plain path posts, follows the redirect and reads the message and the new state on the page.
Every test asserts the database afterwards, and a refused action must change nothing.
"""

from __future__ import annotations

import re
from datetime import timedelta
from html.parser import HTMLParser
from types import SimpleNamespace

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from bookings.live.calendars import StaffCalendar
from bookings.live.lists import Reservations, Schedule
from bookings.models import IdempotencyKey, IndividualBooking, SessionReservation
from realtime.streams import dom_id
from scheduling.models import GroupSession
from tests.factories import (
    book,
    build_world,
    days_ahead,
    local,
    make_session,
    reserve,
)

pytestmark = pytest.mark.django_db

HX = {"HX-Request": "true"}


# -- reading pages like a browser -----------------------------------------------------------------


class Page(HTMLParser):
    """The forms (with their fields) and the buttons of one page."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.html = html
        self.forms: dict[str, dict] = {}
        self.buttons: list[dict[str, str]] = []
        self._form: dict | None = None
        self._select: str | None = None
        self.feed(html)
        self.close()

    def handle_starttag(self, tag, attrs):
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self._form = {"action": a.get("action", ""), "fields": {}}
            self.forms[a.get("id") or f"form{len(self.forms)}"] = self._form
        elif tag == "input" and self._form is not None and a.get("name"):
            self._form["fields"][a["name"]] = a.get("value", "")
        elif tag == "select" and self._form is not None:
            self._select = a.get("name")
        elif tag == "option" and self._select and self._form is not None:
            fields = self._form["fields"]
            if self._select not in fields or "selected" in a:
                fields[self._select] = a.get("value", "")
        elif tag == "button":
            self.buttons.append(a)

    def handle_endtag(self, tag):
        if tag == "form":
            self._form = None
        elif tag == "select":
            self._select = None

    def button(self, name: str, value: object) -> dict[str, str] | None:
        return next(
            (
                b
                for b in self.buttons
                if b.get("name") == name and b.get("value") == str(value) and b.get("form")
            ),
            None,
        )


def open_page(client: Client, url: str) -> Page:
    response = client.get(url)
    assert response.status_code == 200, url
    return Page(response.content.decode())


def press(
    client: Client,
    page: Page,
    name: str,
    value: object,
    *,
    htmx: bool,
    extra: dict | None = None,
    action: str | None = None,
    follow: bool = False,
):
    """Press the page's button name=value (it must be on the page unless `action` is given)."""
    button = page.button(name, value)
    if action is None:
        assert button is not None, f"no button {name}={value} on the page"
        assert button["form"] == "act-form"
        action = button["formaction"]
    data = {**page.forms["act-form"]["fields"], name: str(value), **(extra or {})}
    return client.post(action, data, headers=HX if htmx else {}, follow=follow)


def confirm(client: Client, response):
    """On the no-JS confirmation page, press "Yes, cancel it" and follow the redirect."""
    assert response.status_code == 200
    page = Page(response.content.decode())
    assert "Yes, cancel it" in page.html
    form = next(f for f in page.forms.values() if f["fields"].get("confirmed") == "yes")
    return client.post(form["action"], form["fields"], follow=True)


def status_text(html: str) -> str:
    """The text of the #status region (where messages are announced)."""
    start = html.index('id="status"')
    return html[start : html.index("</div>", start)]


def snapshot() -> dict[str, list[dict]]:
    models = (SessionReservation, IndividualBooking, GroupSession, IdempotencyKey)
    return {m.__name__: list(m.objects.order_by("pk").values()) for m in models}


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def slot(coach, session_type, starts_at) -> str:
    return f"{coach.pk}|{session_type.pk}|{starts_at.isoformat()}"


# -- the world ----------------------------------------------------------------------------------


@pytest.fixture
def w(db) -> SimpleNamespace:
    w = build_world()
    w.session.title = "Forehand Clinic"  # coach's, days_ahead(3) 10:00, capacity 4
    w.session.save()
    w.session2.title = "Serve Lab"  # coach2's, days_ahead(4) 10:00
    w.session2.save()
    w.day3 = days_ahead(3)
    w.lesson_day = days_ahead(5)
    w.lesson_at = local(w.academy, w.lesson_day, 10)
    return w


def schedule_url(w, page: str, day=None) -> str:
    day = (day or w.day3).isoformat()
    query = f"?date={day}&coach={w.coach.pk}&type={w.lesson_type.pk}"
    if page == "staff_player_book":
        return reverse(page, args=[w.player.pk]) + query
    return reverse(page) + query


# (who, page, for whom): every page that books
BOOKING_PAGES = [
    ("player_user", "player_schedule", "player"),
    ("parent_user", "parent_schedule", "child"),
    ("staff_user", "staff_player_book", "player"),
]


# -- reserve ------------------------------------------------------------------------------------


@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "nojs"])
@pytest.mark.parametrize(("who", "page_name", "whom"), BOOKING_PAGES)
def test_reserve_through_each_page(w, who, page_name, whom, htmx):
    client = client_for(getattr(w, who))
    player = getattr(w, whom)
    page = open_page(client, schedule_url(w, page_name))
    assert "4 of 4 spots left" in page.html
    response = press(
        client, page, "session", w.session.pk, htmx=htmx, extra={"player": player.pk}, follow=True
    )
    assert response.status_code == 200
    html = response.content.decode()
    message = f"Reserved Forehand Clinic for {player.full_name}"
    assert message in status_text(html)
    assert "3 of 4 spots left" in html  # the day's sessions, re-rendered
    if htmx:
        assert response.redirect_chain == []
        assert f'id="msg-session-{w.session.pk}"' in html  # the message next to the button
        assert 'id="act-nonce"' in html and html.count('hx-swap-oob="true"') >= 2  # new nonce
        assert "hx-swap-oob" in html.split(message)[0]  # fragments come out of band
    else:
        assert response.redirect_chain == [(page.forms["act-form"]["fields"]["next"], 302)]
    # the page's list of what is booked now has it
    shown = (
        Reservations.of_family(w.parent_user.pk)
        if page_name == "parent_schedule"
        else Reservations.of_player(player.pk)
    )
    listed = html[html.index(f'id="{dom_id(shown.key)}"') :]
    assert "Forehand Clinic" in listed
    reservation = SessionReservation.objects.get(session=w.session, player=player)
    assert reservation.is_active and reservation.reserved_by == getattr(w, who)
    w.session.refresh_from_db()
    assert w.session.reserved_count == 1


# -- book a lesson ------------------------------------------------------------------------------


@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "nojs"])
@pytest.mark.parametrize(("who", "page_name", "whom"), BOOKING_PAGES)
def test_book_through_each_page(w, who, page_name, whom, htmx):
    client = client_for(getattr(w, who))
    player = getattr(w, whom)
    page = open_page(client, schedule_url(w, page_name, w.lesson_day))
    value = slot(w.coach, w.lesson_type, w.lesson_at)
    response = press(
        client, page, "slot", value, htmx=htmx, extra={"player": player.pk}, follow=True
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert f"Booked {w.lesson_type.name} with {w.coach.display_name} for {player.full_name}" in (
        status_text(html)
    )
    assert f'value="{value}"' not in html  # the slot is no longer offered
    lesson = IndividualBooking.objects.get(player=player)
    assert lesson.is_active and lesson.coach == w.coach and lesson.starts_at == w.lesson_at
    assert lesson.booked_by == getattr(w, who)


# -- cancel ------------------------------------------------------------------------------------


CANCEL_PAGES = [
    # (who, the page with the Cancel button, whose reservation)
    pytest.param(
        "player_user",
        lambda w: reverse("player_home") + "?tab=reservations",
        "player",
        id="player_home",
    ),
    pytest.param(
        "parent_user",
        lambda w: reverse("parent_home") + "?tab=reservations",
        "child",
        id="parent_home",
    ),
    pytest.param(
        "staff_user",
        lambda w: reverse("staff_player", args=[w.player.pk]) + "?tab=reservations",
        "player",
        id="staff_player",
    ),
    pytest.param(
        "coach_user",
        lambda w: reverse("coach_home") + f"?date={w.day3.isoformat()}",
        "player",
        id="coach_home",
    ),
    pytest.param(
        "coach_user",
        lambda w: reverse("calendar_session", args=[w.session.pk]),
        "child",
        id="coach_schedule",
    ),
    pytest.param(
        "staff_user",
        lambda w: reverse("calendar_session", args=[w.session.pk]),
        "child",
        id="staff_calendar",
    ),
]


@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "nojs"])
@pytest.mark.parametrize(("who", "url", "whose"), CANCEL_PAGES)
def test_cancel_a_reservation_through_each_page(w, who, url, whose, htmx):
    player = getattr(w, whose)
    reservation = reserve(w.session, player)
    reserve(w.session, w.other_child)
    client = client_for(getattr(w, who))
    page = open_page(client, url(w))
    response = press(client, page, "reservation", reservation.pk, htmx=htmx)
    if not htmx:
        # without JavaScript the cancel asks first, on a page of its own; nothing changed yet
        html = response.content.decode()
        assert "Cancel this booking?" in html and "Forehand Clinic" in html
        assert player.full_name in html
        assert SessionReservation.objects.get(pk=reservation.pk).is_active
        response = confirm(client, response)
    html = response.content.decode()
    assert f"Cancelled Forehand Clinic for {player.full_name}" in status_text(html)
    reservation.refresh_from_db()
    assert not reservation.is_active and reservation.cancelled_by == getattr(w, who)
    w.session.refresh_from_db()
    assert w.session.reserved_count == 1  # the other child's stays
    assert SessionReservation.objects.get(player=w.other_child).is_active


@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "nojs"])
def test_cancel_a_lesson_from_the_home_page(w, htmx):
    lesson = book(w.coach, w.player, w.lesson_type, w.lesson_at)
    client = client_for(w.player_user)
    page = open_page(client, reverse("player_home") + "?tab=reservations")
    response = press(client, page, "booking", lesson.pk, htmx=htmx)
    if not htmx:
        assert w.lesson_type.name in response.content.decode()
        response = confirm(client, response)
    assert f"Cancelled {w.lesson_type.name} for {w.player.full_name}" in response.content.decode()
    lesson.refresh_from_db()
    assert not lesson.is_active


def test_the_confirmation_page_changes_nothing_until_confirmed(w):
    reservation = reserve(w.session, w.player)
    client = client_for(w.player_user)
    before = snapshot()
    response = client.post(
        reverse("cancel"), {"reservation": reservation.pk, "next": reverse("player_home")}
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert 'name="confirmed" value="yes"' in html
    assert f'href="{reverse("player_home")}"' in html  # "No, keep it" goes back
    assert snapshot() == before
    response = client.post(
        reverse("cancel"),
        {"reservation": reservation.pk, "confirmed": "no", "next": reverse("player_home")},
    )
    assert response.status_code == 200 and snapshot() == before
    response = client.post(
        reverse("cancel"),
        {"reservation": reservation.pk, "confirmed": "yes", "next": reverse("player_home")},
    )
    assert response.status_code == 302 and response["Location"] == reverse("player_home")
    assert not SessionReservation.objects.get(pk=reservation.pk).is_active


# -- cancelling a whole session -----------------------------------------------------------------


def test_coach_cancels_their_session_by_htmx(w):
    mine = reserve(w.session, w.player)
    leo = reserve(w.session, w.child)
    client = client_for(w.coach_user)
    page = open_page(client, reverse("coach_home") + f"?date={w.day3.isoformat()}")
    response = press(client, page, "session", w.session.pk, htmx=True)
    assert response.status_code == 200
    html = response.content.decode()
    assert "Cancelled the session Forehand Clinic" in html
    assert "No sessions on this day." in html  # the coach's day, re-rendered without it
    w.session.refresh_from_db()
    assert w.session.is_cancelled and w.session.reserved_count == 0
    for r in (mine, leo):
        r.refresh_from_db()
        assert not r.is_active and r.cancelled_by == w.coach_user


def test_staff_cancel_a_session_without_javascript(w):
    kai = reserve(w.session2, w.other_child)
    client = client_for(w.staff_user)
    page = open_page(client, reverse("calendar_session", args=[w.session2.pk]))
    response = press(client, page, "session", w.session2.pk, htmx=False)
    html = response.content.decode()
    assert "Cancel the whole session?" in html and "Serve Lab" in html
    assert not GroupSession.objects.get(pk=w.session2.pk).is_cancelled
    response = confirm(client, response)
    assert "Cancelled the session Serve Lab" in status_text(response.content.decode())
    assert GroupSession.objects.get(pk=w.session2.pk).is_cancelled
    kai.refresh_from_db()
    assert not kai.is_active


@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "nojs"])
def test_a_coach_may_not_cancel_another_coachs_session(w, htmx):
    reserve(w.session2, w.other_child)
    client = client_for(w.coach_user)
    page = open_page(client, reverse("coach_schedule") + f"?date={days_ahead(4).isoformat()}")
    assert page.button("session", w.session2.pk) is None  # not offered
    before = snapshot()
    response = press(
        client, page, "session", w.session2.pk, htmx=htmx, action=reverse("session_cancel")
    )
    if htmx:
        assert response.status_code == 403
        assert "You are not allowed to do that." in response.content.decode()
    else:
        # no confirmation page for what one may not do (it would show the session to anyone)
        assert response.status_code == 302
        assert "Serve Lab" not in response.content.decode()
        follow = client.get(response["Location"])
        assert "You are not allowed to do that." in status_text(follow.content.decode())
    assert snapshot() == before


def test_players_and_foreign_staff_may_not_cancel_sessions(w):
    for user in (w.player_user, w.parent_user, w.foreign_staff_user, w.foreign_coach_user):
        before = snapshot()
        response = client_for(user).post(
            reverse("session_cancel"), {"session": w.session.pk}, headers=HX
        )
        assert response.status_code == 403, user
        assert snapshot() == before


def test_session_cancel_errors(w):
    client = client_for(w.staff_user)
    url = reverse("session_cancel")
    assert client.post(url, {"session": "abc"}, headers=HX).status_code == 400
    assert client.post(url, {}, headers=HX).status_code == 400
    assert client.post(url, {"session": "999999999"}, headers=HX).status_code == 404
    assert client.post(url, {"session": w.session.pk}, headers=HX).status_code == 200
    response = client.post(url, {"session": w.session.pk}, headers=HX)
    assert response.status_code == 409
    assert "already been cancelled" in response.content.decode()


# -- error codes --------------------------------------------------------------------------------


def stale_reserve(w, client, *, htmx, before_post=None):
    """Open the player's booking page, let the world change, then press Reserve on it."""
    page = open_page(client, schedule_url(w, "player_schedule"))
    if before_post:
        before_post()
    before = snapshot()
    response = press(client, page, "session", w.session.pk, htmx=htmx, action=reverse("reserve"))
    return response, before


def assert_refused(client, response, before, *, htmx, status, message):
    """The action changed nothing and said why (HTMX: status + message; plain: redirect)."""
    assert snapshot() == before
    if htmx:
        assert response.status_code == status
        html = response.content.decode()
        assert message in html
        assert 'id="act-nonce"' not in html  # the same form may be sent again
        return html
    assert response.status_code == 302
    page = client.get(response["Location"])
    assert page.status_code == 200
    html = page.content.decode()
    assert message in status_text(html)
    return html


@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "nojs"])
def test_session_full(w, htmx):
    client = client_for(w.player_user)
    w.session.capacity = 1
    w.session.save()

    response, before = stale_reserve(
        w, client, htmx=htmx, before_post=lambda: reserve(w.session, w.other_child)
    )
    html = assert_refused(
        client, response, before, htmx=htmx, status=409, message="This session is full."
    )
    assert "Full" in html  # the re-rendered day shows it full
    assert not SessionReservation.objects.filter(player=w.player).exists()


@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "nojs"])
def test_already_reserved_points_at_the_list(w, htmx):
    client = client_for(w.player_user)
    reserve(w.session, w.player)
    response, before = stale_reserve(w, client, htmx=htmx)
    message = f"{w.player.full_name} is already booked on this session (reserved "
    html = assert_refused(client, response, before, htmx=htmx, status=409, message=message)
    # the page's list of what is booked comes back with the existing reservation in it
    list_id = dom_id(Reservations.of_player(w.player.pk).key)
    assert f'id="{list_id}"' in html
    listed = html[html.index(f'id="{list_id}"') :]
    assert "Forehand Clinic" in listed
    assert SessionReservation.objects.filter(player=w.player).count() == 1


@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "nojs"])
def test_session_past_and_cancelled(w, htmx):
    client = client_for(w.player_user)
    started = make_session(
        w.academy,
        coaches=[w.coach],
        starts_at=timezone.now() - timedelta(minutes=10),
    )
    cancelled = make_session(w.academy, coaches=[w.coach], starts_at=local(w.academy, w.day3, 14))
    cancelled.status = GroupSession.Status.CANCELLED
    cancelled.save()
    page = open_page(client, schedule_url(w, "player_schedule"))
    for session, message in (
        (started, "This session has already started."),
        (cancelled, "This session has been cancelled."),
    ):
        before = snapshot()
        response = press(client, page, "session", session.pk, htmx=htmx, action=reverse("reserve"))
        assert_refused(client, response, before, htmx=htmx, status=409, message=message)


@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "nojs"])
def test_player_busy_with_a_lesson_at_the_time(w, htmx):
    client = client_for(w.player_user)
    response, before = stale_reserve(
        w,
        client,
        htmx=htmx,
        before_post=lambda: book(w.coach2, w.player, w.lesson_type, w.session.starts_at),
    )
    message = "The player already has a session at that time."
    assert_refused(client, response, before, htmx=htmx, status=409, message=message)
    assert not SessionReservation.objects.filter(player=w.player).exists()


def test_beyond_the_horizon(w):
    client = client_for(w.player_user)
    far = make_session(w.academy, starts_at=local(w.academy, days_ahead(40), 10))
    page = open_page(client, schedule_url(w, "player_schedule"))
    before = snapshot()
    response = press(client, page, "session", far.pk, htmx=True, action=reverse("reserve"))
    assert_refused(client, response, before, htmx=True, status=409, message="too far ahead")
    # staff may book beyond it
    staff = client_for(w.staff_user)
    page = open_page(staff, schedule_url(w, "staff_player_book"))
    response = press(staff, page, "session", far.pk, htmx=True, action=reverse("reserve"))
    assert response.status_code == 200
    assert SessionReservation.objects.get(session=far, player=w.player).is_active


@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "nojs"])
def test_cutoff_passed(w, htmx):
    soon = make_session(w.academy, coaches=[w.coach], starts_at=timezone.now() + timedelta(hours=2))
    reservation = reserve(soon, w.player)
    lesson = book(w.coach, w.player, w.lesson_type, timezone.now() + timedelta(hours=4))
    client = client_for(w.player_user)
    page = open_page(client, reverse("player_home") + "?tab=reservations")
    assert page.button("reservation", reservation.pk) is None  # the list says it is too late
    assert "Too late to cancel online" in page.html
    extra = {} if htmx else {"confirmed": "yes"}
    for name, pk in (("reservation", reservation.pk), ("booking", lesson.pk)):
        before = snapshot()
        response = press(client, page, name, pk, htmx=htmx, extra=extra, action=reverse("cancel"))
        assert_refused(
            client, response, before, htmx=htmx, status=409, message="too late to cancel online"
        )
    # the coach of the session still may
    coach = client_for(w.coach_user)
    response = coach.post(reverse("cancel"), {"reservation": reservation.pk}, headers=HX)
    assert response.status_code == 200
    assert not SessionReservation.objects.get(pk=reservation.pk).is_active


def test_cancelling_twice(w):
    reservation = reserve(w.session, w.player)
    client = client_for(w.player_user)
    data = {"reservation": reservation.pk}
    assert client.post(reverse("cancel"), data, headers=HX).status_code == 200
    before = snapshot()
    response = client.post(reverse("cancel"), data, headers=HX)
    assert response.status_code == 409
    assert "already been cancelled" in response.content.decode()
    assert snapshot() == before


@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "nojs"])
def test_lesson_errors(w, htmx):
    """slot_taken, coach_busy, player_busy, slot_unavailable, not_individual: each on a page the
    player loaded before the world changed."""
    client = client_for(w.player_user)
    page = open_page(client, schedule_url(w, "player_schedule", w.lesson_day))
    day3_10 = local(w.academy, w.day3, 10)  # coach teaches Forehand Clinic then
    day4_10 = local(w.academy, days_ahead(4), 10)  # Serve Lab (coach2), Mia reserves it
    reserve(w.session2, w.player)
    book(w.coach, w.other_child, w.lesson_type, w.lesson_at)  # someone else took it
    cases = [
        (slot(w.coach, w.lesson_type, w.lesson_at), "That time slot has just been taken."),
        (slot(w.coach, w.lesson_type, day3_10), "The coach is busy at that time."),
        (slot(w.coach, w.lesson_type, day4_10), "The player already has a session at that time."),
        (
            slot(w.coach, w.lesson_type, local(w.academy, w.lesson_day, 3)),
            "The coach does not offer a lesson at that time.",
        ),
        (
            slot(w.coach, w.group_type, local(w.academy, w.lesson_day, 11)),
            "That session type is not an individual lesson.",
        ),
        (
            slot(w.coach, w.lesson_type, local(w.academy, days_ahead(40), 10)),
            "That is too far ahead to book yet.",
        ),
        (
            slot(w.coach, w.lesson_type, local(w.academy, days_ahead(-1), 10)),
            "This session has already started.",
        ),
    ]
    for value, message in cases:
        before = snapshot()
        response = press(client, page, "slot", value, htmx=htmx, action=reverse("book"))
        assert_refused(client, response, before, htmx=htmx, status=409, message=message)
    assert not IndividualBooking.objects.filter(player=w.player).exists()


def test_too_soon(w):
    w.academy.min_notice_minutes = 3 * 24 * 60
    w.academy.save()
    client = client_for(w.player_user)
    page = open_page(client, schedule_url(w, "player_schedule", days_ahead(1)))
    value = slot(w.coach, w.lesson_type, local(w.academy, days_ahead(1), 10))
    assert f'value="{value}"' not in page.html  # shown closed
    before = snapshot()
    response = press(client, page, "slot", value, htmx=True, action=reverse("book"))
    assert_refused(client, response, before, htmx=True, status=409, message="too soon to book")


@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "nojs"])
def test_a_parent_may_not_act_for_another_familys_child(w, htmx):
    kai_reservation = reserve(w.session2, w.other_child)
    client = client_for(w.parent_user)
    page = open_page(client, schedule_url(w, "parent_schedule"))
    kai = {"player": w.other_child.pk}
    attempts = [
        ("session", w.session.pk, reverse("reserve"), kai),
        ("slot", slot(w.coach, w.lesson_type, w.lesson_at), reverse("book"), kai),
        ("reservation", kai_reservation.pk, reverse("cancel"), {"confirmed": "yes"}),
    ]
    for name, value, action, extra in attempts:
        before = snapshot()
        response = press(client, page, name, value, htmx=htmx, extra=extra, action=action)
        html = assert_refused(
            client, response, before, htmx=htmx, status=403, message="You are not allowed"
        )
        assert w.other_child.full_name not in html
    # not even the confirmation page (it would show the child's name)
    before = snapshot()
    response = client.post(reverse("cancel"), {"reservation": kai_reservation.pk})
    assert w.other_child.full_name not in response.content.decode()
    assert response.status_code == 302 and snapshot() == before


def test_foreign_users_are_refused(w):
    # a foreign player with their own id on academy A's session; foreign staff for A's player
    for user, player in (
        (w.foreign_player_user, w.foreign_player),
        (w.foreign_staff_user, w.player),
        (w.foreign_player_user, w.player),
    ):
        before = snapshot()
        response = client_for(user).post(
            reverse("reserve"), {"session": w.session.pk, "player": player.pk}, headers=HX
        )
        assert response.status_code == 403, user
        assert snapshot() == before
    # a player of A on academy B's session
    response = client_for(w.player_user).post(
        reverse("reserve"), {"session": w.foreign_session.pk, "player": w.player.pk}, headers=HX
    )
    assert response.status_code == 403
    assert "That belongs to another academy." in response.content.decode()


def test_forged_live_keys_do_not_leak_in_the_answer(w):
    reserve(w.session2, w.other_child)
    client = client_for(w.parent_user)
    live = " ".join(
        [
            Reservations.of_player(w.other_child.pk).key,
            Schedule.of_family(w.other_parent_user.pk).key,
            StaffCalendar(w.academy.pk, w.day3, 1).key,
            Reservations.of_player(w.child.pk).key,
            "garbage:::",
        ]
    )
    response = client.post(
        reverse("reserve"),
        {"session": w.session.pk, "player": w.child.pk, "live": live},
        headers=HX,
    )
    assert response.status_code == 200
    html = response.content.decode()
    own = dom_id(Reservations.of_player(w.child.pk).key)
    assert f'id="{own}"' in html  # the parent's own list only
    assert html.count('class="live-fragment"') == 1
    assert w.other_child.full_name not in html and "Serve Lab" not in html
    assert "live-calendar" not in html


# -- forged and malformed input -----------------------------------------------------------------


@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "nojs"])
def test_forged_ids_are_404(w, htmx):
    client = client_for(w.player_user)
    reservation = reserve(w.session, w.player)
    posts = [
        ("reserve", {"session": "999999999", "player": w.player.pk}),
        ("reserve", {"session": w.session.pk, "player": "999999999"}),
        ("reserve", {"session": "999999999999", "player": w.player.pk}),
        ("book", {"slot": slot(w.coach, w.lesson_type, w.lesson_at), "player": "999999999"}),
        (
            "book",
            {
                "slot": f"999999999|{w.lesson_type.pk}|{w.lesson_at.isoformat()}",
                "player": w.player.pk,
            },
        ),
        (
            "book",
            {"slot": f"{w.coach.pk}|999999999|{w.lesson_at.isoformat()}", "player": w.player.pk},
        ),
        ("cancel", {"reservation": "999999999"}),
        ("cancel", {"booking": "999999999"}),
        ("cancel", {"booking": reservation.pk + 999_999_999}),  # a reservation id is no booking
        ("session_cancel", {"session": "999999999"}),
    ]
    headers = HX if htmx else {}
    for name, data in posts:
        before = snapshot()
        response = client.post(reverse(name), data, headers=headers)
        assert response.status_code == 404, (name, data)
        assert snapshot() == before


S, P, T = "Missing or malformed session.", "Missing or malformed player.", "time slot"
MALFORMED = [
    # (action, fields, what the message says)
    ("reserve", {"session": "abc", "player": "{player}"}, S),
    ("reserve", {"session": "", "player": "{player}"}, S),
    ("reserve", {"player": "{player}"}, S),
    ("reserve", {"session": "{session}"}, P),
    ("reserve", {"session": "{session}", "player": "-1"}, P),
    ("reserve", {"session": "1.5", "player": "{player}"}, S),
    ("reserve", {"session": " 1", "player": "{player}"}, S),
    ("reserve", {"session": "²", "player": "{player}"}, S),  # isdigit() but not int()
    ("reserve", {"session": "١٢", "player": "{player}"}, S),
    ("reserve", {"session": "1" * 40, "player": "{player}"}, S),
    ("book", {"slot": "garbage", "player": "{player}"}, "That time slot is malformed."),
    ("book", {"slot": "", "player": "{player}"}, "That time slot is malformed."),
    ("book", {"slot": "1|2", "player": "{player}"}, "That time slot is malformed."),
    ("book", {"slot": "1|2|3|4", "player": "{player}"}, "That time slot is malformed."),
    ("book", {"slot": "a|b|2026-11-26T10:00:00+00:00", "player": "{player}"}, T),
    ("book", {"slot": "²|1|2026-11-26T10:00:00+00:00", "player": "{player}"}, T),
    ("book", {"slot": "{coach}|{type}|notatime", "player": "{player}"}, "a malformed time"),
    ("book", {"slot": "{coach}|{type}|2026-11-26T10:00:00", "player": "{player}"}, "no time zone"),
    ("book", {"slot": "{coach}|{type}|9999-12-31T23:59:59-14:00", "player": "{player}"}, T),
    ("book", {"slot": "{coach}|{type}|0001-01-01T00:00:00+14:00", "player": "{player}"}, T),
    ("book", {"slot": "{coach}|{type}|{when}", "player": "x"}, P),
    ("book", {"slot": "{coach}|{type}|{when}" + "0" * 100, "player": "{player}"}, T),
    ("cancel", {"reservation": "abc"}, "Missing or malformed reservation."),
    ("cancel", {"reservation": ""}, "Missing or malformed reservation."),
    ("cancel", {"booking": "²"}, "Missing or malformed booking."),
    ("cancel", {}, "Missing or malformed booking."),
    ("session_cancel", {"session": "x"}, S),
]


@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "nojs"])
def test_malformed_fields_are_400_with_a_message(w, htmx):
    client = client_for(w.staff_user)
    values = {
        "player": w.player.pk,
        "session": w.session.pk,
        "coach": w.coach.pk,
        "type": w.lesson_type.pk,
        "when": w.lesson_at.isoformat(),
    }
    for name, template, message in MALFORMED:
        data = {k: v.format(**values) for k, v in template.items()}
        before = snapshot()
        response = client.post(
            reverse(name), {**data, "next": "/staff/"}, headers=HX if htmx else {}
        )
        if htmx:
            assert response.status_code == 400, (name, data, response.status_code)
            text = status_text(response.content.decode())
        else:
            assert response.status_code == 302, (name, data, response.status_code)
            text = status_text(client.get(response["Location"]).content.decode())
        assert message in text and "msg-error" in text, (name, data, text)
        assert snapshot() == before, (name, data)


def test_actions_need_login_and_post(w):
    anonymous = Client()
    for name in ("reserve", "book", "cancel", "session_cancel"):
        response = anonymous.post(reverse(name), {"session": w.session.pk})
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))
        assert client_for(w.player_user).get(reverse(name)).status_code == 405
    assert not SessionReservation.objects.exists()


def test_next_never_leaves_the_site(w):
    client = client_for(w.player_user)
    for target in ("https://evil.example/", "//evil.example/x", "javascript:alert(1)"):
        response = client.post(
            reverse("reserve"), {"session": "abc", "player": w.player.pk, "next": target}
        )
        assert response.status_code == 302 and response["Location"] == "/", target


# -- idempotency --------------------------------------------------------------------------------


@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "nojs"])
def test_the_same_form_twice_reserves_once(w, htmx):
    client = client_for(w.player_user)
    page = open_page(client, schedule_url(w, "player_schedule"))
    first = press(client, page, "session", w.session.pk, htmx=htmx, follow=True)
    second = press(client, page, "session", w.session.pk, htmx=htmx, follow=True)  # same nonce
    for response in (first, second):
        assert response.status_code == 200
        assert "Reserved Forehand Clinic" in status_text(response.content.decode())
    assert SessionReservation.objects.filter(player=w.player).count() == 1
    w.session.refresh_from_db()
    assert w.session.reserved_count == 1
    assert IdempotencyKey.objects.count() == 1
    if htmx:
        # the answer carried a new nonce for the next click, which is a new request
        found = re.search(r'id="act-nonce" name="nonce" value="([^"]+)"', first.content.decode())
        assert found and found[1] != page.forms["act-form"]["fields"]["nonce"]


def test_the_same_form_twice_books_one_lesson(w):
    client = client_for(w.parent_user)
    page = open_page(client, schedule_url(w, "parent_schedule", w.lesson_day))
    value = slot(w.coach, w.lesson_type, w.lesson_at)
    extra = {"player": w.child.pk}
    for _ in range(2):
        response = press(client, page, "slot", value, htmx=True, extra=extra)
        assert response.status_code == 200
        assert f"Booked {w.lesson_type.name}" in response.content.decode()
    assert IndividualBooking.objects.filter(player=w.child).count() == 1


def test_a_new_form_after_cancelling_reserves_again(w):
    client = client_for(w.player_user)
    page = open_page(client, schedule_url(w, "player_schedule"))
    assert press(client, page, "session", w.session.pk, htmx=True).status_code == 200
    reservation = SessionReservation.objects.get(player=w.player)
    response = client.post(reverse("cancel"), {"reservation": reservation.pk}, headers=HX)
    assert response.status_code == 200
    # a fresh page (a new nonce) reserves again, reactivating the same row
    page = open_page(client, schedule_url(w, "player_schedule"))
    assert press(client, page, "session", w.session.pk, htmx=True).status_code == 200
    assert SessionReservation.objects.filter(player=w.player).count() == 1
    assert SessionReservation.objects.get(player=w.player).is_active
    w.session.refresh_from_db()
    assert w.session.reserved_count == 1
