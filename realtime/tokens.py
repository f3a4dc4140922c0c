"""The page tells its socket which streams to join with a token the server signed: the streams
are the server's choice, bound to the user, and re-checked against the access rules on connect."""

from __future__ import annotations

from django.core import signing

SALT = "courtside.live-streams"
MAX_AGE = 24 * 3600


def sign_streams(user_id: int, keys: list[str]) -> str:
    return signing.dumps({"u": user_id, "k": keys}, salt=SALT, compress=True)


def verify_streams(token: str, user_id: int) -> list[str] | None:
    """The stream keys in a token made for this user, or None if forged, expired or not theirs."""
    if not token or len(token) > 4096:
        return None
    try:
        data = signing.loads(token, salt=SALT, max_age=MAX_AGE)
    except signing.BadSignature:
        return None
    if not isinstance(data, dict):
        return None
    keys = data.get("k")
    if data.get("u") != user_id or not isinstance(keys, list) or len(keys) > 12:
        return None
    if not all(isinstance(key, str) for key in keys):
        return None
    return keys
