"""The outbox (realtime.outbox, realtime.sweeper): a committed change reaches the open pages even
when its writer exits at once (a one-line `manage.py shell -c`) or dies between COMMIT and
publishing; a rollback leaves nothing; a redelivery changes nothing on a page; old rows go.

Sockets are the real ones of tests/test_live_streams.py (its harness and fixtures); the
one-shot writer is a real subprocess on the test's database, Redis and live prefix.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
from datetime import timedelta
from unittest import mock

import pytest
from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from bookings import services
from bookings.models import GuardianLink, SessionReservation
from realtime import outbox, sweeper
from realtime.events import Event
from realtime.models import OutboxEvent
from realtime.publisher import Publisher, send_on_commit
from tests import test_live_streams as harness
from tests.test_live_streams import collect, frags, live, received, received_until_close, settle

pytestmark = [pytest.mark.django_db(transaction=True)]

# The live-stream tests' fixtures: both channel layers, the world, the sockets opened.
backend, w, sockets = harness.backend, harness.w, harness.sockets


def _database_url() -> str:
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    return f"postgres://{db['USER']}@{db['HOST']}:{db['PORT'] or 5432}/{db['NAME']}"


def _one_line_shell(code: str) -> None:
    """`manage.py shell -c CODE` on this test's database and live streams: it exits as soon
    as CODE returns."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "SECRET_KEY": settings.SECRET_KEY,
        "DATABASE_URL": _database_url(),
        "REDIS_URL": settings.REDIS_URL,
        "LIVE_PREFIX": settings.LIVE_PREFIX,
        "DB_POOL_SIZE": "0",
    }
    done = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr


def _make_due() -> None:
    """As if GRACE had passed: the sweepers may take every unsent row."""
    OutboxEvent.objects.filter(sent_at__isnull=True).update(due_at=timezone.now())


def _world_said_all() -> None:
    """In memory, what building the world said went out before this process had a hub (and
    reached nobody), so its rows are still unsent: count them out."""
    OutboxEvent.objects.update(sent_at=timezone.now())


def _unsent() -> int:
    return OutboxEvent.objects.filter(sent_at__isnull=True).count()


@pytest.mark.asyncio
async def test_a_one_line_shell_unlinking_a_parent_closes_their_socket(backend, w, sockets):  # type: ignore[no-untyped-def]
    """Issue 15, defect 1: the shell commits and exits at once. Over Redis it sends before it
    goes (at exit); in memory (no Redis, `make demo`) it cannot reach the server's sockets and
    leaves its rows to the serving process's sweeper."""
    k = w.k
    child_socket = await live(sockets, w.parent_user, [k["res_p"]])
    family_socket = await live(sockets, w.parent_user, [k["res_f"]])
    staff = await live(sockets, w.staff_user, [k["res_p"]])
    await sync_to_async(_world_said_all)()

    await sync_to_async(_one_line_shell)(
        "from bookings.models import GuardianLink; "
        f"GuardianLink.objects.filter(guardian_id={w.parent_user.pk}, "
        f"player_id={w.child.pk}).delete()"
    )
    assert not await sync_to_async(GuardianLink.objects.filter(player=w.child).exists)()
    if backend == "memory":
        assert await sync_to_async(_unsent)() == 1
        await sync_to_async(_make_due)()
        assert await sync_to_async(sweeper.sweep)() == 1
        await settle()
    assert await received_until_close(child_socket) == [{"t": "close", "code": 4403}]
    assert await sync_to_async(_unsent)() == 0
    got_family, got_staff = await collect(family_socket, staff)  # the unlink's re-renders
    assert set(frags(got_staff)) == {k["res_p"]}

    # The child's next booking reaches staff and never the unlinked parent.
    await sync_to_async(services.reservation_create)(
        player=w.child, session=w.session, actor=w.staff_user
    )
    got_family, got_staff = await collect(family_socket, staff)
    assert set(frags(got_staff)) == {k["res_p"]}
    assert all(w.child.last_name not in m.get("h", "") for m in got_family)
    assert await child_socket.comm.receive_nothing(timeout=0.2)


@pytest.mark.asyncio
async def test_a_writer_killed_after_commit_is_published_by_a_sweeper(backend, w, sockets):  # type: ignore[no-untyped-def]
    """The writer commits (its outbox row with it) and dies before its publisher runs; a live
    process's sweeper sends the change once the row is due."""
    k = w.k
    parent = await live(sockets, w.parent_user, [k["res_f"], k["res_p"]])
    coach = await live(sockets, w.coach_user, [k["coachday"]])
    await sync_to_async(_world_said_all)()

    with mock.patch.object(Publisher, "submit"):  # the writer's publisher never runs
        await sync_to_async(services.reservation_create)(
            player=w.child, session=w.session, actor=w.parent_user
        )
    assert await collect(parent, coach) == [[], []]
    assert await sync_to_async(_unsent)() >= 1
    assert await sync_to_async(sweeper.sweep)() == 0  # not due yet: its writer may be slow

    await sync_to_async(_make_due)()
    assert await sync_to_async(sweeper.sweep)() >= 1
    got_parent, got_coach = await collect(parent, coach)
    assert set(frags(got_parent)) == {k["res_f"], k["res_p"]}
    assert frags(got_parent)[k["res_p"]]["s"] == parent.ready["seqs"][k["res_p"]] + 1
    assert set(frags(got_coach)) == {k["coachday"]}
    assert await sync_to_async(_unsent)() == 0


@pytest.mark.asyncio
async def test_a_redelivery_shows_the_page_nothing_new(backend, w, sockets):  # type: ignore[no-untyped-def]
    """A row sent twice (its writer slower than the grace, or dead after sending but before
    stamping it): the second message renders the same committed state under a newer number;
    and a row already sent is never swept."""
    k = w.k
    parent = await live(sockets, w.parent_user, [k["res_p"]])
    await sync_to_async(_world_said_all)()
    await sync_to_async(services.reservation_create)(
        player=w.child, session=w.session, actor=w.parent_user
    )
    first = frags(await received(parent))[k["res_p"]]
    assert await sync_to_async(_unsent)() == 0
    await sync_to_async(_make_due)()
    assert await sync_to_async(sweeper.sweep)() == 0  # sent rows stay sent

    await sync_to_async(OutboxEvent.objects.update)(sent_at=None, due_at=timezone.now())
    assert await sync_to_async(sweeper.sweep)() >= 1
    again = frags(await received(parent))[k["res_p"]]
    assert again["s"] > first["s"] and again["h"] == first["h"]


def test_a_rollback_records_and_sends_nothing(transactional_db) -> None:  # type: ignore[no-untyped-def]
    submitted: list[object] = []
    with mock.patch.object(Publisher, "submit", lambda self, *a, **kw: submitted.append(a)):
        with contextlib.suppress(RuntimeError), transaction.atomic():
            send_on_commit(Event("test", {"n": 1}))
            raise RuntimeError("roll it back")
        with transaction.atomic():
            with contextlib.suppress(RuntimeError), transaction.atomic():
                send_on_commit(Event("test", {"n": 2}))  # a savepoint rolled back
                raise RuntimeError("roll the savepoint back")
            send_on_commit(Event("test", {"n": 3}))
    assert list(OutboxEvent.objects.values_list("data", flat=True)) == [{"n": 3}]
    assert len(submitted) == 1


@pytest.mark.postgres
def test_two_sweepers_never_claim_one_row(transactional_db) -> None:  # type: ignore[no-untyped-def]
    """FOR UPDATE SKIP LOCKED: concurrent claims split the due rows between them."""
    past = timezone.now() - timedelta(seconds=10)
    OutboxEvent.objects.bulk_create(
        OutboxEvent(name="test", data={"n": n}, created_at=past, due_at=past) for n in range(300)
    )
    claimed: list[list[int]] = []
    start = threading.Barrier(3)

    def claim() -> None:
        try:
            start.wait()
            claimed.append(outbox.claim_due()[1])
        finally:
            connection.close()

    threads = [threading.Thread(target=claim) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    ids = [i for batch in claimed for i in batch]
    assert len(ids) == len(set(ids)) == min(300, 3 * outbox.CLAIM_BATCH)
    # Claimed rows are leased: nobody takes them again until the lease runs out.
    assert outbox.claim_due() == ([], [])


def test_old_rows_are_pruned(transactional_db) -> None:  # type: ignore[no-untyped-def]
    now = timezone.now()

    def row(n: int, age: timedelta, sent: bool) -> OutboxEvent:
        at = now - age
        return OutboxEvent(
            name="test", data={"n": n}, created_at=at, due_at=at, sent_at=at if sent else None
        )

    OutboxEvent.objects.bulk_create(
        [
            row(1, timedelta(minutes=5), sent=True),  # kept: recent
            row(2, outbox.KEEP_SENT + timedelta(minutes=1), sent=True),  # gone
            row(3, timedelta(hours=2), sent=False),  # kept: still to be swept
            row(4, outbox.KEEP_UNSENT + timedelta(hours=1), sent=False),  # given up
        ]
    )
    assert outbox.prune(now) == 2
    assert sorted(OutboxEvent.objects.values_list("data__n", flat=True)) == [1, 3]


def test_reservation_rows_are_written_with_the_booking(transactional_db, world) -> None:  # type: ignore[no-untyped-def]
    """The booking and its event commit together: both or neither."""
    OutboxEvent.objects.all().delete()
    services.reservation_create(player=world.child, session=world.session, actor=world.parent_user)
    names = list(OutboxEvent.objects.values_list("name", flat=True))
    assert "reservation" in names
    assert SessionReservation.objects.filter(player=world.child).exists()
