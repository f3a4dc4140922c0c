"""The browser phase: a click on one page to the change on every other page, in a real Chromium.

About 30 pages of six users of the live academy (each page in a browser context of its own,
signed in with a Django session of its user) watch one group session S on day D:

- the clicking player P, on the schedule page (Reserve on the day grid, Cancel in the list),
  with more tabs of their own (home: their schedule list; schedule: the day grid);
- P's parent G (home: the family's list; schedule: the day grid);
- a second player Q (schedule: the day grid);
- S's coach C (home: their day; calendar: the week);
- a staff member A at the front desk (the day's rows, with occupancy);
- a second staff member B (the academy's week calendar and its day grid).

Before each click every observing page gets a MutationObserver (page.evaluate) that reads the
figure the booking changes on that page (spots left on the day grid, "n/capacity booked" on a
calendar card or a front desk row, the number of entries in a personal list) and notes
`performance.timeOrigin + performance.now()` at the first mutation after which the figure
differs from what it was (and checks afterwards that it moved the right way). The clicking page
notes the same clock in a capturing click listener, just before the click is dispatched; the
click itself is Playwright's (a real mouse event). Latency per page = noted - click. Clicks
alternate Reserve and Cancel (an even number: the session ends as it started).

The plain floor, same browser, same number of pages: every page (the bench server's login
page, its CSP bypassed) opens a WebSocket to the plain broadcast server (tests/bench/plain.py)
and writes what it receives into a DOM element of its own; the clicking page sends
a message over its /control socket from a click handler on a button of its own; the same
click-to-mutation latency is taken on every other page. That is Chromium, loopback and a
broadcast, no Django.

Django's ORM is used only before Playwright starts and after it stops (Playwright's sync API
keeps an event loop running in this thread, where Django refuses synchronous queries).
"""

from __future__ import annotations

import contextlib
import os
import time
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from tests.bench import procs
from tests.bench.orchestrator import HOST, log
from tests.bench.stats import summary_ms
from tests.browser.stack import CHROMIUM, CHROMIUM_ARGS

SEEN_WITHIN = 5.0  # s: a page that has not shown the change by then missed it
GAP = 1.0  # s between the starts of two clicks

# What a booking of S changes on each kind of page, and how the figure moves on a reservation.
# probe: "grid" spots left on the day grid (-1), "card" a calendar card's booked (+1), "desk" a
# front desk row's booked (+1), "list" entries of the personal list (+1).
KINDS: dict[str, tuple[str, str]] = {  # kind -> (path, probe)
    "player schedule": ("/player/schedule/?date={day}", "grid"),
    "player home": ("/player/", "list"),
    "parent home": ("/parent/", "list"),
    "parent schedule": ("/parent/schedule/?date={day}", "grid"),
    "coach day": ("/coach/?date={day}", "card"),
    "coach week": ("/coach/schedule/?date={day}", "card"),
    "front desk": ("/staff/?date={day}", "desk"),
    "staff week": ("/staff/calendar/?date={day}", "card"),
    "staff day grid": ("/staff/calendar/?date={day}&view=day", "card"),
}
DIRECTION = {"grid": -1, "card": 1, "desk": 1, "list": 1}
# The observing pages in the order they are opened (a prefix keeps every user and most kinds).
PATTERN = [
    ("G", "parent home"),
    ("Q", "player schedule"),
    ("C", "coach week"),
    ("A", "front desk"),
    ("B", "staff week"),
    ("P", "player home"),
    ("C", "coach day"),
    ("B", "staff day grid"),
    ("G", "parent schedule"),
    ("P", "player schedule"),
]

PROBE = """
function (probe, sid) {
  function num(selector, pattern) {
    var el = document.querySelector(selector);
    if (!el) return null;
    var m = el.textContent.match(pattern);
    return m ? Number(m[1]) : null;
  }
  if (probe === "grid") return num("#day-s" + sid + " .occupancy", /(\\d+) of \\d+ spot/);
  // A card's first "n/capacity" (the week and the day grid: its badge; a coach's day: "booked")
  if (probe === "card") return num("#cal-g" + sid, /(\\d+)\\/\\d+/);
  if (probe === "desk") return num("#desk-g" + sid + " .occupancy", /(\\d+)\\/\\d+ booked/);
  var list = document.querySelector(
    '.live-fragment[data-live^="schedule"], .live-fragment[data-live^="reservations"]');
  return list ? list.querySelectorAll("li.entry").length : null;
}
"""

# Arms a page: remembers the figure now, and the moment of the first mutation after which it
# differs. Returns the figure (null: the page does not show it, a set-up error).
ARM = (
    """
([probe, sid]) => {
  var read = """
    + PROBE
    + """;
  var before = read(probe, sid);
  if (window.__benchObserver) window.__benchObserver.disconnect();
  window.__bench = { before: before, at: null, value: null };
  var observer = new MutationObserver(function () {
    var value = read(probe, sid);
    if (value !== null && value !== before) {
      window.__bench.at = performance.timeOrigin + performance.now();
      window.__bench.value = value;
      observer.disconnect();
    }
  });
  observer.observe(document.body, {
    subtree: true, childList: true, characterData: true, attributes: true
  });
  window.__benchObserver = observer;
  return before;
}
"""
)

# Installed before the product's scripts (Playwright's init script, not subject to the pages'
# CSP): the moment each live push ("t":"f") reaches the page, before courtside.js handles it,
# so a page's latency splits into the way there and the page's own work.
ARRIVALS = """
(function () {
  var Native = window.WebSocket;
  window.__arrivals = [];
  function Recorded(url, protocols) {
    var ws = protocols === undefined ? new Native(url) : new Native(url, protocols);
    ws.addEventListener("message", function (event) {
      var now = performance.timeOrigin + performance.now();
      if (typeof event.data === "string" && event.data.indexOf('{"t":"f"') === 0) {
        window.__arrivals.push(now);
        if (window.__arrivals.length > 200) window.__arrivals.splice(0, 100);
      }
    });
    return ws;
  }
  Recorded.prototype = Native.prototype;
  ["CONNECTING", "OPEN", "CLOSING", "CLOSED"].forEach(function (k) { Recorded[k] = Native[k]; });
  window.WebSocket = Recorded;
})();
"""

CLICK_CLOCK = """
() => {
  window.__clickAt = 0;
  if (!window.__clockInstalled) {
    window.__clockInstalled = true;
    document.addEventListener("click", function () {
      if (!window.__clickAt) window.__clickAt = performance.timeOrigin + performance.now();
    }, true);
  }
  // Cancel asks window.confirm (courtside.js): the person says yes at once.
  window.confirm = function () { return true; };
}
"""

# The click's POST (Resource Timing): when it left after the click, and how long the server took
# to its first byte.
POST_TIMING = """
(clickAt) => {
  var found = performance.getEntriesByType("resource").filter(function (e) {
    return /\\/(reserve|cancel)\\/$/.test(new URL(e.name).pathname)
      && performance.timeOrigin + e.startTime >= clickAt - 1;
  });
  if (!found.length) return null;
  var e = found[found.length - 1];
  return {
    sent: performance.timeOrigin + e.requestStart - clickAt,
    server: e.responseStart - e.requestStart,
  };
}
"""

PLAIN_VIEWER = """
(url) => new Promise(function (resolve, reject) {
  var el = document.createElement("p");
  el.id = "msg";
  document.body.appendChild(el);
  var ws = new WebSocket(url);
  window.__ws = ws;
  ws.onmessage = function (event) { el.textContent = event.data; };
  ws.onopen = function () { resolve(true); };
  ws.onerror = function () { reject(new Error("websocket error")); };
})
"""

PLAIN_ARM = """
(expected) => {
  var el = document.getElementById("msg");
  window.__bench = { at: null };
  var observer = new MutationObserver(function () {
    if (el.textContent === expected) {
      window.__bench.at = performance.timeOrigin + performance.now();
      observer.disconnect();
    }
  });
  observer.observe(el, { subtree: true, childList: true, characterData: true });
  return true;
}
"""

PLAIN_CLICKER = """
(url) => new Promise(function (resolve, reject) {
  var button = document.createElement("button");
  button.id = "send";
  button.textContent = "Send";
  document.body.appendChild(button);
  window.__clickAt = 0;
  document.addEventListener("click", function () {
    if (!window.__clickAt) window.__clickAt = performance.timeOrigin + performance.now();
  }, true);
  var ws = new WebSocket(url);
  button.addEventListener("click", function () { ws.send(window.__next); });
  ws.onopen = function () { resolve(true); };
  ws.onerror = function () { reject(new Error("websocket error")); };
})
"""


@dataclass
class Tab:
    user: str  # P, G, Q, C, A, B
    kind: str
    url: str
    probe: str
    cookie: str
    page: Any = None
    context: Any = None

    @property
    def label(self) -> str:
        return f"{self.user}: {self.kind}"


def _summary(values: list[float]) -> dict[str, Any]:
    """The bench's summary (p50 is the median) of values measured in ms."""
    return summary_ms([v / 1000 for v in values])


def _cast(bench: Any) -> tuple[dict[str, int], int, int]:
    """The six users (role letter -> user id), the session S and its clicking player's id."""
    w = bench.world
    session = w.day_sessions[0]
    coach_id = w.session_coach[session]
    coach_user = next(u for c, u in w.coaches if c == coach_id)
    player, player_user = w.player_users[-1]  # G's child (data.build); no other phase uses them
    users = {
        "P": player_user,
        "G": w.browser_parent,
        "Q": w.player_users[-2][1],
        "C": coach_user,
        "A": w.staff_users[-1],
        "B": w.staff_users[-2],
    }
    return users, session, player


def _tabs(bench: Any, pages: int, users: dict[str, int]) -> list[Tab]:
    from tests.bench import data

    day = bench.world.day.isoformat()
    plan = [("P", "player schedule")]  # the clicking page first
    while len(plan) < pages:
        plan.append(PATTERN[(len(plan) - 1) % len(PATTERN)])
    cookies = data.session_cookies(
        [users[u] for u, _ in plan], extra={"academy_id": bench.world.live_academy}
    )
    tabs = []
    for (user, kind), cookie in zip(plan, cookies, strict=True):
        path, probe = KINDS[kind]
        url = f"http://{HOST}:{bench.port}{path.format(day=day)}"
        tabs.append(Tab(user, kind, url, probe, cookie.split("=", 1)[1]))
    return tabs


def _open_context(browser: Any, base: str, session_key: str | None) -> tuple[Any, Any]:
    # Without a session: a plain floor page. Its WebSocket goes to another port than the page's
    # (the product's CSP says connect-src 'self': bypassed), from a loopback page (Chromium's
    # local network access checks refuse loopback sockets to about:blank).
    context = browser.new_context(bypass_csp=not session_key)
    if session_key:
        context.add_cookies([{"name": "sessionid", "value": session_key, "url": base}])
        context.add_init_script(ARRIVALS)
    return context, context.new_page()


def _wait_all(pages: list[Any], since_wall: float) -> list[dict[str, Any] | None]:
    """Each page's window.__bench once every page noted a moment, or SEEN_WITHIN after the
    click (polled sparingly: the polls cost the renderers CPU while they measure)."""
    time.sleep(0.5)
    while True:
        got = [p.evaluate("window.__bench") for p in pages]
        if all(g and g.get("at") for g in got) or time.time() - since_wall > SEEN_WITHIN:
            return got
        time.sleep(0.2)


def _cpu(bench: Any) -> dict[str, float]:
    chromium = procs.pids_named("chromium") + procs.pids_named("chrome")
    return {
        "t": time.time(),
        "machine": procs.system_busy_seconds(),
        "server": procs.cpu_seconds(bench.workers),
        "chromium": procs.cpu_seconds(chromium),
    }


def _cores(a: dict[str, float], b: dict[str, float]) -> dict[str, float]:
    """Cores busy on average between two _cpu() readings (Chromium's: of its live processes)."""
    wall = max(b["t"] - a["t"], 1e-6)
    return {k: round((b[k] - a[k]) / wall, 2) for k in ("machine", "server", "chromium")}


def _courtside(browser: Any, bench: Any, tabs: list[Tab], session: int, clicks: int) -> dict:
    base = f"http://{HOST}:{bench.port}"
    t0 = time.time()
    for tab in tabs:
        tab.context, tab.page = _open_context(browser, base, tab.cookie)
        tab.page.goto(tab.url, wait_until="commit", timeout=30_000)
    for tab in tabs:
        tab.page.wait_for_selector("#live-indicator[data-state=live]", timeout=30_000)
    opened_s = round(time.time() - t0, 1)
    clicker, observers = tabs[0], tabs[1:]
    clicker.page.evaluate(CLICK_CLOCK)
    reserve = f'button.act-open[formaction="/reserve/"][name=session][value="{session}"]'
    cancel = '.live-fragment button[formaction="/cancel/"][name=reservation]'
    samples: list[tuple[int, Tab, float]] = []
    missed: list[str] = []
    wrong: list[str] = []
    unshown: list[str] = []
    clicked = 0
    cpu0 = _cpu(bench)
    requests: list[dict[str, float]] = []  # the click's POST, on the clicking page
    answers: list[float] = []  # click to the clicking page's own list showing it
    reach: list[float] = []  # click to the arrival of the push that showed the change
    handle: list[float] = []  # that arrival to the change in the DOM
    for i in range(clicks):
        what = "reserve" if i % 2 == 0 else "cancel"
        start = time.time()
        befores = [t.page.evaluate(ARM, [t.probe, session]) for t in observers]
        clicker.page.evaluate(ARM, ["list", session])  # its own list: the answer to the click
        for tab, before in zip(observers, befores, strict=True):
            if before is None:
                unshown.append(f"click {i + 1}: {tab.label}")
        clicker.page.evaluate(CLICK_CLOCK)
        time.sleep(max(0.2, start + GAP * 0.4 - time.time()))
        clicker.page.click(reserve if what == "reserve" else cancel, timeout=10_000)
        wall = time.time()
        at = clicker.page.evaluate("window.__clickAt")
        clicked += 1
        got = _wait_all([t.page for t in observers], wall)
        arrivals = [t.page.evaluate("window.__arrivals") for t in observers]
        own = clicker.page.evaluate("window.__bench")
        post = clicker.page.evaluate(POST_TIMING, at)
        if post:
            requests.append(post)
        if own and own.get("at"):
            answers.append(own["at"] - at)
        sign = 1 if what == "reserve" else -1
        for tab, before, g, came in zip(observers, befores, got, arrivals, strict=True):
            if before is None:
                continue
            if not g or not g.get("at"):
                missed.append(f"click {i + 1} ({what}): {tab.label}")
                continue
            if g["value"] - before != sign * DIRECTION[tab.probe]:
                wrong.append(f"click {i + 1} ({what}): {tab.label}: {before} -> {g['value']}")
            samples.append((i, tab, g["at"] - at))
            # The push that showed it: the last to arrive before the change appeared.
            pushed = [a for a in came or [] if at <= a <= g["at"]]
            if pushed:
                reach.append(max(pushed) - at)
                handle.append(g["at"] - max(pushed))
        # The clicking page shows its own answer before the next click (its next button).
        clicker.page.wait_for_selector(
            cancel if what == "reserve" else reserve, state="visible", timeout=10_000
        )
        time.sleep(max(0.0, start + GAP - time.time()))
    cores = _cores(cpu0, _cpu(bench))
    for tab in tabs:
        with contextlib.suppress(Exception):
            tab.context.close()
    values = [ms for _, _, ms in samples]
    per_kind: dict[str, list[float]] = defaultdict(list)
    for _, tab, ms in samples:
        per_kind[tab.kind].append(ms)
    pages_per_kind: dict[str, int] = defaultdict(int)
    for tab in observers:
        pages_per_kind[tab.kind] += 1
    return {
        "pages": len(tabs),
        "users": len({t.user for t in tabs}),
        "observers": len(observers),
        "clicks": clicked,
        "open_s": opened_s,
        "latency_ms": _summary(values),
        "per_kind": {
            kind: {"pages": pages_per_kind[kind], **_summary(per_kind[kind])}
            for kind in sorted(pages_per_kind)
        },
        "own_answer_ms": _summary(answers),
        "cores_busy_during_clicks": cores,
        "post_sent_ms": _summary([r["sent"] for r in requests]),
        "post_server_ms": _summary([r["server"] for r in requests]),
        "push_arrival_ms": _summary(reach),
        "arrival_to_dom_ms": _summary(handle),
        "missed": missed,
        "wrong_value": wrong,
        "not_shown": unshown,
        "_samples_ms": [round(v, 2) for v in values],
    }


def _plain(browser: Any, bench: Any, pages: int, clicks: int) -> dict[str, Any]:
    url = f"ws://{HOST}:{bench.plain_port}/"
    opened = [_open_context(browser, "", None) for _ in range(pages)]
    for _, page in opened:
        page.goto(f"http://{HOST}:{bench.port}/login/", wait_until="commit")
    for _, page in opened:
        page.wait_for_load_state("load")
    (_, clicker), observers = opened[0], [p for _, p in opened[1:]]
    clicker.evaluate(PLAIN_CLICKER, url + "control")
    for page in observers:
        page.evaluate(PLAIN_VIEWER, url)
    values: list[float] = []
    missed: list[str] = []
    time.sleep(0.3)  # every viewer registered by the server
    cpu0 = _cpu(bench)
    for i in range(clicks):
        start = time.time()
        message = f"click {i + 1} {time.time()}"
        for page in observers:
            page.evaluate(PLAIN_ARM, message)
        clicker.evaluate("(m) => { window.__next = m; window.__clickAt = 0; }", message)
        time.sleep(max(0.2, start + GAP * 0.4 - time.time()))
        clicker.click("#send")
        wall = time.time()
        at = clicker.evaluate("window.__clickAt")
        got = _wait_all(observers, wall)
        for n, g in enumerate(got):
            if not g or not g.get("at"):
                missed.append(f"click {i + 1}: page {n + 1}")
            else:
                values.append(g["at"] - at)
        time.sleep(max(0.0, start + GAP - time.time()))
    cores = _cores(cpu0, _cpu(bench))
    for context, _ in opened:
        with contextlib.suppress(Exception):
            context.close()
    return {
        "cores_busy_during_clicks": cores,
        "pages": pages,
        "observers": pages - 1,
        "clicks": clicks,
        "latency_ms": _summary(values),
        "missed": missed,
        "_samples_ms": [round(v, 2) for v in values],
    }


def _undo(session: int, player: int, actor: int) -> int:
    """Cancel what the phase left booked (a click that failed half-way): the session as before."""
    from django.contrib.auth import get_user_model

    from bookings.models import SessionReservation
    from bookings.services import reservation_cancel

    left = list(
        SessionReservation.objects.filter(
            player_id=player, session_id=session, status=SessionReservation.Status.RESERVED
        )
    )
    user = get_user_model().objects.get(pk=actor)
    for r in left:
        reservation_cancel(reservation=r, actor=user)
    return len(left)


def run(bench: Any, *, pages: int = 30, clicks: int = 10) -> dict[str, Any]:
    """The phase; never raises (a failure is recorded as "error", and the run goes on)."""
    if not os.path.exists(CHROMIUM):
        return {"error": f"no Chromium at {CHROMIUM}"}
    clicks += clicks % 2  # reserve then cancel: S ends as it started
    users, session, player = _cast(bench)
    tabs = _tabs(bench, pages, users)
    from django.db import connections

    connections.close_all()  # no connection is used while Playwright runs (see the docstring)
    out: dict[str, Any] = {
        "session": session,
        "users": {
            "P": "player who clicks (schedule page)",
            "G": "P's parent",
            "Q": "another player",
            "C": "the session's coach",
            "A": "staff, front desk",
            "B": "staff, calendars",
        },
        "seen_within_s": SEEN_WITHIN,
        "cores": os.cpu_count(),
    }
    from playwright.sync_api import sync_playwright

    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                out["chromium"] = browser.version
                out["courtside"] = _courtside(browser, bench, tabs, session, clicks)
                c = out["courtside"]
                log(
                    f"browser: {c['pages']} pages, {c['clicks']} clicks: median "
                    f"{c['latency_ms'].get('p50')} p90 {c['latency_ms'].get('p90')} max "
                    f"{c['latency_ms'].get('max')} ms; {len(c['missed'])} missed"
                )
                out["plain"] = _plain(browser, bench, pages, clicks)
                p = out["plain"]
                log(
                    f"browser plain floor: median {p['latency_ms'].get('p50')} p90 "
                    f"{p['latency_ms'].get('p90')} max {p['latency_ms'].get('max')} ms; "
                    f"{len(p['missed'])} missed"
                )
            finally:
                browser.close()
    except Exception as exc:
        out["error"] = f"{type(exc).__name__}: {exc}"[:500]
        log(f"browser phase failed: {out['error']}")
    out["undone"] = _undo(session, player, users["A"])
    return out
