"""What a serving process does before its first request (config.asgi)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_a_worker_imports_every_view_before_its_first_request() -> None:
    """A worker restarted under a reconnection storm must not pay the views' imports (the
    calendar feeds' icalendar among them) inside the storm's first requests."""
    wanted = "{'bookings.feeds', 'icalendar'}"
    code = f"import sys, config.asgi; print(sorted({wanted} - set(sys.modules)))"
    env = {**os.environ, "COURTSIDE_DEMO": "1", "DJANGO_SETTINGS_MODULE": "config.settings"}
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
