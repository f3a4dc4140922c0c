"""Stream numbers come with an epoch: Redis forgetting them (a restart) shows as a new epoch."""

import pytest
from django.conf import settings

from realtime.store import LocalStore, RedisStore


@pytest.mark.redis
def test_a_redis_that_forgot_its_numbers_has_a_new_epoch():
    store = RedisStore(settings.REDIS_URL, f"{settings.LIVE_PREFIX}-epoch-test")
    try:
        epoch, seqs = store.snapshot(["a", "b"])
        assert seqs == {"a": 0, "b": 0}
        store.next_seq("a")
        again, seqs = store.snapshot(["a", "b"])
        assert again == epoch and seqs == {"a": 1, "b": 0}
        store.redis.delete(*store.redis.keys(f"{store.prefix}:*"))  # what a restart does here
        after, seqs = store.snapshot(["a"])
        assert after != epoch and seqs == {"a": 0}
    finally:
        keys = store.redis.keys(f"{store.prefix}:*")
        if keys:
            store.redis.delete(*keys)


def test_a_process_store_has_its_own_epoch():
    first, second = LocalStore(), LocalStore()
    assert first.snapshot([])[0] != second.snapshot([])[0]
    first.next_seq("k")
    assert first.snapshot(["k"]) == (first.snapshot([])[0], {"k": 1})
