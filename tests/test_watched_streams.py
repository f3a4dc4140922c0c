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
