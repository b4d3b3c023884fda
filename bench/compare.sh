#!/usr/bin/env bash
# Side-by-side benchmark on one machine, in one run: wssnode against Crossbar.io (WAMP over
# wss and over RawSocket on TCP) and nginx (static HTTPS), same certificate, same realm and
# permissions, same static files, TLS on (RawSocket: plain TCP, as backends beside the router
# use it). Clients: examples/bench.rs for WAMP, wrk for HTTPS. Prints one table; bounded (each
# figure runs BENCH_SECONDS, default 10; the whole run takes about 10 minutes).
#
# Usage: bench/compare.sh   (installs nginx and wrk from Debian, Crossbar from PyPI into
#                            target/venv-crossbar, and builds wssnode in release mode)
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${BENCH_SECONDS:-10}
work=$PWD/target/compare
rm -rf "$work" && mkdir -p "$work"

echo "== installing: nginx, wrk, jq (Debian), crossbar (PyPI), wssnode (release)" >&2
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
command -v nginx >/dev/null && command -v wrk >/dev/null && command -v jq >/dev/null || {
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq nginx wrk jq >/dev/null; }
[ -x target/venv-crossbar/bin/crossbar ] || {
  python3 -m venv target/venv-crossbar && target/venv-crossbar/bin/pip install -q crossbar; }
cargo build --release --quiet --bin wssnode --example bench
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

# One RSA certificate for all three (Crossbar's default TLS 1.2 ciphers are RSA-only).
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=localhost" \
  -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" -addext "basicConstraints=critical,CA:FALSE" -keyout "$work/key.pem" -out "$work/cert.pem" 2>/dev/null
mkdir -p "$work/www"
head -c 1024 /dev/urandom > "$work/www/1k.bin"
head -c 1048576 /dev/urandom > "$work/www/1m.bin"
echo "<h1>bench</h1>" > "$work/www/index.html"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# The same Crossbar config serves both routers.
node_config() { # port, static directory relative to the config's folder, RawSocket port
  cat <<JSON
{"version": 2, "workers": [{"type": "router",
  "realms": [{"name": "realm1", "roles": [{"name": "anonymous", "permissions": [{"uri": "", "match": "prefix",
    "allow": {"call": true, "register": true, "publish": true, "subscribe": true},
    "disclose": {"caller": false, "publisher": false}, "cache": true}]}]}],
  "transports": [{"type": "web", "endpoint": {"type": "tcp", "port": $1, "interface": "127.0.0.1",
      "tls": {"key": "key.pem", "certificate": "cert.pem"}},
    "paths": {"/": {"type": "static", "directory": "$2"}, "ws": {"type": "websocket",
      "options": {"max_message_size": 1048576}}}},
    {"type": "rawsocket", "endpoint": {"type": "tcp", "port": $3, "interface": "127.0.0.1"},
      "serializers": ["json"], "options": {"max_message_size": 1048576}}]}]}
JSON
}
wait_port() { for _ in $(seq 3000); do (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null && return 0; sleep 0.01; done; return 1; }
tree_pids() { # a pid and its descendants, comma-separated
  local all=$1 kids
  kids=$(pgrep -P "$1" || true)
  for k in $kids; do all="$all,$(tree_pids "$k")"; done
  echo "$all"
}
bench() { target/release/examples/bench "$@" --ca "$work/cert.pem" --seconds "$secs" | sed -n 1p; }
wrk_rate() { # url, connections, [extra header]; prints requests/s and MB/s
  local out
  out=$(wrk -t2 -c"$2" -d"${secs}s" ${3:+-H "$3"} "$1" 2>&1)
  echo "$(echo "$out" | awk '/Requests\/sec/ {print $2}') $(echo "$out" | awk '/Transfer\/sec/ {print $2}')"
}
results="$work/results.txt"; : > "$results"
record() { echo "$1|$2|$3" >> "$results"; }   # figure|server|value

run_wamp() { # name, url, pids
  local name=$1 url=$2 pids=$3 j
  j=$(bench pubsub --url "$url" --subscribers 10 --payload 100)
  record "pub/sub 1→10, 100 B: events/s" "$name" "$(echo "$j" | jq .events_per_s)"
  record "pub/sub 1→10: latency p50 / p99 ms" "$name" "$(echo "$j" | jq -r '"\(.latency_p50_ms|.*100|round/100) / \(.latency_p99_ms|.*100|round/100)"')"
  j=$(bench pubsub --url "$url" --subscribers 1000 --payload 100)
  record "pub/sub 1→1000, 100 B: events/s" "$name" "$(echo "$j" | jq .events_per_s)"
  record "pub/sub 1→1000: latency p50 / p99 ms" "$name" "$(echo "$j" | jq -r '"\(.latency_p50_ms|.*100|round/100) / \(.latency_p99_ms|.*100|round/100)"')"
  j=$(bench rpc --url "$url" --callers 4 --inflight 8)
  record "RPC 4 callers × 8 in flight: calls/s" "$name" "$(echo "$j" | jq .calls_per_s)"
  record "RPC: round trip p50 / p99 ms" "$name" "$(echo "$j" | jq -r '"\(.rtt_p50_ms|.*100|round/100) / \(.rtt_p99_ms|.*100|round/100)"')"
  for n in 1000 10000; do
    j=$(bench sessions --url "$url" --sessions $n --pid "$pids")
    record "$n wss sessions: held" "$name" "$(echo "$j" | jq .held)"
    record "$n wss sessions: server RSS MB" "$name" "$(echo "$j" | jq '.server_rss_mb_held|round')"
  done
}

run_rawsocket() { # name, url
  local name=$1 url=$2 j
  j=$(bench pubsub --url "$url" --subscribers 10 --payload 100)
  record "RawSocket pub/sub 1→10, 100 B: events/s" "$name" "$(echo "$j" | jq .events_per_s)"
  record "RawSocket pub/sub 1→10: latency p50 / p99 ms" "$name" "$(echo "$j" | jq -r '"\(.latency_p50_ms|.*100|round/100) / \(.latency_p99_ms|.*100|round/100)"')"
  j=$(bench rpc --url "$url" --callers 4 --inflight 8)
  record "RawSocket RPC 4 callers × 8 in flight: calls/s" "$name" "$(echo "$j" | jq .calls_per_s)"
  record "RawSocket RPC: round trip p50 / p99 ms" "$name" "$(echo "$j" | jq -r '"\(.rtt_p50_ms|.*100|round/100) / \(.rtt_p99_ms|.*100|round/100)"')"
}

run_https() { # name, port
  local r
  r=$(wrk_rate "https://localhost:$2/1k.bin" 64); record "HTTPS 1 KiB keep-alive: requests/s" "$1" "${r%% *}"
  r=$(wrk_rate "https://localhost:$2/1m.bin" 8); record "HTTPS 1 MiB keep-alive: MB/s" "$1" "${r##* }"
  # wrk resumes the TLS session of a connection that ended cleanly (as browsers do), so this
  # row is resumed handshakes; the next one is full handshakes, from the bench client.
  r=$(wrk_rate "https://localhost:$2/1k.bin" 32 "Connection: close"); record "new TLS connections/s, resumed (wrk)" "$1" "${r%% *}"
  r=$(target/release/examples/bench handshakes --url "wss://localhost:$2" --ca "$work/cert.pem" --seconds "$secs" --connections 32 --path /1k.bin | sed -n 1p)
  record "new TLS connections/s, full handshakes" "$1" "$(echo "$r" | jq .per_s)"
}

echo "== wssnode" >&2
mkdir -p "$work/wssnode"; cp "$work/key.pem" "$work/cert.pem" "$work/wssnode/"
port=$(free_port); rs_port=$(free_port); node_config "$port" ../www "$rs_port" > "$work/wssnode/config.json"
start=$(date +%s%N)
target/release/wssnode --log-level warn "$work/wssnode" > "$work/wssnode.log" 2>&1 &
pid=$!
wait_port "$port"
record "start-up to listening: ms" wssnode "$(( ($(date +%s%N) - start) / 1000000 ))"
record "idle RSS MB" wssnode "$(awk '/VmRSS/ {printf "%.0f", $2/1024}' /proc/$pid/status)"
run_wamp wssnode "wss://localhost:$port/ws" "$pid"
run_rawsocket wssnode "rs://localhost:$rs_port"
run_https wssnode "$port"
kill $pid; wait $pid 2>/dev/null || true

echo "== crossbar" >&2
mkdir -p "$work/crossbar/.crossbar"; cp "$work/key.pem" "$work/cert.pem" "$work/crossbar/.crossbar/"
port=$(free_port); rs_port=$(free_port); node_config "$port" ../../www "$rs_port" > "$work/crossbar/.crossbar/config.json"
start=$(date +%s%N)
target/venv-crossbar/bin/crossbar start --cbdir "$work/crossbar/.crossbar" --loglevel warn > "$work/crossbar.log" 2>&1 &
pid=$!
wait_port "$port"
record "start-up to listening: ms" crossbar "$(( ($(date +%s%N) - start) / 1000000 ))"
record "idle RSS MB" crossbar "$(for p in $(tree_pids $pid | tr , ' '); do awk '/VmRSS/ {print $2}' /proc/$p/status; done | awk '{s+=$1} END {printf "%.0f", s/1024}')"
run_wamp crossbar "wss://localhost:$port/ws" "$(tree_pids $pid)"
run_rawsocket crossbar "rs://localhost:$rs_port"
run_https crossbar "$port"
kill $pid; sleep 2; pkill -f "crossbar" 2>/dev/null || true

echo "== nginx" >&2
port=$(free_port)
cat > "$work/nginx.conf" <<NGINX
worker_processes auto;
pid $work/nginx.pid;
error_log $work/nginx-error.log;
events { worker_connections 4096; }
http {
  access_log off;
  include /etc/nginx/mime.types;
  sendfile on;
  keepalive_requests 1000000;
  server {
    listen 127.0.0.1:$port ssl;
    ssl_certificate $work/cert.pem;
    ssl_certificate_key $work/key.pem;
    ssl_protocols TLSv1.2 TLSv1.3;
    root $work/www;
  }
}
NGINX
nginx -c "$work/nginx.conf" -p "$work"
wait_port "$port"
run_https nginx "$port"
nginx -c "$work/nginx.conf" -p "$work" -s stop

record "release binary: MB" wssnode "$(stat -c %s target/release/wssnode | awk '{printf "%.1f", $1/1048576}')"

# One table: each figure for wssnode, for its peer (Crossbar for WAMP, nginx for HTTPS, and
# Crossbar's static HTTPS too), and the ratio wssnode ÷ peer (rates: higher is better;
# latency and memory: lower is better).
python3 - "$results" <<'PY'
import collections, re, sys
rows = collections.OrderedDict()
for line in open(sys.argv[1]):
    figure, server, value = line.rstrip("\n").split("|")
    rows.setdefault(figure, {})[server] = value
def num(v):
    m = re.match(r"^([0-9.]+)(GB|MB|KB)?$", v.split(" / ")[-1].strip())
    if not m:
        return None
    return float(m.group(1)) * {"GB": 1024, "MB": 1, "KB": 1 / 1024, None: 1}[m.group(2)]
def show(v):
    n = num(v) if v != "-" else None
    if n is None or " / " in v:
        return v
    return f"{n:,.0f}" if n >= 100 else f"{n:.2f}".rstrip("0").rstrip(".")
print(f"| figure | wssnode | peer | wssnode ÷ peer |\n|---|---|---|---|")
for figure, values in rows.items():
    w = values.get("wssnode", "-")
    peers = ["nginx", "crossbar"] if figure.startswith(("HTTPS", "new TLS")) else ["crossbar"]
    for peer in peers:
        if peer not in values and peer != peers[0]:
            continue
        p = values.get(peer, "-")
        ratio = f"{num(w) / num(p):.2f}" if num(w) and p != "-" and num(p) else ""
        print(f"| {figure} | {show(w)} | {peer} {show(p)} | {ratio} |")
PY
