#!/usr/bin/env bash
# Interoperability and browser checks against a real wssnode over wss with a test CA:
# autobahn-python, autobahn-js, and the demo page in headless Chromium.
#
# Usage: interop/run.sh [python|js|browser ...]   (default: all three)
# Needs: target/debug/wssnode (cargo build), target/venv with autobahn, interop/node_modules,
# openssl, and /usr/bin/chromium for the browser check. `.ci/run` installs all of them.
set -euo pipefail
cd "$(dirname "$0")/.."
checks=("${@:-python js browser}")
checks=(${checks[@]})

work=target/interop
rm -rf "$work" && mkdir -p "$work/node"
node_dir=$work/node

# A test CA and a server certificate for localhost, made fresh for this run.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
  -subj "/CN=wssnode interop CA" -keyout "$work/ca.key" -out "$work/ca.pem" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=localhost" \
  -keyout "$node_dir/server_key.pem" -out "$work/server.csr" 2>/dev/null
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' > "$work/san.ext"
openssl x509 -req -in "$work/server.csr" -CA "$work/ca.pem" -CAkey "$work/ca.key" -CAcreateserial \
  -days 2 -extfile "$work/san.ext" -out "$node_dir/server_cert.pem" 2>/dev/null

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat > "$node_dir/config.json" <<JSON
{
  "version": 2,
  "workers": [{
    "type": "router",
    "realms": [{"name": "realm1", "roles": [
      {"name": "anonymous", "permissions": [{"uri": "", "match": "prefix",
        "allow": {"call": true, "register": true, "publish": true, "subscribe": true},
        "disclose": {"caller": true, "publisher": true}}]},
      {"name": "user", "permissions": [{"uri": "com.", "match": "prefix",
        "allow": {"call": true, "register": true, "publish": true, "subscribe": true}}]}
    ]}],
    "transports": [{
      "type": "web",
      "endpoint": {"type": "tcp", "port": $port, "interface": "127.0.0.1",
                   "tls": {"key": "server_key.pem", "certificate": "server_cert.pem"}},
      "paths": {
        "/": {"type": "static", "directory": "../../../www", "options": {"cache_timeout": 0}},
        "ws": {"type": "websocket"},
        "ws-ticket": {"type": "websocket", "auth": {"ticket": {"type": "static",
          "principals": {"joe": {"ticket": "secret123", "role": "user"}}}}}
      }
    }]
  }]
}
JSON

target/debug/wssnode "$node_dir" > "$work/node.log" 2>&1 &
node_pid=$!
trap 'kill $node_pid 2>/dev/null || true' EXIT
for _ in $(seq 100); do
  grep -q "listening" "$work/node.log" 2>/dev/null && break
  sleep 0.05
done

url="wss://localhost:$port/ws"
status=0
for check in "${checks[@]}"; do
  echo "== $check"
  case $check in
    python) timeout 60 target/venv/bin/python interop/autobahn_python.py "$url" "$work/ca.pem" || status=1 ;;
    js) NODE_EXTRA_CA_CERTS="$work/ca.pem" timeout 60 node interop/autobahn_js.mjs "$url" || status=1 ;;
    browser) timeout 90 node interop/browser.mjs "https://localhost:$port/" || status=1 ;;
    *) echo "unknown check $check"; status=1 ;;
  esac
done
if [ $status -ne 0 ]; then
  echo "== node log"; tail -50 "$work/node.log"
fi
exit $status
