#!/usr/bin/env bash
# Builds the fuzz targets with libFuzzer's coverage instrumentation and runs each one for a
# bounded time (default 15 s each, two minutes in all). Same instrumentation as `cargo fuzz`,
# without AddressSanitizer (the code forbids `unsafe`), and without installing cargo-fuzz,
# which keeps CI fast. `cargo fuzz run TARGET` works too, for longer runs by hand.
#
# Usage: fuzz/run.sh [SECONDS_PER_TARGET]
# A crash leaves its input in fuzz/artifacts/TARGET/; make it a regression test.
set -euo pipefail
cd "$(dirname "$0")"
seconds=${1:-15}
export RUSTC_BOOTSTRAP=1   # the stable toolchain, with the two -Z/-C options libFuzzer needs
export RUSTFLAGS="--cfg fuzzing -Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
 -Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
 -Cllvm-args=-sanitizer-coverage-trace-compares"
# An explicit --target keeps RUSTFLAGS off the build scripts, as cargo fuzz does.
host=$(rustc -vV | sed -n 's/^host: //p')
cargo build --release --quiet --target "$host" --target-dir target/plain --bins
status=0
for target in config ciphers wamp_message wamp_binary rawsocket bridge_body archive_name static_path http_head; do
  mkdir -p "corpus/$target" "artifacts/$target"
  if ! "target/plain/$host/release/$target" -max_total_time="$seconds" -print_final_stats=0 \
      -artifact_prefix="artifacts/$target/" "corpus/$target" > "target/$target.log" 2>&1; then
    echo "fuzz $target: FOUND A CRASH"; tail -30 "target/$target.log"; status=1
  else
    echo "fuzz $target: $(grep -oE 'Done [0-9]+ runs in [0-9]+ second' "target/$target.log" | head -1)s, no crash"
  fi
done
exit $status
