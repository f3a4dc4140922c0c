"""Past one Redis (issue 14, item 7): the channel layer sharded over two Redis servers.

channels-redis's pub/sub layer puts each group on one of its `hosts` by a CRC32 of the group's
channel name (`_consistent_hash`): a stream's messages all go through one server (so they keep
their order), and every process subscribes to each stream it serves on that stream's server.
This runs the live path over two servers (the shared test Redis and a `redis-server` of its own
on a free port): sockets on streams that hash to different servers, a booking, and each socket
gets its push; each server carries the groups the hash gives it and no others. Sequence numbers,
watched streams and presence stay on REDIS_URL (realtime.store, realtime.ephemeral): see
docs/benchmarks.md, "Past one machine".
"""

from __future__ import annotations

import shutil

import pytest
import redis
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from channels_redis.utils import _consistent_hash
from django.db import connection

from bookings import services
from config.settings import channel_layers
from realtime import messages
from realtime.streams import group_name, user_stream
from tests.browser.stack import RedisServer
from tests.test_live_streams import (  # noqa: F401  (fixtures, used by name)
    Sock,
    _decode,
    _reset_live_path,
    live,
    sockets,
    w,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio, pytest.mark.redis]


@pytest.fixture
def two_redis(settings):  # type: ignore[no-untyped-def]
    if not settings.REDIS_URL:
        pytest.skip("needs Redis (the shared test server answers nowhere)")
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed: no second Redis server to shard over")
    second = RedisServer()
    second.start()
    shards = [settings.REDIS_URL, second.url]
    settings.CHANNEL_LAYERS = channel_layers(settings.REDIS_URL, settings.LIVE_PREFIX, shards)
    _reset_live_path()
    try:
        yield shards
    finally:
        _reset_live_path()
        second.stop()


def shard_of(shards: list[str], key: str, prefix: str) -> int:
    """Which server channels-redis gives a stream's group (its own function, its own naming)."""
    return _consistent_hash(f"{prefix}:layer__group__{group_name(key)}", len(shards))


def subscribed(url: str) -> set[str]:
    client = redis.Redis.from_url(url)
    try:
        return {name.decode() for name in client.pubsub_channels("*__group__live.*")}
    finally:
        client.close()


async def test_a_booking_reaches_sockets_whose_streams_live_on_different_servers(  # type: ignore[no-untyped-def]
    two_redis, settings, w, sockets
):
    k, prefix = w.k, settings.LIVE_PREFIX
    parent = await live(sockets, w.parent_user, [k["res_f"], k["day"]])
    coach = await live(sockets, w.coach_user, [k["coachday"], k["cal7_coach"]])
    staff = await live(sockets, w.staff_user, [k["cal1_staff"], k["res_p"]])
    keys = [
        k["res_f"],
        k["day"],
        k["coachday"],
        k["cal7_coach"],
        k["cal1_staff"],
        k["res_p"],
        *(user_stream(u.pk) for u in (w.parent_user, w.coach_user, w.staff_user)),
    ]
    servers = {key: shard_of(two_redis, key, prefix) for key in keys}
    assert set(servers.values()) == {0, 1}, "every stream hashed to one server: pick others"

    # Each server carries exactly the groups the hash gives it.
    for index, url in enumerate(two_redis):
        mine = {
            f"{prefix}:layer__group__{group_name(key)}" for key in keys if servers[key] == index
        }
        ours = {name for name in subscribed(url) if name.startswith(f"{prefix}:layer__group__")}
        assert ours == mine, url

    await sync_to_async(services.reservation_create)(
        player=w.child, session=w.session, actor=w.parent_user
    )
    assert await pushed(parent) == {k["res_f"], k["day"]}
    assert await pushed(coach) == {k["coachday"], k["cal7_coach"]}
    assert await pushed(staff) == {k["cal1_staff"], k["res_p"]}

    # The numbers and the watched streams stay on REDIS_URL; the second server holds no key.
    first, second = (redis.Redis.from_url(url) for url in two_redis)
    try:
        assert first.get(f"{prefix}:seq:{k['day']}") is not None
        assert first.zscore(f"{prefix}:watched", k["day"]) is not None
        assert second.keys(f"{prefix}*") == []
    finally:
        first.close()
        second.close()


async def pushed(sock: Sock) -> set[str]:
    """The streams whose fragment reached this socket after the booking. Not `collect`'s fence:
    across two servers a toast on the user's stream may overtake a fragment on another stream
    (only one stream's messages keep their order), so wait for what each socket watches."""
    got: set[str] = set()
    while got != set(sock.ready["seqs"]):
        message = _decode(await sock.comm.receive_output(timeout=5))
        assert message["t"] in ("f", "n", "p"), message
        if message["t"] == "f":
            got.add(message["k"])
    return got


async def test_a_fragment_that_overtakes_its_access_recheck_waits_for_it(  # type: ignore[no-untyped-def]
    two_redis, settings, w, sockets
):
    """Across two servers a pass's fragment may arrive before the `access` message on the
    user's own stream (another server). The publisher puts the pass's re-checked users on the
    fragment too, and the hub re-checks their sockets on that stream before writing it. Here the
    `access` message never comes at all (the link is deleted behind change capture's back)."""
    k = w.k
    parent = await live(sockets, w.parent_user, [k["res_p"]])
    staff = await live(sockets, w.staff_user, [k["res_p"]])

    def unlink() -> None:
        with connection.cursor() as cursor:
            cursor.execute(
                "DELETE FROM bookings_guardianlink WHERE guardian_id = %s AND player_id = %s",
                [w.parent_user.pk, w.child.pk],
            )

    await sync_to_async(unlink)()
    text = messages.fragment(k["res_p"], 999, "<p>Leo's new list</p>")
    message = {"type": "live.message", "key": k["res_p"], "text": text}
    await get_channel_layer().group_send(
        group_name(k["res_p"]), {**message, "recheck": [w.parent_user.pk]}
    )
    got = _decode(await parent.comm.receive_output(timeout=5))
    assert got == {"t": "close", "code": 4403}
    assert _decode(await staff.comm.receive_output(timeout=5))["s"] == 999
