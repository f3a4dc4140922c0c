"""Courtside settings, read from the environment.

Defaults are safe for production (DEBUG off, no default secret outside demo mode); the embedded
default (SQLite file + in-memory channel layer) is what `make demo` runs on.
"""

import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool = False) -> bool:
    return os.environ.get(name, str(default)).strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


# Demo mode is explicit: it allows a throwaway secret key and DEBUG for `make demo` only.
DEMO_MODE = env_bool("COURTSIDE_DEMO")
DEBUG = env_bool("DEBUG", default=DEMO_MODE)

SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if DEMO_MODE or DEBUG:
        SECRET_KEY = "courtside-demo-only-not-secret"
    else:
        raise ImproperlyConfigured("Set SECRET_KEY (or COURTSIDE_DEMO=1 for the local demo).")

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost" if DEBUG or DEMO_MODE else "")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "django_htmx",
    "channels",
    "axes",
    "scheduling",
    "bookings",
    "realtime",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Before anything reads a parameter: control characters in the path, query or form: 400.
    "config.security.refuse_control_characters",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Permissions-Policy; `Cache-Control: private, no-store` for signed-in users.
    "config.security.security_headers",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "bookings.context.academy_timezone_middleware",
    # Last: turns a throttled login into the lockout page (see AXES_* below).
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "builtins": ["bookings.templatetags.courtside"],
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "bookings.context.nav",
                "bookings.context.site",
            ],
        },
    },
]

DATABASE_URL = os.environ.get("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}")
# No persistent connections by default: under ASGI every request's sync code runs in a thread
# of its own, so persistent connections pile up one per request thread and exhaust
# PostgreSQL's max_connections (the benchmark's reconnect and refetch storms did). On
# PostgreSQL a pool per process reuses them instead (see database_pool).
DATABASES = {
    "default": dj_database_url.parse(
        DATABASE_URL,
        conn_max_age=int(os.environ.get("DB_CONN_MAX_AGE", "0")),
        conn_health_checks=True,
    )
}


def database_pool(database: Any, size: int) -> None:
    """A psycopg pool of at most `size` connections per process (0: none). Opening a
    PostgreSQL connection costs ~5 ms of both processes' CPU; without a pool every request,
    every socket's access check and every publisher pass paid it. The bound also queues a storm
    of requests instead of exceeding max_connections. Pools need CONN_MAX_AGE 0."""
    if size <= 0 or database["ENGINE"] != "django.db.backends.postgresql":
        return
    database["CONN_MAX_AGE"] = 0
    database.setdefault("OPTIONS", {})["pool"] = {
        "min_size": min(2, size),
        "max_size": size,
        "timeout": 10,  # seconds a request waits for a free connection before it fails
    }


def lock_timeout(database: Any, timeout: str) -> None:
    """No request waits forever on a row lock: past `timeout`, PostgreSQL gives up and the
    operation is refused as busy (bookings.locks) instead of holding a worker thread."""
    if database["ENGINE"] == "django.db.backends.postgresql":
        database.setdefault("OPTIONS", {})["options"] = f"-c lock_timeout={timeout}"


lock_timeout(DATABASES["default"], os.environ.get("DB_LOCK_TIMEOUT", "5s"))
if not int(os.environ.get("DB_CONN_MAX_AGE", "0")):
    database_pool(DATABASES["default"], int(os.environ.get("DB_POOL_SIZE", "8")))
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # IMMEDIATE transactions take SQLite's write lock at BEGIN, so two bookings never
    # interleave their read-check-write; the timeout makes the loser wait instead of failing.
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Live updates. With REDIS_URL, worker processes share streams through Redis pub/sub (the
# pub/sub layer stores nothing, so there is no capacity to overflow or expiry to drop messages:
# a message reaches every subscribed process or, if Redis is down, none, and pages resync).
# Without it, one process and the in-memory layer: the embedded default for `make demo`.
REDIS_URL = os.environ.get("REDIS_URL", "")
LIVE_PREFIX = os.environ.get("LIVE_PREFIX", "courtside")


# Past one Redis: the layer's pub/sub (the bulk of Redis's work: every push to every process)
# can be sharded over several servers, REDIS_LAYER_URLS (comma-separated; default REDIS_URL
# alone). channels-redis puts each stream's group on one server by a hash of its name, so one
# stream's messages keep their order. Sequence numbers, watched streams, presence and holds stay
# on REDIS_URL (docs/benchmarks.md, "Past one machine").
REDIS_LAYER_URLS = [u for u in os.environ.get("REDIS_LAYER_URLS", "").split(",") if u.strip()]


def channel_layers(redis_url: str, prefix: str, shards: list[str] | None = None) -> dict:
    if redis_url:
        return {
            "default": {
                "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
                "CONFIG": {"hosts": shards or [redis_url], "prefix": f"{prefix}:layer"},
            }
        }
    # Our hub drains its channel continuously; the capacity is headroom for bursts.
    return {
        "default": {
            "BACKEND": "channels.layers.InMemoryChannelLayer",
            "CONFIG": {"capacity": 10_000, "expiry": 60},
        }
    }


CHANNEL_LAYERS = channel_layers(REDIS_URL, LIVE_PREFIX, REDIS_LAYER_URLS)
# Who a live page's viewer is, as the access rules see them (realtime.viewers).
LIVE_VIEWER = "bookings.access.live_viewer"
# A live socket's life (realtime.consumers; close codes in docs/architecture.md). Besides the
# re-check an access change triggers at once, every LIVE_REVALIDATE_SECONDS it compares its
# user's access version in Redis (one read) and re-checks its session and access in the
# database when the version moved, and in any case every LIVE_FULL_RECHECK_SECONDS (a safety
# net for changes written without any event: a full check is ~10 ms of a worker's database
# thread, so 20,000 sockets re-checked every minute would keep a core busy). It closes with
# 4408 after LIVE_MAX_SOCKET_AGE (the page reconnects with the fresh token its socket gave it),
# and one user holds at most LIVE_MAX_SOCKETS_PER_USER sockets in each worker process (4430).
LIVE_REVALIDATE_SECONDS = float(os.environ.get("LIVE_REVALIDATE_SECONDS", "60"))
LIVE_FULL_RECHECK_SECONDS = float(os.environ.get("LIVE_FULL_RECHECK_SECONDS", "900"))
LIVE_MAX_SOCKET_AGE = float(os.environ.get("LIVE_MAX_SOCKET_AGE", "3600"))
LIVE_MAX_SOCKETS_PER_USER = int(os.environ.get("LIVE_MAX_SOCKETS_PER_USER", "20"))
# How long a socket's resumption ticket lets the page's next socket in without the database
# (realtime.tokens): about two periodic re-checks, each of which renews it.
LIVE_TICKET_MAX_AGE = float(
    os.environ.get("LIVE_TICKET_MAX_AGE", str(2.5 * LIVE_REVALIDATE_SECONDS))
)
# What a Prometheus scraper sends as `Authorization: Bearer …` to read /metrics (unset: only
# signed-in staff and admins may). Metrics themselves: realtime.metrics.
METRICS_TOKEN = os.environ.get("METRICS_TOKEN", "")

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# Login throttling (django-axes). Its backend comes first: it refuses an attempt from a locked
# out account or address before ModelBackend hashes anything (a hash costs ~380 ms of a worker).
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# Failures are counted per account (the username tried, whether or not it exists) and per
# client address, separately; either reaching the limit within the cool-off locks it until no
# failure of it is younger than the cool-off. Counts live in the database, so every worker
# shares them.
AXES_FAILURE_LIMIT = int(os.environ.get("LOGIN_FAILURE_LIMIT", "10"))
# The demo (everyone on 127.0.0.1, one address) pauses for a minute rather than fifteen.
AXES_COOLOFF_TIME = timedelta(
    minutes=int(os.environ.get("LOGIN_COOLOFF_MINUTES", "1" if DEMO_MODE else "15"))
)
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
# A refused attempt is not recorded: it costs one count query, and the lock ends one cool-off
# after the last real failure (no write per refused attempt).
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
# A successful login does not wipe the address's count (else logging into one's own account
# between tries would reset a spray from that address).
AXES_RESET_ON_SUCCESS = False
AXES_DISABLE_ACCESS_LOG = True  # failures are what throttling needs; no log of every login
AXES_CLIENT_IP_CALLABLE = "config.security.client_ip"
AXES_LOCKOUT_CALLABLE = "bookings.views.auth.locked_out"
AXES_VERBOSE = False

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# Where the site is, for links in emails and calendar feeds (made outside any request) and the
# domain of calendar event UIDs.
SITE_URL = os.environ.get(
    "SITE_URL",
    "http://127.0.0.1:8000"
    if DEMO_MODE or DEBUG or not ALLOWED_HOSTS
    else f"https://{ALLOWED_HOSTS[0]}",
).rstrip("/")

# Email (bookings.emails): queued in the transaction of the change, sent after COMMIT by
# `manage.py send_mail` (never in a request). The demo prints mail to its console; otherwise
# SMTP, to a local mail server unless EMAIL_HOST names another. (Django's MAILERS: the
# EMAIL_* settings are deprecated; these are environment variables of the same names.)
SMTP_BACKEND = "django.core.mail.backends.smtp.EmailBackend"


def mailer_from_environment(demo: bool) -> dict[str, Any]:
    backend = os.environ.get("EMAIL_BACKEND") or (
        "django.core.mail.backends.console.EmailBackend"
        if demo and "EMAIL_HOST" not in os.environ
        else SMTP_BACKEND
    )
    options: dict[str, Any] = {}
    if backend == SMTP_BACKEND:
        options = {
            "host": os.environ.get("EMAIL_HOST", "localhost"),
            "port": int(os.environ["EMAIL_PORT"]) if os.environ.get("EMAIL_PORT") else None,
            "username": os.environ.get("EMAIL_HOST_USER", ""),
            "password": os.environ.get("EMAIL_HOST_PASSWORD", ""),
            "use_tls": env_bool("EMAIL_USE_TLS"),
            "use_ssl": env_bool("EMAIL_USE_SSL"),
            # A mail server that does not answer holds a sender this long, never a booking.
            "timeout": int(os.environ.get("EMAIL_TIMEOUT", "10")),
        }
    elif backend.endswith(".filebased.EmailBackend"):
        options = {"file_path": os.environ.get("EMAIL_FILE_PATH", str(BASE_DIR / "var" / "mail"))}
    return {"BACKEND": backend, "OPTIONS": options}


MAILERS = {"default": mailer_from_environment(DEMO_MODE or DEBUG)}
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "Courtside <courtside@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

LANGUAGE_CODE = "en"
FORMAT_MODULE_PATH = ["config.formats"]
TIME_ZONE = os.environ.get("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", default=not (DEBUG or DEMO_MODE))
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
# HSTS only where the cookies are HTTPS-only anyway (never in the demo or on plain HTTP); Django
# sends it on HTTPS responses only (behind the proxy: `serve --proxy-headers` trusts its
# X-Forwarded-Proto).
SECURE_HSTS_SECONDS = (
    int(os.environ.get("SECURE_HSTS_SECONDS", str(365 * 24 * 3600))) if SESSION_COOKIE_SECURE else 0
)

# Content-Security-Policy (Django's own middleware). Scripts only from our origin and no inline
# script anywhere (templates have no <script> bodies or on* handlers; htmx's meta config turns
# off its injected indicator <style> and eval). Style sheets only from our origin, no <style>
# elements; style *attributes* stay allowed (style-src-attr) because live fragments carry each
# session type's colour as `style="--type-colour: …"`: an attribute can set a look but not
# run script or select other elements. connect-src 'self' covers the same-origin WebSocket
# (ws:/wss:, CSP3). The page may not be framed, change its base URL or post forms elsewhere.
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF],
    "style-src": [CSP.SELF],
    "style-src-attr": [CSP.UNSAFE_INLINE],
    "img-src": [CSP.SELF, "data:"],  # data: for the empty favicon
    "font-src": [CSP.SELF],
    "connect-src": [CSP.SELF],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.NONE],
    "form-action": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"one_line_forbidden": {"()": "config.security.OneLineForbidden"}},
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        # A 403 is one line with its reason; a 500 keeps its traceback.
        "django.request": {"filters": ["one_line_forbidden"]},
        # axes says "login failed" and "locking out" as warnings; its INFO lines come with
        # every login.
        "axes": {"level": "WARNING"},
    },
}
