"""What lives only while sockets are open: who is looking at a stream (presence) and who is
about to book something on it (holds). Shared by every worker process through Redis; in the
embedded default (one process, no Redis) kept in memory, with the same behaviour.

Presence is a set of entries per stream, one per socket, each with an expiry that the socket's
process keeps pushing forward while it lives: a process that dies stops refreshing, and its
entries are swept by the survivors within PRESENCE_TTL. A stream's presence has a version,
taken in the same step as the read, so pages apply only newer summaries. Reading it for a
summary is a turn that one process at a time holds for a stream (`presence_turn`): with every
worker summarizing its own joins, a page load of 1,000 viewers over 4 workers sent ~27
summaries a second to each of them (docs/benchmarks.md).

Holds are advisory ("someone is booking this"): one per (stream, item), with a short expiry;
the database still decides who gets the spot.
"""

from __future__ import annotations

import json
import threading
import time
from collections import defaultdict
from functools import cache
from typing import NamedTuple, Protocol

from django.conf import settings

PRESENCE_TTL = 6.0  # seconds an entry lives without a refresh from its process (swept within 10 s)
HOLD_TTL = 60.0  # seconds a hold lasts unless released


class Turn(NamedTuple):
    """A stream's presence read for a summary, if this process got the turn for `seconds`;
    else how long the process that has it keeps it."""

    left: float  # 0: the turn is this process's, version and entries are read
    version: int = 0
    entries: tuple[str, ...] = ()


class Ephemeral(Protocol):
    def presence_join(self, key: str, entry: str) -> None: ...
    def presence_leave(self, key: str, entry: str) -> None: ...
    def presence_refresh(self, entries: dict[str, list[str]]) -> None: ...
    def presence_sweep(self, keys: list[str]) -> list[str]: ...
    def presence_turn(self, key: str, seconds: float) -> Turn: ...
    def hold(self, key: str, item: str, holder: str) -> bool: ...
    def release(self, key: str, item: str, holder: str) -> bool: ...
    def holds(self, key: str) -> dict[str, str]: ...


class LocalEphemeral:
    """One process: the same rules over dicts, guarded for threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._presence: dict[str, dict[str, float]] = defaultdict(dict)
        self._versions: dict[str, int] = defaultdict(int)
        self._holds: dict[str, dict[str, tuple[str, float]]] = defaultdict(dict)

    def presence_join(self, key: str, entry: str) -> None:
        with self._lock:
            self._presence[key][entry] = time.time() + PRESENCE_TTL

    def presence_leave(self, key: str, entry: str) -> None:
        with self._lock:
            self._presence[key].pop(entry, None)

    def presence_refresh(self, entries: dict[str, list[str]]) -> None:
        until = time.time() + PRESENCE_TTL
        with self._lock:
            for key, mine in entries.items():
                for entry in mine:
                    self._presence[key][entry] = until

    def presence_sweep(self, keys: list[str]) -> list[str]:
        now = time.time()
        swept = []
        with self._lock:
            for key in keys:
                expired = [e for e, until in self._presence[key].items() if until <= now]
                for entry in expired:
                    del self._presence[key][entry]
                if expired:
                    swept.append(key)
        return swept

    def presence_turn(self, key: str, seconds: float) -> Turn:
        now = time.time()  # one process: the turn is always its own
        with self._lock:
            self._versions[key] += 1
            live = [e for e, until in self._presence[key].items() if until > now]
            return Turn(0.0, self._versions[key], tuple(live))

    def hold(self, key: str, item: str, holder: str) -> bool:
        now = time.time()
        with self._lock:
            current = self._holds[key].get(item)
            if current is not None and current[1] > now and current[0] != holder:
                return False
            self._holds[key][item] = (holder, now + HOLD_TTL)
            return True

    def release(self, key: str, item: str, holder: str) -> bool:
        with self._lock:
            current = self._holds[key].get(item)
            if current is None or current[0] != holder:
                return False
            del self._holds[key][item]
            return True

    def holds(self, key: str) -> dict[str, str]:
        now = time.time()
        with self._lock:
            return {item: h for item, (h, until) in self._holds[key].items() if until > now}


# Takes a hold unless another holder has a live one: HSET only if absent, expired or ours.
_HOLD_SCRIPT = """
local current = redis.call('HGET', KEYS[1], ARGV[1])
if current then
  local held = cjson.decode(current)
  if held[1] ~= ARGV[2] and tonumber(held[2]) > tonumber(ARGV[3]) then return 0 end
end
redis.call('HSET', KEYS[1], ARGV[1], cjson.encode({ARGV[2], tonumber(ARGV[4])}))
redis.call('EXPIRE', KEYS[1], ARGV[5])
return 1
"""

# Releases a hold only for its holder.
_RELEASE_SCRIPT = """
local current = redis.call('HGET', KEYS[1], ARGV[1])
if current and cjson.decode(current)[1] == ARGV[2] then
  redis.call('HDEL', KEYS[1], ARGV[1])
  return 1
end
return 0
"""


# The turn and the read in one round trip: {1, ms the holder keeps it} or {0, version, entries}.
_TURN_SCRIPT = """
if not redis.call('SET', KEYS[1], '1', 'NX', 'PX', ARGV[1]) then
  return {1, redis.call('PTTL', KEYS[1])}
end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[2])
local entries = redis.call('ZRANGE', KEYS[2], 0, -1)
local version = redis.call('INCR', KEYS[3])
redis.call('EXPIRE', KEYS[3], ARGV[3])
return {0, version, entries}
"""


class RedisEphemeral:
    """Several processes: a sorted set of entries by expiry per stream, a version counter, and
    a hash of holds per stream."""

    def __init__(self, url: str, prefix: str) -> None:
        import redis

        self.prefix = prefix
        self.redis = redis.Redis.from_url(
            url, socket_timeout=1.0, socket_connect_timeout=1.0, health_check_interval=10
        )
        self._hold = self.redis.register_script(_HOLD_SCRIPT)
        self._release = self.redis.register_script(_RELEASE_SCRIPT)
        self._turn = self.redis.register_script(_TURN_SCRIPT)

    def _set(self, key: str) -> str:
        return f"{self.prefix}:presence:{key}"

    def presence_join(self, key: str, entry: str) -> None:
        pipe = self.redis.pipeline(transaction=False)
        pipe.zadd(self._set(key), {entry: time.time() + PRESENCE_TTL})
        pipe.expire(self._set(key), int(PRESENCE_TTL * 6))
        pipe.execute()

    def presence_leave(self, key: str, entry: str) -> None:
        self.redis.zrem(self._set(key), entry)

    def presence_refresh(self, entries: dict[str, list[str]]) -> None:
        if not entries:
            return
        until = time.time() + PRESENCE_TTL
        pipe = self.redis.pipeline(transaction=False)
        for key, mine in entries.items():
            if mine:
                # Re-adds an entry a sweep took (this process was slow, not dead).
                pipe.zadd(self._set(key), dict.fromkeys(mine, until))
                pipe.expire(self._set(key), int(PRESENCE_TTL * 6))
        pipe.execute()

    def presence_sweep(self, keys: list[str]) -> list[str]:
        if not keys:
            return []
        pipe = self.redis.pipeline(transaction=False)
        for key in keys:
            pipe.zremrangebyscore(self._set(key), "-inf", time.time())
        return [key for key, removed in zip(keys, pipe.execute(), strict=True) if removed]

    def presence_turn(self, key: str, seconds: float) -> Turn:
        turn, version = f"{self.prefix}:presence-turn:{key}", f"{self.prefix}:presence-v:{key}"
        got = self._turn(
            keys=[turn, self._set(key), version],
            args=[int(seconds * 1000), time.time(), 24 * 3600],
        )
        if got[0] == 1:
            return Turn(max(int(got[1]), 1) / 1000)
        return Turn(0.0, int(got[1]), tuple(entry.decode() for entry in got[2]))

    def _holds_key(self, key: str) -> str:
        return f"{self.prefix}:holds:{key}"

    def hold(self, key: str, item: str, holder: str) -> bool:
        now = time.time()
        args: list[str | float] = [item, holder, now, now + HOLD_TTL, int(HOLD_TTL * 2)]
        return bool(self._hold(keys=[self._holds_key(key)], args=args))

    def release(self, key: str, item: str, holder: str) -> bool:
        return bool(self._release(keys=[self._holds_key(key)], args=[item, holder]))

    def holds(self, key: str) -> dict[str, str]:
        now = time.time()
        found = {}
        held: dict[bytes, bytes] = self.redis.hgetall(self._holds_key(key))  # type: ignore[assignment]  # the sync client's hgetall is a dict
        for item, value in held.items():
            holder, until = json.loads(value)
            if float(until) > now:
                found[item.decode()] = holder
        return found


@cache
def get_ephemeral() -> Ephemeral:
    url = settings.REDIS_URL
    return RedisEphemeral(url, settings.LIVE_PREFIX) if url else LocalEphemeral()
