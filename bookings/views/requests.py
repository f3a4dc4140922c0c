"""What a view's request carries, for the type checker."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.http import HttpRequest
from django_htmx.middleware import HtmxDetails


class SignedInRequest(HttpRequest):
    """The request of a login_required view: its user is a real user, with django_htmx's
    details."""

    htmx: HtmxDetails  # set by django_htmx's middleware
    user: User  # type: ignore[assignment]  # narrowed: login_required let only users through
