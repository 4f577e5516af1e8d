#!/usr/bin/env bash
# Runs every fuzz target for a bounded time on the stable toolchain (`cargo fuzz run -s none`:
# coverage-guided libFuzzer, no sanitizer) and fails on any crash, hang (-timeout) or
# out-of-memory, printing the offending input in hex. Called by .ci/run.
#
#   bash fuzz/ci.sh                    # the per-target budgets below (≤ 6 min in total)
#   REDSAFE_FUZZ_SECONDS=600 bash fuzz/ci.sh [TARGET...]   # longer, or only some targets
#
# New inputs go to a temporary corpus; the committed seeds in fuzz/corpus/ are only read.
set -euo pipefail
cd "$(dirname "$0")"

if ! cargo fuzz --version >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked --version '^0.13'
fi

# Seconds per target (default 30). Keep the sum at or under 360.
declare -A SECS=(
  [rdb_file]=60
  [rdb_value]=60
  [resp]=40
  [manifest]=20
  [aof_set]=40
  [roundtrip]=40
  [filter]=40
  [replay]=40
)

dict_for() {
  case "$1" in
    rdb_*|roundtrip) echo dict/rdb.dict ;;
    replay) echo dict/replay.dict ;;
    *) echo dict/resp.dict ;;
  esac
}

if [ $# -gt 0 ]; then targets=("$@"); else mapfile -t targets < <(cargo fuzz list); fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# One build for all targets (release, coverage instrumentation only).
cargo fuzz build -s none 2>&1 | grep -v -E '^ +(Compiling|Finished)' || true
[ "${PIPESTATUS[0]}" -eq 0 ] || { echo "fuzz: build failed"; exit 1; }

fail=0
for t in "${targets[@]}"; do
  secs=${REDSAFE_FUZZ_SECONDS:-${SECS[$t]:-30}}
  mkdir -p "$work/$t/new" "$work/$t/artifacts"
  args=(-max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
        -artifact_prefix="$work/$t/artifacts/")
  d=$(dict_for "$t")
  [ -f "$d" ] && args+=(-dict="$d")
  seeds=()
  [ -d "corpus/$t" ] && seeds+=("corpus/$t")
  if cargo fuzz run -s none "$t" "$work/$t/new" "${seeds[@]}" -- "${args[@]}" >"$work/$t/log" 2>&1; then
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/$t/log")
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$work/$t/log")
    echo "fuzz $t: ok, ${runs:-?} executions in ${secs}s (${rate:-?}/s)"
  else
    fail=1
    echo "fuzz $t: FAILED"
    grep -v -E '^#[0-9]+ +(NEW|REDUCE|pulse)|^	NEW_FUNC' "$work/$t/log" | tail -n 80
    for a in "$work/$t/artifacts"/*; do
      [ -f "$a" ] || continue
      echo "fuzz $t: offending input $(basename "$a") ($(stat -c %s "$a") bytes), hex:"
      od -An -v -tx1 "$a" | tr -d ' \n'
      echo
    done
    echo "fuzz $t: save the input under fixtures/regressions/$t/ (cargo test replays it);"
    echo "  reproduce with: cd fuzz && cargo fuzz run -s none $t FILE"
  fi
done
exit "$fail"
