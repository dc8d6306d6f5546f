#!/usr/bin/env bash
# Installs what the browser test (tests/websocket/browser.rs) needs, idempotently:
#   - Debian's chromium and chromium-driver (the test drives /usr/bin/chromium headless);
#   - the npm packages of tests/browser/package.json: neo4j-driver (its browser build,
#     lib/browser/neo4j-web.min.js, is served to the test page) and playwright-core (drives
#     chromium; it downloads no browser of its own).
# Run it from .ci/run before `cargo test`; it takes a few minutes on a fresh machine and a
# second or two once everything is there.
set -euo pipefail
cd "$(dirname "$0")"

if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  # Another apt may hold the lock for a while (a concurrent install): wait for it.
  apt_get() { apt-get -o DPkg::Lock::Timeout=600 "$@"; }
  for attempt in 1 2 3; do
    apt_get update -q && break
    echo "setup.sh: apt-get update failed (attempt $attempt); retrying" >&2
    sleep 10
  done
  apt_get install -y -q --no-install-recommends chromium chromium-driver
fi

if ! command -v npm >/dev/null 2>&1; then
  echo "setup.sh: npm is missing; install nodejs and npm first" >&2
  exit 1
fi
if [[ ! -f node_modules/neo4j-driver/lib/browser/neo4j-web.min.js \
   || ! -d node_modules/playwright-core ]]; then
  # package-lock.json pins the versions the test was written against.
  if [[ -f package-lock.json ]]; then
    npm ci --no-audit --no-fund
  else
    npm install --no-audit --no-fund
  fi
fi
echo "setup.sh: chromium $(chromium --version 2>/dev/null | awk '{print $2}'), neo4j-driver $(node -p 'require("neo4j-driver/package.json").version'), playwright-core $(node -p 'require("playwright-core/package.json").version')"
