#!/usr/bin/env bash
# The whole test suite: Rust tests over real sockets, then Autobahn (Python and JS) and
# headless Chromium against a running node. `.ci/run` installs what the second part needs.
set -euo pipefail
cd "$(dirname "$0")"
cargo test
interop/run.sh
interop/autobahn_testsuite.sh
