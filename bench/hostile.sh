#!/usr/bin/env bash
# What a hostile client costs the node: two floods against one release node, with its
# resident memory (VmRSS) and its metrics page measured before and after each.
#
#   - HELLO flood: N connections over RawSocket, each a HELLO whose `authmethods` names a
#     distinct 100 KB method, refused; then the metrics page's size.
#   - PING flood: C RawSocket connections (PINGERS, default 10), each sending 8 PINGs of
#     PING_MB (default 8) MiB to a transport whose max_message_size is 16 MiB, and reading
#     nothing; RSS and open descriptors 3 s in, 13 s in (past slow_client_timeout, when a
#     node that counts PONGs has closed them as too slow), and after the client lets go.
#
# Usage: bench/hostile.sh            (builds wssnode in release mode)
#        WSSNODE_BIN=path/to/wssnode bench/hostile.sh    (another build, to compare)
# Bounded: HELLOS (default 1500) and PINGERS (default 40) connections, each with a timeout.
set -euo pipefail
cd "$(dirname "$0")/.."
hellos=${HELLOS:-1500}
pingers=${PINGERS:-10}
ping_mb=${PING_MB:-8}
work=$PWD/target/hostile
rm -rf "$work" && mkdir -p "$work/www"
bin=${WSSNODE_BIN:-}
if [ -z "$bin" ]; then
  cargo build --release --quiet --bin wssnode
  bin=$PWD/target/release/wssnode
fi

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=localhost" \
  -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" -keyout "$work/key.pem" -out "$work/cert.pem" 2>/dev/null
echo "<h1>hostile</h1>" > "$work/www/index.html"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
web=$(free_port); raw=$(free_port)
cat > "$work/config.json" <<JSON
{"version": 2, "workers": [{"type": "router",
  "realms": [{"name": "realm1", "roles": [{"name": "anonymous", "permissions": [{"uri": "app.", "match": "prefix",
    "allow": {"call": true, "register": true, "publish": true, "subscribe": true}}]}]}],
  "transports": [
    {"type": "web", "endpoint": {"type": "tcp", "port": $web, "interface": "127.0.0.1",
       "tls": {"key": "key.pem", "certificate": "cert.pem"}},
     "paths": {"/": {"type": "static", "directory": "www"}, "ws": {"type": "websocket"},
               "metrics": {"type": "metrics", "options": {"require_ip": ["127.0.0.0/8"]}}}},
    {"type": "rawsocket", "endpoint": {"type": "tcp", "port": $raw, "interface": "127.0.0.1"},
     "max_message_size": 16777215}]}]}
JSON
"$bin" --log-level warn "$work" > "$work/node.log" 2>&1 &
node=$!
trap 'kill $node 2>/dev/null || true' EXIT
for _ in $(seq 100); do curl -s --cacert "$work/cert.pem" "https://localhost:$web/" >/dev/null && break; sleep 0.1; done

rss() { awk '/VmRSS/ {printf "%.0f", $2/1024}' "/proc/$node/status"; }
page() { curl -s --cacert "$work/cert.pem" "https://localhost:$web/metrics" | wc -c; }

echo "node: $bin" >&2
start_rss=$(rss); start_page=$(page)

python3 - "$raw" "$hellos" <<'PY'
import json, socket, sys
port, n = int(sys.argv[1]), int(sys.argv[2])
def frame(payload):
    return bytes([0, len(payload) >> 16 & 255, len(payload) >> 8 & 255, len(payload) & 255]) + payload
for i in range(n):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(bytes([0x7F, 0xF1, 0, 0]))
    s.recv(4)
    method = f"invented-{i}-" + "x" * 100_000
    s.sendall(frame(json.dumps([1, "realm1", {"authmethods": [method]}]).encode()))
    try:
        while s.recv(65536):
            pass
    except OSError:
        pass
    s.close()
PY
hello_rss=$(rss); hello_page=$(page)

python3 - "$raw" "$pingers" "$node" "$ping_mb" 3>"$work/ping_rss" <<'PY'
import os, socket, sys, time
port, n, pid, mb = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
size = mb << 20
ping = bytes([1, size >> 16 & 255, size >> 8 & 255, size & 255]) + b"p" * size
def sample():
    rss = [l for l in open(f"/proc/{pid}/status") if l.startswith("VmRSS")][0].split()[1]
    return int(rss) // 1024, len(os.listdir(f"/proc/{pid}/fd"))
held = []
for _ in range(n):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.sendall(bytes([0x7F, 0xF1, 0, 0]))
    s.recv(4)
    s.settimeout(2)
    try:
        for _ in range(8):
            s.sendall(ping)
    except OSError:
        pass  # the node stopped reading, or closed it as too slow
    held.append(s)
time.sleep(3)
soon = sample()
time.sleep(10)  # past slow_client_timeout (10 s by default)
later = sample()
print(*soon, *later, file=open("/dev/fd/3", "w"))
for s in held:
    s.close()
PY
read -r ping_rss ping_fds later_rss later_fds < "$work/ping_rss"
sleep 2
after_rss=$(rss)

printf '%-44s %10s\n' "measure" "value"
printf '%-44s %8s MB\n' "RSS at start" "$start_rss"
printf '%-44s %8s MB\n' "RSS after $hellos refused HELLOs of 100 KB" "$hello_rss"
printf '%-44s %8s KB\n' "metrics page at start" "$((start_page / 1024))"
printf '%-44s %8s KB\n' "metrics page after the HELLOs" "$((hello_page / 1024))"
printf '%-44s %8s MB\n' "RSS 3 s into $pingers clients' PINGs of $ping_mb MiB" "$ping_rss"
printf '%-44s %8s\n' "node's open descriptors then" "$ping_fds"
printf '%-44s %8s MB\n' "RSS 13 s in (past slow_client_timeout)" "$later_rss"
printf '%-44s %8s\n' "node's open descriptors then" "$later_fds"
printf '%-44s %8s MB\n' "RSS after they are dropped" "$after_rss"
echo "panics in the log: $(grep -c "panicked" "$work/node.log" || true)"
