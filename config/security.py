"""Request hygiene that every page shares.

- `local_path`: the one rule for a user-supplied `next`: a path on this site, or the fallback.
- `client_ip`: the address login throttling counts by.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

from django.http import HttpRequest
from django.utils.http import url_has_allowed_host_and_scheme

# Browsers strip tab and newlines from URLs, so "/\t/evil.example" would become "//evil.example".
URL_CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")


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
