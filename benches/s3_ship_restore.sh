#!/usr/bin/env bash
# Issue 9 benchmark: `redsafe ship` of a data directory (multi-part AOF) to a real S3 server on
# loopback (s3s-fs, files on the same disk), then `redsafe restore --at latest` from it.
# Prints wall-clock and CPU throughput and peak RSS. The s3s-fs server shares the 2 cores and
# the disk with redsafe, so wall time includes its work too.
#
#   bash benches/s3_ship_restore.sh                      # 1 GiB, 3 rounds, then 5 GiB once
#   SIZE=$((256<<20)) BIG=0 ROUNDS=1 bash benches/s3_ship_restore.sh
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE=${SIZE:-$((1<<30))}
BIG=${BIG:-$((5<<30))}
ROUNDS=${ROUNDS:-3}
LEVEL=${LEVEL:-3}
. benches/s3_common.sh

bench() { # size rounds
  local size=$1 rounds=$2
  local dir="$DATA/s3_datadir_$size"
  [ -s "$dir/appendonlydir/appendonly.aof.1.incr.aof" ] || python3 benches/s3_gen_datadir.py "$dir" "$size"
  local bytes; bytes=$(du -cb "$dir"/appendonlydir/* | tail -1 | cut -f1)
  cat "$dir"/appendonlydir/* > /dev/null # warm the page cache
  for r in $(seq "$rounds"); do
    local url="s3://bench/r$size-$r"
    measure "ship --once --full (zstd $LEVEL)" "$bytes" "$BIN" ship --once --full --no-rdb --data-dir "$dir" --to "$url" --zstd-level "$LEVEL" "${EP[@]}"
    measure "restore --at latest" "$bytes" "$BIN" restore "$url" --at latest -o "$WORK/out" "${EP[@]}"
    rm -rf "$WORK/out" "$WORK/s3/bench/r$size-$r"
  done
}

echo "redsafe ship/restore vs s3s-fs on 127.0.0.1:$PORT, $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
bench "$SIZE" "$ROUNDS"
if [ "$BIG" -gt 0 ]; then
  bench "$BIG" 1
fi
