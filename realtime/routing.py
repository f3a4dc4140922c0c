"""The WebSocket side of the ASGI application: the live page's route behind channels' cookie and
session middleware, plus the server's own `send` kept in the scope for the hub.

No auth middleware: it would load the session and the user for every socket, and a socket that
resumes with a ticket needs neither (realtime.consumers loads the user when it must)."""

from __future__ import annotations

from typing import Any

from channels.routing import URLRouter
from channels.sessions import CookieMiddleware, SessionMiddleware
from django.urls import path

from realtime import framing, metrics
from realtime.consumers import LiveConsumer

websocket_urlpatterns = [path("ws/live/", LiveConsumer.as_asgi())]


class KeepServerSend:
    """Puts the ASGI server's `send` in the scope as `server_send`. Channels' session middleware
    wraps every socket's send to save the session on `http.response.start`; for a pushed
    fragment that wrapper does nothing but look at the session, and at a thousand sockets per
    push it cost ~12 % of delivery (profiled). The hub writes pushes through this instead."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        metrics.connecting(scope.get("query_string", b""))
        return await self.app({**scope, "server_send": send}, receive, send)


def websocket_application(patterns: list[Any] | None = None) -> Any:
    framing.quiet_connection_debug_log()
    routes = URLRouter(patterns or websocket_urlpatterns)
    return KeepServerSend(CookieMiddleware(SessionMiddleware(routes)))
