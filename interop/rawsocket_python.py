"""RawSocket interop: autobahn-python (asyncio) over RawSocket, plain TCP and TLS, with the
json, msgpack and cbor serializers, sharing realm1 with a WebSocket session.

Usage: python rawsocket_python.py rs://localhost:PORT rss://localhost:PORT wss://localhost:PORT/ws CA_FILE SOCKET_PATH
Exits 0 when every check passed; prints one line per check.
"""
import asyncio
import ssl
import sys

import txaio

txaio.use_asyncio()

from autobahn.asyncio.component import Component  # noqa: E402
from autobahn.websocket.util import parse_url as parse_ws_url  # noqa: E402
from autobahn.rawsocket.util import parse_url as parse_rs_url  # noqa: E402

RS, RSS, WS, CA, SOCKET = sys.argv[1:6]
UNIX = "rs://unix:" + SOCKET


def check(name, ok):
    print(("ok   " if ok else "FAIL ") + name, flush=True)
    if not ok:
        sys.exit(1)


async def join(url, serializer="json"):
    loop = asyncio.get_event_loop()
    joined = loop.create_future()
    tls = url.startswith(("rss", "wss"))
    if url.startswith("rs://unix:"):
        transport = {"type": "rawsocket", "url": url, "serializer": serializer,
                     "endpoint": {"type": "unix", "path": SOCKET}, "max_retries": 0}
        host = port = None
    elif url.startswith("rs"):
        _, host, port = parse_rs_url(url)[:3]
        transport = {"type": "rawsocket", "url": url, "serializer": serializer}
    else:
        _, host, port = parse_ws_url(url)[:3]
        transport = {"type": "websocket", "url": url, "serializers": [serializer]}
    if host is not None:
        transport["endpoint"] = {"type": "tcp", "host": host, "port": port,
                                 "tls": ssl.create_default_context(cafile=CA) if tls else None}
    transport["max_retries"] = 0
    component = Component(transports=[transport], realm="realm1")

    @component.on_join
    def _joined(session, details):
        if not joined.done():
            joined.set_result(session)

    @component.on_leave
    def _left(session, details):
        if not joined.done():
            joined.set_exception(RuntimeError(f"{details.reason} {details.message}"))

    component.start(loop)
    return await asyncio.wait_for(joined, 10)


async def main():
    ws = await join(WS)
    got = asyncio.Queue()
    await ws.subscribe(lambda *args: got.put_nowait(args), "com.rs.news")
    await ws.register(lambda x: x * 2, "com.ws.double")
    for url in (RS, RSS, UNIX):
        for serializer in ("json", "msgpack", "cbor"):
            name = f"{'unix' if url == UNIX else url.split(':')[0]} {serializer}"
            session = await join(url, serializer)
            check(f"{name}: joins realm1 over RawSocket", session.session_id is not None)
            await session.publish("com.rs.news", name, b"\x00\x01\x02",
                                  options=__import__("autobahn").wamp.types.PublishOptions(acknowledge=True))
            args = await asyncio.wait_for(got.get(), 5)
            check(f"{name}: an event published over RawSocket reaches a WebSocket subscriber, bytes and all",
                  args[0] == name and args[1] == b"\x00\x01\x02")
            check(f"{name}: a call over RawSocket reaches a WebSocket callee",
                  await session.call("com.ws.double", 21) == 42)
            session.leave()


asyncio.run(main())
