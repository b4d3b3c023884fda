#!/usr/bin/env bash
# Transports with clients no one here wrote: autobahn-python over RawSocket on plain TCP (a
# `universal` port, which tells RawSocket from HTTP by the first byte), on TLS and on a Unix
# socket, with json, msgpack and cbor, sharing a realm with a WebSocket session; autobahn-js
# over RawSocket and over long-poll, under Node and in headless Chromium (its browser build, in
# a page without WebSocket).
#
# Usage: interop/transports.sh [python|js|longpoll|browser ...]   (default: all four)
# Needs what interop/run.sh needs (interop/setup.sh installs it).
set -euo pipefail
cd "$(dirname "$0")/.."
source interop/lib.sh
checks=("${@:-python js longpoll browser}")
checks=(${checks[@]})

work=target/interop-transports
rm -rf "$work" && mkdir -p "$work/node/www"
node_dir=$work/node
cp interop/longpoll.html interop/node_modules/autobahn-browser/autobahn.min.js "$node_dir/www/"
make_ca "$work" "wssnode transports interop CA"
issue "$work" "$work/ca" "$node_dir/server_key.pem" "$node_dir/server_cert.pem" localhost

port=$(free_port); rs_port=$(free_port); rss_port=$(free_port)
tls='{"key": "server_key.pem", "certificate": "server_cert.pem"}'
cat > "$node_dir/config.json" <<JSON
{
  "version": 2,
  "workers": [{
    "type": "router",
    "realms": [{"name": "realm1", "roles": [
      {"name": "anonymous", "permissions": [{"uri": "", "match": "prefix",
        "allow": {"call": true, "register": true, "publish": true, "subscribe": true}}]}
    ]}],
    "transports": [
      {"type": "web", "endpoint": {"type": "tcp", "port": $port, "interface": "127.0.0.1", "tls": $tls},
       "paths": {"/": {"type": "static", "directory": "www"}, "ws": {"type": "websocket"}, "lp": {"type": "longpoll"}}},
      {"type": "universal", "endpoint": {"type": "tcp", "port": $rs_port, "interface": "127.0.0.1"},
       "rawsocket": {}, "websocket": {"ws": {"type": "websocket"}}},
      {"type": "rawsocket", "endpoint": {"type": "tcp", "port": $rss_port, "interface": "127.0.0.1", "tls": $tls}},
      {"type": "rawsocket", "endpoint": {"type": "unix", "path": "wamp.sock"}}
    ]
  }]
}
JSON

start_node target/debug/wssnode "$node_dir" "$work/node.log"
status=0
for check in "${checks[@]}"; do
  echo "== transports $check"
  case $check in
    python) timeout 120 target/venv/bin/python interop/rawsocket_python.py \
              "rs://localhost:$rs_port" "rss://localhost:$rss_port" "wss://localhost:$port/ws" "$work/ca.pem" \
              "$PWD/$node_dir/wamp.sock" || status=1 ;;
    js) NODE_EXTRA_CA_CERTS="$work/ca.pem" timeout 60 node interop/rawsocket_js.mjs \
              "$rs_port" "wss://localhost:$port/ws" || status=1 ;;
    longpoll) NODE_EXTRA_CA_CERTS="$work/ca.pem" timeout 60 node interop/longpoll_js.mjs \
              "https://localhost:$port/lp" "wss://localhost:$port/ws" || status=1 ;;
    browser) NODE_EXTRA_CA_CERTS="$work/ca.pem" timeout 90 node interop/longpoll_browser.mjs \
              "https://localhost:$port/longpoll.html" "wss://localhost:$port/ws" || status=1 ;;
    *) echo "unknown check $check"; status=1 ;;
  esac
done
if [ $status -ne 0 ]; then
  echo "== node log"; tail -50 "$work/node.log"
fi
exit $status
