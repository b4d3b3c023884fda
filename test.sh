#!/usr/bin/env bash
# The whole test suite: Rust tests over real sockets; Autobahn (Python and JS) and headless
# Chromium against a running node, plain and with every login method; the Autobahn WebSocket conformance cases; a TLS scan.
# First interop/setup.sh installs what the tests need and lack (Python venvs and npm modules
# under target/, Debian packages such as redis-server when run as root).
set -euo pipefail
cd "$(dirname "$0")"
interop/setup.sh
echo "== cargo test (the cluster tests start their own redis-server and three nodes)" >&2
cargo test
echo "== ACME with pebble: a certificate obtained, renewed under an open session, served from the cache" >&2
cargo test --test acme -- --ignored
echo "== interop: autobahn-python, autobahn-js, the demo page in Chromium" >&2
interop/run.sh
echo "== interop: logins with autobahn-python, autobahn-js and a cookie in Chromium" >&2
interop/auth.sh
echo "== interop: RawSocket with autobahn-python (TCP, TLS, Unix socket; json, msgpack, cbor) and autobahn-js; long-poll with autobahn-js under Node and in Chromium" >&2
interop/transports.sh
echo "== interop: retained events, history and testaments with autobahn-python; the HTTP bridge with curl and openssl" >&2
interop/remembered.sh
echo "== interop: three nodes as one router through Redis, with autobahn-python clients across them (Redis restarted, a node killed)" >&2
interop/cluster.sh
echo "== Autobahn WebSocket TestSuite" >&2
interop/autobahn_testsuite.sh
echo "== the TLS guide of docs/tls.md, command by command" >&2
interop/tls_guide.sh
echo "== TLS scan (sslyze)" >&2
interop/tls_scan.sh
echo "== all tests passed" >&2
