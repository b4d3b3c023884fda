#!/usr/bin/env bash
# Installs what the tests need beyond Rust, only what is missing, and says so:
#   - Debian packages openssl (test keys), curl (the TLS guide), chromium (the demo page), pebble (the
#     ACME test CA), redis-server (the cluster tests start their own), python3-venv and npm,
#     with apt-get when this runs as root; otherwise it names the command and stops;
#   - autobahn-python and kosoku (PyPI) in target/venv; sslyze in target/venv-sslyze (it
#     pins an older `cryptography` than autobahn);
#   - autobahn-js, its browser build (autobahn-browser), xhr2 (its XMLHttpRequest for long-poll
#     under Node) and playwright-core
#     (npm, interop/package-lock.json) in target/npm,
#     linked as interop/node_modules.
# A first run downloads about 250 MB and takes a few minutes; later runs check and go on.
set -euo pipefail
cd "$(dirname "$0")/.."
say() { echo "== setup: $*" >&2; }

missing=()
command -v openssl >/dev/null || missing+=(openssl)
command -v curl >/dev/null || missing+=(curl)
[ -x /usr/bin/chromium ] || missing+=(chromium)
command -v pebble >/dev/null || missing+=(pebble)
command -v redis-server >/dev/null || missing+=(redis-server)
python3 -c 'import ensurepip, venv' 2>/dev/null || missing+=(python3-venv)
command -v npm >/dev/null || missing+=(npm)
if ((${#missing[@]})); then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
    say "installing Debian packages: ${missing[*]} (apt-get)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" ca-certificates >/dev/null
  else
    echo "The tests need these packages: ${missing[*]}." >&2
    echo "Install them with:  sudo apt-get install ${missing[*]}   (then run ./test.sh again)" >&2
    exit 1
  fi
fi

if ! target/venv/bin/python -c 'import autobahn, kosoku, nacl, argon2, passlib' 2>/dev/null; then
  say "installing autobahn-python (with cryptosign and SCRAM) and kosoku into target/venv (pip)"
  python3 -m venv target/venv
  target/venv/bin/pip install -q --disable-pip-version-check 'autobahn[encryption,scram]' kosoku
fi

if [ ! -x target/venv-sslyze/bin/sslyze ]; then
  say "installing sslyze into target/venv-sslyze (pip)"
  python3 -m venv target/venv-sslyze
  target/venv-sslyze/bin/pip install -q --disable-pip-version-check sslyze
fi

if ! cmp -s interop/package-lock.json target/npm/package-lock.json || [ ! -d target/npm/node_modules ]; then
  say "installing autobahn-js, autobahn-browser, xhr2 and playwright-core into target/npm (npm ci)"
  mkdir -p target/npm
  cp interop/package.json interop/package-lock.json target/npm/
  (cd target/npm && npm ci --no-audit --no-fund --loglevel=error)
fi
if [ "$(readlink interop/node_modules 2>/dev/null)" != "../target/npm/node_modules" ]; then
  rm -rf interop/node_modules
  ln -s ../target/npm/node_modules interop/node_modules
fi
