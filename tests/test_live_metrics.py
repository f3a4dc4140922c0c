"""The product measuring itself (issue 14, item 6): what the workers record, how the figures of
several worker processes are merged, who may read them (the page, its stream, /metrics), and
the page's stream pushing itself every 2 seconds while someone watches.

The access rows follow tests/test_access_matrix.py's cast (tests/factories.build_world): the
figures are the service's, not an academy's, so staff of any academy and admins read them;
nobody else does, and anonymous gets no hint that /metrics exists.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.test import Client
from django.urls import reverse

from bookings import services
from bookings.live.metrics import LiveMetrics
from realtime import metrics, metrics_report
from realtime.management.commands.serve import metrics_directory, worker_gone
from scheduling.models import StaffMember
from tests.factories import build_world
from tests.test_live_streams import (  # noqa: F401  (fixtures, used by name)
    _decode,
    backend,
    live,
    open_socket,
    sockets,
    w,
)
from tests.test_pages_access import audit

KEY = LiveMetrics().key

# -- figures -----------------------------------------------------------------------------------


def test_quantiles_interpolate_inside_buckets_like_prometheus():
    buckets = [(0.01, 50.0), (0.1, 90.0), (1.0, 100.0), (float("inf"), 100.0)]
    assert metrics_report.quantile(0.5, buckets) == pytest.approx(0.01)
    assert metrics_report.quantile(0.7, buckets) == pytest.approx(0.055)
    assert metrics_report.quantile(0.99, buckets) == pytest.approx(0.91)
    assert metrics_report.quantile(0.5, [(0.01, 0.0), (float("inf"), 0.0)]) is None
    beyond = [(0.01, 0.0), (float("inf"), 10.0)]
    assert metrics_report.quantile(0.9, beyond) == pytest.approx(0.01)  # the last finite bound


_WORKER = """
import time
from realtime import metrics
metrics.socket_joined(3, 2)
metrics.delivered("day:1:2026-12-01", 5, 100)
metrics.published("day:1:2026-12-01", time.monotonic() - 0.02)
metrics.connecting(b"t=x&again=1")
metrics.redis_checked(True, 0.0004)
metrics.serving()
print("done")
"""


def _worker(directory: Path) -> subprocess.Popen[str]:
    env = {**os.environ, metrics.MULTIPROC_ENV: str(directory)}
    root = Path(__file__).resolve().parent.parent
    return subprocess.Popen(
        [sys.executable, "-c", _WORKER], env=env, cwd=root, stdout=subprocess.PIPE, text=True
    )


def test_every_workers_figures_are_merged_and_a_dead_ones_gauges_dropped(tmp_path, monkeypatch):
    """Two worker processes write their own files (multi-process mode); any reader merges them.
    Counters and histograms outlive a worker; its open sockets do not (`serve` drops them)."""
    monkeypatch.setenv(metrics.MULTIPROC_ENV, str(tmp_path))
    workers = [_worker(tmp_path), _worker(tmp_path)]
    for process in workers:
        assert process.communicate(timeout=30)[0].strip() == "done"
    m = metrics_report.summary()
    assert (m.sockets, m.subscriptions, m.streams) == (2, 6, 4)
    assert (m.connects, m.reconnects) == (2, 2)
    assert m.workers == 2 and m.redis_up is True and m.availability == 100
    [day] = m.kinds
    assert (day.kind, day.published) == ("day", 2)
    assert 10 <= day.p50 <= 25  # ms: 20 ms, inside the 10-25 ms bucket
    text = metrics_report.exposition().decode()
    assert 'courtside_live_socket_messages_total{kind="day"} 10.0' in text
    assert "courtside_live_open_sockets 2.0" in text

    worker_gone(tmp_path, workers[0].pid)
    m = metrics_report.summary()
    assert (m.sockets, m.workers) == (1, 1)
    assert m.kinds[0].published == 2


def test_serve_empties_the_metrics_directory_it_is_given(tmp_path, monkeypatch):
    (tmp_path / "counter_123.db").write_bytes(b"old")
    (tmp_path / "notes.txt").write_text("not ours")
    monkeypatch.setenv(metrics.MULTIPROC_ENV, str(tmp_path))
    assert metrics_directory() == (tmp_path, False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]
    monkeypatch.delenv(metrics.MULTIPROC_ENV)
    made, ours = metrics_directory()
    assert ours and made.is_dir() and not list(made.iterdir())
    made.rmdir()


def test_rates_compare_with_an_earlier_reading(monkeypatch):
    readings = iter([{"courtside_live_socket_messages_total": [({"kind": "day"}, 100.0)]}])
    clock = iter([1000.0, 1004.0])
    monkeypatch.setattr(metrics_report, "_history", metrics_report.deque(maxlen=5))
    monkeypatch.setattr(metrics_report.time, "monotonic", lambda: next(clock))
    monkeypatch.setattr(metrics_report, "read", lambda: next(readings))
    first = metrics_report.summary()
    assert first.messages_per_second is None  # nothing to compare with yet: "measuring…"
    readings = iter([{"courtside_live_socket_messages_total": [({"kind": "day"}, 300.0)]}])
    monkeypatch.setattr(metrics_report, "read", lambda: next(readings))
    second = metrics_report.summary()
    assert second.messages_per_second == pytest.approx(50.0)
    assert second.kinds[0].per_second == pytest.approx(50.0)


# -- who may read them: the page, its stream's fragment, /metrics --------------------------------

# 200: read; 403: not this role's page; 302: to the login page; 404: as if it did not exist.
MATRIX = """
role            page  fragment  prometheus
player           403       404         404
parent           403       404         404
coach            403       404         404
coach2           403       404         404
staff            200       200         200
admin            200       200         200
anonymous        302       302         404
foreign_staff    200       200         200
foreign_coach    403       404         404
foreign_player   403       404         404
foreign_parent   403       404         404
"""
COLUMNS = ("page", "fragment", "prometheus")
ROWS = {
    row[0]: dict(zip(COLUMNS, map(int, row[1:]), strict=True))
    for row in map(str.split, MATRIX.strip().splitlines()[1:])
}


def _user(world: Any, role: str) -> Any:
    return None if role == "anonymous" else getattr(world, f"{role}_user")


@pytest.mark.django_db
def test_who_reads_the_metrics_page_its_fragment_and_prometheus():
    world = build_world()
    urls = {
        "page": reverse("live_metrics"),
        "fragment": reverse("live_fragment", args=[KEY]),
        "prometheus": reverse("prometheus_metrics"),
    }
    wrong = []
    for role, expected in ROWS.items():
        client = Client()
        user = _user(world, role)
        if user is not None:
            client.force_login(user)
        for what, url in urls.items():
            response = client.get(url)
            if response.status_code != expected[what]:
                wrong.append(f"{role} {what}: {response.status_code}, expected {expected[what]}")
    assert not wrong, "\n".join(wrong)


@pytest.mark.django_db
def test_prometheus_takes_the_bearer_token_and_nothing_like_it(settings):
    settings.METRICS_TOKEN = "s3cret-token-for-the-scraper"
    url = reverse("prometheus_metrics")
    client = Client()
    ok = client.get(url, headers={"authorization": "Bearer s3cret-token-for-the-scraper"})
    assert ok.status_code == 200
    assert ok["Content-Type"].startswith("text/plain; version=0.0.4")
    assert ok["Cache-Control"] == "no-store"
    assert b"courtside_live_send_latency_seconds" in ok.content
    for given in ("Bearer wrong", "Bearer ", "s3cret-token-for-the-scraper", "Basic czNjcmV0"):
        assert client.get(url, headers={"authorization": given}).status_code == 404, given
    assert (
        client.post(url, headers={"authorization": ok.request["HTTP_AUTHORIZATION"]}).status_code
        == 405
    )
    settings.METRICS_TOKEN = ""
    assert client.get(url, headers={"authorization": "Bearer "}).status_code == 404


@pytest.mark.django_db
def test_the_page_meets_the_accessibility_basics_and_is_in_the_staff_menu():
    world = build_world()
    client = Client()
    client.force_login(world.staff_user)
    html = client.get(reverse("live_metrics")).content.decode()
    page = audit(html)
    assert page.h1 == 1
    assert (page.status or {}).get("role") == "status"
    assert all(c.get("id") in page.label_for or c.get("aria-label") for c in page.controls)
    assert all(page.buttons)
    assert f'href="{reverse("live_metrics")}"' in html
    assert 'data-live="metrics"' in html


# -- its stream --------------------------------------------------------------------------------

SOCKET_MATRIX = {  # role -> close code, or None: admitted
    "player": 4403,
    "parent": 4403,
    "coach": 4403,
    "coach2": 4403,
    "staff": None,
    "admin": None,
    "foreign_staff": None,
    "foreign_coach": 4403,
    "foreign_player": 4403,
    "foreign_parent": 4403,
}


async def _first_frame(comm: Any) -> dict[str, Any]:
    connected, _ = await comm.connect(timeout=5)
    assert connected
    return _decode(await comm.receive_output(timeout=5))


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_who_may_watch_the_metrics_stream(w, sockets):  # type: ignore[no-untyped-def]
    for role, code in SOCKET_MATRIX.items():
        comm = await open_socket(sockets, getattr(w, f"{role}_user"), [KEY])
        frame = await _first_frame(comm)
        if code is None:
            assert frame["t"] == "ready", role
            await comm.disconnect()
        else:
            assert frame == {"t": "close", "code": code}, role
    from realtime.tokens import sign_streams

    anonymous = await open_socket(sockets, None, token=sign_streams(w.staff_user.pk, [KEY]))
    assert await _first_frame(anonymous) == {"t": "close", "code": 4401}


async def _next_push(sock: Any, timeout: float = 6.0) -> dict[str, Any]:
    """The next metrics push on this socket (presence and other frames skipped)."""
    deadline = time.monotonic() + timeout
    while True:
        message = _decode(await sock.comm.receive_output(timeout=deadline - time.monotonic()))
        if message.get("t") == "f" and message.get("k") == KEY:
            return message
        assert message.get("t") != "close", message


def _pushes(html: str, kind: str) -> int:
    marker = f'<tr data-kind="{kind}">'
    if marker not in html:
        return 0
    row = html.split(marker, 1)[1].split("</tr>", 1)[0]
    return int(row.split('data-metric="pushes">', 1)[1].split("<", 1)[0])


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_the_page_pushes_itself_while_watched_and_counts_a_booking(backend, w, sockets):  # type: ignore[no-untyped-def]
    """A staff member watches the metrics; a family watches its list and books: the next push
    shows one more push of the family's list, with gapless numbers (no resync)."""
    staff = await live(sockets, w.staff_user, [KEY])
    family = await live(sockets, w.parent_user, [w.k["res_f"]])
    first = await _next_push(staff)
    second = await _next_push(staff)
    assert second["s"] == first["s"] + 1
    before = _pushes(second["h"], "reservations")
    await sync_to_async(services.reservation_create)(
        player=w.child, session=w.session, actor=w.parent_user
    )
    assert (await family.comm.receive_output(timeout=5))["type"] == "websocket.send"
    later = await _next_push(staff)
    assert later["s"] == second["s"] + 1
    assert _pushes(later["h"], "reservations") == before + 1
    assert 'data-metric="sockets"' in later["h"]


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_a_staff_member_let_go_stops_watching_at_once(backend, w, sockets):  # type: ignore[no-untyped-def]
    staff = await live(sockets, w.staff_user, [KEY])
    await sync_to_async(StaffMember.objects.filter(user=w.staff_user).delete)()
    deadline = time.monotonic() + 5
    while True:
        message = _decode(await staff.comm.receive_output(timeout=deadline - time.monotonic()))
        if message["t"] == "close":
            assert message["code"] == 4403
            break
        assert message["t"] == "f", message  # a push that left before the change, at most
