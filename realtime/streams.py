"""Stream keys: the one grammar that names a live stream.

A key is a kind's name followed by its parameters in the order its dataclass declares them,
separated by colons: `day:3:2026-11-24` is the day grid of academy 3 on 24 November. The same
text names the fragment (what to render), its audience (who may read it) and the stream its
updates travel on, so nothing else ever formats or splits a key: fragments get theirs from
`build`, and `split` and `decode` turn one back into typed parameters.

A stream is shared (one render for everyone allowed to read it: a day grid, a calendar) or
personal (one user's or one family's: their lists, their toasts). Shared streams are scanned
for every change; personal ones are named by the change itself and looked up (see
realtime.store).

Every user also has a stream of their own, `user:<id>`, which carries their toasts and tells
their sockets to re-check their access.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any, Literal, get_args, get_origin

SEPARATOR = ":"
MAX_KEY_LENGTH = 120
MAX_INT_DIGITS = 12
USER = "user"

_NAME = re.compile(r"[a-z][a-z0-9_]{0,30}")
_WORD = re.compile(r"[a-z0-9_]{1,30}")
_personal: set[str] = {USER}
_declared: set[str] = {USER}


def declare(name: str, *, personal: bool) -> None:
    """A kind of stream exists (called once per fragment kind as it is declared)."""
    if not _NAME.fullmatch(name):
        raise ValueError(f"bad stream kind name {name!r}")
    if name in _declared:
        raise ValueError(f"stream kind {name!r} is declared twice")
    _declared.add(name)
    if personal:
        _personal.add(name)


def build(name: str, values: tuple[Any, ...]) -> str:
    return SEPARATOR.join([name, *(_encode(value) for value in values)])


def split(key: object) -> tuple[str, list[str]] | None:
    """A key's kind name and parameter texts, or None for anything that is no key."""
    if not isinstance(key, str) or not key or len(key) > MAX_KEY_LENGTH:
        return None
    name, *parts = key.split(SEPARATOR)
    return (name, parts) if name in _declared else None


def decode(types: tuple[Any, ...], parts: list[str]) -> tuple[Any, ...] | None:
    """Parameter texts as the values of these types (int, date, a Literal of words), or None."""
    if len(types) != len(parts):
        return None
    values = []
    for kind, text in zip(types, parts, strict=True):
        value = _decode(kind, text)
        if value is None:
            return None
        values.append(value)
    return tuple(values)


def is_personal(key: str) -> bool:
    return key.split(SEPARATOR, 1)[0] in _personal


def user_stream(user_id: int) -> str:
    return build(USER, (user_id,))


def group_name(key: str) -> str:
    """Channel-layer group names allow letters, digits, hyphens, underscores and periods."""
    return "live." + key.replace(SEPARATOR, ".")


def dom_id(key: str) -> str:
    """The id of the element a fragment's HTML lives in on a page."""
    return "live-" + key.replace(SEPARATOR, "-")


def _encode(value: Any) -> str:
    if isinstance(value, bool):
        raise TypeError("booleans are not stream parameters")
    if isinstance(value, int):
        if value < 0 or len(str(value)) > MAX_INT_DIGITS:
            raise ValueError(f"{value} is out of range for a stream key")
        return str(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str) and _WORD.fullmatch(value):
        return value
    raise TypeError(f"{value!r} cannot be part of a stream key")


def _decode(kind: Any, text: str) -> Any:
    if kind is int:
        ok = text.isascii() and text.isdigit() and len(text) <= MAX_INT_DIGITS
        return int(text) if ok else None
    if kind is date:
        if len(text) != 10:
            return None
        try:
            return date.fromisoformat(text)
        except ValueError:
            return None
    if get_origin(kind) is Literal:
        return text if text in get_args(kind) else None
    raise TypeError(f"{kind!r} is not a stream parameter type")
