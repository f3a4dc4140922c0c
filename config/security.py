"""Request hygiene that every page shares.

- `client_ip`: the address login throttling counts by.
"""

from __future__ import annotations

import ipaddress

from django.http import HttpRequest


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
