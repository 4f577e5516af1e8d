#!/usr/bin/env bash
# Sets up a fresh machine (redis-server for the tests, a release build) and runs the main job,
# `redsafe check`, on bundled fixtures.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v redis-server >/dev/null 2>&1; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server redis-tools >/dev/null
fi
cargo build --release --quiet
for f in fixtures/rdb/*.rdb; do
  [ -e "$f" ] || continue
  ./target/release/redsafe check "$f" || true
  echo
done
