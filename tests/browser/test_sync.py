"""Seed 001's tests in real Chromium windows: two windows stay in sync, two people book one
slot at the same moment, an action while offline and the page coming back; and the connection
indicator moving Live, Reconnecting, Offline and back as a user sees it.

The network is cut with a TCP proxy between the browser and the server (tests/browser/stack.py):
Chromium's offline emulation (context.set_offline) fails new requests but leaves an open
WebSocket connected, so on its own it would never show the page losing its live connection.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.helpers import (
    active_reservations,
    booked_lessons,
    click_at,
    clicked_at,
    fragment_html,
    press,
    states,
    wait_converged,
    wait_live,
)
from tests.browser.pagebits import (
    book_button,
    entry,
    reserve_button,
    session_row,
    slot_row,
    status,
)

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def world(embedded_stack) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    return embedded_stack.setup


def test_two_windows_stay_in_sync(windows, world) -> None:  # type: ignore[no-untyped-def]
    """A player and a parent book and cancel on one day's schedule, turn about; after every
    step both windows show the same slots and sessions, and exactly what the database holds."""
    day, isla, names = world["sync"], world["players"]["isla"], world["names"]
    s, (olivers_slot, islas_slot) = day["session"], day["slots"]
    query = olivers_slot["query"]
    oliver = windows.open("oliver", f"/player/schedule/?{query}", label="oliver")
    parent = windows.open("parent", f"/parent/schedule/?player={isla}&{query}", label="parent")

    def in_sync() -> None:
        for page in (oliver, parent):
            wait_converged(page)
        for shared in ("slots:", "day:"):
            assert fragment_html(oliver, shared) == fragment_html(parent, shared), shared

    in_sync()
    press(oliver, book_button(olivers_slot))
    expect(status(oliver)).to_contain_text("Booked")
    expect(slot_row(parent, olivers_slot)).to_contain_text("Taken")
    expect(entry(parent, olivers_slot, names["oliver"])).to_have_count(1)  # the family's list
    in_sync()

    press(parent, book_button(islas_slot))
    expect(status(parent)).to_contain_text("Booked")
    expect(slot_row(oliver, islas_slot)).to_contain_text("Taken")
    in_sync()

    press(oliver, reserve_button(s))
    expect(status(oliver)).to_contain_text("Reserved")
    left = s["capacity"] - s["reserved"] - 1
    expect(session_row(parent, s)).to_contain_text(f"{left} of {s['capacity']} spot")
    in_sync()

    press(parent, reserve_button(s))
    expect(status(parent)).to_contain_text("Reserved")
    expect(session_row(oliver, s)).to_contain_text(f"{left - 1} of {s['capacity']} spot")
    in_sync()

    entry(oliver, olivers_slot).locator("button", has_text="Cancel").click()
    expect(status(oliver)).to_contain_text("Cancelled")
    expect(parent.locator(book_button(olivers_slot))).to_have_count(1)
    expect(entry(parent, olivers_slot, names["oliver"])).to_have_count(0)
    in_sync()

    entry(parent, s, names["isla"]).locator("button", has_text="Cancel").click()
    expect(status(parent)).to_contain_text("Cancelled")
    expect(session_row(oliver, s)).to_contain_text(f"{left} of {s['capacity']} spot")
    in_sync()


def test_two_people_book_one_slot_at_once(windows, world, embedded_stack) -> None:  # type: ignore[no-untyped-def]
    """Both click Book on the same slot in the same millisecond: one gets it, the other a plain
    message, and both windows end up showing the same truth."""
    slot, isla = world["race"], world["players"]["isla"]
    mia = windows.open("player", f"/player/schedule/?{slot['query']}", label="mia")
    parent = windows.open("parent", f"/parent/schedule/?player={isla}&{slot['query']}")
    at = mia.evaluate("Date.now()") + 1500  # time enough for both pages to get the order

    click_at(mia, book_button(slot), at)
    click_at(parent, book_button(slot), at)

    moments = [clicked_at(page) for page in (mia, parent)]
    # Both found the Book button still there when they clicked: neither had seen the other's
    # booking, so the server had to decide. (Timers in two renderers fire within a few ms.)
    assert None not in moments and max(moments) - min(moments) < 1000, moments  # type: ignore[operator]
    for page in (mia, parent):
        expect(status(page)).to_have_text(re.compile(r"\S"))
    answers = sorted(status(page).inner_text() for page in (mia, parent))
    assert answers[0].startswith("Booked"), answers
    assert answers[1] == "That time slot has just been taken.", answers
    for page in (mia, parent):
        expect(slot_row(page, slot)).to_contain_text("Taken")
        wait_converged(page)
    assert fragment_html(mia, "slots:") == fragment_html(parent, "slots:")
    assert booked_lessons(embedded_stack, world["coach"], slot["utc"]) == 1


def test_offline_and_back(windows, world, embedded_stack, proxy) -> None:  # type: ignore[no-untyped-def]
    """Network gone: reserving fails with a clear message and changes nothing. Network back: the
    page shows what changed meanwhile, and reserving again makes exactly one reservation."""
    s, mia_id = world["offline"], world["players"]["mia"]
    context = windows.fresh_context("player")
    mia = windows.open(
        "player", f"/player/schedule/?date={s['date']}", base=proxy.url, context=context
    )
    oliver = windows.open("oliver", f"/player/schedule/?date={s['date']}", label="oliver")
    capacity, free = s["capacity"], s["capacity"] - s["reserved"]

    context.set_offline(True)
    proxy.cut()  # what going offline does to the open WebSocket too
    expect(mia.locator("#live-indicator")).not_to_have_attribute("data-state", "live")
    press(mia, reserve_button(s))

    expect(status(mia)).to_contain_text("You are offline: nothing was changed")
    assert active_reservations(embedded_stack, s["id"], mia_id) == 0
    press(oliver, reserve_button(s))  # meanwhile, someone else takes a spot
    expect(status(oliver)).to_contain_text("Reserved")
    expect(session_row(mia, s)).to_contain_text(f"{free} of {capacity} spot")  # cannot know

    proxy.restore()
    context.set_offline(False)

    wait_live(mia)
    expect(session_row(mia, s)).to_contain_text(f"{free - 1} of {capacity} spot")
    wait_converged(mia)
    press(mia, reserve_button(s))
    expect(status(mia)).to_contain_text("Reserved")
    expect(entry(mia, s)).to_have_count(1)
    expect(session_row(oliver, s)).to_contain_text(f"{free - 2} of {capacity} spot")
    assert active_reservations(embedded_stack, s["id"], mia_id) == 1
    assert active_reservations(embedded_stack, s["id"], world["players"]["oliver"]) == 1


def test_indicator_live_reconnecting_offline_and_back(windows, world, proxy) -> None:  # type: ignore[no-untyped-def]
    """The connection drops: Reconnecting…, then Offline (polling) after a few failed attempts,
    said once in the status line; it comes back: Live, with what changed meanwhile."""
    s, oliver_id = world["indicator"], world["players"]["oliver"]
    oliver = windows.open(
        "oliver", f"/player/schedule/?date={s['date']}", base=proxy.url, label="oliver"
    )
    parent = windows.open("parent", f"/parent/schedule/?player={oliver_id}&date={s['date']}")
    indicator = oliver.locator("#live-indicator")
    expect(indicator).to_have_text("Live")

    proxy.cut()

    expect(indicator).to_have_text("Offline (polling)", timeout=20_000)  # after Reconnecting…
    expect(status(oliver)).to_contain_text("Realtime connection lost. Using polling.")
    press(parent, reserve_button(s))
    expect(status(parent)).to_contain_text("Reserved")
    expect(entry(oliver, s)).to_have_count(0)

    proxy.restore()

    expect(indicator).to_have_text("Live", timeout=20_000)
    expect(entry(oliver, s)).to_have_count(1)
    wait_converged(oliver)
    seen = states(oliver)
    assert seen[:2] == ["connecting", "live"], seen
    assert seen[-1] == "live", seen
    assert seen.index("reconnecting") < seen.index("polling") < len(seen) - 1, seen
