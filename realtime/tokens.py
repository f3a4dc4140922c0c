"""What a live socket presents, signed by the server (Django's signing, SECRET_KEY).

- The page's **stream token** names the streams its socket joins: the server's choice, bound to
  the user, and re-checked against the access rules on connect.
- A socket's **resumption ticket** (given in its `ready`, renewed after each periodic re-check)
  lets the page's next socket skip the session and user load and the access queries: it names
  the user, the streams already admitted, the session it was given to and the user's access
  version then (realtime.store). Any access change bumps that version, so a ticket from before
  it no longer matches and the socket is checked in full (and refused if it must be). It lives
  LIVE_TICKET_MAX_AGE seconds, about two periodic re-checks: no longer than an open socket
  would go unchecked.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core import signing
from django.utils.crypto import salted_hmac

SALT = "courtside.live-streams"
TICKET_SALT = "courtside.live-resume"
MAX_AGE = 24 * 3600
MAX_STREAMS = 12
MAX_LENGTH = 4096


def sign_streams(user_id: int, keys: list[str]) -> str:
    return signing.dumps({"u": user_id, "k": keys}, salt=SALT, compress=True)


def _load(token: str, salt: str, max_age: float) -> dict | None:
    if not token or len(token) > MAX_LENGTH:
        return None
    try:
        data = signing.loads(token, salt=salt, max_age=timedelta(seconds=max_age))
    except signing.BadSignature:
        return None
    return data if isinstance(data, dict) else None


def _keys(data: dict) -> list[str] | None:
    keys = data.get("k")
    if not isinstance(keys, list) or len(keys) > MAX_STREAMS:
        return None
    return keys if all(isinstance(key, str) for key in keys) else None


def verify_streams(token: str, user_id: int) -> list[str] | None:
    """The stream keys in a token made for this user, or None if forged, expired or not theirs."""
    data = _load(token, SALT, MAX_AGE)
    if data is None or data.get("u") != user_id:
        return None
    return _keys(data)


@dataclass(frozen=True)
class Ticket:
    user_id: int
    keys: list[str]
    access_version: str
    presence: list[Any] | None  # the socket's presence seat as admitted (realtime.consumers)


def _session_mark(session_key: str) -> str:
    """Binds a ticket to the session it was given in, without putting the key in it."""
    return salted_hmac(TICKET_SALT, session_key, algorithm="sha256").hexdigest()[:32]


def sign_ticket(
    user_id: int,
    keys: list[str],
    access_version: str,
    session_key: str,
    presence: list[Any] | None = None,
) -> str:
    data = {
        "u": user_id,
        "k": keys,
        "v": access_version,
        "s": _session_mark(session_key),
        "p": presence,
    }
    return signing.dumps(data, salt=TICKET_SALT, compress=True)


def verify_ticket(ticket: str, session_key: str | None) -> Ticket | None:
    """The ticket's contents if it is ours, recent, and presented with the session cookie it
    was given to; else None (the socket is then checked in full)."""
    if not session_key:
        return None
    data = _load(ticket, TICKET_SALT, settings.LIVE_TICKET_MAX_AGE)
    if data is None or data.get("s") != _session_mark(session_key):
        return None
    user_id, version, keys, presence = data.get("u"), data.get("v"), _keys(data), data.get("p")
    if not isinstance(user_id, int) or not isinstance(version, str) or keys is None:
        return None
    return Ticket(user_id, keys, version, presence if isinstance(presence, list) else None)
