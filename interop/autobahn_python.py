"""Interoperability: autobahn-python (PyPI `autobahn`, asyncio) against a running wssnode.

Usage: python autobahn_python.py wss://localhost:PORT/ws CA_FILE
Exits 0 when every check passed; prints one line per check.
"""
import asyncio
import ssl
import sys

import txaio

txaio.use_asyncio()

from autobahn.asyncio.component import Component  # noqa: E402
from autobahn.wamp.exception import ApplicationError  # noqa: E402
from autobahn.wamp.types import CallOptions, PublishOptions, RegisterOptions, SubscribeOptions  # noqa: E402
from autobahn.websocket.util import parse_url  # noqa: E402

URL, CA = sys.argv[1], sys.argv[2]
TICKET_URL = URL.replace("/ws", "/ws-ticket")


async def open_session(url=URL, authid=None, ticket=None, serializers=None):
    """Connects one autobahn Component and returns (session, details) once it joined."""
    loop = asyncio.get_event_loop()
    joined = loop.create_future()
    _, host, port, _, _, _ = parse_url(url)
    transport = {
        "url": url,
        "endpoint": {"type": "tcp", "host": host, "port": port, "tls": ssl.create_default_context(cafile=CA)},
        "max_retries": 0,
    }
    if serializers:
        transport["serializers"] = serializers
    authentication = {"ticket": {"authid": authid, "ticket": ticket}} if ticket else None
    component = Component(transports=[transport], realm="realm1", authentication=authentication)

    @component.on_join
    def _joined(session, details):
        if not joined.done():
            joined.set_result((session, details))

    @component.on_leave
    def _left(session, details):
        if not joined.done():
            joined.set_exception(ApplicationError(details.reason, details.message))

    component.start(loop)
    return await asyncio.wait_for(joined, 5)


def check(name, condition):
    print(("ok   " if condition else "FAIL ") + name)
    if not condition:
        raise SystemExit(1)


async def main():
    a, _ = await open_session()
    b, _ = await open_session()

    # Pub/sub with a prefix pattern, exclude_me and publisher disclosure.
    got = asyncio.get_event_loop().create_future()

    def on_event(*args, **kwargs):
        details = kwargs.pop("details")
        if not got.done():
            got.set_result((args, kwargs, details))

    await a.subscribe(on_event, "com.interop.", options=SubscribeOptions(match="prefix", details_arg="details"))
    await b.publish("com.interop.hello", 1, "two", three=3, options=PublishOptions(acknowledge=True))
    args, kwargs, details = await asyncio.wait_for(got, 5)
    check("prefix subscription receives args and kwargs", args == (1, "two") and kwargs == {"three": 3})
    check("pattern event names its topic", details.topic == "com.interop.hello")
    check("the role's disclose.publisher reveals the publisher", details.publisher == b._session_id)

    # Whitelisting: an event for someone else does not arrive.
    other = asyncio.get_event_loop().create_future()
    await a.subscribe(lambda *x: other.set_result(x) if not other.done() else None, "com.interop.private")
    await b.publish("com.interop.private", "secret", options=PublishOptions(eligible=[b._session_id], acknowledge=True))
    await asyncio.sleep(0.3)
    check("eligible keeps the event from other sessions", not other.done())

    # RPC, plain and progressive.
    await a.register(lambda x, y: x + y, "com.interop.add2")
    check("call returns the callee's result", await b.call("com.interop.add2", 2, 3) == 5)

    async def countdown(n, details=None):
        for i in range(n, 0, -1):
            if details.progress:
                details.progress(i)
            await asyncio.sleep(0.01)
        return "liftoff"

    await a.register(countdown, "com.interop.countdown", options=RegisterOptions(details_arg="details"))
    progress = []
    result = await b.call("com.interop.countdown", 3, options=CallOptions(on_progress=progress.append))
    check("progressive results arrive before the final one", progress == [3, 2, 1] and result == "liftoff")

    # Errors: no such procedure, and an application error from the callee.
    try:
        await b.call("com.interop.nothing")
        check("calling a missing procedure fails", False)
    except ApplicationError as e:
        check("calling a missing procedure gives wamp.error.no_such_procedure", e.error == "wamp.error.no_such_procedure")

    def fail():
        raise ApplicationError("com.interop.error.broken", "it broke")

    await a.register(fail, "com.interop.fail")
    try:
        await b.call("com.interop.fail")
    except ApplicationError as e:
        check("a callee's error reaches the caller", e.error == "com.interop.error.broken" and e.args[0] == "it broke")

    # Cancel: the caller cancels a slow call and gets wamp.error.canceled.
    interrupted = []

    async def slow():
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            interrupted.append(True)  # the router's INTERRUPT cancelled us
            raise

    await a.register(slow, "com.interop.slow")
    call = asyncio.ensure_future(b.call("com.interop.slow"))
    await asyncio.sleep(0.2)
    call.cancel()
    try:
        await call
    except asyncio.CancelledError:
        pass
    check("a canceled call ends on the caller's side", call.cancelled())
    await asyncio.sleep(0.2)
    check("the callee got INTERRUPT for the canceled call", len(interrupted) == 1)

    # Call timeout enforced by the dealer.
    try:
        await b.call("com.interop.slow", options=CallOptions(timeout=200))
        check("a call with a timeout fails", False)
    except ApplicationError as e:
        check("the dealer enforces CALL.Options.timeout", e.error == "wamp.error.canceled")
    await asyncio.sleep(0.2)
    check("the callee got INTERRUPT when the call timed out", len(interrupted) == 2)

    # MessagePack: a msgpack session calls and publishes bytes; a JSON session receives them.
    m, _ = await open_session(serializers=["msgpack"])
    check("a wamp.2.msgpack session calls a JSON callee", await m.call("com.interop.add2", 20, 22) == 42)
    got_bytes = asyncio.get_event_loop().create_future()
    await a.subscribe(lambda x: got_bytes.set_result(x) if not got_bytes.done() else None, "com.interop.bytes")
    await m.publish("com.interop.bytes", b"\x00\x01\xfe", options=PublishOptions(acknowledge=True))
    check("bytes from msgpack reach a JSON subscriber as bytes", await asyncio.wait_for(got_bytes, 5) == b"\x00\x01\xfe")

    # Meta API.
    check("wamp.session.count counts both sessions", await a.call("wamp.session.count") >= 2)

    # Ticket authentication.
    t, details = await open_session(TICKET_URL, authid="joe", ticket="secret123")
    check("ticket auth with the right ticket joins as the principal's role", details.authid == "joe" and details.authrole == "user")
    try:
        await open_session(TICKET_URL, authid="joe", ticket="wrong")
        check("a wrong ticket is refused", False)
    except ApplicationError as e:
        check("a wrong ticket is refused with wamp.error.not_authorized", e.error == "wamp.error.not_authorized")

    for s in (a, b, t, m):
        s.leave()
    await asyncio.sleep(0.1)


asyncio.run(main())
print("autobahn-python: all checks passed")
