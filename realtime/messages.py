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


# Sent on a user's stream to the hub, never to a browser: that user's sockets re-check access.
ACCESS_CHECK = _encode({"t": "access"})
