"""What the browser tests do to pages and what they check on them, plus a plain HTTP user for
the crowd of concurrent bookings (no browser needed to press buttons by the hundred)."""

from __future__ import annotations

import re
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import UTC, datetime
from typing import Any

from playwright.sync_api import Page

WAIT = 10_000  # ms: how long a live update may take to show under a loaded CI machine

# Installed in every context before any page script runs: remembers each state the connection
# indicator passes through (courtside.js mirrors it on <html data-live>), however brief.
RECORD_STATES = """
window.__liveStates = [];
new MutationObserver(function () {
  var state = document.documentElement.dataset.live;
  if (state && window.__liveStates[window.__liveStates.length - 1] !== state) {
    window.__liveStates.push(state);
  }
}).observe(document, { attributes: true, subtree: true, attributeFilter: ["data-live"] });
"""

# Normalised inner HTML of a live fragment: whitespace collapsed, and the answer an action
# leaves next to the button that was clicked (.row-msg) emptied: that one is the clicking
# window's own, not part of the fragment every viewer shares (so is the message an action leaves
# where a row it removed was, .near-msg, and the tabindex that lets focus rest on a message or a
# row, static/js/focus.js). So are the marks a page puts on
# shared fragments from its own list (courtside.js: data-mine, .mine-note) and an edit form's
# stale banner.
NORMALISE = """
function (el) {
  var copy = el.cloneNode(true);
  copy.querySelectorAll(".row-msg").forEach(function (m) {
    m.className = "row-msg";
    m.textContent = "";
  });
  copy.querySelectorAll("[data-mine]").forEach(function (m) { m.removeAttribute("data-mine"); });
  copy.querySelectorAll(".near-msg").forEach(function (m) { m.remove(); });
  copy.querySelectorAll("[tabindex='-1']").forEach(function (m) { m.removeAttribute("tabindex"); });
  copy.querySelectorAll(".mine-note, .stale-fields").forEach(function (m) { m.textContent = ""; });
  copy.querySelectorAll(".stale-banner").forEach(function (m) {
    m.hidden = true;
    m.removeAttribute("role");
  });
  return copy.innerHTML.replace(/\\s+/g, " ").replace(/> </g, "><").trim();
}
"""

# Each live fragment on the page against a fresh render of the same key from GET /live/.
# Returns the keys that differ (empty: the page shows what the database holds).
COMPARE_WITH_FRESH = (
    """
async () => {
  var norm = """
    + NORMALISE
    + """;
  var meta = document.getElementById("live-meta");
  var mine = Array.from(document.querySelectorAll(".live-fragment[data-live]"));
  var keys = mine.map(function (el) { return el.dataset.live; });
  var query = keys.map(function (k) { return "k=" + encodeURIComponent(k); }).join("&");
  var response = await fetch(meta.dataset.resyncUrl + "?" + query, { cache: "no-store" });
  if (!response.ok) return ["HTTP " + response.status];
  var fresh = document.createElement("template");
  fresh.innerHTML = await response.text();
  var differ = [];
  mine.forEach(function (el) {
    var other = fresh.content.querySelector('[data-live="' + el.dataset.live + '"]');
    if (!other || norm(other) !== norm(el)) differ.push(el.dataset.live);
  });
  if (!keys.length) differ.push("no live fragments");
  return differ;
}
"""
)


def log_in(page: Page, base: str, username: str) -> None:
    page.goto(base + "/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", "demo")
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"^(?!.*/login/).*$"), timeout=30_000)


def wait_live(page: Page, timeout: int = 20_000) -> None:
    page.wait_for_selector("#live-indicator[data-state=live]", timeout=timeout)


def states(page: Page) -> list[str]:
    return page.evaluate("window.__liveStates || []")


def stale_fragments(page: Page) -> list[str]:
    return page.evaluate(COMPARE_WITH_FRESH)


def wait_converged(page: Page, timeout: float = 15.0) -> None:
    """Until every live fragment of the page equals a fresh render (a push may be on its way)."""
    deadline = time.monotonic() + timeout
    differ = stale_fragments(page)
    while differ and time.monotonic() < deadline:
        time.sleep(0.3)
        differ = stale_fragments(page)
    assert not differ, f"{page.url}: these live fragments differ from a fresh render: {differ}"


def fragment_html(page: Page, key_prefix: str) -> str:
    """The normalised inner HTML of the page's live fragment whose key starts so."""
    return page.locator(f'.live-fragment[data-live^="{key_prefix}"]').first.evaluate(NORMALISE)


def click_at(page: Page, selector: str, at_ms: float) -> None:
    """Click `selector` when the browser's clock reads `at_ms` (Date.now()): two pages given the
    same moment click within a millisecond of each other, without waiting on this process.
    The button is looked up then (a push may have replaced it since); window.__clicked tells."""
    page.evaluate(
        """([selector, at]) => {
             window.__clicked = null;
             setTimeout(function () {
               var button = document.querySelector(selector);
               window.__clicked = button ? Date.now() : false;
               if (button) button.click();
               // Booking asks to confirm (holds.js): confirm in the same moment.
               var confirm = document.querySelector("#confirm-dialog[open] button[value=yes]");
               if (confirm) confirm.click();
             }, Math.max(0, at - Date.now()));
           }""",
        [selector, at_ms],
    )


def press(page: Page, selector: str) -> None:
    """Click an action button as a person would: booking a lesson slot or a session's last
    spots asks to confirm first while the others are told (static/js/holds.js); confirm."""
    button = page.locator(selector).first
    holds = button.get_attribute("data-hold") is not None
    button.click()
    # Whether it asked is read after the click, not before: the page asks only while its
    # socket is live, and a socket can close between a look at its state and the click (a
    # lifetime close, tests/browser/test_socket_life.py). The dialog opens inside the click's
    # own handler, so it is open by the time the click returns if it is going to be.
    if holds and page.evaluate("document.getElementById('confirm-dialog').open"):
        page.locator("#confirm-dialog button[value=yes]").click()


def clicked_at(page: Page) -> float | None:
    """When click_at clicked (browser clock), or None if the button had gone by then."""
    # Polled from here: wait_for_function evaluates a string in the page, which the pages'
    # Content-Security-Policy (no 'unsafe-eval') refuses.
    deadline = time.monotonic() + WAIT / 1000
    while (clicked := page.evaluate("window.__clicked")) is None:
        assert time.monotonic() < deadline, "the timed click never ran"
        time.sleep(0.01)
    return clicked or None


# -- the database, read directly -------------------------------------------------------------


def active_reservations(stack, session_id: int, player_id: int) -> int:  # type: ignore[no-untyped-def]
    return stack.sql(
        "SELECT count(*) FROM bookings_sessionreservation WHERE status = 'reserved' "
        f"AND session_id = {int(session_id)} AND player_id = {int(player_id)}"
    )[0][0]


def _utc_text(value: Any) -> str:
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    if moment.tzinfo is not None:  # SQLite gives naive UTC text, PostgreSQL aware datetimes
        moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def booked_lessons(stack, coach_id: int, utc: str) -> int:  # type: ignore[no-untyped-def]
    """Active lessons of the coach starting at `utc` ("YYYY-MM-DD HH:MM:SS")."""
    rows = stack.sql(
        "SELECT starts_at FROM bookings_individualbooking "
        f"WHERE status = 'booked' AND coach_id = {int(coach_id)}"
    )
    return sum(1 for (starts_at,) in rows if _utc_text(starts_at) == utc)


# -- an HTTP user ------------------------------------------------------------------------------


class HttpUser:
    """A signed-in user over plain HTTP (a session world.py made), posting the same forms the
    buttons post, as htmx does, so answers are status codes: 200 done, 409 refused. Each
    request opens a new connection, so a crowd of them spreads over every worker."""

    CSRF = "courtside0browser0tests000000000"  # any 32 letters: cookie and header must agree

    def __init__(self, base: str, username: str, session_key: str) -> None:
        self.base = base
        self.username = username
        self.cookie = f"sessionid={session_key}; csrftoken={self.CSRF}"

    def _open(self, method: str, path: str, data: dict[str, Any] | None = None) -> tuple[int, str]:
        body = urllib.parse.urlencode(data or {}).encode() if method == "POST" else None
        request = urllib.request.Request(self.base + path, data=body, method=method)
        request.add_header("Cookie", self.cookie)
        if method == "POST":
            request.add_header("X-CSRFToken", self.CSRF)
            request.add_header("HX-Request", "true")
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()

    def get(self, path: str) -> tuple[int, str]:
        return self._open("GET", path)

    def post(self, path: str, data: dict[str, Any]) -> tuple[int, str]:
        return self._open("POST", path, data)


def http_user(stack, username: str) -> HttpUser:  # type: ignore[no-untyped-def]
    """A user of the stack's world over plain HTTP (a session the world signed in)."""
    return HttpUser(stack.url, username, stack.setup["sessions"][username])
