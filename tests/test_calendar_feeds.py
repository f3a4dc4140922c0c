"""Calendar feeds: what a calendar app gets from a private address, read back with two
independent parsers (icalendar, which writes it, and `ical`, a strict RFC 5545 reader), and
who gets nothing: a wrong, reset or deleted token, an owner who lost access, another family.
And the account page that makes, resets and deletes the addresses.
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime, time, timedelta
from html import unescape
from zoneinfo import ZoneInfo

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from ical.calendar_stream import IcsCalendarStream
from icalendar import Calendar

from bookings.models import CalendarFeed, GuardianLink
from bookings.services import group_session_cancel, reservation_cancel, reservation_create
from bookings.services.accounts import (
    calendar_feed_create,
    calendar_feed_delete,
    calendar_feed_reset,
)
from tests.factories import book, local, make_session, reserve

pytestmark = pytest.mark.django_db


@pytest.fixture
def w(module_world):
    """Mia (a player with a login), Leo and Ada (the parent's children) and Kai (another
    family's) in the coach's session; Kai in coach2's; a lesson of Ada's with the coach and a
    cancelled one of Leo's; a third session of the coach's, cancelled with Leo in it."""
    w = module_world
    w.session.title = "Forehand Clinic"
    w.session.save()
    w.session2.title = "Serve Lab"
    w.session2.save()
    w.day = w.session.starts_at.astimezone(w.academy.tz).date()
    w.mia_r = reserve(w.session, w.player)
    w.leo_r = reserve(w.session, w.child)
    w.ada_r = reserve(w.session, w.child2)
    w.kai_r = reserve(w.session, w.other_child)
    w.kai_r2 = reserve(w.session2, w.other_child)
    w.ada_lesson = book(w.coach, w.child2, w.lesson_type, local(w.academy, w.day, 15))
    w.leo_lesson = book(w.coach, w.child, w.lesson_type, local(w.academy, w.day, 17))
    w.leo_lesson.status, w.leo_lesson.cancelled_at = "cancelled", timezone.now()
    w.leo_lesson.save()
    w.called_off = make_session(
        w.academy,
        coaches=[w.coach],
        session_type=w.group_type,
        starts_at=local(w.academy, w.day, 18),
    )
    w.called_off.title = "Evening Rally"
    w.called_off.save()
    w.called_off_leo = reserve(w.called_off, w.child)
    group_session_cancel(session=w.called_off, actor=w.coach_user)
    w.names = {p: p.full_name for p in (w.player, w.child, w.child2, w.other_child)}
    return w


def feed_path(user, scope: str, coach=None) -> str:
    _, token = calendar_feed_create(user=user, scope=scope, coach=coach)
    return reverse("calendar_feed", args=[token])


def fetch(path: str, **headers) -> tuple[int, bytes, object]:
    response = Client().get(path, **headers)  # no login, no cookie: the token is all
    return response.status_code, response.content, response


def events(body: bytes) -> dict[str, object]:
    """UID -> VEVENT, parsed by icalendar."""
    return {str(e["UID"]).split("@")[0]: e for e in Calendar.from_ical(body).walk("VEVENT")}


# -- what a family's feed holds ----------------------------------------------------------------


def test_a_parents_feed_has_their_childrens_bookings_and_nothing_else(w):
    status, body, response = fetch(feed_path(w.parent_user, "family"))
    assert status == 200
    assert response["Content-Type"] == "text/calendar; charset=utf-8"
    found = events(body)
    assert set(found) == {
        f"reservation-{w.leo_r.pk}",
        f"reservation-{w.ada_r.pk}",
        f"lesson-{w.ada_lesson.pk}",
        f"lesson-{w.leo_lesson.pk}",
        f"reservation-{w.called_off_leo.pk}",
    }
    text = body.decode()
    assert w.names[w.child] in text and w.names[w.child2] in text
    for other in (w.names[w.player], w.names[w.other_child], w.other_child.first_name, "Serve Lab"):
        assert other not in text  # another family's names and sessions
    for r in (w.mia_r, w.kai_r, w.kai_r2):
        assert f"reservation-{r.pk}@" not in text
    leo = found[f"reservation-{w.leo_r.pk}"]
    assert str(leo["SUMMARY"]) == "Leo: Forehand Clinic"
    assert str(leo["STATUS"]) == "CONFIRMED"


def test_cancellations_are_cancelled_events(w):
    _, body, _ = fetch(feed_path(w.parent_user, "family"))
    found = events(body)
    rally = found[f"reservation-{w.called_off_leo.pk}"]
    assert str(rally["STATUS"]) == "CANCELLED" and str(rally["TRANSP"]) == "TRANSPARENT"
    assert str(rally["SUMMARY"]) == "Cancelled: Leo: Evening Rally"
    lesson = found[f"lesson-{w.leo_lesson.pk}"]
    assert str(lesson["STATUS"]) == "CANCELLED" and int(lesson["SEQUENCE"]) == 1
    assert "This lesson was cancelled." in str(lesson["DESCRIPTION"])


def test_times_are_in_the_academys_zone_with_its_vtimezone(w):
    """Sessions across the window (daylight saving or not, whatever the season) keep their
    local wall-clock time and the zone's offset at that moment, in both parsers."""
    zone = ZoneInfo("America/New_York")
    w.academy.time_zone = "America/New_York"
    w.academy.save()
    today = timezone.now().astimezone(zone).date()
    moments = [
        datetime.combine(today + timedelta(days=days), time(9, 30), tzinfo=zone)
        for days in (2, 45, 90, 135, 170)
    ]
    made = {}
    for moment in moments:
        s = make_session(w.academy, coaches=[w.coach], session_type=w.group_type, starts_at=moment)
        made[f"reservation-{reserve(s, w.child).pk}"] = moment
    _, body, _ = fetch(feed_path(w.parent_user, "family"))
    text = body.decode()
    assert "X-WR-TIMEZONE:America/New_York" in text

    calendar = Calendar.from_ical(body)
    [vtimezone] = calendar.walk("VTIMEZONE")
    assert str(vtimezone["TZID"]) == "America/New_York"
    assert vtimezone.walk("STANDARD") and vtimezone.walk("DAYLIGHT")  # whole years
    found = events(body)
    strict = {
        e.uid.split("@")[0]: e.dtstart for e in IcsCalendarStream.calendar_from_ics(text).events
    }
    for uid, moment in made.items():
        start = found[uid].decoded("DTSTART")
        assert start == moment and start.utcoffset() == moment.utcoffset(), uid
        assert f"DTSTART;TZID=America/New_York:{moment:%Y%m%dT%H%M%S}" in text
        assert strict[uid] == moment and strict[uid].utcoffset() == moment.utcoffset()
    assert {m.utcoffset() for m in moments} <= {timedelta(hours=-4), timedelta(hours=-5)}


def test_the_feed_is_rfc_5545_as_calendar_apps_need(w):
    for user, scope, coach in (
        (w.parent_user, "family", None),
        (w.player_user, "mine", None),
        (w.coach_user, "coach", w.coach),
    ):
        _, body, _ = fetch(feed_path(user, scope, coach))
        assert body.endswith(b"\r\n") and b"\n" not in body.replace(b"\r\n", b"")  # CRLF only
        assert all(len(line) <= 75 for line in body.split(b"\r\n"))  # folded at 75 octets
        text = body.decode()
        assert text.startswith("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:")
        assert text.count("BEGIN:VEVENT") == text.count("END:VEVENT") > 0
        for event in Calendar.from_ical(body).walk("VEVENT"):
            for required in ("UID", "DTSTAMP", "DTSTART", "DTEND", "SUMMARY", "STATUS"):
                assert required in event, (scope, required)
            assert event.decoded("DTSTAMP").tzinfo is not None
            assert event.to_ical().decode().count("DTSTAMP:") == 1
            assert re.search(r"DTSTAMP:\d{8}T\d{6}Z", event.to_ical().decode())
        strict = IcsCalendarStream.calendar_from_ics(text)
        assert len(strict.events) == text.count("BEGIN:VEVENT")
        assert {e.uid for e in strict.events} == {
            str(e["UID"]) for e in Calendar.from_ical(body).walk("VEVENT")
        }


def test_a_players_own_feed_and_the_window(w):
    long_ago = make_session(
        w.academy,
        coaches=[w.coach],
        session_type=w.group_type,
        starts_at=timezone.now() - timedelta(days=40),
    )
    reserve(long_ago, w.player)
    far = make_session(
        w.academy,
        coaches=[w.coach],
        session_type=w.group_type,
        starts_at=timezone.now() + timedelta(days=200),
    )
    reserve(far, w.player)
    near = make_session(
        w.academy,
        coaches=[w.coach],
        session_type=w.group_type,
        starts_at=timezone.now() + timedelta(days=170),
    )
    near_r = reserve(near, w.player)
    _, body, _ = fetch(feed_path(w.player_user, "mine"))
    found = events(body)
    assert set(found) == {f"reservation-{w.mia_r.pk}", f"reservation-{near_r.pk}"}
    assert str(found[f"reservation-{w.mia_r.pk}"]["SUMMARY"]) == "Forehand Clinic"  # no name
    for name in (w.names[w.child], w.names[w.other_child]):
        assert name not in body.decode()


def test_stable_uids_and_a_sequence_that_moves(w):
    path = feed_path(w.parent_user, "family")
    _, first, response = fetch(path)
    _, again, _ = fetch(path)
    assert first == again  # same data, same bytes: the ETag holds
    assert fetch(path, HTTP_IF_NONE_MATCH=response["ETag"])[0] == 304

    before = events(first)[f"reservation-{w.leo_r.pk}"]
    reservation_cancel(reservation=w.leo_r, actor=w.staff_user)
    _, after_body, after_response = fetch(path)
    assert after_response["ETag"] != response["ETag"]
    after = events(after_body)[f"reservation-{w.leo_r.pk}"]  # the same UID
    assert str(after["STATUS"]) == "CANCELLED"
    assert int(after["SEQUENCE"]) > int(before["SEQUENCE"])
    assert after.decoded("DTSTAMP") >= before.decoded("DTSTAMP")

    reservation_create(player=w.child, session=w.session, actor=w.staff_user)
    again = events(fetch(path)[1])[f"reservation-{w.leo_r.pk}"]  # made again: same UID
    assert str(again["STATUS"]) == "CONFIRMED" and int(again["SEQUENCE"]) > int(after["SEQUENCE"])


# -- a coach's feed --------------------------------------------------------------------------------


def test_a_coachs_feed_counts_and_names_nobody(w):
    _, body, _ = fetch(feed_path(w.coach_user, "coach", w.coach))
    found = events(body)
    assert set(found) == {
        f"coaching-session-{w.session.pk}",
        f"coaching-session-{w.called_off.pk}",
        f"coaching-lesson-{w.ada_lesson.pk}",
        f"coaching-lesson-{w.leo_lesson.pk}",
    }  # not coach2's Serve Lab
    w.session.refresh_from_db()
    clinic = found[f"coaching-session-{w.session.pk}"]
    assert str(clinic["SUMMARY"]) == f"Forehand Clinic · 4/{w.session.capacity} booked"
    assert str(found[f"coaching-session-{w.called_off.pk}"]["STATUS"]) == "CANCELLED"
    assert f"/coach/?date={w.day.isoformat()}" in str(clinic["DESCRIPTION"])
    text = body.decode()
    for player in (w.player, w.child, w.child2, w.other_child):
        assert player.first_name not in text and player.last_name not in text


def test_a_coach_may_only_subscribe_to_their_own_coaching(w):
    from bookings.errors import BookingError

    for user, scope, coach in (
        (w.coach_user, "coach", w.coach2),  # another coach's
        (w.coach_user, "coach", w.foreign_coach),
        (w.staff_user, "coach", w.coach),  # staff may read it, but it is not theirs
        (w.parent_user, "mine", None),  # no player of their own
        (w.player_user, "family", None),  # no children
        (w.coach_user, "coach", None),
        (w.parent_user, "family", w.coach),
        (w.parent_user, "everything", None),
    ):
        with pytest.raises(BookingError) as refused:
            calendar_feed_create(user=user, scope=scope, coach=coach)
        assert refused.value.code == "not_allowed", (user, scope)
    assert not CalendarFeed.objects.exists()


# -- who gets nothing ------------------------------------------------------------------------------


def test_a_wrong_token_is_404_and_says_nothing(w):
    good = feed_path(w.parent_user, "family")
    token = good.rsplit("/", 1)[1].removesuffix(".ics")
    for bad in (
        token[:-1] + ("A" if token[-1] != "A" else "B"),
        token[:10],
        "x" * 200,
        "%00" + token,
        "..%2F..%2Fetc",
        token.upper(),
    ):
        response = Client().get(f"/calendar/{bad}.ics")
        assert response.status_code in (400, 404), bad
        assert b"BEGIN:VCALENDAR" not in response.content
    assert Client().post(good).status_code == 405


def test_reset_and_delete_revoke_the_address(w):
    feed, token = calendar_feed_create(user=w.parent_user, scope="family")
    old = reverse("calendar_feed", args=[token])
    assert fetch(old)[0] == 200
    new_token = calendar_feed_reset(feed=feed, actor=w.parent_user)
    assert fetch(old)[0] == 404
    new = reverse("calendar_feed", args=[new_token])
    assert fetch(new)[0] == 200
    calendar_feed_delete(feed=feed, actor=w.parent_user)
    assert fetch(new)[0] == 404


def test_only_the_tokens_hash_is_kept(w):
    feed, token = calendar_feed_create(user=w.parent_user, scope="family")
    feed.refresh_from_db()
    assert feed.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in str(CalendarFeed.objects.values().get())
    assert len(token) >= 43  # 32 random bytes


def test_an_owner_who_lost_access_gets_404(w):
    family = feed_path(w.parent_user, "family")
    coaching = feed_path(w.coach_user, "coach", w.coach)
    mine = feed_path(w.player_user, "mine")
    GuardianLink.objects.filter(guardian=w.parent_user).delete()
    w.coach.is_active = False
    w.coach.save()
    w.player_user.is_active = False
    w.player_user.save()
    for path in (family, coaching, mine):
        assert fetch(path)[0] == 404, path


def test_one_child_unlinked_leaves_the_feed_with_the_other(w):
    path = feed_path(w.parent_user, "family")
    GuardianLink.objects.filter(guardian=w.parent_user, player=w.child).delete()
    _, body, _ = fetch(path)
    assert w.names[w.child] not in body.decode() and w.names[w.child2] in body.decode()


def test_the_feed_needs_no_session_and_is_privately_cacheable(w):
    status, _, response = fetch(feed_path(w.parent_user, "family"))
    assert status == 200
    assert "Set-Cookie" not in response
    assert response["Cache-Control"] == "private, max-age=300"
    assert response["X-Robots-Tag"] == "noindex, nofollow"
    feed = CalendarFeed.objects.get()
    assert feed.last_used_at is not None
    assert Client().head(feed_path(w.player_user, "mine")).status_code == 200


def test_a_feed_with_nothing_in_it_is_still_a_calendar(w):
    _, body, _ = fetch(feed_path(w.foreign_parent_user, "family"))
    calendar = Calendar.from_ical(body)
    assert calendar.walk("VEVENT") == [] and len(calendar.walk("VTIMEZONE")) == 1
    calendar.validate()  # RFC 5545: at least one component
    IcsCalendarStream.calendar_from_ics(body.decode())


# -- the account page ---------------------------------------------------------------------------


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_account_page_offers_each_role_its_feeds(w):
    offered = {
        w.player_user: ["My bookings"],
        w.parent_user: ["My children's bookings"],
        w.coach_user: [f"My coaching at {w.academy.name}"],
        w.staff_user: [],
    }
    for user, labels in offered.items():
        html = client_for(user).get(reverse("account")).content.decode()
        found = re.findall(r'<h3 id="feed-\d+">([^<]+)</h3>', html)
        assert [unescape(label) for label in found] == labels, user.username
        if not labels:
            assert "Nothing to subscribe to" in html


def test_making_an_address_shows_it_once_and_it_works(w):
    client = client_for(w.parent_user)
    response = client.post(reverse("account_calendar"), {"action": "create", "offer": "family:"})
    assert response.status_code == 302 and response["Location"].endswith("#calendar")
    html = client.get(reverse("account")).content.decode()
    [url] = re.findall(r'value="(http://testserver/calendar/[^"]+\.ics)"', html)
    assert "webcal://testserver/calendar/" in html
    assert fetch(url.removeprefix("http://testserver"))[0] == 200
    assert ".ics" not in client.get(reverse("account")).content.decode()  # shown once
    assert "Reset the address" in client.get(reverse("account")).content.decode()

    again = client.post(
        reverse("account_calendar"), {"action": "create", "offer": "family:"}, follow=True
    )
    assert "You already have that calendar link" in again.content.decode()
    assert CalendarFeed.objects.count() == 1

    feed = CalendarFeed.objects.get()
    client.post(reverse("account_calendar"), {"action": "reset", "feed": feed.pk})
    assert fetch(url.removeprefix("http://testserver"))[0] == 404
    [new_url] = re.findall(
        r'value="(http://testserver/calendar/[^"]+\.ics)"',
        client.get(reverse("account")).content.decode(),
    )
    assert new_url != url and fetch(new_url.removeprefix("http://testserver"))[0] == 200
    client.post(reverse("account_calendar"), {"action": "delete", "feed": feed.pk})
    assert not CalendarFeed.objects.exists()


def test_the_account_page_refuses_what_is_not_yours(w):
    theirs, _ = calendar_feed_create(user=w.player_user, scope="mine")
    client = client_for(w.parent_user)
    for action in ("reset", "delete"):
        response = client.post(reverse("account_calendar"), {"action": action, "feed": theirs.pk})
        assert response.status_code == 404
    for data in (
        {"action": "create", "offer": "mine:"},
        {"action": "create", "offer": f"coach:{w.coach.pk}"},
        {"action": "create", "offer": "family:999"},
        {"action": "reset", "feed": "abc"},
        {"action": "explode"},
        {},
    ):
        response = client.post(reverse("account_calendar"), data, follow=True)
        assert response.status_code == 200, data
        assert 'class="msg msg-error"' in response.content.decode(), data
    assert list(CalendarFeed.objects.values_list("user__username", flat=True)) == ["player"]
    assert Client().post(reverse("account_calendar"), {"action": "create"}).status_code == 302


def test_the_dtstamp_is_utc_and_from_the_rows(w):
    _, body, _ = fetch(feed_path(w.parent_user, "family"))
    leo = events(body)[f"reservation-{w.leo_r.pk}"]
    w.leo_r.refresh_from_db()
    assert leo.decoded("DTSTAMP") == w.leo_r.updated_at.astimezone(UTC).replace(microsecond=0)
