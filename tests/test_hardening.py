"""The security review's findings, each pinned by a test: what production installs, login
throttling, bad input that used to answer 500, response headers, the role switcher's CSRF."""

from __future__ import annotations

import ast
import contextlib
import http.client
import json
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import time
import tomllib
from datetime import timedelta
from html.parser import HTMLParser
from pathlib import Path
from unittest import mock

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.auth.backends import ModelBackend
from django.http import HttpResponse
from django.test import Client, override_settings
from django.urls import path, reverse
from django.utils import timezone

from bookings.models import SessionReservation
from config.security import local_path
from tests.factories import make_coach, make_player, make_user, reserve

ROOT = Path(__file__).resolve().parent.parent

# -- production installs only what production runs ------------------------------------------

DEV_ONLY = {
    "pytest",
    "pytest-django",
    "pytest-timeout",
    "pytest-asyncio",
    "ruff",
    "mypy",
    "django-stubs",
    "playwright",
    "websockets",
}


def _pins(lock: str) -> dict[tuple[str, str], str]:
    """(name, environment marker) -> version, with a check that every pin carries hashes."""
    text = (ROOT / lock).read_text()
    pins: dict[tuple[str, str], str] = {}
    for match in re.finditer(r"^([A-Za-z0-9._-]+)==(\S+)(?: ; ([^\\\n]+))? \\\n", text, re.M):
        name, version, marker = match.group(1).lower(), match.group(2), match.group(3) or ""
        pins[(name, marker.strip())] = version
        following = text[match.end() : match.end() + 200]
        assert following.lstrip().startswith("--hash=sha256:"), f"{lock}: {name} has no hash"
    assert pins, f"{lock} pins nothing"
    return pins


def test_production_lock_has_no_test_lint_or_bench_tools():
    production = {name for name, _ in _pins("requirements.lock")}
    assert not production & DEV_ONLY, sorted(production & DEV_ONLY)
    runtime = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    for requirement in runtime:
        name = re.split(r"[\[<>=!~ ]", requirement, maxsplit=1)[0].lower()
        assert name in production, f"{name} (a runtime dependency) is missing from the lock"


def test_dev_lock_adds_the_tools_at_the_production_versions():
    production, dev = _pins("requirements.lock"), _pins("requirements-dev.lock")
    assert {name for name, _ in dev} >= DEV_ONLY
    for key, version in production.items():
        assert dev.get(key) == version, f"{key}: production {version}, dev {dev.get(key)}"


def test_production_code_imports_no_dev_only_package():
    dev_modules = {"pytest", "pytest_django", "ruff", "mypy", "playwright", "websockets"}
    for app in ("config", "bookings", "realtime", "scheduling"):
        for source in (ROOT / app).rglob("*.py"):
            for node in ast.walk(ast.parse(source.read_text())):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    assert name.split(".")[0] not in dev_modules, f"{source}: imports {name}"


def test_make_demo_installs_production_only_and_the_tools_install_dev():
    makefile = (ROOT / "Makefile").read_text()
    targets = dict(re.findall(r"^([a-z]+):[ \t]*([^\n=]*)$", makefile, re.M))
    assert "runtime" in targets["demo"].split() and "setup" not in targets["demo"].split()
    assert "requirements.lock" in makefile.split("$(VENV)/.synced-prod:")[1].split("\n\n")[0]
    assert targets["setup"].strip() == "$(VENV)/.synced-dev"
    for tool in ("test", "lint", "typecheck", "bench"):
        assert "setup" in targets[tool].split(), tool


# -- login throttling (django-axes) ----------------------------------------------------------

LIMIT = settings.AXES_FAILURE_LIMIT


def _attempt(client: Client, username: str, password: str) -> HttpResponse:
    return client.post(reverse("login"), {"username": username, "password": password})


def _logged_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


def _without_tokens(body: bytes) -> str:
    return re.sub(r"[A-Za-z0-9]{64}", "TOKEN", body.decode())  # CSRF tokens differ


@pytest.mark.django_db
def test_an_account_is_locked_after_repeated_failures_even_for_the_right_password():
    make_user("ria")
    client = Client(REMOTE_ADDR="198.51.100.1")
    answers = [_attempt(client, "ria", f"wrong-{i}").status_code for i in range(LIMIT - 1)]
    assert answers == [200] * (LIMIT - 1)  # the form again, "didn't match"
    locked = _attempt(client, "ria", "wrong-last")
    assert locked.status_code == 429
    assert "Too many failed attempts to log in" in locked.content.decode()
    assert f"try again in {settings.AXES_COOLOFF_TIME.seconds // 60} minutes" in (
        locked.content.decode()
    )
    # From anywhere: the account's own count, not the address's.
    other = Client(REMOTE_ADDR="198.51.100.2")
    assert _attempt(other, "ria", "pw").status_code == 429
    assert not _logged_in(other)


@pytest.mark.django_db
def test_a_password_spray_from_one_address_is_locked():
    for i in range(20):
        make_user(f"spray{i}")
    client = Client(REMOTE_ADDR="198.51.100.7")
    answers = [_attempt(client, f"spray{i}", "Summer2026!").status_code for i in range(20)]
    assert answers == [200] * (LIMIT - 1) + [429] * (20 - LIMIT + 1)
    # A header the client sets does not make it someone else.
    spoofed = Client(REMOTE_ADDR="198.51.100.7", HTTP_X_FORWARDED_FOR="192.0.2.99")
    assert _attempt(spoofed, "spray0", "pw").status_code == 429
    assert not _logged_in(spoofed)
    # Another address is not affected.
    assert _attempt(Client(REMOTE_ADDR="198.51.100.8"), "spray0", "pw").status_code == 302


@pytest.mark.django_db
def test_unknown_and_known_accounts_get_the_same_answers():
    make_user("known")
    known, unknown = Client(REMOTE_ADDR="198.51.100.11"), Client(REMOTE_ADDR="198.51.100.12")
    for i in range(LIMIT + 2):
        a, b = _attempt(known, "known", f"x{i}"), _attempt(unknown, "nobody-here", f"x{i}")
        assert a.status_code == b.status_code, i
        assert _without_tokens(a.content).replace("known", "NAME") == _without_tokens(
            b.content
        ).replace("nobody-here", "NAME"), i


@pytest.mark.django_db
def test_a_locked_out_attempt_is_refused_before_any_password_is_hashed():
    make_user("hash")
    client = Client(REMOTE_ADDR="198.51.100.21")
    original = ModelBackend.authenticate
    with mock.patch.object(
        ModelBackend, "authenticate", autospec=True, side_effect=original
    ) as checked:
        for i in range(LIMIT):
            _attempt(client, "hash", f"bad{i}")
        assert checked.call_count == LIMIT  # each failure up to the limit was really checked
        with mock.patch("django.contrib.auth.hashers.PBKDF2PasswordHasher.encode") as encode:
            for password in ("pw", "bad-again", "pw"):
                assert _attempt(client, "hash", password).status_code == 429
        assert checked.call_count == LIMIT  # no more: the axes backend refused first
        encode.assert_not_called()


@pytest.mark.django_db
def test_the_lock_ends_after_the_cool_off():
    make_user("cool")
    client = Client(REMOTE_ADDR="198.51.100.31")
    for i in range(LIMIT):
        _attempt(client, "cool", f"bad{i}")
    assert _attempt(client, "cool", "pw").status_code == 429
    # Time passes: every recorded failure is older than the cool-off.
    past = timezone.now() - settings.AXES_COOLOFF_TIME - timedelta(seconds=1)
    assert AccessAttempt.objects.update(attempt_time=past) >= 1
    response = _attempt(client, "cool", "pw")
    assert response.status_code == 302 and _logged_in(client)


@pytest.mark.parametrize("env, minutes", [({}, 15), ({"COURTSIDE_DEMO": "1"}, 1)])
def test_the_demo_pauses_for_a_minute_production_for_fifteen(env, minutes):
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("LOGIN_", "COURTSIDE_"))}
    out = subprocess.run(
        [sys.executable, "-c", "import config.settings as s; print(s.AXES_COOLOFF_TIME)"],
        env={**clean, "SECRET_KEY": "x", **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == str(timedelta(minutes=minutes))


@pytest.mark.django_db
def test_successful_logins_are_never_counted():
    """The demo's and the test suite's own logins (many, from one address) are not throttled."""
    make_user("often")
    for _ in range(3 * LIMIT):
        client = Client(REMOTE_ADDR="127.0.0.1")
        assert _attempt(client, "often", "pw").status_code == 302
    assert not AccessAttempt.objects.exists()


def test_axes_backend_is_first_and_its_middleware_installed():
    assert settings.AUTHENTICATION_BACKENDS[0] == "axes.backends.AxesStandaloneBackend"
    assert "axes.middleware.AxesMiddleware" in settings.MIDDLEWARE


def test_addresses_are_counted_by_remote_addr_and_ipv6_by_its_64():
    from django.test import RequestFactory

    from config.security import client_ip

    def ip(addr: str) -> str:
        return client_ip(
            RequestFactory().get("/", REMOTE_ADDR=addr, HTTP_X_FORWARDED_FOR="1.2.3.4")
        )

    assert ip("203.0.113.9") == "203.0.113.9"
    assert ip("::ffff:203.0.113.9") == "203.0.113.9"
    assert ip("2001:db8:1:2:aaaa::1") == ip("2001:db8:1:2:ffff::9") == "2001:db8:1:2::"


# -- `next` is a local path or the home page -------------------------------------------------

BAD_NEXTS = [
    "foo",  # redirect() took it for a URL name: NoReverseMatch, a 500 after the commit
    "foo.html",
    "player/",
    "https://evil.example/",
    "//evil.example/x",
    "/\\evil.example",
    "\\\\evil.example",
    "/\t/evil.example",
    "/ok\nLocation: x",
    "javascript:alert(1)",
    "http:/evil.example",
    "",
]


@pytest.mark.parametrize("target", BAD_NEXTS)
def test_local_path_refuses_anything_but_a_path_here(target):
    assert local_path(target, "/fallback/") == "/fallback/"


def test_local_path_keeps_a_path_and_its_query():
    for target in ("/", "/player/?tab=reservations", "/staff/players/3/book/?date=2026-12-01"):
        assert local_path(target, "/fallback/") == target


@pytest.mark.django_db
def test_an_action_with_a_bare_word_next_goes_home_instead_of_500(world):
    client = Client()
    client.force_login(world.player_user)
    data = {"session": world.session.pk, "player": world.player.pk, "next": "foo"}
    response = client.post(reverse("reserve"), data)
    assert response.status_code == 302 and response["Location"] == reverse("home")
    assert SessionReservation.objects.filter(player=world.player, session=world.session).exists()


@pytest.mark.django_db
def test_every_next_of_the_actions_is_checked(world):
    reservation = reserve(world.session, world.player, by=world.player_user)
    client = Client()
    client.force_login(world.player_user)
    for target in BAD_NEXTS:
        # The plain cancel asks first, on a page whose "No, keep it" link is the `next`.
        page = client.post(reverse("cancel"), {"reservation": reservation.pk, "next": target})
        assert page.status_code == 200, target
        assert page.context["next"] == reverse("home"), target
        refused = client.post(reverse("reserve"), {"session": "x", "next": target})
        assert refused.status_code == 302 and refused["Location"] == reverse("home"), target
    kept = client.post(reverse("reserve"), {"session": "x", "next": "/player/?tab=reservations"})
    assert kept["Location"] == "/player/?tab=reservations"


@pytest.mark.django_db
@pytest.mark.parametrize("target", BAD_NEXTS)
def test_login_and_logout_never_follow_a_foreign_or_bare_next(target):
    make_user("nexter")
    client = Client()
    form = client.get(reverse("login"), {"next": target})
    assert form.context["next"] == "", target
    response = client.post(
        reverse("login"), {"username": "nexter", "password": "pw", "next": target}
    )
    assert response.status_code == 302 and response["Location"] == reverse("home"), target
    out = client.post(reverse("logout"), {"next": target})
    assert out.status_code == 302 and out["Location"] == reverse("login"), target


@pytest.mark.django_db
def test_login_follows_a_local_next():
    make_user("nexter")
    response = Client().post(
        reverse("login"), {"username": "nexter", "password": "pw", "next": "/player/?tab=x"}
    )
    assert response["Location"] == "/player/?tab=x"


# -- control characters: a plain 400 before any view reads them -------------------------------


@pytest.mark.django_db
def test_a_nul_in_the_staff_search_is_a_plain_400(world):
    client = Client()
    client.force_login(world.staff_user)
    response = client.get("/staff/?q=%00")  # PostgreSQL refuses NUL in text: it was a 500
    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/plain")
    assert "control character" in response.content.decode()
    assert client.get("/staff/", {"q": "Mia"}).status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize(
    "how", ["query value", "query key", "form value", "form key", "path", "login", "DEL", "ESC"]
)
def test_control_characters_anywhere_in_the_input_are_refused(world, how):
    client = Client()
    client.force_login(world.staff_user)
    if how == "query value":
        response = client.get("/staff/calendar/", {"date": "2026-12-01\x00"})
    elif how == "query key":
        response = client.get("/staff/?q\x01=x")
    elif how == "form value":
        response = client.post(reverse("reserve"), {"session": "1\x00", "player": "1"})
    elif how == "form key":
        response = client.post(reverse("reserve"), {"session\x00": "1"})
    elif how == "path":
        response = client.get("/live/day:a1:2026-12-01%00/")
    elif how == "login":
        response = Client().post(reverse("login"), {"username": "staff\x00", "password": "pw"})
    elif how == "DEL":
        response = client.get("/staff/", {"q": "Mia\x7f"})
    else:
        response = client.get("/staff/", {"q": "\x1b[31mMia"})
    assert response.status_code == 400, how
    assert not SessionReservation.objects.exists()


@pytest.mark.django_db
def test_tabs_and_newlines_in_fields_are_ordinary_text(world):
    client = Client()
    client.force_login(world.staff_user)
    assert client.get("/staff/", {"q": "Mia\tSmith\r\n"}).status_code == 200
    assert client.get("/staff/", {"q": "Zoë 李"}).status_code == 200


# -- a 403 is logged as one line; a 500 keeps its traceback ------------------------------------


def _boom(request):  # type: ignore[no-untyped-def]
    raise RuntimeError("boom")


urlpatterns = [path("boom/", _boom)]  # this module is the URLconf of the 500 test


@pytest.mark.django_db
def test_a_403_is_logged_as_one_line_without_traceback(world, caplog):
    client = Client()
    client.force_login(world.player_user)
    with caplog.at_level(logging.WARNING, logger="django.request"):
        response = client.get(reverse("staff_home"))
    assert response.status_code == 403
    [record] = [r for r in caplog.records if r.name == "django.request"]
    assert record.exc_info is None and record.exc_text is None
    text = logging.Formatter().format(record)
    assert text == "Forbidden (Permission denied): /staff/ (This page is for the staff role.)"
    assert "Traceback" not in caplog.text


@pytest.mark.django_db
@override_settings(ROOT_URLCONF=__name__)
def test_a_500_is_still_logged_with_its_traceback(caplog):
    client = Client(raise_request_exception=False)
    with caplog.at_level(logging.ERROR, logger="django.request"):
        assert client.get("/boom/").status_code == 500
    [record] = [r for r in caplog.records if r.name == "django.request"]
    assert record.exc_info is not None
    assert "Traceback" in logging.Formatter().format(record)
    assert "RuntimeError: boom" in logging.Formatter().format(record)


# -- the role switcher changes the session: POST with CSRF only ------------------------------


def _dual_user(world):  # type: ignore[no-untyped-def]
    user = make_user("dual")
    make_coach(world.academy, user)
    make_player(world.academy, first="Zoe", guardians=[user])
    return user


@pytest.mark.django_db
def test_the_role_switcher_refuses_get(world):
    client = Client()
    client.force_login(_dual_user(world))
    client.get(reverse("parent_home"))
    response = client.get(reverse("switch_role"), {"to": f"{world.academy.pk}:coach"})
    assert response.status_code == 405
    assert client.session.get("role") == "parent"  # nothing changed
    assert client.get("/")["Location"] == reverse("parent_home")


@pytest.mark.django_db
def test_the_role_switcher_needs_the_csrf_token(world):
    client = Client(enforce_csrf_checks=True)
    client.force_login(_dual_user(world))
    page = client.get(reverse("parent_home")).content.decode()
    form = re.search(r'<form class="role-switch" method="post"[^>]*>(.*?)</form>', page, re.S)
    assert form, "the nav's switcher is a POST form"
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.group(1))
    assert token, "with a CSRF token"
    to = f"{world.academy.pk}:coach"
    forged = client.post(reverse("switch_role"), {"to": to})
    assert forged.status_code == 403
    assert client.session.get("role") == "parent"
    response = client.post(reverse("switch_role"), {"to": to, "csrfmiddlewaretoken": token[1]})
    assert response.status_code == 302 and response["Location"] == reverse("coach_dashboard")
    assert client.session.get("role") == "coach"


# -- response headers: CSP, HSTS, Permissions-Policy, no caching of signed-in pages -------------

TEMPLATES = ROOT / "templates"


def _csp(response: HttpResponse) -> dict[str, list[str]]:
    policy = response["Content-Security-Policy"]
    return {d.split()[0]: d.split()[1:] for d in policy.split(";") if d.strip()}


class _InlineAudit(HTMLParser):
    """What a CSP of script-src 'self' (no inline) would block on a rendered page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []
        self.in_script = False
        self.htmx_config: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        for name, value in attrs:
            if name.startswith("on"):
                self.problems.append(f"<{tag} {name}=…> (an inline handler)")
            if (value or "").strip().lower().startswith("javascript:"):
                self.problems.append(f"<{tag} {name}=javascript:…>")
            if name == "style" and not (value or "").startswith("--type-colour:"):
                self.problems.append(f"<{tag} style={value!r}> (not a type colour)")
        if tag == "style":
            self.problems.append("<style> element")
        if tag == "script":
            if not values.get("src"):
                self.problems.append("<script> without src")
            self.in_script = True
        if tag == "meta" and values.get("name") == "htmx-config":
            self.htmx_config = values.get("content")

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self.in_script = False

    def handle_data(self, data: str) -> None:
        if self.in_script and data.strip():
            self.problems.append("inline script text")


def test_no_template_has_inline_script_handlers_or_style_elements():
    for template in TEMPLATES.rglob("*.html"):
        text = template.read_text()
        assert not re.search(r"<script(?![^>]*\bsrc=)", text), template
        assert not re.search(r"\son[a-z]+\s*=", text), template
        assert "<style" not in text and "javascript:" not in text, template
        # Page templates: none. Emails are no page (no CSP applies): mail clients drop style
        # sheets, so an email's look is in style attributes.
        if "fragments" not in template.parts and "email" not in template.parts:
            assert "style=" not in template.read_text(), template


@pytest.mark.django_db
def test_every_page_carries_the_csp_and_nothing_it_would_block(world):
    pages = {
        world.player_user: ["player_home", "player_schedule"],
        world.parent_user: ["parent_home", "parent_schedule"],
        world.coach_user: ["coach_home", "coach_schedule"],
        world.staff_user: ["staff_home", "staff_calendar"],
    }
    reserve(world.session, world.player, by=world.player_user)  # lists with entries
    responses = [("login", Client().get(reverse("login")))]
    for user, names in pages.items():
        client = Client()
        client.force_login(user)
        responses += [(name, client.get(reverse(name))) for name in names]
        if user == world.staff_user:
            for name in ("staff_player", "staff_player_book"):
                responses.append((name, client.get(reverse(name, args=[world.player.pk]))))
            responses.append(("403", client.get(reverse("player_home"))))
            responses.append(("404", client.get("/nowhere/")))
    for name, response in responses:
        assert response.status_code in (200, 403, 404), name
        policy = _csp(response)
        assert policy["script-src"] == ["'self'"], name
        assert policy["default-src"] == ["'self'"] and policy["style-src"] == ["'self'"], name
        assert policy["connect-src"] == ["'self'"], name
        assert policy["frame-ancestors"] == ["'none'"] and policy["base-uri"] == ["'none'"], name
        assert policy["form-action"] == ["'self'"] and policy["object-src"] == ["'none'"], name
        audit = _InlineAudit()
        audit.feed(response.content.decode())
        assert audit.problems == [], (name, audit.problems)
        if name not in ("403", "404"):
            config = json.loads(audit.htmx_config or "{}")
            assert config.get("includeIndicatorStyles") is False, name  # no injected <style>
            assert config.get("allowEval") is False, name


@pytest.mark.django_db
def test_signed_in_responses_are_never_stored_and_permissions_are_refused(world):
    client = Client()
    client.force_login(world.player_user)
    page = client.get(reverse("player_home"))
    key = re.search(r'data-live-keys="([^" ]+)', page.content.decode())[1]
    responses = {
        "page": page,
        "fragment": client.get(f"/live/{key}/"),
        "resync": client.get("/live/", {"k": key}),
        "action": client.post(reverse("reserve"), {"session": "x", "next": "/player/"}),
        "403": client.get(reverse("staff_home")),
    }
    for name, response in responses.items():
        cache = {part.strip() for part in response["Cache-Control"].split(",")}
        assert {"private", "no-store"} <= cache, name
        assert "camera=()" in response["Permissions-Policy"], name
        assert "geolocation=()" in response["Permissions-Policy"], name
        assert "microphone=()" in response["Permissions-Policy"], name
        assert response["Referrer-Policy"] == "same-origin", name
        assert response["Cross-Origin-Opener-Policy"] == "same-origin", name
        assert response["X-Frame-Options"] == "DENY", name
    with override_settings(WHITENOISE_USE_FINDERS=True):  # as serve finds them after collectstatic
        static_client = Client()
        static_client.force_login(world.player_user)
        static = static_client.get("/static/js/courtside.js")
    assert static.status_code == 200
    assert "no-store" not in static.get("Cache-Control", "")  # static files stay cacheable


@pytest.mark.django_db
def test_hsts_is_sent_over_https_when_configured():
    with override_settings(SECURE_HSTS_SECONDS=31536000):
        secure = Client().get(reverse("login"), secure=True)
        plain = Client().get(reverse("login"))
    assert secure["Strict-Transport-Security"] == "max-age=31536000"
    assert "Strict-Transport-Security" not in plain


@pytest.mark.parametrize(
    "env, hsts",
    [
        ({}, 365 * 24 * 3600),  # production default: secure cookies, a year
        ({"SECURE_HSTS_SECONDS": "600"}, 600),
        ({"SECURE_COOKIES": "0"}, 0),  # plain HTTP deployment: never HSTS
        ({"COURTSIDE_DEMO": "1"}, 0),  # the demo on http://127.0.0.1
    ],
)
def test_hsts_only_with_secure_cookies(env, hsts):
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("SECURE_", "COURTSIDE_"))}
    clean.pop("DEBUG", None)
    out = subprocess.run(
        [sys.executable, "-c", "import config.settings as s; print(s.SECURE_HSTS_SECONDS)"],
        env={**clean, "SECRET_KEY": "x", **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert int(out.stdout.strip()) == hsts


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_sends_no_server_header(tmp_path):
    """A real `manage.py serve` worker (daphne): headers as a browser gets them."""
    port = _free_port()
    env = {
        **{k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DJANGO_SETTINGS_MODULE")},
        "COURTSIDE_DEMO": "1",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
    }
    command = [sys.executable, "manage.py", "serve", "--port", str(port), "--workers", "1"]
    server = subprocess.Popen(
        command,
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                connection.request("GET", "/login/")
                response = connection.getresponse()
                response.read()
                break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline, "serve did not start"
                time.sleep(0.2)
        assert response.status == 200
        assert response.getheader("Server") is None, response.getheader("Server")
        assert "script-src 'self'" in response.getheader("Content-Security-Policy", "")
        assert response.getheader("Permissions-Policy")
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=5)
