"""The live metrics page in a real browser, on the real stack (two workers, PostgreSQL, a Redis
of its own): a staff member watches it while a player books on another page, and its figures,
merged from both workers' files, move without a reload."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import Users, windows_fixture
from tests.browser.helpers import press
from tests.browser.pagebits import reserve_button, status
from tests.browser.stack import Stack

# Without the redis-server program the real stack's fixture skips with its reason.
pytestmark = [pytest.mark.browser, pytest.mark.postgres]


@pytest.fixture(scope="module")
def world(real_stack: Stack) -> dict[str, Any]:
    return real_stack.setup


@pytest.fixture(scope="module")
def real_users(browser, real_stack: Stack) -> Iterator[Users]:  # type: ignore[no-untyped-def]
    users = Users(browser, real_stack)
    yield users
    users.close()


windows = windows_fixture("real_users")


def figure(page: Page, name: str) -> str:
    return page.locator(f'[data-metric="{name}"]').first.inner_text()


def day_pushes(page: Page) -> int:
    row = page.locator('tr[data-kind="day"] [data-metric="pushes"]')
    return int(row.inner_text()) if row.count() else 0


def test_staff_watch_the_figures_move_while_a_player_books(windows, world) -> None:  # type: ignore[no-untyped-def]
    s, name = world["metrics"], world["names"]["oliver"]
    staff = windows.open("staff", "/staff/metrics/", label="metrics")
    expect(staff.locator("h1")).to_have_text("Live metrics")
    expect(staff.get_by_role("link", name="Live metrics")).to_have_attribute("aria-current", "page")
    oliver = windows.open("oliver", f"/player/schedule/?date={s['date']}", label="oliver")
    # Both pages' sockets are counted, whichever worker holds them (the figures are merged
    # from both workers' files), and the page says so without a reload.
    expect(staff.locator('[data-metric="sockets"]')).to_have_text(re.compile(r"^[2-9]\d*$"))
    before = day_pushes(staff)
    staff.evaluate("window.__metricsPage = true")  # gone if the page were reloaded

    press(oliver, reserve_button(s))
    expect(status(oliver)).to_contain_text(f"Reserved {s['title']} for {name}")

    deadline = time.monotonic() + 15
    while day_pushes(staff) <= before:
        assert time.monotonic() < deadline, "the day grid's push never showed on the page"
        staff.wait_for_timeout(200)
    expect(staff.locator('[data-metric="messages-per-second"]')).to_have_text(
        re.compile(r"^\d+(\.\d)?/s$")
    )
    expect(staff.locator('tr[data-kind="day"] td').first).to_have_text(re.compile(r"ms$"))
    expect(staff.locator('[data-metric="redis"]')).to_contain_text("Up")
    assert staff.evaluate("window.__metricsPage === true")  # pushed, not reloaded
    assert figure(staff, "workers") == "2"
