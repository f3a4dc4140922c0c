"""Reads and renders shared by the streams of one publisher pass.

Within one pass the streams a change affects often show the same thing: every coach's week
shows another coach's session the same way, so its card can be read and rendered once, not
once per calendar. `once(key, compute)` keeps a value for the rest of the pass (tens of
milliseconds, after the change committed), so nothing outlives the data it was read from;
outside a pass it just computes.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

_cache: ContextVar[dict[Hashable, Any] | None] = ContextVar("courtside_render_pass", default=None)


@contextmanager
def one_pass() -> Iterator[None]:
    token = _cache.set({})
    try:
        yield
    finally:
        _cache.reset(token)


def once[T](key: Hashable, compute: Callable[[], T]) -> T:
    cache = _cache.get()
    if cache is None:
        return compute()
    if key not in cache:
        cache[key] = compute()
    return cache[key]


def keep(key: Hashable, value: Any) -> None:
    """Put a value in the pass for `once(key, ...)` to find (a kind's `prepare` reads many at
    once); outside a pass it is dropped."""
    cache = _cache.get()
    if cache is not None:
        cache[key] = value
