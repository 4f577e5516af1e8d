#!/usr/bin/env bash
# Long AddressSanitizer runs (nightly features through RUSTC_BOOTSTRAP=1): each target in turn,
# one libFuzzer process at a time, under `nice -n 15`, until REDSAFE_FUZZ_RUNS executions
# (default 10 million) or REDSAFE_FUZZ_SECONDS (default: no limit). The committed seeds in
# fuzz/corpus/ are only read; new inputs go to a working corpus under REDSAFE_FUZZ_WORK
# (default: a new temporary directory, kept so that a later run can continue from it).
#
#   bash fuzz/asan.sh                                   # every target, 10M executions each
#   REDSAFE_FUZZ_RUNS=2000000 bash fuzz/asan.sh resp    # one target, 2M executions
#
# Prints one line per target: executions, execs/s (libFuzzer's average), wall seconds, and
# the log / crashing input on failure.
set -euo pipefail
cd "$(dirname "$0")"

runs=${REDSAFE_FUZZ_RUNS:-10000000}
secs=${REDSAFE_FUZZ_SECONDS:-0}
work=${REDSAFE_FUZZ_WORK:-$(mktemp -d /tmp/redsafe-asan.XXXXXX)}

dict_for() {
  case "$1" in
    rdb_*|roundtrip) echo dict/rdb.dict ;;
    replay) echo dict/replay.dict ;;
    *) echo dict/resp.dict ;;
  esac
}

if [ $# -gt 0 ]; then targets=("$@"); else mapfile -t targets < <(cargo fuzz list); fi

# One ASan build (cargo fuzz's default sanitizer), copied aside so that later edits and builds
# of the tree do not touch the binaries being run (REDSAFE_FUZZ_NO_BUILD=1: reuse the copies
# already in $work/bin).
if [ -z "${REDSAFE_FUZZ_NO_BUILD:-}" ]; then
  RUSTC_BOOTSTRAP=1 nice -n 15 cargo fuzz build 2>&1 | grep -v -E '^ +(Compiling|Finished)' || true
  [ "${PIPESTATUS[0]}" -eq 0 ] || { echo "asan: build failed"; exit 1; }
  mkdir -p "$work/bin"
  for t in "${targets[@]}"; do
    cp "target/x86_64-unknown-linux-gnu/release/$t" "$work/bin/$t"
  done
fi

fail=0
for t in "${targets[@]}"; do
  mkdir -p "$work/$t/corpus" "$work/$t/artifacts"
  start=$(date +%s)
  # What `cargo fuzz run $t WORK SEEDS -- ARGS` runs, without its rebuild.
  if nice -n 15 "$work/bin/$t" "$work/$t/corpus" "corpus/$t" \
      -dict="$(dict_for "$t")" -runs="$runs" -max_total_time="$secs" -timeout=10 \
      -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$work/$t/artifacts/" \
      >"$work/$t/log" 2>&1; then
    status=ok
  else
    status=FAILED
    fail=1
  fi
  wall=$(( $(date +%s) - start ))
  n=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/$t/log")
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$work/$t/log")
  echo "asan $t: $status, ${n:-?} executions, ${rate:-?}/s, ${wall}s wall, $(date -u +%F), log $work/$t/log"
  if [ "$status" = FAILED ]; then
    grep -v -E '^#[0-9]+ +(NEW|REDUCE|pulse)|^	NEW_FUNC' "$work/$t/log" | tail -n 60
    ls -l "$work/$t/artifacts"
  fi
done
exit "$fail"
