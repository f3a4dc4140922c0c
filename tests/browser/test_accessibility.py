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
from tests.browser.helpers import http_user, wait_live
from tests.browser.pagebits import book_button, entry, reserve_button, session_row, slot_row

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
            context = windows.fresh_context(user) if user else _anonymous(windows)
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
        wider, where = horizontal_overflow(page)
        if wider > 0:
            found.append(f"{user} {path} @{NARROWEST}: scrolls sideways by {wider}px: {where}")
    assert not found, "\n".join(found)


ERROR_TITLES = {
    "400": "Bad request",
    "403": "Not allowed",
    "404": "Page not found",
    "500": "Something went wrong",
}


@pytest.mark.parametrize("code", sorted(ERROR_TITLES))
def test_error_pages_are_titled_and_pass_axe(windows, code: str) -> None:  # type: ignore[no-untyped-def]
    """The error templates (DEBUG shows Django's own 404 on the test server, so they are
    rendered here and shown at the server's address, with its style sheet)."""
    from django.template.loader import render_to_string

    html = render_to_string(f"{code}.html", {"exception": "This page is for the staff role."})
    page = windows.open("", "/login/", context=_anonymous(windows))
    page.set_content(html)
    assert page.title() == f"{ERROR_TITLES[code]} · Courtside"
    found = []
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        found += violations(page, f"{code} @{width}")
    page.set_viewport_size({"width": NARROWEST, "height": 640})
    assert horizontal_overflow(page)[0] <= 0
    assert not found, "\n".join(found)


def _anonymous(windows):  # type: ignore[no-untyped-def]
    """A context nobody signed in to, with axe installed."""
    context = windows.users.browser.new_context()
    context.add_init_script(windows.users.init_script)
    windows.contexts.append(context)
    return context


# -- non-text contrast (1.4.11): measured on the page, not read from the style sheet --------------

CONTRAST = """
(el) => {
  const parse = (c) => (c.match(/[\\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => {
    const f = (v) => {
      v /= 255;
      return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4);
    };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const ratio = (a, b) => {
    const x = lum(a), y = lum(b);
    return (Math.max(x, y) + 0.05) / (Math.min(x, y) + 0.05);
  };
  const behind = (node) => {
    for (let n = node; n; n = n.parentElement) {
      const c = parse(getComputedStyle(n).backgroundColor);
      if (c.length >= 3 && (c.length < 4 || c[3] > 0)) return c;
    }
    return [255, 255, 255];
  };
  const style = getComputedStyle(el);
  return {
    ring: ratio(parse(style.outlineColor), behind(el.parentElement)),
    ringWidth: parseFloat(style.outlineWidth),
    border: ratio(parse(style.borderTopColor), behind(el.parentElement)),
  };
}
"""


def test_focus_ring_and_field_borders_have_3_to_1_contrast(windows, world) -> None:  # type: ignore[no-untyped-def]
    day = world["a11y"]["date"]
    page = windows.open("oliver", f"/player/schedule/?date={day}", label="schedule")
    for selector in ("#f-date", "#f-coach", ".filters button[type=submit]", ".site-header .brand"):
        page.locator(selector).focus()
        page.keyboard.press("Shift+Tab")  # focus by keyboard, so :focus-visible applies
        page.keyboard.press("Tab")
        measured = page.locator(selector).evaluate(CONTRAST)
        assert measured["ringWidth"] >= 2 and measured["ring"] >= 3, (selector, measured)
        if selector.startswith("#f-"):
            assert measured["border"] >= 3, (selector, measured)


# -- after each action: where focus is, what is said, and axe again -------------------------------


def focused(page: Page) -> dict[str, Any]:
    """What has focus: its tag, id, text, and the row or section it is in."""
    return page.evaluate(
        """() => {
             const el = document.activeElement;
             const row = el && el.closest("li, article");
             return {
               tag: el ? el.tagName.toLowerCase() : null,
               id: el && el.id,
               text: el ? el.textContent.replace(/\\s+/g, " ").trim() : "",
               row: row ? row.id : null,
               at: row && row.querySelector("time")
                 ? row.querySelector("time").getAttribute("datetime") : null,
             };
           }"""
    )


def watch_focus_when_said(page: Page) -> None:
    """Record where focus is at the moment the status region's words change. The observer runs
    at the end of the task that swapped the answer in, so a focus that settles later (a timer)
    shows up here as <body>: what a screen reader would meet, whatever the test's timing."""
    page.evaluate(
        """() => {
             window.focusWhenSaid = [];
             new MutationObserver(() => {
               const el = document.activeElement;
               window.focusWhenSaid.push(el ? el.tagName.toLowerCase() : null);
             }).observe(document.getElementById("status"),
                        { childList: true, subtree: true, characterData: true });
           }"""
    )


def focus_when_said(page: Page) -> list[str]:
    return page.evaluate("() => window.focusWhenSaid.splice(0)")


def keyboard_press(page: Page, selector: str) -> None:
    """Activate a button from the keyboard (focus, Enter), confirming the booking dialog the
    same way when it asks (static/js/holds.js); window.confirm is accepted (conftest)."""
    page.locator(selector).first.focus()
    page.keyboard.press("Enter")
    dialog = page.locator("#confirm-dialog[open]")
    try:
        dialog.wait_for(timeout=1500)
    except Exception:  # no confirmation asked (no socket, or not one of the last spots)
        return
    dialog.locator("button[value=yes]").focus()
    page.keyboard.press("Enter")


def test_focus_and_messages_after_reserve_book_and_cancel(windows, world) -> None:  # type: ignore[no-untyped-def]
    """Oliver, by keyboard: reserve a session, book a lesson, cancel the reservation from the
    list. Focus never falls to <body>; the cancel's message is said where the row was."""
    a11y = world["a11y"]
    s, slot = a11y["session"], a11y["slots"][0]
    page = windows.open("oliver", f"/player/schedule/?{slot['query']}", label="oliver")
    row = session_row(page, s)
    watch_focus_when_said(page)

    keyboard_press(page, reserve_button(s))
    expect(page.locator("#status")).to_contain_text(f"Reserved {s['title']}")
    expect(row).to_have_attribute("data-mine", "reserved")
    said = focus_when_said(page)
    assert said and "body" not in said, said  # the words changed, and focus was in place
    now = focused(page)
    assert now["tag"] != "body" and now["row"] == f"day-s{s['id']}", now
    assert now["text"].startswith(f"Reserved {s['title']}"), now  # the row's message
    assert not violations(page, "after reserve")

    keyboard_press(page, book_button(slot))
    expect(page.locator("#status")).to_contain_text(f"Booked {slot['type_name']}")
    expect(slot_row(page, slot)).to_contain_text("Taken")
    said = focus_when_said(page)
    assert said and "body" not in said, said  # the words changed, and focus was in place
    now = focused(page)
    assert now["tag"] != "body" and now["at"] == slot["iso"], now
    assert now["text"].startswith(f"Booked {slot['type_name']}"), now
    assert not violations(page, "after book")

    booked = entry(page.locator("section[aria-labelledby=booked-title]"), s)
    cancel = booked.locator("button[formaction='/cancel/']")
    cancel.focus()
    page.keyboard.press("Enter")
    expect(booked).to_have_count(0)
    near = page.locator("section[aria-labelledby=booked-title] .near-msg")
    expect(near).to_contain_text(f"Cancelled {s['title']}")
    expect(near).to_have_attribute("role", "status")
    now = focused(page)
    assert now["id"] == "booked-title", now  # the list's heading, the message right under it
    assert not violations(page, "after cancel")


# -- live updates: what is said, where focus stays, toasts that wait -----------------------------


def announcer(page: Page) -> str:
    return page.locator("#live-announcer").inner_text()


def test_a_live_update_says_what_changed_and_keeps_focus(windows, world, embedded_stack) -> None:  # type: ignore[no-untyped-def]
    """Another family books while Oliver's keyboard is on the same session's Reserve button and
    the coach's day is open: Oliver hears which session changed and how many spots are left,
    his focus stays on that Reserve button; the coach's toast waits while hovered, is
    dismissed from the keyboard, and covers nothing. Nothing said on page load."""
    # A day of its own: what the keyboard test above reserved (or left, if it failed) is
    # not counted here.
    a11y, isla = world["a11y_live"], world["players"]["isla"]
    s, isla_slot = a11y["session"], a11y["slots"][1]
    oliver = windows.open("oliver", f"/player/schedule/?date={s['date']}", label="oliver")
    coach = windows.open("coach", f"/coach/?date={s['date']}", label="coach")
    for page in (oliver, coach):  # connecting and going live is no news
        assert announcer(page) == ""
        assert page.locator("#live-indicator").get_attribute("role") is None
    coach.evaluate("document.getElementById('toasts').dataset.toastMs = '1500'")
    oliver.locator(reserve_button(s)).focus()
    parent = http_user(embedded_stack, "parent")

    assert parent.post("/reserve/", {"session": s["id"], "player": isla})[0] == 200

    row = session_row(oliver, s)
    left = s["capacity"] - s["reserved"] - 1
    said = f"{s['title']} {s['hhmm']}: {left} of {s['capacity']} spots left"
    expect(row).to_have_attribute("data-say", said)
    expect(oliver.locator("#live-announcer")).to_have_text(said)
    now = focused(oliver)
    assert now["row"] == f"day-s{s['id']}" and now["text"].startswith("Reserve"), now
    assert not violations(oliver, "oliver after a push")

    toast = coach.locator("#toasts .toast").filter(has_text="New booking")
    expect(toast).to_have_count(1)
    expect(coach.locator("#live-announcer")).not_to_have_text("")
    assert "Updated just now" not in announcer(coach)
    toast.hover()
    coach.wait_for_timeout(2500)  # longer than it lasts: hovered, it waits
    expect(toast).to_have_count(1)
    _covers_nothing(coach)
    assert not violations(coach, "coach with a toast")
    coach.mouse.move(0, 0)
    expect(toast).to_have_count(0, timeout=5000)  # left alone, it goes

    assert parent.post("/book/", {"slot": isla_slot["value"], "player": isla})[0] == 200
    second = coach.locator("#toasts .toast").filter(has_text="New booking")
    expect(second).to_have_count(1)
    second.locator(".toast-close").focus()
    coach.wait_for_timeout(2500)  # focused, it waits too
    expect(second).to_have_count(1)
    coach.keyboard.press("Enter")
    expect(second).to_have_count(0)


def _covers_nothing(page: Page) -> None:
    """No button or link of the page lies under a toast."""
    hidden = page.evaluate(
        """() => {
             const boxes = Array.from(document.querySelectorAll("#toasts .toast"))
               .map((t) => t.getBoundingClientRect());
             return Array.from(document.querySelectorAll("main button, main a[href]"))
               .filter((el) => el.getClientRects().length)
               .filter((el) => {
                 const b = el.getBoundingClientRect();
                 return boxes.some((t) => b.left < t.right && t.left < b.right &&
                                          b.top < t.bottom && t.top < b.bottom);
               })
               .map((el) => el.textContent.trim());
           }"""
    )
    assert not hidden, f"toasts cover {hidden}"


def test_the_connection_is_announced_only_when_it_degrades_or_recovers(windows, world) -> None:  # type: ignore[no-untyped-def]
    """Loading says nothing; losing the network says live updates paused; getting it back says
    they are back (the indicator shows every state, but is no live region)."""
    context = windows.fresh_context("oliver")
    page = windows.open("oliver", "/player/", context=context, label="oliver")
    assert announcer(page) == ""
    context.set_offline(True)
    expect(page.locator("#live-announcer")).to_have_text("Live updates paused: Offline.")
    context.set_offline(False)
    expect(page.locator("#live-announcer")).to_have_text("Live updates are back.", timeout=20_000)
    assert not violations(page, "back online")


def test_focus_after_the_desk_cancels_from_a_list_without_a_heading(windows, world) -> None:  # type: ignore[no-untyped-def]
    """The front desk cancels Isla's reservation on her page: the row goes, the message is said
    in the list's section, and focus rests on that section (it has a name, not a heading)."""
    s, isla = world["a11y_desk"], world["players"]["isla"]
    page = windows.open("staff", f"/staff/players/{isla}/?tab=reservations", label="desk")
    row = entry(page, s)
    row.locator("button[formaction='/cancel/']").focus()
    page.keyboard.press("Enter")
    expect(row).to_have_count(0)
    section = page.locator("main section[aria-label=Reservations]")
    expect(section.locator(".near-msg")).to_contain_text(f"Cancelled {s['title']}")
    assert section.evaluate("(el) => document.activeElement === el")
    assert not violations(page, "desk after cancel")
