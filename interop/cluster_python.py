"""Three wssnode nodes as one router, with autobahn-python clients spread across them (asyncio,
over wss): an event published on one node reaches subscribers on the two others once; a
procedure registered on one node is called from another, with progressive results; a
`single` registration is refused on another node; a round-robin one balances over callees
on two nodes; the meta API counts every node's sessions; and when a node is killed, a call
in flight to its callee ends with wamp.error.canceled.

Before the node is killed, Redis is stopped and started again: the nodes serve their own
sessions meanwhile, refuse REGISTER with wssnode.error.cluster_unavailable, and are one
router again once it is back.

Usage: python cluster_python.py CA_FILE PID_OF_NODE_C REDIS_PID REDIS_PORT wss://…a/ws wss://…b/ws wss://…c/ws
Exits 0 when every check passed; prints one line per check.
"""
import asyncio
import os
import signal
import subprocess
import sys
import time

from joining import check, join  # noqa: E402
from autobahn.wamp.exception import ApplicationError  # noqa: E402
from autobahn.wamp.types import CallOptions, PublishOptions, RegisterOptions  # noqa: E402

CA, PID_C, REDIS_PID, REDIS_PORT = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
A, B, C = sys.argv[5:8]


async def redis_restart(on_a, on_b, got_b):
    """Stops Redis, checks what goes on without it, starts it again (empty), and waits
    until events cross nodes again. Returns the new redis-server process."""
    os.kill(REDIS_PID, signal.SIGKILL)
    await asyncio.sleep(0.5)
    got_a = []
    await on_a.subscribe(lambda n: got_a.append(n), "com.py.local")
    await on_a.publish("com.py.local", "here",
                       options=PublishOptions(acknowledge=True, exclude_me=False))
    await asyncio.sleep(0.2)
    check("without Redis, a node's own subscribers still get its events", got_a == ["here"], got_a)
    try:
        await on_b.register(lambda: None, "com.py.during")
        check("without Redis, REGISTER is refused", False, "registered")
    except ApplicationError as e:
        check("without Redis, REGISTER is refused with wssnode.error.cluster_unavailable",
              e.error == "wssnode.error.cluster_unavailable", e.error)
    redis = subprocess.Popen(["redis-server", "--port", REDIS_PORT, "--bind", "127.0.0.1",
                              "--save", "", "--appendonly", "no"], stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 15
    while True:
        got_b.clear()
        await on_a.publish("com.py.tick", "again", options=PublishOptions(acknowledge=True))
        await asyncio.sleep(0.3)
        if got_b == ["again"] or time.monotonic() > deadline:
            break
    check("Redis started again: events published on a reach b again", got_b == ["again"], got_b)
    return redis


async def main():
    on_a, on_b, on_c = await join(A, CA), await join(B, CA), await join(C, CA)

    got_b, got_c = [], []
    await on_b.subscribe(lambda n: got_b.append(n), "com.py.tick")
    await on_c.subscribe(lambda n: got_c.append(n), "com.py.tick")
    for n in range(10):
        await on_a.publish("com.py.tick", n, options=PublishOptions(acknowledge=True))
    await asyncio.sleep(0.5)
    check("events published on a reach subscribers on b and c once, in order",
          got_b == list(range(10)) and got_c == list(range(10)), (got_b, got_c))

    async def add(x, y, details=None):
        if details and details.progress:
            details.progress("half")
        return x + y

    # Called from another node as soon as REGISTERED is heard, without retrying.
    await on_c.register(add, "com.py.add", options=RegisterOptions(details_arg="details"))
    progress = []
    result = await on_a.call("com.py.add", 2, 3,
                                   options=CallOptions(on_progress=lambda p: progress.append(p)))
    check("a procedure registered on c is called from a, with progressive results",
          result == 5 and progress == ["half"], (result, progress))

    try:
        await on_b.register(lambda: None, "com.py.add")
        check("a second `single` registration on another node is refused", False, "registered")
    except ApplicationError as e:
        check("a second `single` registration on another node is refused",
              e.error == "wamp.error.procedure_already_exists", e.error)

    await on_b.register(lambda: "b", "com.py.shared", options=RegisterOptions(invoke="roundrobin"))
    await on_c.register(lambda: "c", "com.py.shared", options=RegisterOptions(invoke="roundrobin"))
    deadline = time.monotonic() + 5
    while await on_a.call("wamp.registration.count_callees",
                          await on_a.call("wamp.registration.lookup", "com.py.shared")) != 2:
        check("both callees are known on a", time.monotonic() < deadline)
        await asyncio.sleep(0.05)
    answers = [await on_a.call("com.py.shared") for _ in range(4)]
    check("a round-robin registration alternates over callees on b and c",
          sorted(answers) == ["b", "b", "c", "c"] and answers[0] != answers[1], answers)

    count = await on_a.call("wamp.session.count")
    check("wamp.session.count on a counts the sessions of every node", count == 3, count)

    redis = await redis_restart(on_a, on_b, got_b)
    answers = [await on_a.call("com.py.shared") for _ in range(2)]
    check("and calls reach callees on b and c again", sorted(answers) == ["b", "c"], answers)

    never = asyncio.get_event_loop().create_future()

    async def slow():
        await never
    await on_c.register(slow, "com.py.slow")
    call = asyncio.ensure_future(on_a.call("com.py.slow"))
    await asyncio.sleep(0.5)
    os.kill(PID_C, signal.SIGKILL)
    killed = time.monotonic()
    try:
        await asyncio.wait_for(call, 15)
        check("a call to a callee on a killed node ends with wamp.error.canceled", False, "a result")
    except ApplicationError as e:
        check(f"a call to a callee on a killed node ends with wamp.error.canceled "
              f"({time.monotonic() - killed:.1f} s after the kill, lease 1 s)",
              e.error == "wamp.error.canceled", e.error)
    deadline = time.monotonic() + 5
    while (count := await on_a.call("wamp.session.count")) != 2 and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    check("the killed node's session left the meta API", count == 2, count)
    got_b.clear()
    await on_a.publish("com.py.tick", "still", options=PublishOptions(acknowledge=True))
    await asyncio.sleep(0.3)
    check("the other nodes kept serving", got_b == ["still"], got_b)
    # Leave without the teardown of the session lost with node c (autobahn would print it).
    redis.kill()
    sys.stdout.flush()
    os._exit(0)


asyncio.run(main())
