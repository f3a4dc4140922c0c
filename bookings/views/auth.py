"""Log in and out: Django's views with our `next` rule, and the page a throttled login gets.

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

from config.security import local_path


class SafeNextMixin:
    request: HttpRequest
    redirect_field_name: str

    def get_redirect_url(self, request: HttpRequest | None = None) -> str:
        request = request or self.request
        raw = request.POST.get(self.redirect_field_name, request.GET.get(self.redirect_field_name))
        return local_path(raw, "")


class LoginView(SafeNextMixin, auth_views.LoginView):
    pass


class LogoutView(SafeNextMixin, auth_views.LogoutView):
    pass


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
            "next": local_path(request.POST.get("next"), ""),
        },
        status=429,
    )
