#!/usr/bin/env bash
# Remembered events and the HTTP bridge with clients no one here wrote: autobahn-python
# (retained events, event history, testaments), and curl with openssl from the shell, as
# cron jobs and PHP pages use the bridge (a signed publish, computed as docs/bridge.md shows,
# refused when replayed; a call answered with its result).
#
# Usage: interop/remembered.sh [python|shell ...]   (default: both)
# Needs what interop/run.sh needs (interop/setup.sh installs it).
set -euo pipefail
cd "$(dirname "$0")/.."
source interop/lib.sh
checks=("${@:-python shell}")
checks=(${checks[@]})

work=target/interop-remembered
rm -rf "$work" && mkdir -p "$work/node"
node_dir=$work/node
make_ca "$work" "wssnode remembered interop CA"
issue "$work" "$work/ca" "$node_dir/server_key.pem" "$node_dir/server_cert.pem" localhost

port=$(free_port)
cat > "$node_dir/config.json" <<JSON
{
  "version": 2,
  "workers": [{
    "type": "router",
    "realms": [{"name": "realm1",
      "roles": [{"name": "anonymous", "permissions": [{"uri": "", "match": "prefix",
        "allow": {"call": true, "register": true, "publish": true, "subscribe": true}}]}],
      "store": {"type": "memory", "event-history": [{"uri": "com.py.history", "limit": 100}]}}],
    "transports": [
      {"type": "web", "endpoint": {"type": "tcp", "port": $port, "interface": "127.0.0.1",
        "tls": {"key": "server_key.pem", "certificate": "server_cert.pem"}},
       "paths": {"ws": {"type": "websocket"},
         "publish": {"type": "publisher", "realm": "realm1", "role": "anonymous",
                     "options": {"key": "foobar", "secret": "kkjH68GiuUZ"}},
         "call": {"type": "caller", "realm": "realm1", "role": "anonymous"}}}
    ]
  }]
}
JSON

start_node target/debug/wssnode "$node_dir" "$work/node.log"
ca=$work/ca.pem
url=https://localhost:$port

shell_checks() {
  local body key=foobar secret=kkjH68GiuUZ seq=1 nonce=$RANDOM$RANDOM ts sig query answer
  check() { if [ "$2" = "$3" ]; then echo "ok   $1"; else echo "FAIL $1 (got: $2)"; return 1; fi; }
  body='{"topic": "com.shell.news", "args": ["signed"]}'
  ts=$(date -u +%Y-%m-%dT%H:%M:%S.000Z)
  sig=$(printf '%s' "$key$ts$seq$nonce$body" | openssl dgst -sha256 -hmac "$secret" -binary | base64 | tr '+/' '-_')
  query="key=$key&timestamp=$ts&seq=$seq&nonce=$nonce&signature=$sig"
  answer=$(curl -s --cacert "$ca" -H 'Content-Type: application/json' -d "$body" "$url/publish?$query")
  check "a publish signed with openssl is accepted" "$(echo "$answer" | grep -c '"id":')" 1
  answer=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$ca" -H 'Content-Type: application/json' -d "$body" "$url/publish?$query")
  check "the same signed request again is refused" "$answer" 400
  answer=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$ca" -H 'Content-Type: application/json' -d "$body" "$url/publish")
  check "an unsigned publish is refused" "$answer" 400
  answer=$(curl -s --cacert "$ca" -H 'Content-Type: application/json' -d '{"procedure": "wamp.session.count"}' "$url/call")
  # Two sessions: the publisher path's and the caller path's own (each joins at its first request).
  check "a call through the bridge answers its result" "$answer" '{"args":[2]}'
}

status=0
for check in "${checks[@]}"; do
  echo "== remembered $check"
  case $check in
    python) timeout 60 target/venv/bin/python interop/remembered_python.py "wss://localhost:$port/ws" "$ca" || status=1 ;;
    shell) shell_checks || status=1 ;;
    *) echo "unknown check $check"; status=1 ;;
  esac
done
if [ $status -ne 0 ]; then
  echo "== node log"; tail -30 "$work/node.log"
fi
exit $status
