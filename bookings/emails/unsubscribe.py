"""The link in every email that turns its topic off, without logging in.

The token is the user's id and the topic, signed with the site's secret key (Django's
signing): it can only ever turn emails of that topic off (or back on) for that user, so it does
not expire. The page asks before it changes anything (mail scanners follow links), and a mail
client's one-click unsubscribe (RFC 8058) posts to the same address.
"""

from __future__ import annotations

from django.conf import settings
from django.core import signing
from django.urls import reverse

from bookings.models import EmailTopic

SALT = "courtside.emails.unsubscribe"


def make_token(user_id: int, topic: str) -> str:
    return signing.dumps([user_id, topic], salt=SALT)


def read_token(token: str) -> tuple[int, EmailTopic] | None:
    """(user id, topic) of a genuine token, else None."""
    if len(token) > 200:
        return None
    try:
        user_id, topic = signing.loads(token, salt=SALT)
    except (signing.BadSignature, ValueError, TypeError):
        return None
    if not isinstance(user_id, int) or topic not in EmailTopic.values:
        return None
    return user_id, EmailTopic(topic)


def unsubscribe_url(user_id: int, topic: str) -> str:
    return settings.SITE_URL + reverse("unsubscribe", args=[make_token(user_id, topic)])
