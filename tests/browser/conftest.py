"""Browser test set-up: one Chromium per run; two servers per run, both started in the
background as soon as the run knows it needs them (their start-up is most of the suite's time):
the embedded server (SQLite + in-memory layer) of the checklist and sync modules, and the real
stack (PostgreSQL, a Redis of its own, two workers) of the fault tests, each with the academy
tests/browser/world.py builds for them (no demo data); logged-in contexts per user;
and on a failure a screenshot and the HTML of every page the test had open, with the server's
log, in test-artifacts/<test name>/."""

from __future__ import annotations

import contextlib
import re
import shutil
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.helpers import RECORD_STATES, WAIT, log_in, wait_live
from tests.browser.stack import (
    CHROMIUM,
    CHROMIUM_ARGS,
    ROOT,
    RedisServer,
    Stack,
    TcpProxy,
    postgres_database,
    running_stack,
)

ARTIFACTS = ROOT / "test-artifacts"
SETUP = "tests.browser.world:prepare"


def _embedded(exits: contextlib.ExitStack) -> Stack:
    return exits.enter_context(running_stack(demo=False, setup=SETUP))


def _real(exits: contextlib.ExitStack) -> tuple[Stack, RedisServer]:
    """PostgreSQL (a database of its own), a Redis server of its own, two workers."""
    from django.conf import settings

    redis = RedisServer()
    redis.start()
    exits.callback(redis.stop)
    database_url = exits.enter_context(postgres_database(settings.TEST_DATABASE_URL))
    stack = exits.enter_context(
        running_stack(
            database_url=database_url, redis_url=redis.url, workers=2, demo=False, setup=SETUP
        )
    )
    return stack, redis


STARTERS: dict[str, Callable[[contextlib.ExitStack], Any]] = {
    "embedded_stack": _embedded,
    "real_stack": _real,
}


class Background:
    """A server started in a thread of its own; get() waits for it, close() stops it."""

    def __init__(self, start: Callable[[contextlib.ExitStack], Any]) -> None:
        self.exits = contextlib.ExitStack()
        self.done = threading.Event()
        self.value: Any = None
        self.error: BaseException | None = None
        threading.Thread(target=self._run, args=(start,), daemon=True).start()

    def _run(self, start: Callable[[contextlib.ExitStack], Any]) -> None:
        try:
            self.value = start(self.exits)
        except BaseException as error:
            self.error = error
        finally:
            self.done.set()

    def get(self, timeout: float = 600) -> Any:
        if not self.done.wait(timeout):
            raise RuntimeError("the test server did not start in time")
        if self.error is not None:
            raise self.error
        return self.value

    def close(self) -> None:
        self.done.wait(600)
        self.exits.close()


BACKGROUND = pytest.StashKey[dict[str, Background]]()


def background(config: pytest.Config, name: str) -> Background:
    running = config.stash.setdefault(BACKGROUND, {})
    if name not in running:
        running[name] = Background(STARTERS[name])
    return running[name]


def _will_run(item: pytest.Item) -> bool:
    if item.get_closest_marker("skip"):
        return False
    return not any(mark.args and mark.args[0] for mark in item.iter_markers("skipif"))


def pytest_collection_finish(session: pytest.Session) -> None:
    """Start the servers the selected tests need, while the first tests get going."""
    for name in STARTERS:
        if any(name in getattr(i, "fixturenames", ()) and _will_run(i) for i in session.items):
            background(session.config, name)


def pytest_sessionfinish(session: pytest.Session) -> None:
    for running in session.config.stash.get(BACKGROUND, {}).values():
        running.close()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if Path(CHROMIUM).exists():
        return
    skip = pytest.mark.skip(
        reason=f"needs Chromium at {CHROMIUM} (install it with `make browser`, or set CHROMIUM)"
    )
    for item in items:
        if "browser" in item.keywords:
            item.add_marker(skip)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=WAIT)
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="session")
def embedded_stack(request: pytest.FixtureRequest) -> Stack:
    """The embedded default (SQLite, in-memory layer, one process) with the academy
    tests/browser/world.py built, and what it made for each scenario."""
    return background(request.config, "embedded_stack").get()


@pytest.fixture(scope="session")
def real_stack_and_redis(request: pytest.FixtureRequest) -> tuple[Stack, RedisServer]:
    if shutil.which("redis-server") is None:
        pytest.skip("needs the redis-server program to run a Redis of the tests' own")
    return background(request.config, "real_stack").get()


@pytest.fixture(scope="session")
def real_stack(real_stack_and_redis: tuple[Stack, RedisServer]) -> Stack:
    """PostgreSQL, a Redis server of the tests' own, two ASGI workers; a world of its own,
    built the same way."""
    return real_stack_and_redis[0]


@pytest.fixture(scope="session")
def redis_server(real_stack_and_redis: tuple[Stack, RedisServer]) -> RedisServer:
    """The real stack's own Redis: stop() and start() it to play an outage."""
    return real_stack_and_redis[1]


class Users:
    """One logged-in browser context per user name, made on first use."""

    def __init__(self, browser, stack: Stack, init_script: str = "") -> None:  # type: ignore[no-untyped-def]
        self.browser = browser
        self.stack = stack
        self.init_script = init_script
        self.contexts: dict[str, object] = {}

    def new_context(self, username: str):  # type: ignore[no-untyped-def]
        context = self.browser.new_context(viewport={"width": 1100, "height": 900})
        context.set_default_timeout(30_000)
        context.add_init_script(RECORD_STATES + self.init_script)
        page = context.new_page()
        log_in(page, self.stack.url, username)
        page.close()
        return context

    def context(self, username: str):  # type: ignore[no-untyped-def]
        if username not in self.contexts:
            self.contexts[username] = self.new_context(username)
        return self.contexts[username]

    def close(self) -> None:
        for context in self.contexts.values():
            context.close()  # type: ignore[attr-defined]


@pytest.fixture(scope="session")
def embedded_users(browser, embedded_stack: Stack) -> Iterator[Users]:  # type: ignore[no-untyped-def]
    users = Users(browser, embedded_stack)
    yield users
    users.close()


class Windows:
    """The pages one test opens; all closed afterwards, and kept as artifacts if it failed."""

    def __init__(self, users: Users) -> None:
        self.users = users
        self.pages: list[tuple[str, object]] = []
        self.contexts: list[object] = []

    def fresh_context(self, username: str):  # type: ignore[no-untyped-def]
        """A context of its own (to take offline, say), closed after the test."""
        context = self.users.new_context(username)
        self.contexts.append(context)
        return context

    def open(self, username: str, path: str, *, label: str = "", base: str = "", context=None):  # type: ignore[no-untyped-def]
        """A page of `username` at `path`, once its live connection is up."""
        context = context or self.users.context(username)
        page = context.new_page()
        page.on("dialog", lambda dialog: dialog.accept())  # cancel confirmations
        self.pages.append((label or f"{username}{len(self.pages)}", page))
        page.goto((base or self.users.stack.url) + path)
        if page.locator("#live-meta").count():
            wait_live(page)
        return page

    def keep(self, where: Path) -> None:
        where.mkdir(parents=True, exist_ok=True)
        for label, page in self.pages:
            stem = re.sub(r"[^\w.-]+", "_", label)
            try:
                page.screenshot(path=str(where / f"{stem}.png"), full_page=True, timeout=10_000)  # type: ignore[attr-defined]
                (where / f"{stem}.html").write_text(page.content())  # type: ignore[attr-defined]
            except Exception as error:  # a crashed or closed page: keep what we can
                (where / f"{stem}.error.txt").write_text(repr(error))
        (where / "server.log").write_text(self.users.stack.log()[-200_000:])

    def close(self) -> None:
        for _, page in self.pages:
            with contextlib.suppress(Exception):
                page.close()  # type: ignore[attr-defined]
        for context in self.contexts:
            with contextlib.suppress(Exception):
                context.close()  # type: ignore[attr-defined]


def windows_fixture(users_fixture: str) -> Callable[..., Iterator[Windows]]:
    @pytest.fixture
    def fixture(request: pytest.FixtureRequest) -> Iterator[Windows]:
        windows = Windows(request.getfixturevalue(users_fixture))
        yield windows
        reports = [getattr(request.node, f"report_{when}", None) for when in ("setup", "call")]
        if any(report is not None and report.failed for report in reports):
            windows.keep(ARTIFACTS / re.sub(r"[^\w.-]+", "_", request.node.name))
        windows.close()

    return fixture


windows = windows_fixture("embedded_users")


@pytest.fixture
def proxy(embedded_stack: Stack) -> Iterator[TcpProxy]:
    """A way to the embedded server whose plug the test can pull."""
    through = TcpProxy(embedded_stack.port)
    yield through
    through.close()
