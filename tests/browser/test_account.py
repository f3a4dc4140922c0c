"""What reaches a family with no page open, in real Chromium windows: the parent makes a
private calendar address on the account page (from the name in the header), the front desk
cancels her daughter's place in another window, the calendar address now says cancelled, the
sender (`manage.py send_mail --once`, a process of its own, as cron runs it) emails her once,
and the email's unsubscribe link works in a browser that is not logged in.
"""

from __future__ import annotations

import email
import email.policy
import subprocess
import sys
import urllib.request
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from icalendar import Calendar
from playwright.sync_api import expect

from tests.browser.pagebits import entry, status
from tests.browser.stack import ROOT

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def world(embedded_stack) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    return embedded_stack.setup


def read_feed(url: str) -> dict[str, Any]:
    """The calendar at a feed address, as a calendar app fetches it (no cookies): by summary."""
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.headers["Content-Type"] == "text/calendar; charset=utf-8"
        body = response.read()
    return {str(e["SUMMARY"]): e for e in Calendar.from_ical(body).walk("VEVENT")}


def send_mail(stack, outbox: Path) -> str:  # type: ignore[no-untyped-def]
    """One round of the sender, into files (the server itself never sends)."""
    env = {
        **stack.env,
        "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
        "EMAIL_FILE_PATH": str(outbox),
        "SITE_URL": stack.url,
    }
    done = subprocess.run(
        [sys.executable, "manage.py", "send_mail", "--once", "--no-reminders"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return done.stdout


def messages_in(outbox: Path) -> list[email.message.EmailMessage]:
    found = []
    for path in sorted(outbox.glob("*.log")):
        for raw in path.read_text().split("-" * 79):
            if raw.strip():
                found.append(email.message_from_string(raw.strip(), policy=email.policy.default))
    return found  # type: ignore[return-value]


def test_a_parent_subscribes_and_hears_of_a_cancellation_by_the_desk(
    windows, world, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    s, isla = world["desk_cancel"], world["players"]["isla"]
    stack = windows.users.stack
    home = windows.open("parent", "/parent/?tab=reservations", label="parent-home")
    home.get_by_role("link", name="Hannah Wright").click()  # the name in the header
    expect(home.get_by_role("heading", level=1)).to_have_text("Your account")
    feed = home.locator("article.calendar-feed", has_text="My children's bookings")
    feed.get_by_role("button", name="Make a calendar address").click()
    expect(status(home)).to_contain_text("Your calendar address is ready")
    address = home.get_by_label("Your calendar address (shown only now)")
    url = address.input_value()
    assert url.startswith(stack.url + "/calendar/") and url.endswith(".ics")
    title = f"Isla: {s['title']}"
    assert str(read_feed(url)[title]["STATUS"]) == "CONFIRMED"

    # The front desk cancels Isla's place, in its own window.
    desk = windows.open("staff", f"/staff/players/{isla}/?tab=reservations", label="desk")
    entry(desk, s).locator("button", has_text="Cancel").click()
    expect(status(desk)).to_contain_text(f"Cancelled {s['title']}")

    cancelled = read_feed(url)[f"Cancelled: {title}"]
    assert str(cancelled["STATUS"]) == "CANCELLED"
    home.reload()
    expect(home.get_by_label("Your calendar address (shown only now)")).to_have_count(0)
    expect(feed).to_contain_text("Last read by a calendar app")

    # The sender, as cron runs it: Hannah gets one email, the desk none.
    outbox = tmp_path / "outbox"
    send_mail(stack, outbox)
    send_mail(stack, outbox)  # a second round sends nothing again
    # This session's email (Isla's other places may be cancelled by other tests on the stack).
    day = date.fromisoformat(s["date"])
    this_one = (s["title"], f"{day.day} {day:%b}, {s['hhmm']}")
    mine = [
        m
        for m in messages_in(outbox)
        if "parent@browser.courtside.test" in str(m["To"])
        and all(part in str(m["Subject"]) for part in this_one)
    ]
    assert len(mine) == 1, [str(m["Subject"]) for m in messages_in(outbox)]
    message = mine[0]
    text = message.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    assert "Rebecca Hall cancelled Isla's place in this session" in text
    assert message.get_body(preferencelist=("html",)) is not None
    unsubscribe = str(message["List-Unsubscribe"]).strip("<>")

    # The unsubscribe link, in a browser nobody is logged in to.
    anonymous = windows.users.browser.new_context()
    windows.contexts.append(anonymous)
    page = anonymous.new_page()
    page.goto(stack.url + urlsplit(unsubscribe).path)
    expect(page.get_by_role("heading", level=1)).to_have_text("Cancellations by the academy")
    page.get_by_role("button", name="Stop these emails").click()
    expect(page.locator(".msg-success")).to_contain_text("you will get no more of these emails")

    home.reload()  # still on the account page: its choices as they are now
    expect(home.get_by_label("Cancellations by the academy")).not_to_be_checked()
    expect(home.get_by_label("Reminders the day before")).to_be_checked()
    home.get_by_label("Cancellations by the academy").check()
    home.get_by_role("button", name="Save email choices").click()
    expect(status(home)).to_contain_text("Your email choices are saved.")
    expect(home.get_by_label("Cancellations by the academy")).to_be_checked()
