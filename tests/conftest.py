"""Test set-up: which backends the run uses, and plain words about what it skipped."""

from __future__ import annotations

import copy

import pytest
from django.conf import settings
from django.db import transaction

from tests import factories


def pytest_configure(config: pytest.Config) -> None:
    (settings.BASE_DIR / "var").mkdir(exist_ok=True)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    no_pg = pytest.mark.skip(
        reason=f"needs PostgreSQL; none answered at {settings.TEST_DATABASE_URL}"
    )
    no_redis = pytest.mark.skip(reason=f"needs Redis; none answered at {settings.TEST_REDIS_URL}")
    for item in items:
        if "postgres" in item.keywords and not settings.POSTGRES_AVAILABLE:
            item.add_marker(no_pg)
        if "redis" in item.keywords and not settings.REDIS_AVAILABLE:
            item.add_marker(no_redis)


def pytest_report_header(config: pytest.Config) -> list[str]:
    db = "PostgreSQL " + settings.TEST_DATABASE_URL if settings.POSTGRES_AVAILABLE else "SQLite"
    layer = "Redis " + settings.TEST_REDIS_URL if settings.REDIS_AVAILABLE else "in-memory"
    return [f"courtside: database {db}; channel layer {layer}"]


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:  # type: ignore[no-untyped-def]
    skipped = terminalreporter.stats.get("skipped", [])
    if not (settings.POSTGRES_AVAILABLE and settings.REDIS_AVAILABLE):
        terminalreporter.section("courtside: services")
        if not settings.POSTGRES_AVAILABLE:
            terminalreporter.write_line(
                f"PostgreSQL did not answer at {settings.TEST_DATABASE_URL}: ran on SQLite."
            )
        if not settings.REDIS_AVAILABLE:
            terminalreporter.write_line(
                f"Redis did not answer at {settings.TEST_REDIS_URL}: ran on the in-memory layer."
            )
        terminalreporter.write_line(f"{len(skipped)} test(s) skipped because of that (see -ra).")


# The world is built once per module inside an outer transaction; each test runs in a savepoint
# (pytest-django's `db`) and gets a deep copy of the objects, like Django's setUpTestData.
@pytest.fixture(scope="module")
def _module_world(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        outer = transaction.atomic()
        outer.__enter__()
        built = factories.build_world()
    yield built
    with django_db_blocker.unblock():
        transaction.set_rollback(True)
        outer.__exit__(None, None, None)


@pytest.fixture
def module_world(_module_world, db):
    return copy.deepcopy(_module_world)


@pytest.fixture
def world(db):
    """Two academies with every role, sessions and availability: see factories.build_world."""
    return factories.build_world()


@pytest.fixture(autouse=True)
def _publisher_done():
    """A test that commits hands its events to the publisher thread, which reads the database
    after COMMIT: let it finish before the test's database access ends."""
    yield
    from realtime.publisher import get_publisher

    get_publisher().wait_idle(10.0)
