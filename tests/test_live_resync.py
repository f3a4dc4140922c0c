"""Live fragments over HTTP, and the contract between a page and its browser client.

GET /live/?k=..: the out-of-band renders a page fetches after (re)connecting, on a sequence
gap and while its socket is down, with the sequence numbers they are at least as new as
(X-Live-Seqs). Every page with live fragments names them (data-live-keys) and carries a token
for its socket (data-live-token) that only its own user can use.
"""

from __future__ import annotations

import html
import json
import re
from datetime import date, timedelta

import pytest
from django.test import Client

from bookings import services
from bookings.access import Principal
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
from bookings.live.lists import Reservations, Schedule
from realtime import fragments
from realtime.publisher import get_publisher
from realtime.store import get_store
from realtime.streams import dom_id
from realtime.tokens import verify_streams
from tests.factories import days_ahead


def login(user) -> Client:  # type: ignore[no-untyped-def]
    client = Client()
    client.force_login(user)
    return client


def keys_of(w):  # type: ignore[no-untyped-def]
    d3 = days_ahead(3)
    monday = d3 - timedelta(days=d3.weekday())
    a = w.academy.pk
    shown = {
        "res_f": Reservations.of_family(w.parent_user.pk),
        "sched_p": Schedule.of_player(w.child.pk),
        "res_p_other": Reservations.of_player(w.other_child.pk),
        "day": DayGrid(a, d3),
        "slots": LessonSlots(w.coach.pk, w.lesson_type.pk, d3),
        "coachday": CoachDay(w.coach.pk, d3),
        "cal_staff": StaffCalendar(a, monday, 7),
        "cal_coach": CoachCalendar(w.coach.pk, a, d3, 1),
        "b_day": DayGrid(w.other_academy.pk, d3),
    }
    return {name: fragment.key for name, fragment in shown.items()}


def resync(client: Client, *keys: str):  # type: ignore[no-untyped-def]
    return client.get("/live/", [("k", key) for key in keys])


def oob_ids(body: str) -> list[str]:
    return re.findall(
        r'<div id="([^"]+)" class="live-fragment" data-live="[^"]+" hx-swap-oob', body
    )


# -- GET /live/ -----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_resync_returns_out_of_band_fragments_for_allowed_keys(world):  # type: ignore[no-untyped-def]
    k = keys_of(world)
    cases = [
        (world.parent_user, [k["res_f"], k["sched_p"], k["day"], k["slots"]]),
        (world.coach_user, [k["coachday"], k["cal_coach"], k["day"]]),
        (world.staff_user, [k["cal_staff"], k["coachday"], k["sched_p"], k["res_p_other"]]),
        (world.admin_user, [k["cal_staff"], k["b_day"]]),
    ]
    for user, keys in cases:
        response = resync(login(user), *keys)
        assert response.status_code == 200, (user, keys)
        body = response.content.decode()
        assert oob_ids(body) == [dom_id(key) for key in keys]
        assert {"no-store", "private"} <= set(response["Cache-Control"].split(", "))
        seqs = json.loads(response["X-Live-Seqs"])
        assert set(seqs) == set(keys) and all(isinstance(n, int) for n in seqs.values())
        # The same HTML a push carries: one render per key, from the key alone.
        viewer = Principal.load(user)
        expected = "".join(f.render(oob=True) for f in fragments.resolve_allowed(keys, viewer))
        assert body == expected


@pytest.mark.django_db
def test_resync_refuses_any_key_the_user_may_not_read(world):  # type: ignore[no-untyped-def]
    k = keys_of(world)
    refused = [
        (world.parent_user, [k["res_p_other"]]),  # another family's child
        (world.parent_user, [k["res_f"], k["res_p_other"]]),  # one bad key spoils the lot
        (world.other_parent_user, [k["res_f"]]),  # another parent's family list
        (world.parent_user, [k["coachday"]]),
        (world.coach2_user, [k["coachday"]]),  # another coach's day
        (world.coach2_user, [k["cal_coach"]]),  # another coach's calendar variant
        (world.coach_user, [k["cal_staff"]]),
        (world.foreign_staff_user, [k["day"]]),  # another academy
        (world.foreign_coach_user, [k["slots"]]),
        (world.parent_user, [Reservations.of_player(999999999).key]),  # names nothing
        (world.parent_user, ["nonsense"]),
        (world.parent_user, [DayGrid(world.academy.pk, date(2001, 1, 1)).key]),  # too far away
    ]
    for user, keys in refused:
        response = resync(login(user), *keys)
        assert response.status_code == 404, (user, keys)
        assert "live-fragment" not in response.content.decode()
        assert "X-Live-Seqs" not in response
        if len(keys) == 1:
            assert login(user).get(f"/live/{keys[0]}/").status_code == 404, (user, keys)

    anonymous = resync(Client(), k["day"])
    assert anonymous.status_code == 302 and "/login/" in anonymous["Location"]


@pytest.mark.django_db
def test_single_fragment_endpoint(world):  # type: ignore[no-untyped-def]
    k = keys_of(world)
    response = login(world.parent_user).get(f"/live/{k['res_f']}/")
    assert response.status_code == 200
    assert "hx-swap-oob" not in response.content.decode()
    assert f'id="{dom_id(k["res_f"])}"' in response.content.decode()


@pytest.mark.django_db(transaction=True)
def test_resync_reports_the_current_sequence_number(world):  # type: ignore[no-untyped-def]
    k = keys_of(world)
    keys = [k["res_f"], k["day"]]
    client = login(world.parent_user)
    before = json.loads(resync(client, *keys)["X-Live-Seqs"])
    get_store().watch(keys)  # as a hub does for a socket on these streams
    for player in (world.child, world.child2):
        services.reservation_create(player=player, session=world.session, actor=world.parent_user)
        assert get_publisher().wait_idle(10.0)
    response = resync(client, *keys)
    assert json.loads(response["X-Live-Seqs"]) == {key: before[key] + 2 for key in keys}
    assert get_store().current_seqs(keys) == {key: before[key] + 2 for key in keys}
    # The render is at least as new as those numbers: both reservations are in it.
    body = response.content.decode()
    assert world.child.full_name in body and world.child2.full_name in body
    assert "2 of 4 spots left" in body


# -- pages and their tokens -----------------------------------------------------------------------


def page_contract(body: str) -> tuple[list[str], str]:
    meta = re.search(r'<div id="live-meta"[^>]*>', body)
    assert meta, "no live-meta on the page"
    tag = meta.group(0)
    keys = html.unescape(re.search(r'data-live-keys="([^"]*)"', tag).group(1)).split()
    token = html.unescape(re.search(r'data-live-token="([^"]*)"', tag).group(1))
    assert 'data-resync-url="/live/"' in tag and 'data-socket-path="/ws/live/"' in tag
    return keys, token


@pytest.mark.django_db
def test_every_live_page_names_its_streams_and_signs_them_for_its_user(world):  # type: ignore[no-untyped-def]
    w = world
    day = days_ahead(3)
    d3 = day.isoformat()
    a = w.academy.pk
    monday = day - timedelta(days=day.weekday())
    pages = [
        (w.player_user, "/player/", [Schedule.of_player(w.player.pk).key]),
        (w.player_user, "/player/?tab=reservations", [Reservations.of_player(w.player.pk).key]),
        (
            w.player_user,
            f"/player/schedule/?date={d3}&coach={w.coach.pk}&type={w.lesson_type.pk}",
            [DayGrid(a, day).key, LessonSlots(w.coach.pk, w.lesson_type.pk, day).key],
        ),
        (w.parent_user, "/parent/", [Schedule.of_family(w.parent_user.pk).key]),
        (
            w.parent_user,
            "/parent/?tab=reservations",
            [Reservations.of_family(w.parent_user.pk).key],
        ),
        (w.parent_user, f"/parent/?player={w.child.pk}", [Schedule.of_player(w.child.pk).key]),
        (w.parent_user, "/parent/schedule/", None),
        (w.coach_user, f"/coach/?date={d3}", [CoachDay(w.coach.pk, day).key]),
        (
            w.coach_user,
            f"/coach/?tab=full&date={d3}",
            [CoachCalendar(w.coach.pk, a, day, 1).key],
        ),
        (
            w.coach_user,
            f"/coach/schedule/?date={d3}",
            [CoachCalendar(w.coach.pk, a, monday, 7).key],
        ),
        (w.staff_user, f"/staff/calendar/?date={d3}", [StaffCalendar(a, monday, 7).key]),
        (w.staff_user, f"/staff/calendar/?view=day&date={d3}", [StaffCalendar(a, day, 1).key]),
        (w.staff_user, f"/staff/players/{w.child.pk}/", [Schedule.of_player(w.child.pk).key]),
        (w.staff_user, f"/staff/players/{w.child.pk}/book/", None),
        (w.admin_user, "/staff/calendar/", None),
        (
            w.coach_user,
            "/coach/dashboard/",
            [p(w.coach.pk).key for p in (CoachStats, CoachActivity, CoachInsights, CoachClients)]
            + [CoachGoals(w.coach.pk).key],
        ),
        (w.staff_user, f"/staff/coaches/{w.coach.pk}/", [CoachStats(w.coach.pk).key]),
        (w.staff_user, f"/staff/?date={d3}", [DeskDay(a, day).key, DeskFeed(a).key]),
        (w.admin_user, "/staff/", [DeskFeed(a).key]),
        (w.player_user, "/player/", [Goals.of_player(w.player.pk).key]),
        (w.parent_user, "/parent/", [Goals.of_family(w.parent_user.pk).key]),
    ]
    everyone = [
        w.player_user,
        w.parent_user,
        w.other_parent_user,
        w.coach_user,
        w.coach2_user,
        w.staff_user,
        w.admin_user,
        w.foreign_staff_user,
        w.foreign_coach_user,
        w.foreign_parent_user,
    ]
    for user, url, expected in pages:
        client = login(user)
        response = client.get(url)
        assert response.status_code == 200, url
        body = response.content.decode()
        keys, token = page_contract(body)
        assert keys, url
        if expected is not None:  # at least these (a page may show more live fragments)
            assert set(expected) <= set(keys), url
        # Each named fragment is on the page, and the action form reports the same keys.
        for key in keys:
            assert f'id="{dom_id(key)}"' in body, (url, key)
        assert f'name="live" value="{" ".join(keys)}"' in body, url
        # The token carries exactly these streams, for this user and nobody else.
        assert verify_streams(token, user.pk) == keys, url
        for other in everyone:
            if other != user:
                assert verify_streams(token, other.pk) is None, (url, other)
        # And the user may read every one of them, so a socket with this token is let in.
        assert resync(client, *keys).status_code == 200, url

    # A page without live fragments has no socket to open.
    goal_form = login(w.coach_user).get(f"/coaches/{w.coach.pk}/goals/new/").content.decode()
    assert "<form" in goal_form and 'id="live-meta"' not in goal_form


@pytest.mark.django_db
def test_token_tampering_is_detected(world):  # type: ignore[no-untyped-def]
    body = login(world.parent_user).get("/parent/?tab=reservations").content.decode()
    keys, token = page_contract(body)
    assert verify_streams(token, world.parent_user.pk) == keys
    assert (
        verify_streams(token[:-1] + ("A" if token[-1] != "A" else "B"), world.parent_user.pk)
        is None
    )
    assert verify_streams("", world.parent_user.pk) is None
    assert verify_streams("x" * 5000, world.parent_user.pk) is None
