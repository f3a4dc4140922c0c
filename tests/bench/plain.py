"""The limit: a plain `websockets` server (no Django, no channel layer) that broadcasts
whatever its control connection sends to every other connected client, encoded once
(websockets.broadcast). Usage: python -m tests.bench.plain PORT [--reuse-port]

With --reuse-port several of them share the port as the product's workers do (the kernel spreads
the connections): the plain reconnection's servers, one of which is killed under its clients."""

from __future__ import annotations

import asyncio
import resource
import sys

from websockets.asyncio.server import broadcast, serve

VIEWERS: set = set()


async def handler(ws) -> None:  # type: ignore[no-untyped-def]
    if ws.request.path == "/control":
        async for message in ws:
            broadcast(VIEWERS, message)
        return
    VIEWERS.add(ws)
    try:
        await ws.wait_closed()
    finally:
        VIEWERS.discard(ws)


async def main(port: int, reuse_port: bool) -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    async with serve(
        handler,
        "127.0.0.1",
        port,
        compression=None,
        ping_interval=None,
        max_size=2**20,
        backlog=4096,
        reuse_port=reuse_port,
    ):
        print("ready", flush=True)
        await asyncio.Future()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), "--reuse-port" in sys.argv[2:]))
