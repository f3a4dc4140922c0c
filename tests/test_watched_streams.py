"""Which streams are watched: the shared ones are scanned per change, the personal ones are
looked up by the names a change gives (so a change costs the same at 10 or 5,000 viewers)."""

import time
from datetime import date
from unittest import mock

import pytest
from django.conf import settings

from bookings.live.calendars import CoachCalendar, CoachDay, StaffCalendar
from bookings.live.changes import Change
from bookings.live.grids import DayGrid, LessonSlots
from bookings.live.lists import Reservations, Schedule
from realtime import fragments, publisher
from realtime.store import LocalStore, RedisStore
from realtime.streams import is_personal, user_stream

DAY = date(2026, 11, 23)
SHARED = [DayGrid(1, DAY).key, StaffCalendar(1, DAY, 7).key, LessonSlots(1, 2, DAY).key]
PERSONAL = [Reservations.of_player(7).key, Schedule.of_family(9).key, user_stream(3)]


def check(store):  # type: ignore[no-untyped-def]
    store.watch(SHARED + PERSONAL)
    assert sorted(store.watched_shared()) == sorted(SHARED)
    asked = [
        Reservations.of_player(7).key,
        Reservations.of_player(8).key,
        user_stream(3),
        user_stream(4),
        Schedule.of_family(9).key,
    ]
    assert store.watched_among(asked) == {
        Reservations.of_player(7).key,
        user_stream(3),
        Schedule.of_family(9).key,
    }
    assert store.watched_among([]) == set()


def test_local_store_splits_shared_and_personal_streams():
    check(LocalStore())


@pytest.mark.redis
def test_redis_store_splits_shared_and_personal_streams_and_expires_them():
    store = RedisStore(settings.REDIS_URL, f"{settings.LIVE_PREFIX}-watch-test")
    try:
        check(store)
        later = time.time() + 61  # past WATCH_TTL without a refresh from a hub
        with mock.patch("realtime.store.time.time", return_value=later):
            assert store.watched_shared() == []
            assert store.watched_among(PERSONAL) == set()
    finally:
        keys = store.redis.keys(f"{store.prefix}:*")
        if keys:
            store.redis.delete(*keys)


def test_personal_streams_are_exactly_the_ones_a_change_names():
    """The store keeps personal streams apart because the publisher finds them by name: every
    fragment a personal kind names must be stored as personal, and every other kind scanned."""
    change = Change(1, days={DAY}, player_ids={7}, guardian_ids={9})
    named = sorted(publisher._personal([change]))
    assert named == sorted(
        [
            Schedule.of_player(7).key,
            Reservations.of_player(7).key,
            Schedule.of_family(9).key,
            Reservations.of_family(9).key,
        ]
    )
    assert all(is_personal(key) for key in named)
    for name, kind in fragments.KINDS.items():
        assert is_personal(f"{name}:1") == kind.personal, name
    # the scan and the lookup agree on what a change touches
    others = [Schedule.of_player(8).key, Reservations.of_family(10).key]
    assert publisher.affected_keys([*named, *others], change) == named


def test_personal_streams_go_first_then_the_widest_audience():
    keys = [
        Schedule.of_player(1).key,
        CoachCalendar(3, 1, DAY, 7).key,
        Reservations.of_family(2).key,
        CoachDay(3, DAY).key,
        LessonSlots(3, 4, DAY).key,
        DayGrid(1, DAY).key,
    ]
    ordered = sorted(keys, key=fragments.push_order)
    assert set(ordered[:2]) == {Schedule.of_player(1).key, Reservations.of_family(2).key}
    assert ordered[2:] == [
        DayGrid(1, DAY).key,
        LessonSlots(3, 4, DAY).key,
        CoachCalendar(3, 1, DAY, 7).key,
        CoachDay(3, DAY).key,
    ]
