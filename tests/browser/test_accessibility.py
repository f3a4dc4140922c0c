"""WCAG 2.1 AA after every action: axe-core (vendored, tests/browser/axe.py) over every role's
pages at 1280 and 800 px, after live pushes and after each action; no sideways scrolling at
320 px; and what axe cannot see: where focus goes after an action, what a push announces, the
message of a row that an action removed, toasts that wait for the reader.

One browser and the embedded stack every browser test shares; one context per user (with axe
installed before the pages' own scripts), its pages reused from one address to the next.
"""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.browser.axe import axe_users, horizontal_overflow, violations
from tests.browser.conftest import Users, windows_fixture
from tests.browser.helpers import http_user, press, wait_live
from tests.browser.pagebits import book_button, reserve_button, session_row, slot_row

pytestmark = pytest.mark.browser

WIDTHS = (1280, 800)
NARROWEST = 320  # 1.4.10 Reflow: 320 CSS px wide, no scrolling sideways


@pytest.fixture(scope="module")
def world(embedded_stack) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    return embedded_stack.setup


@pytest.fixture(scope="module")
def a11y_users(browser, embedded_stack):  # type: ignore[no-untyped-def]
    users: Users = axe_users(browser, embedded_stack)
    yield users
    users.close()


windows = windows_fixture("a11y_users")


def pages_of_every_role(world: dict[str, Any]) -> list[tuple[str, str]]:
    """(user, path): every page we render ourselves, for each role, on days with sessions."""
    day, coach, players = world["a11y"]["date"], world["coach"], world["players"]
    slot_query = world["a11y"]["slots"][0]["query"]
    past = world["past"]
    return [
        ("", "/login/"),
        ("", "/no-such-page/"),
        ("oliver", "/player/"),
        ("oliver", "/player/?tab=reservations"),
        ("oliver", f"/player/schedule/?date={day}"),
        ("oliver", f"/player/schedule/?{slot_query}"),
        ("oliver", "/inbox/"),
        ("oliver", "/account/"),
        ("oliver", "/staff/"),  # 403
        ("parent", "/parent/"),
        ("parent", "/parent/?tab=reservations"),
        ("parent", f"/parent/?player={players['isla']}&tab=schedule"),
        ("parent", f"/parent/schedule/?date={day}"),
        ("parent", f"/parent/schedule/?{slot_query}"),
        ("parent", f"/feedback/{past['rated']['attendance']}/"),
        ("coach", f"/coach/?date={day}"),
        ("coach", f"/coach/?tab=full&date={day}"),
        ("coach", f"/coach/schedule/?date={day}"),
        ("coach", "/coach/dashboard/"),
        ("coach", "/coach/sessions/"),
        ("coach", "/coach/hours/"),
        ("coach", f"/sessions/{past['checkin']['id']}/walk-in/"),
        ("coach", f"/coaches/{coach}/goals/new/"),
        ("staff", f"/staff/?date={day}"),
        ("staff", f"/staff/calendar/?date={day}"),
        ("staff", "/staff/coaches/"),
        ("staff", f"/staff/coaches/{coach}/"),
        ("staff", f"/coaches/{coach}/hours/"),
        ("staff", f"/staff/players/{players['isla']}/"),
        ("staff", f"/staff/players/{players['isla']}/book/?date={day}"),
        ("staff", "/staff/sessions/"),
        ("staff", "/staff/sessions/new/"),
        ("staff", f"/sessions/{world['editing']['id']}/edit/"),
        ("staff", "/announce/"),
        ("admin", f"/staff/?date={day}"),
        ("admin", f"/staff/calendar/?date={day}"),
    ]


def test_every_role_s_pages_pass_axe_and_reflow(windows, world) -> None:  # type: ignore[no-untyped-def]
    found: list[str] = []
    opened: dict[str, Page] = {}
    for user, path in pages_of_every_role(world):
        if user not in opened:
            context = windows.fresh_context(user) if user else None
            if context is None:
                context = windows.users.browser.new_context()
                context.add_init_script(windows.users.init_script)
                windows.contexts.append(context)
            opened[user] = context.new_page()
            windows.pages.append((user or "anonymous", opened[user]))
        page = opened[user]
        page.goto(windows.users.stack.url + path)
        if page.locator("#live-meta").count():
            wait_live(page)
        for width in WIDTHS:
            page.set_viewport_size({"width": width, "height": 900})
            found += violations(page, f"{user or 'anonymous'} {path} @{width}")
        page.set_viewport_size({"width": NARROWEST, "height": 640})
        if (wider := horizontal_overflow(page)) > 0:
            found.append(f"{user} {path} @{NARROWEST}: scrolls sideways by {wider}px")
    assert not found, "\n".join(found)
