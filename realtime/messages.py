"""The frames a live socket receives, encoded once per message (never once per socket)."""

from __future__ import annotations

import json
from typing import Any


def _encode(message: dict[str, Any]) -> str:
    return json.dumps(message, separators=(",", ":"))


def fragment(key: str, seq: int, html: str) -> str:
    """A fragment's new HTML (out-of-band pieces), number `seq` of its stream."""
    return _encode({"t": "f", "k": key, "s": seq, "h": html})


def note(text: str, url: str = "") -> str:
    """A toast."""
    return _encode({"t": "n", "text": text, **({"url": url} if url else {})})


def presence(key: str, version: int, people: int, who: list[dict[str, Any]] | None = None) -> str:
    """Who is looking at a stream: how many people (one per user, however many tabs), and for
    viewers who may see them, who (realtime.presence)."""
    message: dict[str, Any] = {"t": "p", "k": key, "v": version, "n": people}
    if who is not None:
        message["who"] = who
    return _encode(message)


def hold(key: str, item: str, holder: str, on: bool, ttl: float) -> str:
    """Someone (a socket, never a name) is booking, or no longer booking, an item of a stream."""
    return _encode({"t": "h", "k": key, "i": item, "by": holder, "on": on, "ttl": ttl})


# Sent on a user's stream to the hub, never to a browser: that user's sockets re-check access.
ACCESS_CHECK = _encode({"t": "access"})
