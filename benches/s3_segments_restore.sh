#!/usr/bin/env bash
# Restore of a set plus many AOF segments from s3s-fs on loopback, with 1 download worker and
# with the default 4 (`--parallel`): the segment prefetch of `redsafe restore`.
#
# The data directory of benches/s3_gen_datadir.py is shipped as a set holding only the first
# 1 MiB of its INCR file; the rest of the INCR file is then appended and shipped by one
# `ship --once` as segments of SEG bytes (hidden --max-segment), as a long-running ship would
# have uploaded them. Prints wall and CPU (user+sys, redsafe only) and peak RSS per run; the
# s3s-fs server shares the 2 cores, so wall time includes its work.
#
#   bash benches/s3_segments_restore.sh                       # 512 MiB, 8 MiB segments
#   SIZE=$((1<<30)) SEG=$((4<<20)) bash benches/s3_segments_restore.sh
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE=${SIZE:-$((512<<20))}
SEG=${SEG:-$((8<<20))}
. benches/s3_common.sh

src="$DATA/s3_datadir_$SIZE"
[ -s "$src/appendonlydir/appendonly.aof.1.incr.aof" ] || python3 benches/s3_gen_datadir.py "$src" "$SIZE"
dir="$WORK/datadir"
mkdir -p "$dir/appendonlydir"
cp "$src"/appendonlydir/appendonly.aof.1.base.aof "$src"/appendonlydir/appendonly.aof.manifest "$dir/appendonlydir/"
incr="$src/appendonlydir/appendonly.aof.1.incr.aof"
head -c $((1<<20)) "$incr" > "$dir/appendonlydir/appendonly.aof.1.incr.aof"
url="s3://bench/seg"
"$BIN" ship --once --full --no-rdb --data-dir "$dir" --to "$url" "${EP[@]}" 2>/dev/null
tail -c +$(((1<<20) + 1)) "$incr" >> "$dir/appendonlydir/appendonly.aof.1.incr.aof"
"$BIN" ship --once --no-rdb --data-dir "$dir" --to "$url" --max-segment "$SEG" "${EP[@]}" 2>/dev/null
nseg=$(find "$WORK/s3/bench/seg/segments" -name '*.aof.zst' | wc -l)
bytes=$(du -cb "$dir"/appendonlydir/* | tail -1 | cut -f1)
echo "redsafe restore, 1 set + $nseg segments of $SEG bytes, s3s-fs on 127.0.0.1:$PORT, $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
for p in 1 4 1 4; do
  measure "restore --at latest --parallel $p" "$bytes" "$BIN" restore "$url" --at latest -o "$WORK/out" --parallel "$p" --json "${EP[@]}"
  python3 -c "import json,sys; r=json.load(open(sys.argv[1])); assert r['segments_applied']==int(sys.argv[2]), r" "$WORK/last.out" "$nseg"
  cmp "$WORK/out/appendonlydir/appendonly.aof.1.incr.aof" "$dir/appendonlydir/appendonly.aof.1.incr.aof" \
    || { echo "restored INCR differs from the source"; exit 1; }
  rm -rf "$WORK/out"
done
