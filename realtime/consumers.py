"""The one WebSocket of a live page.

On connect it checks, in order: the Origin is ours, a user is logged in, the page's signed
stream token is theirs, the user has fewer than LIVE_MAX_SOCKETS_PER_USER sockets open in this
process, and every stream in it passes the access rules now. Any failure closes the socket with
a code and sends nothing. Then the socket joins its streams through the process hub, which
writes pushed fragments to it directly; this consumer only answers pings.

While open, the socket follows its account: an access change (logout, deactivation, a new
password, a moved guardian link or player login, a role removed: bookings.live.capture) makes
every socket of the users it names re-load its session and re-check its streams at once; every
LIVE_REVALIDATE_SECONDS it reads its user's access version and does the same if it moved (an
access message it missed), and every LIVE_FULL_RECHECK_SECONDS whatever the version (a change
written without any event); after LIVE_MAX_SOCKET_AGE it closes, and the page reconnects with
the fresh stream token its `ready` carried.

A page whose socket dropped comes back with the resumption ticket its last socket gave it
(realtime.tokens): while the user's access version is still the ticket's, the socket is let in
without loading the session or the user and without the access queries (`_resume`).

Close codes (4000-4999: the range an application may send; daphne refuses 1003/1009):
4400 malformed frame, 4401 not logged in (any more) or bad token, 4403 forbidden stream or
foreign Origin, 4408 the socket's lifetime is over (reconnect), 4413 frame too large,
4415 binary frame, 4429 presence/hold flood, 4430 too many sockets for one user,
4503 live updates unavailable (Redis down).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import re
import secrets
from collections import Counter
from dataclasses import dataclass
from importlib import import_module
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qs, urlsplit

from asgiref.sync import sync_to_async
from channels.consumer import get_handler_name
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.contrib.auth import get_user
from django.http.request import split_domain_port, validate_host

from realtime import fragments, messages
from realtime.ephemeral import HOLD_TTL, get_ephemeral
from realtime.fragments import Presence, Resolved
from realtime.hub import Hub, get_hub
from realtime.presence import NAMES, Seat
from realtime.ratelimit import TokenBucket
from realtime.store import get_store
from realtime.streams import user_stream
from realtime.tokens import Ticket, sign_streams, sign_ticket, verify_streams, verify_ticket
from realtime.viewers import viewer_of

log = logging.getLogger(__name__)

MAX_FRAME = 1024  # the client only ever sends small frames (pings, presence, holds)
ITEM = re.compile(r"[A-Za-z0-9:_.+-]{1,60}")  # what a hold names: a session id, a slot's time
DEFAULT_PORTS = {"http": 80, "https": 443}

# Close codes (see the module's docstring and docs/architecture.md).
MALFORMED, UNAUTHENTICATED, FORBIDDEN, EXPIRED = 4400, 4401, 4403, 4408
TOO_LARGE, BINARY, FLOOD, TOO_MANY_SOCKETS, UNAVAILABLE = 4413, 4415, 4429, 4430, 4503

Origin = tuple[str, str, int]  # scheme, host, port


def _origin(url: str) -> Origin | None:
    """An origin's scheme, host and port (the scheme's default if none is given), or None."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    host = (parts.hostname or "").lower()
    if parts.scheme not in DEFAULT_PORTS or not host:
        return None
    return parts.scheme, host, port or DEFAULT_PORTS[parts.scheme]


def _trusted(origin: Origin, trusted: str) -> bool:
    """Like Django's CSRF check of CSRF_TRUSTED_ORIGINS: the same scheme and port, the same host
    or, for `scheme://*.example.com`, a subdomain of it."""
    want = _origin(trusted.replace("://*.", "://wildcard.", 1))
    if want is None or want[0] != origin[0] or want[2] != origin[2]:
        return False
    if "://*." in trusted:
        return origin[1].endswith("." + want[1].removeprefix("wildcard."))
    return want[1] == origin[1]


def _secure(scope: dict[str, Any], headers: dict[bytes, bytes]) -> bool:
    """Whether the browser reached us over TLS, as Django's request.is_secure() answers it:
    behind a TLS proxy, by SECURE_PROXY_SSL_HEADER when it is set and present."""
    proxy_header = getattr(settings, "SECURE_PROXY_SSL_HEADER", None)
    if proxy_header:
        name, secure_value = proxy_header
        header = name.removeprefix("HTTP_").replace("_", "-").lower().encode("latin-1")
        value = headers.get(header)
        if value is not None:
            return value.decode("latin-1").split(",", 1)[0].strip() == secure_value
    return scope.get("scheme") in ("wss", "https")


def origin_allowed(scope: dict[str, Any]) -> bool:
    """The page that opened the socket is ours: its Origin (scheme, host and port) is one of
    CSRF_TRUSTED_ORIGINS or the socket's own, i.e. the Host it was sent to (one of
    ALLOWED_HOSTS) with the scheme it arrived by. The rule Django's CSRF check applies to forms,
    answered with a close code."""
    headers = dict(scope.get("headers") or [])
    origin = _origin(headers.get(b"origin", b"").decode("latin-1"))
    if origin is None:
        return False
    if any(_trusted(origin, trusted) for trusted in settings.CSRF_TRUSTED_ORIGINS):
        return True
    domain, port = split_domain_port(headers.get(b"host", b"").decode("latin-1"))
    allowed = settings.ALLOWED_HOSTS or (
        [".localhost", "127.0.0.1", "[::1]"] if settings.DEBUG else []
    )
    if not domain or not validate_host(domain, allowed):
        return False
    scheme = "https" if _secure(scope, headers) else "http"
    own = (scheme, domain.strip("[]"), int(port) if port else DEFAULT_PORTS[scheme])
    return origin == own


def session_user(scope: dict[str, Any]) -> Any:
    """The user of the socket's session as it is now, read afresh (not channels' copy from the
    handshake): after a logout, a new password (Django's session hash) or a deactivation, an
    anonymous user."""
    session = scope.get("session")
    key = getattr(session, "session_key", None)
    engine = import_module(settings.SESSION_ENGINE)
    return get_user(SimpleNamespace(session=engine.SessionStore(key)))  # type: ignore[arg-type]


async def load_user(scope: dict[str, Any]) -> Any:
    """The socket's user (the WebSocket route loads none itself: a resumed socket needs none)."""
    return await database_sync_to_async(session_user)(scope)


# Sockets open per user in this process (see LiveConsumer._count): a cap per worker needs no
# shared state that a killed worker would leave behind, and bounds a flood all the same.
_open_by_user: Counter[int] = Counter()


def _jittered(seconds: float, low: float, high: float) -> float:
    """Spread timers of sockets that opened together (after a restart) over time."""
    return seconds * random.uniform(low, high)


@dataclass(frozen=True)
class Admission:
    """What a socket was let in to: its fragments, and its place in presence if any."""

    resolved: list[Resolved]
    presence: tuple[str, Presence] | None  # the first of its fragments that has presence


def admit(user: Any, keys: list[str]) -> Admission | None:
    """Every stream must name something that exists and that this user may read now."""
    viewer = viewer_of(user)
    resolved = fragments.resolve_allowed(keys, viewer)
    if len(resolved) != len(set(keys)):
        return None
    for r in resolved:
        view = r.fragment.presence(viewer, r.rows)
        if view is not None:
            return Admission(resolved, (r.key, view))
    return Admission(resolved, None)


def authorize(user: Any, keys: list[str]) -> bool:
    return admit(user, keys) is not None


@dataclass(frozen=True)
class Checked:
    """A new socket that passed the full check (LiveConsumer._check)."""

    user_id: int
    keys: list[str]
    admission: Admission
    version: str | None  # the user's access version, read before the check


def access_version_now(user_id: int) -> str | None:
    try:
        return get_store().access_version(user_id)
    except Exception:
        return None  # no ticket, no resumption; the rest finds out Redis is down


class LiveConsumer(AsyncWebsocketConsumer):
    # No channel-layer channel of its own: the process hub is the one member of each stream's
    # group and writes to this socket directly. A layer alias that names no layer makes
    # channels skip the per-socket channel, its receive task and buffer (memory per idle
    # socket: docs/benchmarks.md).
    channel_layer_alias = "courtside-no-layer-per-socket"
    hub: Hub | None = None
    keys: list[str]
    fragment_keys: list[str]
    counted: int | None = None  # the user this socket is counted for in _open_by_user
    timer: asyncio.TimerHandle | None = None
    checked_version: str | None = None  # the access version its last full check stood for
    full_check_at = 0.0  # loop time of its next full re-check, whatever the version
    checking: asyncio.Task[None] | None = None

    async def dispatch(self, message: dict[str, Any]) -> None:
        """Channels' dispatch without its hop to the database thread before every handler
        (`aclose_old_connections`, a thread hand-off per connect, frame and disconnect): this
        consumer reaches the database only through database_sync_to_async, which closes stale
        connections around each call itself. A socket resumed with a ticket then costs no trip
        to that thread at all (docs/benchmarks.md, reconnection)."""
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def connect(self) -> None:
        self.keys, self.fragment_keys = [], []
        self.variants: dict[str, str] = {}
        self.hold_keys: set[str] = set()
        self.holding: set[tuple[str, str]] = set()
        self.seat: tuple[str, Presence] | None = None
        self.tag = secrets.token_urlsafe(6)  # this socket, to others: never a name
        self.bucket = TokenBucket()
        await self.accept()
        if not origin_allowed(self.scope):
            await self.close(code=FORBIDDEN)
            return
        query = parse_qs(self.scope.get("query_string", b"").decode("latin-1"))
        ticket = verify_ticket(query.get("r", [""])[0], self._session_key())
        if ticket is not None and await self._resume(ticket):
            return
        checked = await database_sync_to_async(self._check)(query.get("t", [""])[0])
        if isinstance(checked, int):
            await self.close(code=checked)
            return
        if not self._count(checked.user_id):
            await self.close(code=TOO_MANY_SOCKETS)
            return
        await self._join(checked.user_id, checked.keys, checked.admission.presence, checked.version)

    def _check(self, token: str) -> Checked | int:
        """A new socket checked in full, in one trip to the database thread (each trip takes a
        pooled connection and health-checks it: a round trip of its own): the session's user,
        the signed streams, the per-user cap (before any query of the access rules), the access
        version (read before the check it stands for) and the access rules. An int: the close
        code."""
        user = session_user(self.scope)
        if not user.is_authenticated:
            return UNAUTHENTICATED
        keys = verify_streams(token, user.pk)
        if keys is None:
            return UNAUTHENTICATED
        if _open_by_user[user.pk] >= settings.LIVE_MAX_SOCKETS_PER_USER:
            return TOO_MANY_SOCKETS  # a flood costs no more than this; counted on the loop
        version = access_version_now(user.pk)
        admission = admit(user, keys)
        if admission is None:
            return FORBIDDEN
        return Checked(user.pk, keys, admission, version)

    async def _resume(self, ticket: Ticket) -> bool:
        """A page coming back with its last socket's ticket: let in without the session, user
        and access queries if the user's access version is still the ticket's. False: not
        resumed (check the socket in full instead)."""
        if await self._access_version(ticket.user_id) != ticket.access_version:
            return False  # something changed: the full check decides
        if not self._count(ticket.user_id):
            await self.close(code=TOO_MANY_SOCKETS)
            return True
        seat = None
        if ticket.presence is not None:
            key, name, role, sees_names, place = ticket.presence
            seat = (key, Presence(name, role, sees_names, place))
        await self._join(ticket.user_id, ticket.keys, seat, ticket.access_version)
        # A change that committed just before this socket began to listen on the user's
        # stream has bumped the version by now; the hub's access message may have missed it.
        if self.hub is not None and await self._access_version(ticket.user_id) != (
            ticket.access_version
        ):
            await self.access_changed()
        return True

    def _session_key(self) -> str | None:
        return getattr(self.scope.get("session"), "session_key", None)

    async def _access_version(self, user_id: int) -> str | None:
        return await sync_to_async(access_version_now, thread_sensitive=False)(user_id)

    def _count(self, user_id: int) -> bool:
        """Count this socket for its user, unless they already hold the most a process allows."""
        if _open_by_user[user_id] >= settings.LIVE_MAX_SOCKETS_PER_USER:
            return False
        _open_by_user[user_id] += 1
        self.counted = user_id
        return True

    def _uncount(self) -> None:
        if self.counted is not None:
            _open_by_user[self.counted] -= 1
            if _open_by_user[self.counted] <= 0:
                del _open_by_user[self.counted]
            self.counted = None

    async def _join(
        self,
        user_id: int,
        keys: list[str],
        seat: tuple[str, Presence] | None,
        version: str | None,
    ) -> None:
        self.user_id = user_id
        self.fragment_keys = keys
        self.seat = seat
        self.hold_keys = {f.key for f in map(fragments.parse, keys) if f is not None and f.holds}
        self.push_send = self.scope.get("server_send") or self.base_send
        ready: dict[str, Any] = {"t": "ready", "you": {"u": user_id, "tag": self.tag}}
        # The page reconnects with these (after a lifetime close, or days later): never with a
        # token older than its socket; and within minutes, without database work.
        ready["token"] = sign_streams(user_id, keys)
        ready["resume"] = self._ticket(version)
        try:
            self.hub = await get_hub()
            self.keys = [*keys, user_stream(user_id)]
            await self.hub.subscribe(self, self.keys)
            if seat is not None:
                key, view = seat
                if view.sees_names:
                    self.variants[key] = NAMES
                await self.hub.presence.join(self, Seat(key, view, user_id, self.tag))
                ready["presence"] = {"k": key, "place": view.place, "names": view.sees_names}
            ready["epoch"], ready["seqs"] = await sync_to_async(
                get_store().snapshot, thread_sensitive=False
            )(keys)
            if self.hold_keys:
                ready["holds"] = await sync_to_async(self._holds, thread_sensitive=False)()
        except Exception:
            log.warning("live updates unavailable for a new socket", exc_info=True)
            await self.close(code=UNAVAILABLE)
            return
        await self.send(text_data=json.dumps(ready))
        loop = asyncio.get_running_loop()
        self.ends_at = loop.time() + _jittered(settings.LIVE_MAX_SOCKET_AGE, 0.9, 1.0)
        self.checked_version = version
        self.full_check_at = loop.time() + _jittered(settings.LIVE_FULL_RECHECK_SECONDS, 0.8, 1.2)
        self._schedule_check()

    def _ticket(self, version: str | None) -> str:
        """A resumption ticket for this socket's streams, as of the access version read before
        they were last checked ("" without one: Redis down, or no session)."""
        session_key = self._session_key()
        if version is None or not session_key:
            return ""
        presence = None
        if self.seat is not None:
            key, view = self.seat
            presence = [key, view.name, view.role, view.sees_names, view.place]
        return sign_ticket(self.user_id, self.fragment_keys, version, session_key, presence)

    # -- the socket's life: re-checked on a timer, closed when it is over --

    def _schedule_check(self) -> None:
        loop = asyncio.get_running_loop()
        now = loop.time()
        at = min(self.ends_at, now + _jittered(settings.LIVE_REVALIDATE_SECONDS, 0.8, 1.2))
        self.timer = loop.call_later(max(0.0, at - now), self._on_timer)

    def _on_timer(self) -> None:
        self.timer = None
        self.checking = asyncio.ensure_future(self._timed_check())

    async def _timed_check(self) -> None:
        if self.hub is None:
            return  # closed meanwhile
        if asyncio.get_running_loop().time() >= self.ends_at:
            await self.close(code=EXPIRED)
            return
        version = await self._access_version(self.user_id)
        now = asyncio.get_running_loop().time()
        # The database only when something may have changed: the version moved (or could not be
        # read), or the full re-check is due. Otherwise one Redis read per socket per period.
        if version is None or version != self.checked_version or now >= self.full_check_at:
            await self.access_changed()
            self.checked_version = version
            self.full_check_at = now + _jittered(settings.LIVE_FULL_RECHECK_SECONDS, 0.8, 1.2)
        if self.hub is not None:  # still open, and allowed as of `version`: a new ticket
            await self.send(text_data=json.dumps({"t": "resume", "r": self._ticket(version)}))
            self._schedule_check()

    def _holds(self) -> dict[str, dict[str, str]]:
        store = get_ephemeral()
        return {key: store.holds(key) for key in sorted(self.hold_keys)}

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if text_data is None:
            await self.close(code=BINARY)  # the client only speaks JSON text
            return
        if len(text_data) > MAX_FRAME:
            await self.close(code=TOO_LARGE)
            return
        try:
            message = json.loads(text_data)
        except ValueError:
            await self.close(code=MALFORMED)
            return
        kind = message.get("t") if isinstance(message, dict) else None
        if kind == "ping":
            await self._pong()
        elif kind in ("presence", "hold", "unhold"):
            # What reaches other people is rate-limited; a flood closes only this socket.
            if not self.bucket.take():
                await self.close(code=FLOOD)
            elif kind == "presence":
                await self._presence(message)
            else:
                await self._hold(message, on=kind == "hold")
        else:
            await self.close(code=MALFORMED)

    async def _pong(self) -> None:
        try:
            epoch, seqs = await sync_to_async(get_store().snapshot, thread_sensitive=False)(
                self.fragment_keys
            )
        except Exception:
            await self.close(code=UNAVAILABLE)
            return
        await self.send(text_data=json.dumps({"t": "pong", "epoch": epoch, "seqs": seqs}))

    async def _presence(self, message: dict[str, Any]) -> None:
        away = message.get("away")
        if not isinstance(away, bool):
            await self.close(code=MALFORMED)
        elif self.hub is not None:
            await self.hub.presence.set_away(self, away)

    async def _hold(self, message: dict[str, Any], *, on: bool) -> None:
        """ "Someone is booking this": only on a stream of this socket whose kind has holds, for
        an item of a plausible shape. Advisory: the database still decides."""
        key, item = message.get("k"), message.get("i")
        if key not in self.hold_keys or not isinstance(item, str) or not ITEM.fullmatch(item):
            await self.close(code=MALFORMED)
            return
        store = get_ephemeral()
        change = store.hold if on else store.release
        if not await sync_to_async(change, thread_sensitive=False)(key, item, self.tag):
            return  # someone else holds it, or it was not ours to release
        if on:
            self.holding.add((key, item))
        else:
            self.holding.discard((key, item))
        if self.hub is not None:
            await self.hub.broadcast(key, messages.hold(key, item, self.tag, on, HOLD_TTL))

    async def _release_holds(self, hub: Hub) -> None:
        store = get_ephemeral()
        for key, item in sorted(self.holding):
            with contextlib.suppress(Exception):
                if await sync_to_async(store.release, thread_sensitive=False)(key, item, self.tag):
                    await hub.broadcast(key, messages.hold(key, item, self.tag, False, HOLD_TTL))
        self.holding.clear()

    async def disconnect(self, code: int) -> None:
        self._leave_streams()

    async def close(self, code: int | bool | None = None, reason: str | None = None) -> None:
        # Leave the streams before closing: the client's disconnect comes later, and until then
        # the hub would go on writing pushes to this socket (after a 4403, what it may not read).
        self._leave_streams()
        await super().close(code=code, reason=reason)

    def _leave_streams(self) -> None:
        self._uncount()
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if self.hub is not None:
            if self.holding:
                self.hub.background(self._release_holds(self.hub))
            self.hub.unsubscribe(self, self.keys)
            self.hub = None

    # -- called by the hub --

    async def access_changed(self) -> None:
        """The user's account, roles or family changed (or the timer says it is time to look):
        keep the socket only if its session still names this user and every stream still
        passes."""
        try:
            code = await database_sync_to_async(self._recheck)()
        except Exception:
            # Unknown is not allowed: close; the page reconnects and is checked afresh.
            log.warning("could not re-check a socket's access", exc_info=True)
            await self.close(code=UNAVAILABLE)
            return
        if code is not None and self.hub is not None:
            await self.close(code=code)

    def _recheck(self) -> int | None:
        """The close code this socket now deserves, or None to keep it."""
        user = session_user(self.scope)
        if not user.is_authenticated or user.pk != self.user_id:
            return UNAUTHENTICATED
        return None if authorize(user, self.fragment_keys) else FORBIDDEN

    async def live_down(self) -> None:
        self.hub = None
        await self.close(code=UNAVAILABLE)
