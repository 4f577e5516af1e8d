#!/usr/bin/env bash
# Sets up a fresh machine (redis-server for the tests, a release build) and runs the main job,
# `redsafe check`, on the bundled fixtures: the RDB files redis-server wrote (fixtures/rdb/,
# exit status 0) and one hand-made damaged file (exit status 1, with the offset and key).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v redis-server >/dev/null 2>&1; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server redis-tools >/dev/null
fi
cargo build --release --quiet
for f in fixtures/rdb/*.rdb fixtures/rdb/corrupt/bad-listpack-backlen.rdb; do
  [ -e "$f" ] || continue
  echo "\$ redsafe check $f"
  status=0
  ./target/release/redsafe check "$f" || status=$?
  echo "(exit status $status)"
  echo
done
