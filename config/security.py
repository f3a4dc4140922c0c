"""Request hygiene and response headers that every page shares.

- `local_path`: the one rule for a user-supplied `next`: a path on this site, or the fallback.
- `refuse_control_characters`: a 400 for control characters in the path, the query string or
  form fields, before any view reads them (PostgreSQL refuses NUL in text, so a NUL that
  reached a query was a 500; no field of ours has a use for control characters).
- `security_headers`: Permissions-Policy on every response; `Cache-Control: private, no-store`
  on every response to a signed-in user (pages and fragments show names).
- `OneLineForbidden`: a 403 is logged as one line, without a traceback.
- `client_ip`: the address login throttling counts by.
"""

from __future__ import annotations

import ipaddress
import logging
import re
from collections.abc import Callable
from urllib.parse import urlsplit

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.utils.cache import patch_cache_control
from django.utils.http import url_has_allowed_host_and_scheme

# C0 controls and DEL. Tab, line feed and carriage return are ordinary in form fields (a
# textarea in the admin), so only a `next` refuses them too: browsers strip them from URLs, so
# "/\t/evil.example" would become "//evil.example".
FORM_CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
URL_CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")

CONTROL_CHARACTERS_MESSAGE = (
    "This request contains a control character (such as a NUL byte) in its address or "
    "form fields, which nothing here accepts. Please check what was typed or pasted.\n"
)


def local_path(raw: str | None, fallback: str) -> str:
    """`raw` if it is a path on this site (one leading `/`, no scheme or host, no backslash or
    control character), else `fallback`. A bare word such as `foo` is refused: redirect() would
    take it for a URL name."""
    if not raw or len(raw) > 2000 or not raw.startswith("/") or raw.startswith("//"):
        return fallback
    if "\\" in raw or URL_CONTROL_CHARACTERS.search(raw):
        return fallback
    parts = urlsplit(raw)
    if parts.scheme or parts.netloc:
        return fallback
    if not url_has_allowed_host_and_scheme(raw, allowed_hosts=None):
        return fallback
    return raw


def _has_control_characters(request: HttpRequest) -> bool:
    if FORM_CONTROL_CHARACTERS.search(request.path_info):
        return True
    fields = [request.GET]
    if request.method == "POST" and request.content_type in {
        "application/x-www-form-urlencoded",
        "multipart/form-data",
    }:
        fields.append(request.POST)
    for data in fields:
        for key, values in data.lists():
            if FORM_CONTROL_CHARACTERS.search(key):
                return True
            if any(FORM_CONTROL_CHARACTERS.search(v) for v in values if isinstance(v, str)):
                return True
    return False


def refuse_control_characters(
    get_response: Callable[[HttpRequest], HttpResponse],
) -> Callable[[HttpRequest], HttpResponse]:
    """Middleware: 400 with a plain message for control characters in any input a view reads.

    One rule in one place rather than at each of the many places that read a parameter (pages,
    actions, the login form, the admin's searches), so a new view cannot forget it."""

    def middleware(request: HttpRequest) -> HttpResponse:
        if _has_control_characters(request):
            return HttpResponseBadRequest(
                CONTROL_CHARACTERS_MESSAGE, content_type="text/plain; charset=utf-8"
            )
        return get_response(request)

    return middleware


PERMISSIONS_POLICY = ", ".join(
    f"{feature}=()"
    for feature in (
        "accelerometer",
        "autoplay",
        "camera",
        "display-capture",
        "geolocation",
        "gyroscope",
        "magnetometer",
        "microphone",
        "midi",
        "payment",
        "publickey-credentials-get",
        "screen-wake-lock",
        "usb",
        "xr-spatial-tracking",
    )
)


def security_headers(
    get_response: Callable[[HttpRequest], HttpResponse],
) -> Callable[[HttpRequest], HttpResponse]:
    """Middleware (after authentication): Permissions-Policy everywhere; a signed-in user's
    responses are never stored by a browser or a shared cache. Static files never get here
    (WhiteNoise answers them first)."""

    def middleware(request: HttpRequest) -> HttpResponse:
        response = get_response(request)
        response.headers.setdefault("Permissions-Policy", PERMISSIONS_POLICY)
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            patch_cache_control(response, private=True, no_store=True)
        return response

    return middleware


class OneLineForbidden(logging.Filter):
    """On `django.request`: a 403 (PermissionDenied) is an answer, not a fault. Log it as one
    line with its reason and no traceback; anything else (a 500) keeps its traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "status_code", None) == 403 and record.exc_info:
            reason = record.exc_info[1]
            message = record.getMessage()
            record.msg = f"{message} ({reason})" if reason and str(reason) else message
            record.args = ()
            record.exc_info = None
            record.exc_text = None
        return True


def client_ip(request: HttpRequest) -> str:
    """The address login throttling counts failures by: REMOTE_ADDR only (behind the proxy,
    `serve --proxy-headers` has already put the client's address there; a header sent by the
    client is never trusted here). IPv6 counts by /64, which one client usually holds whole."""
    raw = request.META.get("REMOTE_ADDR") or ""
    try:
        address = ipaddress.ip_address(raw)
    except ValueError:
        return raw[:45]
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/64", strict=False).network_address)
    return str(address)
