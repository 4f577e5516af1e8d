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
run() { # label args...
  local label=$1; shift
  for r in $(seq "$ROUNDS"); do
    rm -f "$OUT/o.aof"
    local t0 t1
    t0=$(date +%s.%N)
    target/release/redsafe filter "$IN" -o "$OUT/o.aof" "$@" > /dev/null
    t1=$(date +%s.%N)
    python3 -c "b=$BYTES; t=$t1-$t0; print(f'$label round $r: {b/1e6:.0f} MB in {t:.2f} s = {b/1e6/t:.0f} MB/s')"
  done
}
echo "input: $IN ($BYTES bytes), $(nproc) cores"
run "--drop-command DEL (1% removed)" --drop-command DEL
run "--drop DEL-key:1*" --drop 'DEL key:1*'
run "--exclude-key h:* (keys of every command)" --exclude-key 'h:*'
