"""Collaboration (seed 004) in real browsers, several people at once: who else is looking (and
a killed worker's viewers leaving), an announcement reaching an open page and the inbox of a
closed one, a hold shown and released, an optimistic action reverted by a refusal, a double
click, and the connection indicator telling the truth (offline within a second, no indicator
on pages without live updates)."""

from __future__ import annotations

import time
from datetime import date
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.helpers import http_user, press
from tests.browser.pagebits import (
    presence,
    reserve_button,
    session_row,
    slot_row,
    status,
    toasts,
)

pytestmark = pytest.mark.browser


@pytest.fixture
def world(embedded_stack) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    return embedded_stack.setup


def test_who_else_is_looking_names_for_staff_counts_for_families(windows, world) -> None:  # type: ignore[no-untyped-def]
    day = world["presence"]["date"]
    mia = world["players"]["mia"]
    desk = windows.open("staff", f"/staff/players/{mia}/book/?date={day}", label="desk")
    hannah = windows.open("parent", f"/parent/schedule/?date={day}", label="hannah")
    expect(presence(desk)).to_have_text(
        f"Hannah Wright (parent) is also viewing {_long(day)}.", timeout=5_000
    )
    expect(presence(hannah)).to_have_text(f"1 other person is looking at {_long(day)}.")
    priya = windows.open("priya.patel", f"/parent/schedule/?date={day}", label="priya")
    second_tab = windows.open("parent", f"/parent/schedule/?date={day}", label="hannah-2")
    expect(presence(desk)).to_contain_text("Hannah Wright (parent)")
    expect(presence(desk)).to_contain_text("Priya Patel (parent)")
    expect(presence(desk)).to_contain_text(" are also viewing ")
    for page in (hannah, second_tab):  # one person, two tabs: counted once, never named
        expect(presence(page)).to_have_text(f"2 other people are looking at {_long(day)}.")
    expect(presence(priya)).to_have_text(f"2 other people are looking at {_long(day)}.")
    for page in (hannah, second_tab, priya):
        assert "Rebecca" not in page.content() and "Patel" not in presence(hannah).inner_text()

    started = time.monotonic()
    priya.close()  # a closed tab leaves at once
    expect(presence(desk)).not_to_contain_text("Priya", timeout=1_000)
    expect(presence(hannah)).to_have_text(f"1 other person is looking at {_long(day)}.")
    assert time.monotonic() - started < 1.0 + 0.5  # the expectations above poll every ~100 ms


def test_an_announcement_reaches_an_open_page_and_a_closed_inbox(windows, world) -> None:  # type: ignore[no-untyped-def]
    hannah = windows.open("parent", "/parent/", label="hannah")
    badge = hannah.locator(".inbox-link")
    expect(badge).to_have_text("Inbox")
    desk = windows.open("staff", "/announce/", label="desk")
    desk.check("input[name=audience][value=academy]")
    desk.fill("#m-text", "Courts 2-3 closed this afternoon: rain <b>sorry</b>")
    desk.click("button:text('Send')")
    expect(status(desk)).to_contain_text("Sent to")

    toast = toasts(hannah)
    expect(toast).to_contain_text(
        "Message from Rebecca Hall: Courts 2-3 closed this afternoon: rain <b>sorry</b>"
    )
    expect(badge).to_have_text("Inbox 1")
    hannah.locator("#toasts a").first.click()  # the toast leads to the message
    expect(hannah.locator(".inbox-item.unread")).to_contain_text("rain <b>sorry</b>")

    # Priya had no page open: the message waits in her inbox.
    priya = windows.open("priya.patel", "/inbox/", label="priya")
    expect(priya.locator(".inbox-item.unread")).to_contain_text("Courts 2-3 closed")
    expect(priya.locator(".inbox-link")).to_have_text("Inbox 1")
    priya.click("button:text('Mark all as read')")
    expect(priya.locator(".inbox-link")).to_have_text("Inbox")


def test_a_hold_is_shown_to_the_others_and_released(windows, world) -> None:  # type: ignore[no-untyped-def]
    slot, isla = world["hold"], world["players"]["isla"]
    hannah = windows.open("parent", f"/parent/schedule/?player={isla}&{slot['query']}")
    priya = windows.open("priya.patel", f"/parent/schedule/?{slot['query']}", label="priya")
    note = slot_row(priya, slot).locator(".hold-note")
    expect(note).to_have_count(0)

    hannah.click(f'button[name=slot][value="{slot["value"]}"]')  # opens the booking
    dialog = hannah.locator("#confirm-dialog")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text(f"{slot['type_name']} with {slot['coach']} at {slot['hhmm']}")
    expect(note).to_have_text("Someone is booking this")
    dialog.locator("button[value=no]").click()  # not now: let go
    expect(note).to_have_count(0)

    hannah.click(f'button[name=slot][value="{slot["value"]}"]')
    expect(note).to_have_text("Someone is booking this")
    dialog.locator("button[value=yes]").click()
    expect(status(hannah)).to_contain_text(f"Booked {slot['type_name']}")
    expect(slot_row(priya, slot)).to_contain_text("Taken")
    expect(note).to_have_count(0)


def test_an_optimistic_reserve_is_reverted_by_a_refusal(windows, world, proxy) -> None:  # type: ignore[no-untyped-def]
    """Mia's page shows the last spot; while her live updates are cut, Noah takes it. Her click
    shows "Reserving…" and one spot fewer at once, then the refusal in plain words and the
    session as it is."""
    s = world["last_spot"]
    mia = windows.open("player", f"/player/schedule/?date={s['date']}", base=proxy.url)
    row = session_row(mia, s)
    expect(row).to_contain_text("1 of 3 spots left")
    proxy.cut()
    expect(mia.locator("#live-indicator")).not_to_have_text("Live")
    # Noah's request goes to the server directly, not through Mia's cut proxy.
    noah = http_user(windows.users.stack, "noah.clarke")
    answer, _ = noah.post("/reserve/", {"session": s["id"], "player": world["players"]["noah"]})
    assert answer == 200

    slow = []
    mia.route("**/reserve/", lambda route: (slow.append(1), time.sleep(0.8), route.continue_()))
    # HTTP works again just before the click, while the socket still waits out its backoff:
    # restored earlier, a reconnect's resync could replace the row (now full) before the click.
    proxy.restore()
    press(mia, reserve_button(s))
    button = mia.locator(reserve_button(s))
    expect(button).to_have_text("Reserving…", timeout=500)
    expect(button).to_be_disabled()
    expect(row).to_contain_text("0 of 3 spots left")
    expect(status(mia)).to_contain_text("This session is full.")
    expect(row).to_contain_text("Full")
    assert slow == [1]


def test_a_double_click_reserves_once_and_shows_the_first_answer(  # type: ignore[no-untyped-def]
    windows, world, embedded_stack
) -> None:
    s, sofia = world["double_click"], world["players"]["sofia"]
    page = windows.open("sofia.garcia", f"/player/schedule/?date={s['date']}")
    page.dblclick(reserve_button(s))
    expect(status(page)).to_contain_text(f"Reserved {s['title']} for Sofia")
    page.wait_for_timeout(500)  # a second request, if one went, would have answered by now
    expect(status(page)).not_to_contain_text("Missing or malformed")
    count = embedded_stack.sql(
        "SELECT count(*) FROM bookings_sessionreservation WHERE status = 'reserved' "
        f"AND session_id = {int(s['id'])} AND player_id = {int(sofia)}"
    )[0][0]
    assert count == 1


def test_the_indicator_says_offline_within_a_second_and_is_absent_elsewhere(  # type: ignore[no-untyped-def]
    windows, world
) -> None:
    context = windows.fresh_context("player")
    page = windows.open("player", "/player/", context=context)
    indicator = page.locator("#live-indicator")
    expect(indicator).to_have_text("Live")
    context.set_offline(True)
    expect(indicator).to_have_text("Offline", timeout=1_000)
    context.set_offline(False)
    expect(indicator).to_have_text("Live", timeout=15_000)
    # Pages without live updates show no indicator at all (not "Connecting…" forever).
    account = windows.open("staff", "/account/")
    expect(account.locator("#live-indicator")).to_be_hidden()
    login = windows.users.browser.new_page()
    try:
        login.goto(windows.users.stack.url + "/login/")
        expect(login.locator("#live-indicator")).to_be_hidden()
    finally:
        login.close()


def _long(iso: str) -> str:
    """A date as the presence line says it: "Thursday 3 December"."""
    day = date.fromisoformat(iso)
    return f"{day:%A} {day.day} {day:%B}"
