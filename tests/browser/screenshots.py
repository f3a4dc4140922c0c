"""Screenshots of every page, as each demo role sees it, for docs/ and the README.

    python -m tests.browser.screenshots      (or: make screenshots)

Runs a throwaway demo server and Debian's Chromium through Playwright.
"""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import sync_playwright

from tests.browser.stack import CHROMIUM, CHROMIUM_ARGS, ROOT, running_stack

OUT = ROOT / "docs" / "screenshots"
TABLET = {"width": 1024, "height": 768}
PHONE = {"width": 390, "height": 844}
DESK = {"width": 1280, "height": 800}
# The calendar's first card, opened in the details panel beside the grid (htmx).
FIRST_CARD = ".cal-week .cal-link"

PAGES = [
    # (file name, login, path, viewport)
    ("player-home", "player", "/player/", PHONE),
    ("player-reservations", "player", "/player/?tab=reservations", PHONE),
    ("player-schedule", "player", "/player/schedule/", PHONE),
    ("parent-home", "parent", "/parent/", PHONE),
    ("parent-schedule", "parent", "/parent/schedule/", TABLET),
    ("coach-dashboard", "coach", "/coach/dashboard/", TABLET),
    ("coach-home", "coach", "/coach/", TABLET),
    ("coach-full-schedule", "coach", "/coach/?tab=full", TABLET),
    ("coach-schedule", "coach", "/coach/schedule/", TABLET),
    ("staff-home", "staff", "/staff/", TABLET),
    ("staff-calendar", "staff", "/staff/calendar/", TABLET),
    ("staff-calendar-week", "staff", "/staff/calendar/", DESK),
    ("staff-calendar-by-coach", "staff", "/staff/calendar/?by=coach", DESK),
    ("staff-calendar-day", "staff", "/staff/calendar/?view=day", DESK),
    ("staff-calendar-details", "staff", "/staff/calendar/", DESK, FIRST_CARD),
    ("login", None, "/login/", PHONE),
]


def log_in(page, base: str, username: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(base + "/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", "demo")
    page.click("button[type=submit]")
    page.wait_for_load_state("networkidle")


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    with running_stack() as stack, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        for name, login, path, viewport, *click in PAGES:
            context = browser.new_context(viewport=viewport, device_scale_factor=1)
            page = context.new_page()
            if login:
                log_in(page, stack.url, login)
            page.goto(stack.url + path)
            if page.locator("#live-meta").count():
                page.wait_for_selector("#live-indicator[data-state=live]", timeout=10000)
            if click and page.locator(click[0]).count():
                page.locator(click[0]).first.click()
                page.wait_for_selector("#cal-details .cal-detail", timeout=10000)
            page.screenshot(path=str(OUT / f"{name}.png"), full_page=True)
            context.close()
            print("saved", Path("docs/screenshots") / f"{name}.png")
        browser.close()


if __name__ == "__main__":
    main()
