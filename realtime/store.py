"""Shared state of the live path: per-stream sequence numbers and which streams are watched.

With REDIS_URL set, several worker processes share them through Redis; without it (the embedded
default, one process) they live in memory. Either way the HTTP path never waits on them for
long: every Redis call has a short timeout.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from functools import cache
from typing import Protocol

from django.conf import settings

from realtime.streams import is_personal

WATCH_TTL = 60.0  # seconds a watched stream stays watched without a refresh from its hub
ACCESS_TTL = 24 * 3600  # an access version nobody bumped for a day: far older than any ticket
SEQ_TTL = 7 * 24 * 3600  # a stream nobody touched for a week starts again at 1


class Store(Protocol):
    def next_seq(self, key: str) -> int: ...
    def current_seqs(self, keys: list[str]) -> dict[str, int]: ...
    def snapshot(self, keys: list[str]) -> tuple[str, dict[str, int]]: ...
    def watch(self, keys: list[str]) -> None: ...
    def unwatch(self, keys: list[str]) -> None: ...
    def watched_shared(self) -> list[str]: ...
    def watched_among(self, keys: list[str]) -> set[str]: ...
    def watches_personal(self) -> bool: ...
    def ping(self) -> bool: ...
    def access_version(self, user_id: int) -> str: ...
    def bump_access(self, user_ids: list[int]) -> None: ...
    def bump_access_all(self) -> None: ...
    def claim(self, name: str, seconds: float) -> bool: ...


# Access versions (resumption tickets, realtime.tokens): one counter per user, bumped after
# COMMIT by the publisher whenever a change names the user for an access re-check, and one
# for everyone, bumped when changes were not routed at all (no page open anywhere). A version
# reads "<epoch>.<everyone>.<user>": a Redis that restarted (a new epoch) or forgot a counter
# never gives an old ticket its version back.


class LocalStore:
    """One process: counters and watch counts in memory, guarded for the publisher thread."""

    def __init__(self) -> None:
        self._epoch = uuid.uuid4().hex  # a restarted process starts its numbers again
        self._lock = threading.Lock()
        self._seqs: Counter[str] = Counter()
        self._watching: Counter[str] = Counter()
        self._access: Counter[str] = Counter()  # user id (or "*": everyone) -> version

    def next_seq(self, key: str) -> int:
        with self._lock:
            self._seqs[key] += 1
            return self._seqs[key]

    def current_seqs(self, keys: list[str]) -> dict[str, int]:
        with self._lock:
            return {key: self._seqs[key] for key in keys}

    def snapshot(self, keys: list[str]) -> tuple[str, dict[str, int]]:
        return self._epoch, self.current_seqs(keys)

    def watch(self, keys: list[str]) -> None:
        with self._lock:
            self._watching.update(keys)

    def unwatch(self, keys: list[str]) -> None:
        with self._lock:
            self._watching.subtract(keys)
            for key in keys:
                if self._watching[key] <= 0:
                    del self._watching[key]

    def watched_shared(self) -> list[str]:
        with self._lock:
            return [key for key in self._watching if not is_personal(key)]

    def watched_among(self, keys: list[str]) -> set[str]:
        with self._lock:
            return {key for key in keys if key in self._watching}

    def watches_personal(self) -> bool:
        with self._lock:
            return any(is_personal(key) for key in self._watching)

    def ping(self) -> bool:
        return True

    def access_version(self, user_id: int) -> str:
        with self._lock:
            return f"{self._epoch}.{self._access['*']}.{self._access[str(user_id)]}"

    def bump_access(self, user_ids: list[int]) -> None:
        with self._lock:
            self._access.update(str(user_id) for user_id in user_ids)

    def bump_access_all(self) -> None:
        with self._lock:
            self._access["*"] += 1

    def claim(self, name: str, seconds: float) -> bool:
        return True  # one process: it is always the one


class RedisStore:
    """Several processes: INCR per stream, and two sorted sets of watched streams by expiry:
    the shared ones, scanned per change, and the personal ones, looked up by name (a scan of
    every watched key per change would grow with the number of viewers, about three personal
    keys each: ~3 ms per change at 1,000 viewers, in whichever process booked)."""

    def __init__(self, url: str, prefix: str) -> None:
        import redis

        self.prefix = prefix
        self.WATCHED = f"{prefix}:watched"
        self.PERSONAL = f"{prefix}:watched-personal"
        self.redis = redis.Redis.from_url(
            url, socket_timeout=1.0, socket_connect_timeout=1.0, health_check_interval=10
        )

    def next_seq(self, key: str) -> int:
        name = f"{self.prefix}:seq:{key}"
        pipe = self.redis.pipeline()
        pipe.incr(name)
        pipe.expire(name, SEQ_TTL)
        return int(pipe.execute()[0])

    def current_seqs(self, keys: list[str]) -> dict[str, int]:
        return self.snapshot(keys)[1]

    def snapshot(self, keys: list[str]) -> tuple[str, dict[str, int]]:
        """The numbers' epoch and the streams' numbers. Redis keeps nothing on disk here, so a
        restart forgets the numbers; a new epoch tells pages to forget theirs too."""
        name = f"{self.prefix}:epoch"
        pipe = self.redis.pipeline()
        pipe.set(name, uuid.uuid4().hex, nx=True)
        pipe.get(name)
        if keys:
            pipe.mget([f"{self.prefix}:seq:{key}" for key in keys])
        results = pipe.execute()
        values = results[2] if keys else []
        seqs = {key: int(value or 0) for key, value in zip(keys, values, strict=True)}
        return results[1].decode(), seqs

    def watch(self, keys: list[str]) -> None:
        if not keys:
            return
        now = time.time()
        expires = now + WATCH_TTL
        shared = [key for key in keys if not is_personal(key)]
        personal = [key for key in keys if is_personal(key)]
        pipe = self.redis.pipeline()
        if shared:
            pipe.zadd(self.WATCHED, dict.fromkeys(shared, expires))
        if personal:
            pipe.zadd(self.PERSONAL, dict.fromkeys(personal, expires))
            pipe.zremrangebyscore(self.PERSONAL, "-inf", now)  # nobody scans it: prune here
        pipe.execute()

    def unwatch(self, keys: list[str]) -> None:
        """Other processes may still watch these; they expire unless someone refreshes them."""

    def watched_shared(self) -> list[str]:
        now = time.time()
        pipe = self.redis.pipeline()
        pipe.zremrangebyscore(self.WATCHED, "-inf", now)
        pipe.zrangebyscore(self.WATCHED, now, "+inf")
        return [k.decode() for k in pipe.execute()[1]]

    def watched_among(self, keys: list[str]) -> set[str]:
        if not keys:
            return set()
        now = time.time()
        scores = self.redis.zmscore(self.PERSONAL, keys)
        return {key for key, score in zip(keys, scores, strict=True) if score and score > now}

    def watches_personal(self) -> bool:
        return bool(self.redis.zcount(self.PERSONAL, time.time(), "+inf"))

    def ping(self) -> bool:
        try:
            return bool(self.redis.ping())
        except Exception:
            return False

    def access_version(self, user_id: int) -> str:
        epoch = f"{self.prefix}:epoch"
        pipe = self.redis.pipeline()
        pipe.set(epoch, uuid.uuid4().hex, nx=True)
        pipe.mget([epoch, f"{self.prefix}:access:*", f"{self.prefix}:access:{user_id}"])
        values = pipe.execute()[1]
        return ".".join((value or b"0").decode() for value in values)

    def bump_access(self, user_ids: list[int]) -> None:
        if not user_ids:
            return
        pipe = self.redis.pipeline()
        for user_id in user_ids:
            pipe.incr(f"{self.prefix}:access:{user_id}")
            pipe.expire(f"{self.prefix}:access:{user_id}", ACCESS_TTL)
        pipe.execute()

    def bump_access_all(self) -> None:
        pipe = self.redis.pipeline()
        pipe.incr(f"{self.prefix}:access:*")
        pipe.expire(f"{self.prefix}:access:*", ACCESS_TTL)
        pipe.execute()

    def claim(self, name: str, seconds: float) -> bool:
        """True for the one process that asks first within `seconds` (a periodic push's turn)."""
        name = f"{self.prefix}:claim:{name}"
        return bool(self.redis.set(name, 1, nx=True, px=int(seconds * 1000)))


@cache
def get_store() -> Store:
    url = settings.REDIS_URL
    return RedisStore(url, settings.LIVE_PREFIX) if url else LocalStore()
