"""Settings of the benchmark: the product's settings (config.settings, with its own database
logic) on a throwaway PostgreSQL database and a Redis prefix of its own, plus the bench-only
ASGI routes (tests.bench.asgi).

The orchestrator sets BENCH_DATABASE_URL, REDIS_URL and LIVE_PREFIX in the environment before
it starts the server; the viewers' sessions and tokens are signed with this SECRET_KEY."""

import os

os.environ.setdefault("SECRET_KEY", "courtside-bench-only-not-secret")
os.environ.setdefault("LOG_LEVEL", "WARNING")
# The product builds DATABASES from DATABASE_URL (persistent connections on PostgreSQL, unless
# DB_CONN_MAX_AGE says otherwise): point it at the bench database before it is read.
os.environ["DATABASE_URL"] = os.environ.get(
    "BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/courtside_bench"
)

from config.settings import *  # noqa: F403
from config.settings import channel_layers

DEBUG = False
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
LIVE_PREFIX = os.environ.get("LIVE_PREFIX", "courtside-bench")
CHANNEL_LAYERS = channel_layers(REDIS_URL, LIVE_PREFIX)
ASGI_APPLICATION = "tests.bench.asgi.application"
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
SESSION_COOKIE_SECURE = False
CSRF_COOKIE_SECURE = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# Thousands of viewers share a few coach and staff logins here (one browser each, not one
# person's tabs): the per-user socket cap is a product limit, not one to measure.
LIVE_MAX_SOCKETS_PER_USER = 100_000
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# Static files straight from static/ (no collectstatic in the bench): the browser phase's pages
# load courtside.js and the rest as the product's pages do.
WHITENOISE_USE_FINDERS = True
