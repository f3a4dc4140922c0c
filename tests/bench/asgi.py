"""The product's ASGI application plus two bench-only WebSocket routes, used only when the
server runs `daphne tests.bench.asgi:application` (manage.py serve --app ...):

- /ws/bench-textbook/: the textbook Channels path, one consumer per socket in the group;
- /ws/bench-notify/: the seeds' notify-then-refetch path (a small notice, the page refetches).
"""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.bench.settings")

from django.core.asgi import get_asgi_application

django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter  # noqa: E402
from django.urls import path  # noqa: E402

from realtime import sweeper  # noqa: E402
from realtime.routing import websocket_application, websocket_urlpatterns  # noqa: E402
from tests.bench.consumers import NotifyConsumer, TextbookConsumer  # noqa: E402

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

# Every serving process publishes what a dead or departed writer left in the outbox.
sweeper.start()
