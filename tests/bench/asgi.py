"""The product's ASGI application plus two bench-only WebSocket routes, used only when the
server runs `daphne tests.bench.asgi:application` (manage.py serve --app ...):

- /ws/bench-textbook/: the textbook Channels path, one consumer per socket in the group;
- /ws/bench-notify/: the seeds' notify-then-refetch path (a small notice, the page refetches).
"""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.bench.settings")

from channels.routing import ProtocolTypeRouter
from django.urls import path

# The product's worker start-up (Django, the live metrics, every view imported, the outbox
# sweeper), then the same routes plus the bench's.
from config.asgi import django_asgi_app
from realtime.routing import websocket_application, websocket_urlpatterns
from tests.bench.consumers import NotifyConsumer, TextbookConsumer

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": websocket_application(
            [
                *websocket_urlpatterns,
                path("ws/bench-textbook/", TextbookConsumer.as_asgi()),
                path("ws/bench-notify/", NotifyConsumer.as_asgi()),
            ]
        ),
    }
)
