#!/usr/bin/env bash
# Interoperability and browser checks against a real wssnode over wss with a test CA:
# autobahn-python, autobahn-js, and the demo page in headless Chromium.
#
# Usage: interop/run.sh [python|js|browser ...]   (default: all three)
# Needs: target/debug/wssnode (cargo build), target/venv with autobahn, interop/node_modules,
# openssl, and /usr/bin/chromium for the browser check. `.ci/run` installs all of them.
set -euo pipefail
cd "$(dirname "$0")/.."
source interop/lib.sh
checks=("${@:-python js browser}")
checks=(${checks[@]})

work=target/interop
rm -rf "$work" && mkdir -p "$work/node"
node_dir=$work/node

# A test CA and a server certificate for localhost, made fresh for this run.
make_ca "$work" "wssnode interop CA"
issue "$work" "$work/ca" "$node_dir/server_key.pem" "$node_dir/server_cert.pem" localhost

port=$(free_port)
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

start_node target/debug/wssnode "$node_dir" "$work/node.log"

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
