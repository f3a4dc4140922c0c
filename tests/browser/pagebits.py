"""Where things are on Courtside's pages, for the browser tests (one place to change if the
markup moves). `s` is a session or slot as tests/browser/world.py describes it."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Locator, Page


def reserve_button(s: dict[str, Any]) -> str:
    """A session's Reserve on the day grid (its row also holds the buttons of a waiting list
    place, shown only for it)."""
    return f'button.act-open[formaction="/reserve/"][name=session][value="{s["id"]}"]'


def book_button(slot: dict[str, Any]) -> str:
    return f'button[name=slot][value="{slot["value"]}"]'


def entry(page: Page, s: dict[str, Any], who: str = "") -> Locator:
    """A line of a reservations or schedule list (home pages, "Already booked")."""
    found = page.locator(f'li.entry:has(.entry-when > time:first-child[datetime="{s["iso"]}"])')
    return found.filter(has_text=who) if who else found


def session_row(page: Page, s: dict[str, Any]) -> Locator:
    """A group session in the day's list on a schedule page (spots left, Reserve)."""
    return page.locator(f'li.session:has(time[datetime="{s["iso"]}"])').filter(has_text=s["title"])


def slot_row(page: Page, slot: dict[str, Any]) -> Locator:
    return page.locator(f'li.slot:has(time[datetime="{slot["iso"]}"])')


def card(page: Page, s: dict[str, Any]) -> Locator:
    """A session or lesson on a coach's day, or on a week (its day's cell) or day grid, as
    taught by its coach (another coach may teach at the same time)."""
    article = f'article.cal-item[aria-label="{s.get("title") or s["type_name"]} {s["hhmm"]}"]'
    found = page.locator(
        f'td[id$="-{s["ymd"]}"] {article}, .cal-daygrid {article}, .cal-list {article}'
    )
    return found.filter(has_text=s["coach"])


def status(page: Page) -> Locator:
    return page.locator("#status")


def toasts(page: Page) -> Locator:
    return page.locator("#toasts")


def presence(page: Page) -> Locator:
    """The line that says who else is looking (static/js/presence.js)."""
    return page.locator("#presence")
