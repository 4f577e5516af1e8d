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
DATA=benches/data
mkdir -p "$DATA"
[ -n "${NO_BUILD:-}" ] || cargo build --release --quiet
BIN=target/release/redsafe
S3S=${REDSAFE_S3S_FS:-$(command -v s3s-fs || echo "$HOME/.cargo/bin/s3s-fs")}
[ -x "$S3S" ] || { echo "s3s-fs not found: cargo install s3s-fs --version 0.14.1 --features binary --locked"; exit 2; }

WORK=$(mktemp -d -p "$PWD/$DATA")
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p "$WORK/s3/bench"
"$S3S" --host 127.0.0.1 --port "$PORT" --access-key bench --secret-key bench "$WORK/s3" >/dev/null 2>&1 &
S3PID=$!
trap 'kill $S3PID 2>/dev/null; rm -rf "$WORK"' EXIT
export AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench AWS_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true
EP=(--endpoint-url "http://127.0.0.1:$PORT")
for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$PORT) 2>/dev/null && break; sleep 0.05; done

measure() { # label bytes command...
  local label=$1 bytes=$2; shift 2
  local tf; tf=$(mktemp)
  /usr/bin/time -f "%e %U %S %M" -o "$tf" "$@" > "$WORK/last.out" 2>"$WORK/last.log" || { cat "$WORK/last.log"; exit 1; }
  read -r wall user sys rss < "$tf"; rm -f "$tf"
  LABEL="$label" python3 -c "import os; b=$bytes; w=$wall; c=$user+$sys; print(f'{os.environ[\"LABEL\"]:<34} {b/1e6:8.0f} MB  wall {w:6.2f} s {b/1e6/w:6.0f} MB/s   cpu {c:6.2f} s {b/1e6/c:6.0f} MB/s   peak RSS {$rss/1024:6.1f} MiB')"
}

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
