#!/usr/bin/env bash
# Several nodes as one router (wssnode's `cluster`) with clients no one here wrote: a
# redis-server of its own on a free port (no persistence), three nodes with the same
# config, and autobahn-python clients spread across them (interop/cluster_python.py),
# which stops and restarts Redis, and ends by killing node c.
#
# Usage: interop/cluster.sh
# Needs redis-server and what interop/run.sh needs (interop/setup.sh installs them).
set -euo pipefail
cd "$(dirname "$0")/.."
source interop/lib.sh

work=target/interop-cluster
rm -rf "$work" && mkdir -p "$work"
make_ca "$work" "wssnode cluster interop CA"
issue "$work" "$work/ca" "$work/server_key.pem" "$work/server_cert.pem" localhost

redis_port=$(free_port)
redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no > "$work/redis.log" 2>&1 &
pids=($!)
trap 'kill "${pids[@]}" 2>/dev/null || true' EXIT

urls=()
for name in a b c; do
  dir=$work/$name
  mkdir -p "$dir"
  cp "$work/server_key.pem" "$work/server_cert.pem" "$dir/"
  port=$(free_port)
  cat > "$dir/config.json" <<JSON
{
  "version": 2,
  "workers": [{
    "type": "router",
    "cluster": {"type": "redis", "url": "redis://127.0.0.1:$redis_port/0", "node": "$name", "lease": 1},
    "realms": [{"name": "realm1",
      "roles": [{"name": "anonymous", "permissions": [{"uri": "", "match": "prefix",
        "allow": {"call": true, "register": true, "publish": true, "subscribe": true}}]}]}],
    "transports": [
      {"type": "web", "endpoint": {"type": "tcp", "port": $port, "interface": "127.0.0.1",
        "tls": {"key": "server_key.pem", "certificate": "server_cert.pem"}},
       "paths": {"ws": {"type": "websocket"}}}
    ]
  }]
}
JSON
  target/debug/wssnode "$dir" > "$dir/node.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 200); do
    grep -q "node \`$name\` joined" "$dir/node.log" 2>/dev/null && break
    sleep 0.05
  done
  grep -q "node \`$name\` joined" "$dir/node.log" || { echo "node $name did not join:"; cat "$dir/node.log"; exit 1; }
  urls+=("wss://localhost:$port/ws")
done

# Node c's and Redis's pids: the script kills them (the shell's "Killed" lines are not errors).
target/venv/bin/python interop/cluster_python.py "$work/ca.pem" "${pids[3]}" "${pids[0]}" "$redis_port" "${urls[@]}" 2>&1 \
  | grep -v '^trying transport\|^Connection failed: TransportLost'
wait "${pids[3]}" 2>/dev/null || true
