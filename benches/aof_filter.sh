#!/usr/bin/env bash
# Issue 7 benchmark: `redsafe filter` on a ~1 GiB AOF where 1% of the commands (DEL) are
# removed, and the same file filtered by a key glob (every command's keys extracted).
# Prints MB/s per run; the file is cached under benches/data/.
#
#   bash benches/aof_filter.sh            # 3 rounds
#   ROUNDS=5 SIZE=$((256<<20)) bash benches/aof_filter.sh
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=benches/data
ROUNDS=${ROUNDS:-3}
SIZE=${SIZE:-$((1<<30))}
mkdir -p "$DATA"
cargo build --release --quiet
IN="$DATA/aof_filter_$SIZE.aof"
[ -s "$IN" ] || python3 benches/aof_filter_gen.py "$SIZE" > "$IN"
BYTES=$(stat -c %s "$IN")
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
cat "$IN" > /dev/null # warm the page cache
# Prints wall-clock and CPU (user+sys) throughput. The machine may be shared: CPU time is the
# stable figure; wall time includes waiting for the disk (the output is fsynced).
measure() { # label command...
  local label=$1; shift
  local tf; tf=$(mktemp)
  /usr/bin/time -f "%e %U %S" -o "$tf" "$@" > /dev/null
  read -r wall user sys < "$tf"; rm -f "$tf"
  LABEL="$label" python3 -c "import os; b=$BYTES; w=$wall; c=$user+$sys; print(f'{os.environ[\"LABEL\"]:<48} wall {w:6.2f} s {b/1e6/w:6.0f} MB/s   cpu {c:5.2f} s {b/1e6/c:6.0f} MB/s')"
}
run() { # label args...
  local label=$1; shift
  for r in $(seq "$ROUNDS"); do
    rm -f "$OUT/o.aof"
    measure "$label" target/release/redsafe filter "$IN" -o "$OUT/o.aof" "$@"
  done
}
echo "input: $IN ($BYTES bytes), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
for r in $(seq "$ROUNDS"); do
  rm -f "$OUT/o.aof"
  measure "baseline: cp + sync" sh -c "cp '$IN' '$OUT/o.aof' && sync '$OUT/o.aof'"
done
for r in $(seq "$ROUNDS"); do
  measure "--drop-command DEL --dry-run (no output)" target/release/redsafe filter "$IN" --dry-run --drop-command DEL
done
run "--drop-command DEL (1% removed)" --drop-command DEL
run "--drop 'DEL key:1*'" --drop 'DEL key:1*'
run "--exclude-key 'h:*' (keys of every command)" --exclude-key 'h:*'
