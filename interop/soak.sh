#!/usr/bin/env bash
# Soak: hundreds of wss sessions publishing, calling, connecting and dropping against a release
# build, sampling the node's memory and descriptors (examples/soak.rs). Bounded by SOAK_SECONDS
# (default 300). Fails if memory or descriptors keep growing after the warm-up, or if any
# well-behaved client saw an error.
set -euo pipefail
cd "$(dirname "$0")/.."
source interop/lib.sh
seconds=${SOAK_SECONDS:-300}
work=target/soak
rm -rf "$work" && mkdir -p "$work/node/www"
echo ok > "$work/node/www/index.html"
cargo build --release --quiet --example soak
port=$(free_port)
cat > "$work/node/config.json" <<JSON
{"version": 2, "workers": [{"type": "router",
  "realms": [{"name": "realm1", "roles": [{"name": "anonymous", "permissions": [{"uri": "", "match": "prefix",
    "allow": {"call": true, "register": true, "publish": true, "subscribe": true}}]}]}],
  "transports": [{"type": "web", "endpoint": {"type": "tcp", "port": $port, "interface": "127.0.0.1",
    "tls": {"key": "key.pem", "certificate": "cert.pem"}},
  "paths": {"/": {"type": "static", "directory": "www"}, "ws": {"type": "websocket"}}}]}]}
JSON
# No key or certificate: the node makes a self-signed pair, which the soak client trusts.
start_node target/release/wssnode "$work/node" "$work/node.log"
target/release/examples/soak --url "wss://localhost:$port/ws" --ca "$work/node/cert.pem" \
  --pid "$node_pid" --seconds "$seconds" --steady "${SOAK_SESSIONS:-200}" --churners "${SOAK_CHURNERS:-40}"
