"""Live access follows the account (issue 15, defects 2 and 3): with a socket open, logging out,
being deactivated, a password change, a moved guardian link, a moved player login and a role
removed close (or re-check) every affected socket within a second, old and new users alike;
sockets also re-validate on a timer and have a maximum lifetime.

Each test opens real sockets through config.asgi (tests.test_live_streams' helpers), makes the
change the way the product (or the admin, or a script) does, and checks the close code and that
nothing about what the user lost arrived on the socket."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth import get_user_model
from django.test import Client

from bookings import services
from bookings.models import GuardianLink, Player
from realtime import tokens
from realtime.consumers import origin_allowed
from scheduling.models import StaffMember
from tests.test_live_streams import (
    Sock,
    _decode,
    backend,  # noqa: F401  (a fixture)
    collect,
    frags,
    live,
    open_socket,
    received_until_close,
    refused,
    sockets,  # noqa: F401  (a fixture)
    w,  # noqa: F401  (a fixture)
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]

User = get_user_model()
WITHIN = 1.0  # seconds: the bound from the change to the close


def _logged_in(user: Any) -> tuple[Client, bytes]:
    """A browser's session: the client that can post as it and the cookie its socket sends."""
    client = Client()
    client.force_login(user)
    return client, f"sessionid={client.cookies['sessionid'].value}".encode()


async def closed_within(sock: Sock, code: int, committed: float) -> None:
    """The socket got nothing but its close, with this code, within WITHIN of the commit.

    A renewed ticket ("resume") may still arrive first: a periodic re-check that passed just
    before the change (the re-check interval is short in these tests). It carries no data."""
    got: list[dict[str, Any]] = []
    while not got or got[-1]["t"] != "close":
        message = _decode(await sock.comm.receive_output(timeout=5))
        if not sock.take(message) and message.get("t") != "resume":
            got.append(message)
    elapsed = time.monotonic() - committed
    assert got == [{"t": "close", "code": code}], got
    assert elapsed < WITHIN, f"closed {elapsed:.2f} s after the commit"
    assert await sock.comm.receive_nothing(timeout=0.1), "data after the close"


async def test_logout_closes_the_sessions_other_tabs(backend, w, sockets):  # type: ignore[no-untyped-def]
    client, cookie = await sync_to_async(_logged_in)(w.parent_user)
    tab = await live(sockets, w.parent_user, [w.k["res_f"]], cookie=cookie)
    elsewhere = await live(sockets, w.parent_user, [w.k["res_f"]])  # another browser: stays
    response = await sync_to_async(client.post)("/logout/")
    assert response.status_code == 302
    started = time.monotonic()
    await closed_within(tab, 4401, started)
    await sync_to_async(services.reservation_create)(
        player=w.child, session=w.session, actor=w.staff_user
    )
    assert set(frags((await collect(elsewhere))[0])) == {w.k["res_f"]}


@pytest.mark.parametrize("change", ["deactivated", "password", "deleted"])
async def test_account_changes_close_the_users_sockets(backend, w, sockets, change):  # type: ignore[no-untyped-def]
    coach = await live(sockets, w.coach_user, [w.k["coachday"], w.k["cal1_coach"]])
    staff = await live(sockets, w.staff_user, [w.k["coachday"]])

    def act() -> None:
        user = User.objects.get(pk=w.coach_user.pk)
        if change == "deactivated":
            user.is_active = False
            user.save()
        elif change == "password":
            user.set_password("a new secret, elsewhere")
            user.save()
        else:
            user.delete()

    await sync_to_async(act)()
    started = time.monotonic()
    await closed_within(coach, 4401, started)
    assert (await collect(staff))[0] == [] or change == "deleted"


async def test_admin_flag_removed_closes_what_only_an_admin_reads(backend, w, sockets):  # type: ignore[no-untyped-def]
    admin = await live(sockets, w.admin_user, [w.k["cal1_staff"]])

    def demote() -> None:
        user = User.objects.get(pk=w.admin_user.pk)
        user.is_superuser = False
        user.save()

    await sync_to_async(demote)()
    started = time.monotonic()
    await closed_within(admin, 4403, started)


async def test_a_moved_guardian_link_closes_the_old_guardians_socket(backend, w, sockets):  # type: ignore[no-untyped-def]
    old = await live(sockets, w.parent_user, [w.k["res_p"]])
    new_family = await live(sockets, w.other_parent_user, [w.k["res_f_other"]])

    def move() -> None:
        link = GuardianLink.objects.get(guardian=w.parent_user, player=w.child)
        link.guardian = w.other_parent_user
        link.save()

    await sync_to_async(move)()
    started = time.monotonic()
    await closed_within(old, 4403, started)
    # The new guardian's family list now shows the child (re-checked and re-rendered).
    got = frags((await collect(new_family))[0])
    assert w.child.first_name in got[w.k["res_f_other"]]["h"]
    await sync_to_async(services.reservation_create)(
        player=w.child, session=w.session, actor=w.staff_user
    )
    got = frags((await collect(new_family))[0])
    assert w.child.first_name in got[w.k["res_f_other"]]["h"]


async def test_a_moved_player_login_closes_the_old_logins_socket(backend, w, sockets):  # type: ignore[no-untyped-def]
    own = await live(sockets, w.player_user, [w.k["res_p_mia"]])

    def move() -> None:
        player = Player.objects.get(pk=w.player.pk)
        player.user = w.other_parent_user
        player.save()

    await sync_to_async(move)()
    started = time.monotonic()
    await closed_within(own, 4403, started)


async def test_a_removed_role_closes_the_socket(backend, w, sockets):  # type: ignore[no-untyped-def]
    staff = await live(sockets, w.staff_user, [w.k["cal1_staff"]])
    await sync_to_async(StaffMember.objects.filter(user=w.staff_user).delete)()
    started = time.monotonic()
    await closed_within(staff, 4403, started)


# -- a safety net, and an end: re-validation on a timer and a maximum lifetime -----------------


async def test_sockets_revalidate_on_their_own(backend, w, sockets, settings):  # type: ignore[no-untyped-def]
    """A change no event announces (a raw UPDATE, a script bypassing signals) is still caught
    by the socket's own periodic full re-check."""
    settings.LIVE_REVALIDATE_SECONDS = 0.3
    settings.LIVE_FULL_RECHECK_SECONDS = 0.3
    coach = await live(sockets, w.coach_user, [w.k["coachday"]])
    staff = await live(sockets, w.staff_user, [w.k["cal1_staff"]])
    await asyncio.sleep(0.6)  # a re-check or two that changes nothing: both stay open
    for got in await collect(coach, staff):  # each passed re-check renews the socket's ticket
        assert got and all(m["t"] == "resume" and m["r"] for m in got), got
    await sync_to_async(User.objects.filter(pk=w.coach_user.pk).update)(is_active=False)
    await sync_to_async(StaffMember.objects.filter(user=w.staff_user)._raw_delete)("default")
    started = time.monotonic()
    await closed_within(coach, 4401, started)
    await closed_within(staff, 4403, started)


async def test_a_socket_ends_after_its_lifetime_with_a_fresh_token_to_come_back_with(  # type: ignore[no-untyped-def]
    w, sockets, settings
):
    settings.LIVE_MAX_SOCKET_AGE = 0.5
    keys = [w.k["res_f"]]
    sock = await live(sockets, w.parent_user, keys)
    token = sock.ready["token"]
    assert tokens.verify_streams(token, w.parent_user.pk) == keys
    got = await asyncio.wait_for(received_until_close(sock), timeout=5)
    assert got == [{"t": "close", "code": 4408}]
    # The page comes back with the token it was given, and is live again.
    again = await open_socket(sockets, w.parent_user, token=token)
    connected, _ = await again.connect(timeout=5)
    assert connected
    assert json.loads(await again.receive_from(timeout=5))["t"] == "ready"


# -- one user, many sockets ---------------------------------------------------------------------


async def test_one_user_holds_at_most_the_cap_of_sockets(w, sockets, settings):  # type: ignore[no-untyped-def]
    settings.LIVE_MAX_SOCKETS_PER_USER = 3
    keys = [w.k["res_f"]]
    held = [await live(sockets, w.parent_user, keys) for _ in range(3)]
    assert await refused(await open_socket(sockets, w.parent_user, keys)) == 4430
    # Someone else is not affected; and a closed socket frees its place.
    await live(sockets, w.other_parent_user, [w.k["res_f_other"]])
    await held[0].comm.disconnect()
    await asyncio.sleep(0.05)
    await live(sockets, w.parent_user, keys)
    assert await refused(await open_socket(sockets, w.parent_user, keys)) == 4430


# -- the Origin: scheme, host and port -------------------------------------------------------


@pytest.mark.parametrize(
    ("origin", "code"),
    [
        (b"http://127.0.0.1:8621", None),
        (b"http://127.0.0.1:1", 4403),
        (b"https://127.0.0.1", 4403),
        (b"https://127.0.0.1:8621", 4403),
        (b"http://127.0.0.1", 4403),
        (b"http://localhost:8621", 4403),
        (b"null", 4403),
    ],
)
async def test_the_origin_must_match_scheme_host_and_port(w, sockets, origin, code):  # type: ignore[no-untyped-def]
    comm = await open_socket(
        sockets, w.parent_user, [w.k["res_f"]], origin=origin, host=b"127.0.0.1:8621"
    )
    if code is None:
        connected, _ = await comm.connect(timeout=5)
        assert connected and json.loads(await comm.receive_from(timeout=5))["t"] == "ready"
    else:
        assert await refused(comm) == code


def _scope(origin: str, host: str, scheme: str = "ws", **headers: str) -> dict[str, Any]:
    pairs = [(b"origin", origin.encode()), (b"host", host.encode())]
    pairs += [(k.replace("_", "-").encode(), v.encode()) for k, v in headers.items()]
    return {"scheme": scheme, "headers": pairs}


async def test_origins_behind_a_tls_proxy_and_trusted_origins(settings):  # type: ignore[no-untyped-def]
    settings.ALLOWED_HOSTS = ["courts.example"]
    settings.CSRF_TRUSTED_ORIGINS = ["https://live.example", "https://*.academy.example"]
    # The TLS proxy talks plain HTTP to us: without SECURE_PROXY_SSL_HEADER the socket's own
    # origin is http://..., so an https page is let in only through CSRF_TRUSTED_ORIGINS.
    assert origin_allowed(_scope("http://courts.example", "courts.example"))
    assert not origin_allowed(_scope("https://courts.example", "courts.example"))
    assert origin_allowed(_scope("https://courts.example", "courts.example", scheme="wss"))
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    proxied = {"x_forwarded_proto": "https"}
    assert origin_allowed(_scope("https://courts.example", "courts.example", **proxied))
    assert not origin_allowed(_scope("http://courts.example", "courts.example", **proxied))
    assert not origin_allowed(_scope("https://courts.example:8443", "courts.example", **proxied))
    # Trusted origins: exact scheme, host and port; a wildcard only for subdomains.
    assert origin_allowed(_scope("https://live.example", "courts.example"))
    assert not origin_allowed(_scope("http://live.example", "courts.example"))
    assert not origin_allowed(_scope("https://live.example:444", "courts.example"))
    assert origin_allowed(_scope("https://a.academy.example", "courts.example"))
    assert not origin_allowed(_scope("https://academy.example.evil", "courts.example"))
    assert not origin_allowed(_scope("https://evilacademy.example", "courts.example"))
    # A Host outside ALLOWED_HOSTS is no origin of ours, whatever the Origin says.
    assert not origin_allowed(_scope("http://evil.example", "evil.example"))
    assert not origin_allowed(_scope("http://courts.example:bad", "courts.example"))


async def test_a_periodic_check_reads_the_database_only_when_the_access_version_moved(  # type: ignore[no-untyped-def]
    backend, w, sockets, settings, monkeypatch
):
    """Every period a socket reads its user's access version; the session and access queries
    run only when it moved (or when the full re-check is due, here never): thousands of idle
    sockets must not keep the workers' database threads busy."""
    from realtime import consumers
    from realtime.store import get_store

    settings.LIVE_REVALIDATE_SECONDS = 0.2
    settings.LIVE_FULL_RECHECK_SECONDS = 3600
    checks: list[int] = []
    recheck = consumers.LiveConsumer._recheck

    def counted(self):  # type: ignore[no-untyped-def]
        checks.append(self.user_id)
        return recheck(self)

    monkeypatch.setattr(consumers.LiveConsumer, "_recheck", counted)
    staff = await live(sockets, w.staff_user, [w.k["cal1_staff"]])
    await asyncio.sleep(0.7)  # three periods or so, nothing changed
    assert checks == [], checks
    await sync_to_async(get_store().bump_access)([w.staff_user.pk])
    await asyncio.sleep(0.5)
    assert checks == [w.staff_user.pk], checks  # once for the move, not again after
    await collect(staff)
