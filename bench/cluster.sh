#!/usr/bin/env bash
# Several nodes through Redis, measured on one machine in one run: pub/sub (1 publisher on
# the first node, 10 subscribers on the others) and RPC (a callee on the first node, 4
# callers × 8 in flight on the others) with one node alone, one node in a cluster, two and
# three nodes; the bytes Redis receives and sends per event (its INFO counters); and, if
# bench/compare.sh has installed it, Crossbar alone with the same clients. Bounded: each
# figure runs BENCH_SECONDS (default 10); the whole run takes about 3 minutes.
#
# Usage: bench/cluster.sh   (needs redis-server, redis-cli and jq; builds wssnode in release)
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${BENCH_SECONDS:-10}
work=$PWD/target/bench-cluster
rm -rf "$work" && mkdir -p "$work"
cargo build --release --quiet --bin wssnode --example bench
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=localhost" \
  -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" -addext "basicConstraints=critical,CA:FALSE" \
  -keyout "$work/key.pem" -out "$work/cert.pem" 2>/dev/null
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 3000); do (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null && return 0; sleep 0.01; done; return 1; }
bench() { target/release/examples/bench "$@" --ca "$work/cert.pem" --seconds "$secs" | sed -n 1p; }

redis_port=$(free_port)
redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no > "$work/redis.log" 2>&1 &
pids=($!)
trap 'kill "${pids[@]}" 2>/dev/null || true' EXIT
wait_port "$redis_port"
redis_bytes() { redis-cli -p "$redis_port" INFO stats | tr -d '\r' | awk -F: '/^total_net_(input|output)_bytes/ {printf "%s ", $2}'; }

node_config() { # port, cluster section or nothing, node name
  local cluster=""
  [ -n "$2" ] && cluster="\"cluster\": {\"type\": \"redis\", \"url\": \"redis://127.0.0.1:$redis_port/0\", \"node\": \"$3\"},"
  cat <<JSON
{"version": 2, "workers": [{"type": "router", $cluster
  "realms": [{"name": "realm1", "roles": [{"name": "anonymous", "permissions": [{"uri": "", "match": "prefix",
    "allow": {"call": true, "register": true, "publish": true, "subscribe": true},
    "disclose": {"caller": false, "publisher": false}, "cache": true}]}]}],
  "transports": [{"type": "web", "endpoint": {"type": "tcp", "port": $1, "interface": "127.0.0.1",
      "tls": {"key": "key.pem", "certificate": "cert.pem"}},
    "paths": {"ws": {"type": "websocket", "options": {"max_message_size": 1048576}}}}]}]}
JSON
}

start_nodes() { # count, clustered (yes/no); sets urls and node_pids
  urls=""; node_pids=()
  for i in $(seq "$1"); do
    local dir=$work/node-$1-$2-$i port
    mkdir -p "$dir"; cp "$work/key.pem" "$work/cert.pem" "$dir/"
    port=$(free_port)
    node_config "$port" "$([ "$2" = yes ] && echo yes)" "n$i" > "$dir/config.json"
    target/release/wssnode --log-level warn "$dir" > "$dir/node.log" 2>&1 &
    node_pids+=($!); pids+=($!)
    wait_port "$port"
    urls="$urls${urls:+,}wss://localhost:$port/ws"
  done
  sleep 0.5
}
stop_nodes() { kill "${node_pids[@]}" 2>/dev/null || true; wait "${node_pids[@]}" 2>/dev/null || true; }

row() { # label
  local before after j r pub
  before=$(redis_bytes)
  j=$(bench pubsub --urls "$urls" --subscribers 10 --payload 100)
  after=$(redis_bytes)
  pub=$(echo "$j" | jq .publishes)
  set -- "$1" $before $after
  local per_in per_out
  per_in=$(( ($4 - $2) / (pub > 0 ? pub : 1) )); per_out=$(( ($5 - $3) / (pub > 0 ? pub : 1) ))
  r=$(bench rpc --urls "$urls" --callers 4 --inflight 8)
  printf "| %s | %.0f | %s | %.0f | %s | %s / %s |\n" "$1" "$(echo "$j" | jq .events_per_s)" \
    "$(echo "$j" | jq -r '"\(.latency_p50_ms|.*100|round/100) / \(.latency_p99_ms|.*100|round/100)"')" \
    "$(echo "$r" | jq .calls_per_s)" "$(echo "$r" | jq -r '"\(.rtt_p50_ms|.*100|round/100) / \(.rtt_p99_ms|.*100|round/100)"')" "$per_in" "$per_out"
}

echo "| nodes | pub/sub 1→10 events/s | event latency p50 / p99 ms | RPC calls/s | RPC p50 / p99 ms | Redis bytes in / out per publication |"
echo "|---|---|---|---|---|---|"
start_nodes 1 no;  row "1, alone (no cluster)"; stop_nodes
start_nodes 1 yes; row "1, in a cluster"; stop_nodes
start_nodes 2 yes; row "2 (clients on the other node)"; stop_nodes
start_nodes 3 yes; row "3 (clients on the two others)"; stop_nodes
if [ -x target/venv-crossbar/bin/crossbar ]; then
  dir=$work/crossbar/.crossbar; mkdir -p "$dir"; cp "$work/key.pem" "$work/cert.pem" "$dir/"
  port=$(free_port); node_config "$port" "" "" > "$dir/config.json"
  target/venv-crossbar/bin/crossbar start --cbdir "$dir" --loglevel warn > "$work/crossbar.log" 2>&1 &
  cb=$!; pids+=($cb)
  wait_port "$port"; sleep 1
  urls="wss://localhost:$port/ws"
  row "Crossbar, 1 node"
  kill $cb; sleep 2; pkill -f "crossbar start --cbdir $dir" 2>/dev/null || true
fi
