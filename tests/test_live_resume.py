"""Reconnect without database work (issue 14, item 1): a socket's `ready` carries a resumption
ticket; the page's next socket presents it and is let in without the session and user load or
the access queries, as long as the user's access version (bumped after COMMIT by every change
that names them for a re-check) is still the ticket's. A revoked user or a changed guardian link
is still refused at once: the version moved, so the socket is checked in full."""

from __future__ import annotations

import contextlib
import json
from typing import Any
from unittest import mock

import pytest
from asgiref.sync import sync_to_async
from channels import consumer as channels_consumer
from channels.generic import websocket as channels_websocket
from django.contrib.auth import get_user_model

from bookings import services
from bookings.models import GuardianLink
from realtime import consumers
from tests.test_live_streams import (
    _session_cookie,
    backend,  # noqa: F401  (a fixture)
    collect,
    frags,
    live,
    open_socket,
    refused,
    settle,
    sockets,  # noqa: F401  (a fixture)
    w,  # noqa: F401  (a fixture)
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]

User = get_user_model()


class Counted:
    """Counts the calls of the consumer's database work (session and user load, admission)."""

    def __init__(self) -> None:
        self.calls = {"session_user": 0, "admit": 0}
        self.patches = [
            mock.patch.object(consumers, name, self._wrap(name, getattr(consumers, name)))
            for name in self.calls
        ]

    def _wrap(self, name: str, real: Any) -> Any:
        def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls[name] += 1
            return real(*args, **kwargs)

        return counted

    def __enter__(self) -> Counted:
        for patch in self.patches:
            patch.start()
        return self

    def __exit__(self, *exc: object) -> None:
        for patch in self.patches:
            patch.stop()


@contextlib.contextmanager
def _trips_to_the_database_thread() -> Any:
    """Counts channels' `aclose_old_connections` (a hop to the database thread), which its
    consumers await before every handler and after a disconnect."""
    trips = mock.AsyncMock()
    with (
        mock.patch.object(channels_consumer, "aclose_old_connections", trips),
        mock.patch.object(channels_websocket, "aclose_old_connections", trips),
    ):
        yield trips


async def test_a_frame_takes_no_trip_to_the_database_thread(w, sockets):  # type: ignore[no-untyped-def]
    """Channels hops to the database thread before every handler; this consumer's handlers
    reach the database only through database_sync_to_async (which cleans up around each call),
    so a connect and a frame make no such hop. A disconnect keeps channels' clean-up after it."""
    cookie = await sync_to_async(_session_cookie)(w.parent_user)
    with _trips_to_the_database_thread() as trips:
        sock = await live(sockets, w.parent_user, [w.k["res_f"]], cookie=cookie)
        await sock.comm.send_to(text_data=json.dumps({"t": "ping"}))
        assert json.loads(await sock.comm.receive_from(timeout=5))["t"] == "pong"
        assert trips.await_count == 0
        await sock.comm.disconnect()


async def _dropped(sockets, user, keys, cookie):  # type: ignore[no-untyped-def]
    """A page's socket that said ready, then dropped (a worker died): its ticket and ready."""
    first = await live(sockets, user, keys, cookie=cookie)
    ticket = first.ready["resume"]
    assert ticket
    await first.comm.disconnect()
    return ticket, first.ready


async def test_a_returning_page_is_let_in_without_database_work(backend, w, sockets):  # type: ignore[no-untyped-def]
    keys = [w.k["res_f"], w.k["day"]]
    await live(sockets, w.staff_user, [w.k["cal1_staff"]])  # someone else's page stays open
    cookie = await sync_to_async(_session_cookie)(w.parent_user)
    ticket, first_ready = await _dropped(sockets, w.parent_user, keys, cookie)
    # A change while it was away: the new socket's ready shows the stream moved (resync).
    await sync_to_async(services.reservation_create)(
        player=w.child, session=w.session, actor=w.parent_user
    )
    await settle()
    with Counted() as counted, _trips_to_the_database_thread() as trips:
        back = await live(sockets, w.parent_user, keys, cookie=cookie, resume=ticket)
    assert counted.calls == {"session_user": 0, "admit": 0}
    # Not even a trip to the database thread (channels makes one around every handler).
    assert trips.await_count == 0
    # Its place in presence is the one it was admitted to (the ticket carries it).
    assert back.ready["presence"] == first_ready["presence"]
    if backend == "redis":  # its stream stayed watched (by the dead worker's entry): numbered
        assert back.ready["seqs"][w.k["res_f"]] >= 1
    assert back.ready["resume"] and back.ready["you"]["u"] == w.parent_user.pk
    # And it is live: the next change is pushed to it.
    await sync_to_async(services.reservation_create)(
        player=w.child2, session=w.session, actor=w.parent_user
    )
    assert set(frags((await collect(back))[0])) == {w.k["res_f"], w.k["day"]}


def _deactivate(w) -> None:  # type: ignore[no-untyped-def]
    user = User.objects.get(pk=w.parent_user.pk)
    user.is_active = False
    user.save()


def _move_link(w) -> None:  # type: ignore[no-untyped-def]
    link = GuardianLink.objects.get(guardian=w.parent_user, player=w.child)
    link.guardian = w.other_parent_user
    link.save()


@pytest.mark.parametrize(
    ("change", "stream", "code"),
    [(_deactivate, "res_f", 4401), (_move_link, "res_p", 4403)],
    ids=["revoked user", "changed guardian link"],
)
async def test_a_ticket_from_before_an_access_change_is_refused_at_once(  # type: ignore[no-untyped-def]
    backend, w, sockets, change, stream, code
):
    keys = [w.k[stream]]
    cookie = await sync_to_async(_session_cookie)(w.parent_user)
    ticket, _ = await _dropped(sockets, w.parent_user, keys, cookie)
    await sync_to_async(change)(w)
    await settle()
    comm = await open_socket(sockets, w.parent_user, keys, cookie=cookie, resume=ticket)
    assert await refused(comm) == code


async def test_a_ticket_is_no_credential_on_its_own(w, sockets, settings):  # type: ignore[no-untyped-def]
    keys = [w.k["res_f"]]
    cookie = await sync_to_async(_session_cookie)(w.parent_user)
    ticket, _ = await _dropped(sockets, w.parent_user, keys, cookie)
    # Another session (someone else's browser, with the parent's streams in its own token):
    # checked in full, and refused.
    other = await sync_to_async(_session_cookie)(w.other_parent_user)
    comm = await open_socket(sockets, w.other_parent_user, keys, cookie=other, resume=ticket)
    assert await refused(comm) == 4403
    # No session at all.
    comm = await open_socket(sockets, None, keys, token="", resume=ticket)
    assert await refused(comm) == 4401
    # Tampered with, or too old: checked in full (the parent's own session passes that).
    with Counted() as counted:
        await live(sockets, w.parent_user, keys, cookie=cookie, resume=ticket[:-2] + "xx")
    assert counted.calls == {"session_user": 1, "admit": 1}
    settings.LIVE_TICKET_MAX_AGE = 0
    with Counted() as counted:
        await live(sockets, w.parent_user, keys, cookie=cookie, resume=ticket)
    assert counted.calls == {"session_user": 1, "admit": 1}


async def test_a_change_racing_the_resumption_is_caught(backend, w, sockets):  # type: ignore[no-untyped-def]
    """The version moves after the ticket was checked but before the socket listened on the
    user's stream (so the access message passed it by): the second look after subscribing
    sees it and checks the socket in full."""
    keys = [w.k["res_p"]]
    cookie = await sync_to_async(_session_cookie)(w.parent_user)
    ticket, _ = await _dropped(sockets, w.parent_user, keys, cookie)
    link = GuardianLink.objects.filter(guardian=w.parent_user, player=w.child)
    await sync_to_async(link._raw_delete)(link.db)  # no signal: the race's change
    real = consumers.LiveConsumer._access_version
    looks: list[str | None] = []

    async def racing(self, user_id):  # type: ignore[no-untyped-def]
        version = await real(self, user_id)
        looks.append(version)
        return version if len(looks) == 1 else "moved"

    with mock.patch.object(consumers.LiveConsumer, "_access_version", racing):
        comm = await open_socket(sockets, w.parent_user, keys, cookie=cookie, resume=ticket)
        connected, _ = await comm.connect(timeout=5)
        assert connected
        ready = json.loads(await comm.receive_from(timeout=5))
        assert ready["t"] == "ready"
        got = []
        while not got or got[-1]["t"] != "close":
            output = await comm.receive_output(timeout=5)
            got.append(
                {"t": "close", "code": output.get("code")}
                if output["type"] == "websocket.close"
                else json.loads(output["text"])
            )
    assert got[-1] == {"t": "close", "code": 4403}
    assert all(m["t"] == "p" for m in got[:-1])
