"""ASGI entry point: HTTP through Django, WebSockets through the realtime routing."""

import os
from importlib import import_module

from django.conf import settings
from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter  # noqa: E402

from realtime import metrics, sweeper  # noqa: E402
from realtime.routing import websocket_application  # noqa: E402

metrics.serving()  # a worker, for the live metrics (not every manage.py command is one)

# Every view imported now, not by the first request: a worker restarted under a reconnection
# storm paid it (icalendar's import among it) inside the storm's first requests.
import_module(settings.ROOT_URLCONF)

# The consumer checks the Origin itself, so a foreign page gets a close code rather than a
# bare handshake refusal.
application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": websocket_application(),
    }
)

# Every serving process publishes what a dead or departed writer left in the outbox.
sweeper.start()
