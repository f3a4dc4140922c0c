"""Settings for the test suite.

PostgreSQL and Redis are used when they answer at their usual local addresses (or at
TEST_DATABASE_URL / TEST_REDIS_URL); otherwise the suite runs on SQLite and the in-memory layer
and the tests that need the real servers are skipped with a plain reason. With
COURTSIDE_REQUIRE_SERVICES=1 (CI) an unreachable server is an error, not a skip.
"""

import os
import socket
from urllib.parse import urlparse

os.environ.setdefault("SECRET_KEY", "courtside-tests-only")

from config.settings import *  # noqa: F403
from config.settings import BASE_DIR, channel_layers, env_bool, lock_timeout

TEST_DATABASE_URL = os.environ.get(
    "TEST_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/courtside"
)
TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
REQUIRE_SERVICES = env_bool("COURTSIDE_REQUIRE_SERVICES")


def _answers(url: str, default_port: int) -> bool:
    parsed = urlparse(url)
    try:
        with socket.create_connection(
            (parsed.hostname or "127.0.0.1", parsed.port or default_port), 1
        ):
            return True
    except OSError:
        return False


POSTGRES_AVAILABLE = _answers(TEST_DATABASE_URL, 5432)
REDIS_AVAILABLE = _answers(TEST_REDIS_URL, 6379)
if REQUIRE_SERVICES and not (POSTGRES_AVAILABLE and REDIS_AVAILABLE):
    raise RuntimeError(
        f"COURTSIDE_REQUIRE_SERVICES=1 but PostgreSQL ({TEST_DATABASE_URL}: "
        f"{'up' if POSTGRES_AVAILABLE else 'down'}) or Redis ({TEST_REDIS_URL}: "
        f"{'up' if REDIS_AVAILABLE else 'down'}) does not answer."
    )

if POSTGRES_AVAILABLE:
    import dj_database_url

    DATABASES = {"default": dj_database_url.parse(TEST_DATABASE_URL)}
    # A test database of its own per run, so two runs on one machine never collide.
    DATABASES["default"]["TEST"] = {"NAME": f"test_courtside_{os.getpid()}"}
    lock_timeout(DATABASES["default"], "5s")
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(BASE_DIR / "var" / "test.sqlite3"),
            "OPTIONS": {"transaction_mode": "IMMEDIATE", "timeout": 20},
            "TEST": {"NAME": str(BASE_DIR / "var" / "test.sqlite3")},
        }
    }

# A prefix of its own per run, so parallel runs (and a developer's demo) never share streams.
LIVE_PREFIX = f"courtside-test-{os.getpid()}"
REDIS_URL = TEST_REDIS_URL if REDIS_AVAILABLE else ""
CHANNEL_LAYERS = channel_layers(REDIS_URL, LIVE_PREFIX)

DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
ALLOWED_HOSTS = ["testserver", "127.0.0.1", "localhost"]
SESSION_COOKIE_SECURE = False
CSRF_COOKIE_SECURE = False
WHITENOISE_AUTOREFRESH = True  # no collectstatic in tests
# Tests sweep the outbox by hand (realtime.sweeper.sweep), never behind a test's back.
LIVE_OUTBOX_SWEEPER = False
