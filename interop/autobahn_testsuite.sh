#!/usr/bin/env bash
# The Autobahn WebSocket conformance suite (PyPI `kosoku`, which runs the Autobahn TestSuite's
# own case files on Python 3) against a `websocket.testee` transport on plain ws://, which
# runs the same WebSocket code as every wss endpoint. Prints the counts per outcome; fails if
# any case FAILED, or is UNIMPLEMENTED outside the compression groups (12.*, 13.*: we do not
# offer permessage-deflate).
#
# Usage: interop/autobahn_testsuite.sh   (needs target/debug/wssnode and kosoku in target/venv)
set -euo pipefail
cd "$(dirname "$0")/.."
source interop/lib.sh
work=target/conformance
rm -rf "$work" && mkdir -p "$work/node"
port=$(free_port)
cat > "$work/node/config.json" <<JSON
{"version": 2, "workers": [{"type": "router", "transports": [{"type": "websocket.testee",
  "endpoint": {"type": "tcp", "port": $port, "interface": "127.0.0.1"}}]}]}
JSON
start_node target/debug/wssnode "$work/node" "$work/node.log"
(cd "$work" && timeout 600 ../venv/bin/kosoku "127.0.0.1:$port" -p 4 -o reports > kosoku.out 2>&1) || true
target/venv/bin/python - "$work/reports" <<'PY'
import collections, glob, json, sys
counts, bad = collections.Counter(), []
for path in glob.glob(sys.argv[1] + "/*.json"):
    report = json.load(open(path))
    case = report.get("id")
    if not case:
        continue
    behavior = report.get("behavior")
    group = case.split(".")[0]
    counts[behavior] += 1
    allowed = {"OK", "NON-STRICT", "INFORMATIONAL"} | ({"UNIMPLEMENTED"} if group in ("12", "13") else set())
    if behavior not in allowed or report.get("behaviorClose") == "FAILED":
        bad.append(f"{case}: {behavior}/{report.get('behaviorClose')}")
total = sum(counts.values())
print(f"Autobahn TestSuite (kosoku): {total} cases: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
if total < 500:
    sys.exit(f"only {total} cases ran; see target/conformance/kosoku.out")
if bad:
    sys.exit("not conformant:\n" + "\n".join(sorted(bad)))
PY
