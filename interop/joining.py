"""Shared by the autobahn-python scripts in interop/: checks printed one per line, and a
session joined to a realm over wss with autobahn's Component (asyncio)."""
import asyncio
import ssl
import sys

import txaio

txaio.use_asyncio()

from autobahn.asyncio.component import Component  # noqa: E402
from autobahn.websocket.util import parse_url  # noqa: E402


def check(name, ok, got=None):
    """Prints `ok   name` or `FAIL name (got: …)`; a failure ends the script with 1."""
    print(("ok   " if ok else "FAIL ") + name + ("" if ok else f" (got: {got})"), flush=True)
    if not ok:
        sys.exit(1)


async def join(url, ca, realm="realm1"):
    """A session joined to `realm` at wss `url`, trusting the CA file `ca` (10 s at most)."""
    loop = asyncio.get_event_loop()
    joined = loop.create_future()
    _, host, port = parse_url(url)[:3]
    transport = {"type": "websocket", "url": url, "serializers": ["json"], "max_retries": 0,
                 "endpoint": {"type": "tcp", "host": host, "port": port,
                              "tls": ssl.create_default_context(cafile=ca)}}
    component = Component(transports=[transport], realm=realm)

    @component.on_join
    def _joined(session, details):
        if not joined.done():
            joined.set_result(session)

    component.start(loop)
    return await asyncio.wait_for(joined, 10)
