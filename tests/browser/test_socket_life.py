"""A live socket's maximum lifetime, in real Chromium windows: with LIVE_MAX_SOCKET_AGE of two
seconds the server closes every socket with 4408 again and again; the page reconnects at once
with the fresh token its last `ready` gave it (not the page's original), stays live, and still
follows changes made in another window.

The server is an embedded stack of this module's own (its setting differs from the shared one).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import SETUP, Users, Windows
from tests.browser.helpers import press, wait_converged, wait_live
from tests.browser.pagebits import book_button, slot_row, status
from tests.browser.stack import Stack, running_stack

pytestmark = pytest.mark.browser

LIFETIME = 2.0  # seconds (the product's default is an hour)
COUNT_CLOSES = """
window.__closes = [];
document.addEventListener("courtside:down", function (e) { window.__closes.push(e.detail.code); });
"""


@pytest.fixture(scope="module")
def short_lived_stack() -> Iterator[Stack]:
    env = {"LIVE_MAX_SOCKET_AGE": str(LIFETIME)}
    with running_stack(demo=False, setup=SETUP, extra_env=env) as stack:
        yield stack


@pytest.fixture
def windows(browser, short_lived_stack: Stack) -> Iterator[Windows]:  # type: ignore[no-untyped-def]
    users = Users(browser, short_lived_stack, init_script=COUNT_CLOSES)
    windows = Windows(users)
    yield windows
    windows.close()
    users.close()


def test_pages_outlive_their_sockets(windows, short_lived_stack) -> None:  # type: ignore[no-untyped-def]
    world: dict[str, Any] = short_lived_stack.setup
    day, isla = world["sync"], world["players"]["isla"]
    olivers_slot, islas_slot = day["slots"]
    query = olivers_slot["query"]
    oliver = windows.open("oliver", f"/player/schedule/?{query}")
    parent = windows.open("parent", f"/parent/schedule/?player={isla}&{query}")
    first_token = oliver.evaluate("document.getElementById('live-meta').dataset.liveToken")

    deadline = time.monotonic() + 6 * LIFETIME + 10
    while time.monotonic() < deadline and oliver.evaluate("window.__closes.length") < 3:
        time.sleep(0.3)
    closes = oliver.evaluate("window.__closes")
    assert len(closes) >= 3 and set(closes) == {4408}, closes
    wait_live(oliver)
    token = oliver.evaluate("document.getElementById('live-meta').dataset.liveToken")
    assert token != first_token  # it came back with the one its socket gave it
    # Never shown as broken: a lifetime close reconnects at once, without polling.
    assert "polling" not in oliver.evaluate("window.__liveStates")

    # Still live: a booking in the other window reaches this one without a reload.
    press(parent, book_button(islas_slot))
    expect(status(parent)).to_contain_text("Booked")
    expect(slot_row(oliver, islas_slot)).to_contain_text("Taken")
    wait_converged(oliver)
