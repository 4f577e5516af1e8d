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
  /usr/bin/time -f "%e %U %S %M" -o "$tf" "$@" > /dev/null 2>"$WORK/last.log" || { cat "$WORK/last.log"; exit 1; }
  read -r wall user sys rss < "$tf"; rm -f "$tf"
  LABEL="$label" python3 -c "import os; b=$bytes; w=$wall; c=$user+$sys; print(f'{os.environ[\"LABEL\"]:<34} {b/1e6:8.0f} MB  wall {w:6.2f} s {b/1e6/w:6.0f} MB/s   cpu {c:6.2f} s {b/1e6/c:6.0f} MB/s   peak RSS {$rss/1024:6.1f} MiB')"
}

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
