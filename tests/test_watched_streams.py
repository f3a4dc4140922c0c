"""Which streams are watched: the shared ones are scanned per change, the personal ones are
looked up by the names a change gives (so a change costs the same at 10 or 5,000 viewers)."""

import time
from unittest import mock

import pytest
from django.conf import settings

from realtime.store import LocalStore, RedisStore

SHARED = ["day:a1:2026-11-23", "calendar:a1:2026-11-23:7d:staff", "slots:c1:t2:2026-11-23"]
PERSONAL = ["reservations:p7", "schedule:f9", "notify:u3", "access:u3"]


def check(store):  # type: ignore[no-untyped-def]
    store.watch(SHARED + PERSONAL)
    assert sorted(store.watched_shared()) == sorted(SHARED)
    asked = ["reservations:p7", "reservations:p8", "notify:u3", "access:u4", "schedule:f9"]
    assert store.watched_among(asked) == {"reservations:p7", "notify:u3", "schedule:f9"}
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
    key personal_keys() names must be stored as personal, and every other kind must be scanned."""
    from datetime import date

    from realtime import fragments
    from realtime.changes import Change
    from realtime.store import is_personal

    change = Change(1, days={date(2026, 11, 23)}, player_ids={7}, guardian_ids={9})
    named = fragments.personal_keys(change)
    assert sorted(named) == sorted(
        ["schedule:p7", "reservations:p7", "schedule:f9", "reservations:f9"]
    )
    assert all(is_personal(key) for key in named)
    personal_kinds = {key.split(":", 1)[0] for key in named}
    for name in fragments.KINDS:
        assert is_personal(f"{name}:x") == (name in personal_kinds), name
    # the scan and the lookup agree on what a change touches
    assert fragments.affected_keys([*named, "schedule:p8", "reservations:f10"], change) == named


def test_the_widest_audience_is_rendered_first():
    from realtime import fragments

    keys = [
        "schedule:p1",
        "calendar:a1:2026-11-23:7d:c3",
        "reservations:f2",
        "coachday:c3:2026-11-23",
        "slots:c3:t4:2026-11-23",
        "day:a1:2026-11-23",
    ]
    ordered = sorted(keys, key=fragments.push_order)
    assert [key.split(":", 1)[0] for key in ordered[:4]] == ["day", "slots", "calendar", "coachday"]
    assert set(ordered[4:]) == {"schedule:p1", "reservations:f2"}
