"""The page a throttled login gets.

Throttling itself is django-axes (settings: AXES_*): its backend, first in
AUTHENTICATION_BACKENDS, refuses a locked-out attempt before any password is hashed.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import AuthenticationForm
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.http import url_has_allowed_host_and_scheme

LoginView = auth_views.LoginView
LogoutView = auth_views.LogoutView


def cool_off_minutes() -> int:
    return max(1, round(settings.AXES_COOLOFF_TIME.total_seconds() / 60))


def locked_out(
    request: HttpRequest, original_response: Any = None, credentials: Any = None
) -> HttpResponse:
    """AXES_LOCKOUT_CALLABLE: the login page again, saying why, with 429. The same answer
    whichever limit was reached (the account's or the address's) and whether or not the
    account exists, so it tells nobody which names are real."""
    return render(
        request,
        "registration/login.html",
        {
            "form": AuthenticationForm(request),
            "locked_out_minutes": cool_off_minutes(),
            "next": next_url
            if url_has_allowed_host_and_scheme(next_url := request.POST.get("next", ""), None)
            else "",
        },
        status=429,
    )
