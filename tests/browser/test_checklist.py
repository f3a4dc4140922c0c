"""Seed 000's testing checklist, line by line, in real Chromium windows side by side.

Each test opens the pages of the people concerned (player home, parent home, the schedule
page's time slots and group sessions, the coach's calendar and day), acts in one of them, and
waits for the others to change on their own: no reload. The server is the embedded default
(SQLite, in-memory layer, one process); tests/browser/world.py builds its academy and gives each
test sessions and lesson slots nobody else touches.
"""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.helpers import active_reservations, press, wait_live
from tests.browser.pagebits import (
    book_button,
    card,
    entry,
    reserve_button,
    session_row,
    slot_row,
    status,
    toasts,
)

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def world(embedded_stack) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    return embedded_stack.setup


def gone_from_future_lists(windows, username: str, s: dict[str, Any], home: str) -> None:  # type: ignore[no-untyped-def]
    """A fresh load of both tabs of a home page no longer lists it."""
    page = windows.open(username, f"{home}?tab=reservations", label=f"{username}-reloaded")
    expect(entry(page, s)).to_have_count(0)
    page.goto(windows.users.stack.url + f"{home}?tab=schedule")
    expect(entry(page, s)).to_have_count(0)


def test_player_reserves_a_group_session(windows, world) -> None:  # type: ignore[no-untyped-def]
    """Player reserves group session: player home, parent home, coach schedule, coach home."""
    s, oliver = world["group_player"], world["names"]["oliver"]
    player_home = windows.open("oliver", "/player/?tab=reservations", label="player-home")
    parent_home = windows.open("parent", "/parent/?tab=reservations", label="parent-home")
    parent_schedule = windows.open("parent", f"/parent/schedule/?date={s['date']}")
    coach_schedule = windows.open("coach", f"/coach/schedule/?date={s['date']}")
    coach_home = windows.open("coach", f"/coach/?date={s['date']}", label="coach-home")
    booking = windows.open("oliver", f"/player/schedule/?date={s['date']}", label="booking")
    expect(entry(player_home, s)).to_have_count(0)
    expect(card(coach_home, s)).not_to_contain_text(oliver)

    press(booking, reserve_button(s))

    expect(status(booking)).to_contain_text(f"Reserved {s['title']} for {oliver}")
    expect(entry(player_home, s)).to_contain_text(s["title"])
    expect(entry(parent_home, s, oliver)).to_have_count(1)
    left, capacity = s["capacity"] - s["reserved"] - 1, s["capacity"]
    expect(session_row(parent_schedule, s)).to_contain_text(f"{left} of {capacity} spot")
    expect(card(coach_schedule, s)).to_contain_text(f"{s['reserved'] + 1}/{capacity} booked")
    expect(card(coach_schedule, s)).not_to_contain_text(oliver)  # names: on the details view
    expect(card(coach_home, s)).to_contain_text(oliver)
    expect(toasts(coach_home)).to_contain_text(f"New booking: {world['first_names']['oliver']}")


def test_player_books_a_lesson_then_cancels_it(windows, world) -> None:  # type: ignore[no-untyped-def]
    """Player reserves individual session (player home, parent home, time slots, coach schedule,
    coach home); player cancels (every view, time slots regenerate); cancelled reservations
    don't show in future lists."""
    slot, oliver = world["lesson_player"], world["names"]["oliver"]
    booking = windows.open("oliver", f"/player/schedule/?{slot['query']}", label="booking")
    parent_slots = windows.open("parent", f"/parent/schedule/?{slot['query']}", label="slots")
    player_home = windows.open("oliver", "/player/?tab=reservations", label="player-home")
    parent_home = windows.open("parent", "/parent/?tab=reservations", label="parent-home")
    coach_schedule = windows.open("coach", f"/coach/schedule/?date={slot['date']}")
    coach_home = windows.open("coach", f"/coach/?date={slot['date']}", label="coach-home")
    expect(parent_slots.locator(book_button(slot))).to_have_count(1)

    press(booking, book_button(slot))

    expect(status(booking)).to_contain_text(
        f"Booked {slot['type_name']} with {slot['coach']} for {oliver}"
    )
    expect(slot_row(parent_slots, slot)).to_contain_text("Taken")
    expect(parent_slots.locator(book_button(slot))).to_have_count(0)
    expect(entry(player_home, slot)).to_contain_text(slot["type_name"])
    expect(entry(parent_home, slot, oliver)).to_have_count(1)
    expect(card(coach_schedule, slot)).to_have_count(1)
    expect(card(coach_home, slot)).to_contain_text(oliver)

    entry(player_home, slot).locator("button", has_text="Cancel").click()

    expect(status(player_home)).to_contain_text(f"Cancelled {slot['type_name']} for {oliver}")
    expect(entry(player_home, slot)).to_have_count(0)
    expect(entry(parent_home, slot, oliver)).to_have_count(0)
    expect(entry(booking, slot)).to_have_count(0)  # the schedule page's "Already booked"
    expect(parent_slots.locator(book_button(slot))).to_have_count(1)  # free again
    expect(booking.locator(book_button(slot))).to_have_count(1)
    expect(card(coach_schedule, slot)).to_have_count(0)
    expect(card(coach_home, slot)).to_have_count(0)
    expect(toasts(coach_home)).to_contain_text(f"Cancelled: {world['first_names']['oliver']}")
    gone_from_future_lists(windows, "oliver", slot, "/player/")
    gone_from_future_lists(windows, "parent", slot, "/parent/")


def test_parent_reserves_for_a_child_then_cancels(windows, world) -> None:  # type: ignore[no-untyped-def]
    """Parent reserves session for player (all views); parent cancels (all views)."""
    s, isla, isla_name = world["group_parent"], world["players"]["isla"], world["names"]["isla"]
    booking = windows.open(
        "parent", f"/parent/schedule/?player={isla}&date={s['date']}", label="booking"
    )
    parent_home = windows.open("parent", "/parent/?tab=reservations", label="parent-home")
    other_family = windows.open("oliver", f"/player/schedule/?date={s['date']}", label="oliver")
    coach_schedule = windows.open("coach", f"/coach/schedule/?date={s['date']}")
    coach_home = windows.open("coach", f"/coach/?date={s['date']}", label="coach-home")
    expect(booking.locator("#act-player")).to_have_value(str(isla))
    left, capacity = s["capacity"] - s["reserved"], s["capacity"]

    press(booking, reserve_button(s))

    expect(status(booking)).to_contain_text(f"Reserved {s['title']} for {isla_name}")
    expect(entry(parent_home, s, isla_name)).to_contain_text(s["title"])
    expect(entry(booking, s, isla_name)).to_have_count(1)
    expect(session_row(other_family, s)).to_contain_text(f"{left - 1} of {capacity} spot")
    expect(card(coach_schedule, s)).to_contain_text(f"{s['reserved'] + 1}/{capacity} booked")
    expect(card(coach_home, s)).to_contain_text(isla_name)

    entry(parent_home, s, isla_name).locator("button", has_text="Cancel").click()

    expect(status(parent_home)).to_contain_text(f"Cancelled {s['title']} for {isla_name}")
    expect(entry(parent_home, s, isla_name)).to_have_count(0)
    expect(entry(booking, s, isla_name)).to_have_count(0)
    expect(session_row(other_family, s)).to_contain_text(f"{left} of {capacity} spot")
    expect(card(coach_schedule, s)).to_contain_text(f"{s['reserved']}/{capacity} booked")
    expect(card(coach_home, s)).not_to_contain_text(isla_name)
    gone_from_future_lists(windows, "parent", s, "/parent/")


def test_parent_books_a_lesson_for_a_child_then_cancels(windows, world) -> None:  # type: ignore[no-untyped-def]
    """Parent books and cancels a lesson: the time slots regenerate in another family's window."""
    slot, freddie = world["lesson_parent"], world["players"]["freddie"]
    name = world["names"]["freddie"]
    booking = windows.open(
        "parent", f"/parent/schedule/?player={freddie}&{slot['query']}", label="booking"
    )
    other_family = windows.open("oliver", f"/player/schedule/?{slot['query']}", label="oliver")
    coach_home = windows.open("coach", f"/coach/?date={slot['date']}", label="coach-home")

    press(booking, book_button(slot))

    expect(status(booking)).to_contain_text(f"for {name}, ")
    expect(slot_row(other_family, slot)).to_contain_text("Taken")
    expect(other_family.locator(book_button(slot))).to_have_count(0)
    expect(card(coach_home, slot)).to_contain_text(name)

    entry(booking, slot, name).locator("button", has_text="Cancel").click()

    expect(status(booking)).to_contain_text("Cancelled")
    expect(other_family.locator(book_button(slot))).to_have_count(1)
    expect(booking.locator(book_button(slot))).to_have_count(1)
    expect(card(coach_home, slot)).to_have_count(0)
    expect(entry(booking, slot, name)).to_have_count(0)


def test_coach_cancels_a_session(windows, world) -> None:  # type: ignore[no-untyped-def]
    """Coach cancels session: every view drops it and the family is told."""
    s, oliver = world["coach_cancel"], world["names"]["oliver"]  # he holds a reservation in it
    player_home = windows.open("oliver", "/player/?tab=reservations", label="player-home")
    parent_home = windows.open("parent", "/parent/?tab=reservations", label="parent-home")
    schedule = windows.open("oliver", f"/player/schedule/?date={s['date']}", label="schedule")
    coach_schedule = windows.open("coach", f"/coach/schedule/?date={s['date']}")
    coach_home = windows.open("coach", f"/coach/?date={s['date']}", label="coach-home")
    expect(entry(player_home, s)).to_contain_text(s["title"])
    expect(entry(parent_home, s, oliver)).to_have_count(1)
    expect(session_row(schedule, s)).to_have_count(1)
    expect(card(coach_home, s)).to_contain_text(oliver)

    card(coach_home, s).locator("button", has_text="Cancel session").click()

    expect(status(coach_home)).to_contain_text(f"Cancelled the session {s['title']}")
    expect(card(coach_home, s)).to_have_count(0)
    expect(card(coach_schedule, s)).to_have_count(0)
    expect(entry(player_home, s)).to_have_count(0)
    expect(entry(parent_home, s, oliver)).to_have_count(0)
    expect(session_row(schedule, s)).to_have_count(0)
    expect(toasts(player_home)).to_contain_text(f"{s['coach']} cancelled {s['title']}")
    expect(toasts(parent_home)).to_contain_text(f"{s['coach']} cancelled {s['title']}")


def test_parent_switcher_keeps_following_live_updates(windows, world) -> None:  # type: ignore[no-untyped-def]
    """Account switcher (a parent's ?player=) with real-time updates."""
    s, names = world["switch_child"], world["names"]
    family = windows.open("parent", "/parent/?tab=reservations", label="family")
    family.get_by_role("link", name=names["oliver"], exact=True).click()
    family.wait_for_url(f"**player={world['players']['oliver']}**")
    wait_live(family)
    booking = windows.open("oliver", f"/player/schedule/?date={s['date']}", label="booking")

    press(booking, reserve_button(s))

    expect(entry(family, s)).to_contain_text(s["title"])  # one child's view: no names
    family.get_by_role("link", name=names["isla"], exact=True).click()
    family.wait_for_url(f"**player={world['players']['isla']}**")
    wait_live(family)
    expect(entry(family, s)).to_have_count(0)
    family.get_by_role("link", name="All children", exact=True).click()
    family.wait_for_url("**player=all**")
    wait_live(family)
    expect(entry(family, s, names["oliver"])).to_have_count(1)

    entry(booking, s).locator("button", has_text="Cancel").click()

    expect(entry(family, s, names["oliver"])).to_have_count(0)


def test_role_switcher_keeps_following_live_updates(windows, world) -> None:  # type: ignore[no-untyped-def]
    """Account switcher (the role switcher of someone who plays and is a parent)."""
    for_hugo, for_pat = world["switch_hugo"], world["switch_pat"]
    hugo, pat_player = world["players"]["hugo"], world["players"]["pat"]
    pat = windows.open("pat", "/player/?tab=reservations", label="pat")
    expect(pat.locator("#role-select option")).to_have_count(2)
    pat.select_option("#role-select", label=f"Parent · {world['academy_name']}")
    pat.click(".role-switch button[type=submit]")
    pat.wait_for_url("**/parent/")
    wait_live(pat)
    desk = windows.open("staff", f"/staff/players/{hugo}/book/?date={for_hugo['date']}")

    press(desk, reserve_button(for_hugo))

    expect(status(desk)).to_contain_text("Reserved")
    expect(entry(pat, for_hugo)).to_contain_text(f"for {world['names']['hugo']}")
    pat.select_option("#role-select", label=f"Player · {world['academy_name']}")
    pat.click(".role-switch button[type=submit]")
    pat.wait_for_url("**/player/")
    wait_live(pat)
    expect(entry(pat, for_hugo)).to_have_count(0)
    desk.goto(windows.users.stack.url + f"/staff/players/{pat_player}/book/?date={for_pat['date']}")
    wait_live(desk)

    press(desk, reserve_button(for_pat))

    expect(entry(pat, for_pat)).to_contain_text(for_pat["title"])


def test_no_duplicate_reservation(windows, world, embedded_stack) -> None:  # type: ignore[no-untyped-def]
    """No duplicate reservations can be created: a second window's attempt gets a plain answer."""
    s, oliver = world["duplicate"], world["players"]["oliver"]
    first = windows.open("oliver", f"/player/schedule/?date={s['date']}", label="first")
    second = windows.open("oliver", f"/player/schedule/?date={s['date']}", label="second")

    press(first, reserve_button(s))

    expect(status(first)).to_contain_text("Reserved")
    expect(entry(second, s)).to_have_count(1)  # "Already booked", live
    # The shared grid, marked from the page's own list: booked, and no Reserve for Oliver.
    expect(session_row(second, s)).to_contain_text(f"Booked for {world['names']['oliver']}")
    expect(second.locator(reserve_button(s))).to_be_hidden()
    # A page that had not heard of it yet would still post it: refused in plain words.
    second.evaluate("selector => document.querySelector(selector).click()", reserve_button(s))

    expect(status(second)).to_contain_text(
        f"{world['names']['oliver']} is already booked on this session"
    )
    expect(second.locator(f"#msg-session-{s['id']}")).to_contain_text("already booked")
    expect(entry(second, s)).to_have_count(1)
    assert active_reservations(embedded_stack, s["id"], oliver) == 1


def test_a_booking_changes_exactly_one_card_of_the_staff_week(windows, world) -> None:  # type: ignore[no-untyped-def]
    """The front desk has the week open; a player books: that session's card alone changes
    (every other card's HTML is the same), within a second of the booking."""
    s, oliver = world["calendar_card"], world["names"]["oliver"]
    staff = windows.open("staff", f"/staff/calendar/?date={s['date']}", label="staff-week")
    booking = windows.open("oliver", f"/player/schedule/?date={s['date']}", label="booking")
    wait_live(staff)
    wait_live(booking)
    cards = (
        "() => Object.fromEntries([...document.querySelectorAll('article.cal-item')]"
        ".map(a => [a.id, a.outerHTML]))"
    )
    before = staff.evaluate(cards)
    target = f"cal-g{s['id']}"
    assert target in before and len(before) > 1
    staff.evaluate(
        """id => new MutationObserver((records, observer) => {
             if (records.some(r => [...r.addedNodes].some(n => n.id === id))) {
               window.__cardChangedAt = Date.now(); observer.disconnect();
             }
           }).observe(document.querySelector('.cal-week'), {childList: true, subtree: true})""",
        target,
    )
    started = booking.evaluate("Date.now()")

    press(booking, reserve_button(s))

    capacity = s["capacity"]
    expect(staff.locator(f"#{target}")).to_contain_text(f"{s['reserved'] + 1}/{capacity} booked")
    expect(status(booking)).to_contain_text(f"Reserved {s['title']} for {oliver}")
    changed_at = staff.evaluate("window.__cardChangedAt")
    assert changed_at is not None and changed_at - started < 1000, changed_at - started
    after = staff.evaluate(cards)
    assert after.keys() == before.keys()
    assert [k for k in before if before[k] != after[k]] == [target]
    assert oliver not in after[target]  # names: on the details view

    # the details open in place, with the names (staff may read them)
    staff.locator(f"#{target} a.cal-link").click()
    expect(staff.locator("#cal-details")).to_contain_text(oliver)
    expect(staff.locator("#cal-details .cal-detail-title")).to_be_focused()
    staff.keyboard.press("Escape")
    expect(staff.locator(f"#{target} a.cal-link")).to_be_focused()

    # at 320 px the week scrolls inside its own labelled region, not the page
    staff.set_viewport_size({"width": 320, "height": 640})
    region = staff.locator(".cal-scroll[role=region]")
    sizes = region.evaluate("r => [r.clientWidth, r.scrollWidth]")
    assert sizes[0] <= 320 < sizes[1], sizes
