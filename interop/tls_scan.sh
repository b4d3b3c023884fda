#!/usr/bin/env bash
# A TLS scan with a real scanner (PyPI `sslyze`, in its own venv target/venv-sslyze because it
# pins an older `cryptography` than autobahn wants). Checks: only TLS 1.2 and 1.3 accepted, every
# accepted suite is ECDHE (or TLS 1.3) with AEAD, no insecure renegotiation, no compression,
# the chain is complete and in order.
#
# Usage: interop/tls_scan.sh                  start a node with a test root + intermediate and scan it
#        interop/tls_scan.sh HOST:PORT CA.pem  scan a running node (CA.pem: its root, for the chain check)
set -euo pipefail
cd "$(dirname "$0")/.."
source interop/lib.sh
work=target/tls-scan
mkdir -p "$work"
if [ $# -ge 1 ]; then
  target=$1; ca=${2:-}
else
  rm -rf "$work" && mkdir -p "$work/node"
  make_ca "$work" "scan root"
  issue "$work" "$work/ca" "$work/int.key" "$work/int.pem" "scan-intermediate" \
    "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign"
  issue "$work" "$work/int" "$work/node/key.pem" "$work/srv.pem" localhost
  cat "$work/srv.pem" "$work/int.pem" > "$work/node/cert.pem"
  mkdir -p "$work/node/www" && echo ok > "$work/node/www/index.html"
  port=$(free_port)
  cat > "$work/node/config.json" <<JSON
{"version": 2, "workers": [{"type": "router", "realms": [{"name": "realm1", "roles": []}],
  "transports": [{"type": "web", "endpoint": {"type": "tcp", "port": $port, "interface": "127.0.0.1",
    "tls": {"key": "key.pem", "certificate": "cert.pem"}},
  "paths": {"/": {"type": "static", "directory": "www"}, "ws": {"type": "websocket"}}}]}]}
JSON
  start_node target/debug/wssnode "$work/node" "$work/node.log"
  target="localhost:$port"; ca="$work/ca.pem"
fi
args=(--json_out "$work/scan.json" --quiet)
[ -n "$ca" ] && args+=(--certinfo --certinfo_ca_file "$ca")
args+=(--sslv2 --sslv3 --tlsv1 --tlsv1_1 --tlsv1_2 --tlsv1_3 --reneg --compression --elliptic_curves)
timeout 300 target/venv-sslyze/bin/sslyze "${args[@]}" "$target"
target/venv-sslyze/bin/python - "$work/scan.json" <<'PY'
import json, sys
scan = json.load(open(sys.argv[1]))["server_scan_results"][0]
if scan["scan_status"] != "COMPLETED":
    sys.exit(f"scan did not complete: {scan.get('connectivity_error_trace')}")
r = scan["scan_result"]
problems = []
def accepted(name):
    return [s["cipher_suite"]["name"] for s in r[name]["result"]["accepted_cipher_suites"]]
for old in ("ssl_2_0_cipher_suites", "ssl_3_0_cipher_suites", "tls_1_0_cipher_suites", "tls_1_1_cipher_suites"):
    if accepted(old):
        problems.append(f"{old} accepted: {accepted(old)}")
tls12, tls13 = accepted("tls_1_2_cipher_suites"), accepted("tls_1_3_cipher_suites")
for suite in tls12:
    if not suite.startswith("TLS_ECDHE_") or not ("GCM" in suite or "CHACHA20" in suite):
        problems.append(f"weak TLS 1.2 suite {suite}")
if not tls12 or not tls13:
    problems.append("TLS 1.2 and 1.3 must both be accepted")
reneg = r["session_renegotiation"]["result"]
if reneg.get("is_vulnerable_to_client_renegotiation_dos") or not reneg.get("supports_secure_renegotiation", True):
    problems.append(f"renegotiation: {reneg}")
if r["tls_compression"]["result"]["supports_compression"]:
    problems.append("TLS compression is on")
if r.get("certificate_info", {}).get("result"):
    for d in r["certificate_info"]["result"]["certificate_deployments"]:
        if not d["received_chain_has_valid_order"]:
            problems.append("certificate chain out of order")
        if not any(v["was_validation_successful"] for v in d["path_validation_results"]):
            problems.append("certificate chain does not validate against the CA")
curves = [c["name"] for c in (r["elliptic_curves"]["result"] or {}).get("supported_curves", [])]
print("accepted TLS 1.3:", ", ".join(tls13))
print("accepted TLS 1.2:", ", ".join(tls12))
print("key exchange groups:", ", ".join(curves))
print("renegotiation: client-initiated refused; compression: off; chain: complete and in order")
if problems:
    sys.exit("TLS scan found:\n" + "\n".join(problems))
print("tls scan: no weakness found")
PY
