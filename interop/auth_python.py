"""Authentication interop: autobahn-python (asyncio) logs in to a running wssnode with each
method interop/auth.sh configured.

Usage: python auth_python.py wss://localhost:PORT CA_FILE CRYPTOSIGN_KEY_FILE
Exits 0 when every check passed; prints one line per check.
"""
import asyncio
import ssl
import sys

import txaio

txaio.use_asyncio()

from autobahn.asyncio.component import Component  # noqa: E402
from autobahn.wamp.exception import ApplicationError  # noqa: E402
from autobahn.websocket.util import parse_url  # noqa: E402

BASE, CA, KEY_FILE = sys.argv[1], sys.argv[2], sys.argv[3]
PRIVKEY = open(KEY_FILE).read().strip()


def check(name, ok):
    print(("ok   " if ok else "FAIL ") + name, flush=True)
    if not ok:
        sys.exit(1)


async def join(path, authentication=None):
    """Joins realm1 at BASE+path; returns (session, details) or raises with the ABORT reason."""
    loop = asyncio.get_event_loop()
    joined = loop.create_future()
    url = BASE + path
    _, host, port, _, _, _ = parse_url(url)
    transport = {
        "url": url,
        "endpoint": {"type": "tcp", "host": host, "port": port, "tls": ssl.create_default_context(cafile=CA)},
        "max_retries": 0,
    }
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
    return await asyncio.wait_for(joined, 30)


async def refused(path, authentication):
    try:
        session, _ = await join(path, authentication)
        session.leave()
        return None
    except ApplicationError as e:
        return e.error


async def main():
    for authid in ("joe", "peter"):
        session, details = await join("/ws-cra", {"wampcra": {"authid": authid, "secret": "secret2"}})
        check(f"wampcra {'salted' if authid == 'peter' else 'plain'}: {authid} joins as user",
              details.authid == authid and details.authrole == "user" and details.authmethod == "wampcra")
        session.leave()
    check("wampcra: a wrong secret is not_authorized",
          await refused("/ws-cra", {"wampcra": {"authid": "joe", "secret": "wrong"}}) == "wamp.error.not_authorized")

    session, details = await join("/ws-cryptosign", {"cryptosign": {"authid": "device1", "privkey": PRIVKEY}})
    check("cryptosign: device1 joins with its key", details.authid == "device1" and details.authmethod == "cryptosign")
    session.leave()
    other = "11" * 32
    check("cryptosign: another key is not_authorized",
          await refused("/ws-cryptosign", {"cryptosign": {"authid": "device1", "privkey": other}}) == "wamp.error.not_authorized")

    session, details = await join("/ws-ticket", {"ticket": {"authid": "joe", "ticket": "secret123"}})
    check("ticket static: joe joins", details.authid == "joe" and details.authprovider == "static")
    session.leave()

    # The dynamic ticket's authenticator, registered by a component of ours.
    backend, _ = await join("/ws")

    def authenticate(realm, authid, details):
        if details.get("ticket") == "dynamic-" + authid:
            return {"role": "user", "extra": {"checked_by": "python"}}
        raise ApplicationError("wamp.error.not_authorized", "wrong ticket")

    await backend.register(authenticate, "com.example.authenticate")
    session, details = await join("/ws-ticket-dynamic", {"ticket": {"authid": "ann", "ticket": "dynamic-ann"}})
    check("ticket dynamic: the authenticator lets ann in",
          details.authid == "ann" and details.authprovider == "dynamic" and details.authextra.get("checked_by") == "python")
    session.leave()
    check("ticket dynamic: the authenticator's refusal is the ABORT",
          await refused("/ws-ticket-dynamic", {"ticket": {"authid": "ann", "ticket": "guess"}}) == "wamp.error.not_authorized")
    backend.leave()

    session, details = await join("/ws-scram", {"scram": {"authid": "alice@example.com", "password": "secret123", "kdf": "argon2id-13"}})
    check("scram: alice joins, and autobahn accepted the router's server signature",
          details.authid == "alice@example.com" and details.authmethod == "scram")
    session.leave()
    check("scram: a wrong password is not_authorized",
          await refused("/ws-scram", {"scram": {"authid": "alice@example.com", "password": "nope", "kdf": "argon2id-13"}}) == "wamp.error.not_authorized")


asyncio.run(main())
