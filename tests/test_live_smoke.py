import asyncio
import json

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client

from bookings.live.lists import Reservations
from bookings.services import reservation_create
from config.asgi import application
from realtime.publisher import get_publisher
from realtime.tokens import sign_streams

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


def session_cookie(user) -> bytes:
    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}".encode()


async def connect(user, keys):
    token = sign_streams(user.pk, keys)
    cookie = await sync_to_async(session_cookie)(user)
    comm = WebsocketCommunicator(
        application,
        f"/ws/live/?t={token}",
        headers=[(b"host", b"testserver"), (b"origin", b"http://testserver"), (b"cookie", cookie)],
    )
    connected, _ = await comm.connect()
    assert connected
    return comm


async def test_parent_gets_the_reservation_fragment():
    from tests.factories import build_world

    world = await sync_to_async(build_world)()
    assert await asyncio.to_thread(get_publisher().wait_idle, 10.0)  # the world's own events
    key = Reservations.of_family(world.parent_user.pk).key
    comm = await connect(world.parent_user, [key])
    ready = json.loads(await comm.receive_from(timeout=5))
    assert ready["t"] == "ready"
    await sync_to_async(reservation_create)(
        player=world.child, session=world.session, actor=world.parent_user
    )
    message = json.loads(await comm.receive_from(timeout=5))
    assert message["t"] == "f" and message["k"] == key
    assert world.session.session_type.name in message["h"]
    await comm.disconnect()
