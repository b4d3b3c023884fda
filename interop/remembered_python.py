"""Remembered events with autobahn-python (asyncio, over wss): a retained event reaches a
later subscriber that asks for it (SubscribeOptions(get_retained=True)), the event history
answers wamp.subscription.get_events newest first, and a testament is published when its
session is lost.

Usage: python remembered_python.py wss://localhost:PORT/ws CA_FILE
Exits 0 when every check passed; prints one line per check.
"""
import asyncio
import sys

from joining import check, join  # noqa: E402
from autobahn.wamp.types import PublishOptions, SubscribeOptions  # noqa: E402

WS, CA = sys.argv[1:3]


async def main():
    publisher = await join(WS, CA)
    await publisher.publish("com.py.state", "green", options=PublishOptions(retain=True, acknowledge=True))
    late = await join(WS, CA)
    got = asyncio.get_event_loop().create_future()
    await late.subscribe(lambda state, details=None: got.done() or got.set_result((state, details)),
                         "com.py.state", options=SubscribeOptions(get_retained=True, details_arg="details"))
    state, details = await asyncio.wait_for(got, 5)
    check("a later subscriber that asks gets the retained event", state == "green" and details.retained, (state, details))

    sub = await late.subscribe(lambda *a: None, "com.py.history")
    for n in range(1, 6):
        await publisher.publish("com.py.history", n, options=PublishOptions(acknowledge=True))
    events = await late.call("wamp.subscription.get_events", sub.id, 3)
    check("wamp.subscription.get_events answers the last 3 newest first",
          [e["args"][0] for e in events] == [5, 4, 3] and events[0]["topic"] == "com.py.history", events)

    gone = asyncio.get_event_loop().create_future()
    await late.subscribe(lambda who: gone.done() or gone.set_result(who), "com.py.presence")
    mortal = await join(WS, CA)
    await mortal.call("wamp.session.add_testament", "com.py.presence", ["mortal"], {})
    mortal._transport.close()  # lost, no GOODBYE
    check("a testament is published when its session is lost", await asyncio.wait_for(gone, 5) == "mortal")


asyncio.get_event_loop().run_until_complete(main())
