#!/usr/bin/env bash
# What other sessions' subscriptions cost (issue: one client must not stall the others):
# starts a release wssnode whose path allows 100,000 subscriptions per session, then runs
# `bench crowd` (subscribe and publish rates with 0, 10k and 100k unrelated subscriptions
# in the realm, and the longest publish round trip while a session holding them leaves).
#
# Usage: bench/crowd.sh   (BENCH_SECONDS per rate, default 5; the run takes about a minute)
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${BENCH_SECONDS:-5}
work=$PWD/target/crowd
rm -rf "$work" && mkdir -p "$work/www"
cargo build --release --quiet --bin wssnode --example bench
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 -subj "/CN=localhost" \
  -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" -addext "basicConstraints=critical,CA:FALSE" -keyout "$work/key.pem" -out "$work/cert.pem" 2>/dev/null
echo "<h1>crowd</h1>" > "$work/www/index.html"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat > "$work/config.json" <<JSON
{"version": 2, "workers": [{"type": "router",
  "realms": [{"name": "realm1", "roles": [{"name": "anonymous", "permissions": [{"uri": "", "match": "prefix",
    "allow": {"call": true, "register": true, "publish": true, "subscribe": true}}]}]}],
  "transports": [{"type": "web", "endpoint": {"type": "tcp", "port": $port, "interface": "127.0.0.1",
      "tls": {"key": "key.pem", "certificate": "cert.pem"}},
    "paths": {"/": {"type": "static", "directory": "www"},
      "ws": {"type": "websocket", "options": {"max_subscriptions": 100000}}}}]}]}
JSON
target/release/wssnode --log-level warn "$work" > "$work/wssnode.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
for _ in $(seq 1000); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.01; done
target/release/examples/bench crowd --url "wss://localhost:$port/ws" --ca "$work/cert.pem" \
  --seconds "$secs" --held 100000 | sed -n '2,$p'
