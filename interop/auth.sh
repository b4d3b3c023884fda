#!/usr/bin/env bash
# Authentication with clients no one here wrote: autobahn-python (asyncio) and autobahn-js
# log in with WAMP-CRA (plain and salted), cryptosign, ticket (static and dynamic), and
# autobahn-python with SCRAM; headless Chromium logs in once and is known by its cookie on
# the second visit.
#
# Usage: interop/auth.sh [python|js|browser ...]   (default: all three)
# Needs what interop/run.sh needs (interop/setup.sh installs it), autobahn-python with its
# `encryption` and `scram` extras.
set -euo pipefail
cd "$(dirname "$0")/.."
source interop/lib.sh
checks=("${@:-python js browser}")
checks=(${checks[@]})

work=target/interop-auth
rm -rf "$work" && mkdir -p "$work/node/www"
node_dir=$work/node
make_ca "$work" "wssnode auth interop CA"
issue "$work" "$work/ca" "$node_dir/server_key.pem" "$node_dir/server_cert.pem" localhost

# A cryptosign key made for this run: the private half for the clients, the public in the config.
read -r privkey pubkey < <(target/venv/bin/python -c \
  'import nacl.signing; k = nacl.signing.SigningKey.generate(); print(k.encode().hex(), k.verify_key.encode().hex())')
echo "$privkey" > "$work/cryptosign.key"

cp interop/cookie.html "$node_dir/www/"
port=$(free_port)
cat > "$node_dir/config.json" <<JSON
{
  "version": 2,
  "workers": [{
    "type": "router",
    "realms": [{"name": "realm1", "roles": [
      {"name": "anonymous", "permissions": [{"uri": "", "match": "prefix",
        "allow": {"call": true, "register": true, "publish": true, "subscribe": true}}]},
      {"name": "user", "permissions": [{"uri": "com.", "match": "prefix",
        "allow": {"call": true, "register": true, "publish": true, "subscribe": true}}]}
    ]}],
    "transports": [{
      "type": "web",
      "endpoint": {"type": "tcp", "port": $port, "interface": "127.0.0.1",
                   "tls": {"key": "server_key.pem", "certificate": "server_cert.pem"}},
      "paths": {
        "/": {"type": "static", "directory": "www", "options": {"cache_timeout": 0}},
        "ws": {"type": "websocket"},
        "ws-cra": {"type": "websocket", "auth": {"wampcra": {"type": "static", "users": {
          "joe": {"secret": "secret2", "role": "user"},
          "peter": {"secret": "secret2", "role": "user", "salt": "salt123", "iterations": 100, "keylen": 16}}}}},
        "ws-cryptosign": {"type": "websocket", "auth": {"cryptosign": {"type": "static", "principals": {
          "device1": {"realm": "realm1", "role": "user", "authorized_keys": ["$pubkey"]}}}}},
        "ws-ticket": {"type": "websocket", "auth": {"ticket": {"type": "static", "principals": {
          "joe": {"ticket": "secret123", "role": "user"}}}}},
        "ws-ticket-dynamic": {"type": "websocket", "auth": {"ticket": {"type": "dynamic",
          "authenticator": "com.example.authenticate"}}},
        "ws-scram": {"type": "websocket", "auth": {"scram": {"type": "static", "principals": {
          "alice@example.com": {"role": "user", "kdf": "argon2id-13", "iterations": 4096, "memory": 512,
            "salt": "ff8d9819fc0e12bf0d24892e45987e24",
            "stored-key": "a7f4f4b9458b859252ba0a0b0c10cdf24b68d6ab257704b65049cfa92e9428a1",
            "server-key": "dd13f08d5bd56df06d8306d18fbb576296e0595910fc7afc2aaaa28138448d0a"}}}}},
        "ws-cookie": {"type": "websocket", "cookie": {"store": {"type": "memory"}},
          "auth": {"cookie": {}, "ticket": {"type": "static", "principals": {
            "joe": {"ticket": "secret123", "role": "user"}}}}}
      }
    }]
  }]
}
JSON

start_node target/debug/wssnode "$node_dir" "$work/node.log"
base="wss://localhost:$port"
status=0
for check in "${checks[@]}"; do
  echo "== auth $check"
  case $check in
    python) timeout 120 target/venv/bin/python interop/auth_python.py "$base" "$work/ca.pem" "$work/cryptosign.key" || status=1 ;;
    js) NODE_EXTRA_CA_CERTS="$work/ca.pem" timeout 60 node interop/auth_js.mjs "$base" "$work/cryptosign.key" || status=1 ;;
    browser) timeout 60 node interop/auth_browser.mjs "https://localhost:$port/cookie.html" || status=1 ;;
    *) echo "unknown check $check"; status=1 ;;
  esac
done
if [ $status -ne 0 ]; then
  echo "== node log"; tail -50 "$work/node.log"
fi
exit $status
