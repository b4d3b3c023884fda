#!/usr/bin/env bash
# The whole test suite: Rust tests over real sockets; Autobahn (Python and JS) and headless
# Chromium against a running node; the Autobahn WebSocket conformance cases; a TLS scan.
# `.ci/run` installs what the parts after `cargo test` need.
set -euo pipefail
cd "$(dirname "$0")"
cargo test
interop/run.sh
interop/autobahn_testsuite.sh
interop/tls_scan.sh
