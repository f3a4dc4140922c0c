"""Who is asking, as the apps' access rules see them.

The engine knows no roles. `settings.LIVE_VIEWER` names the apps' function that turns a
request or a user into a viewer (None for nobody: anonymous, inactive), which the fragments'
`allowed` then asks. Every HTTP endpoint and socket of the engine goes through here.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

from django.conf import settings
from django.utils.module_loading import import_string


@cache
def _loader() -> Callable[[Any], Any]:
    return import_string(settings.LIVE_VIEWER)


def viewer_of(request_or_user: Any) -> Any:
    """The viewer of a request (cached on it by the loader) or of a user, or None."""
    return _loader()(request_or_user)
