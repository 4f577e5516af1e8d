#!/usr/bin/env bash
# Issue 6 benchmark: `redsafe dump --format jsonl` and `redsafe stats` throughput on a >= 1 GB
# RDB, and a side-by-side run against rdbtools (redis-rdb-tools, RDB <= 9 only) on an RDB 9
# copy of a ~10% subset, printing MB/s of input and the ratio. Data is cached under
# benches/data/ (the big file is made by redis-server: DEBUG POPULATE + the issue-2 collection
# mix; the RDB 9 copy by `redsafe convert`, the subset by `redsafe filter`).
#
#   bash benches/dump_bench.sh             # best of 3 rounds
#   ROUNDS=5 bash benches/dump_bench.sh
#   SKIP_RDBTOOLS=1 bash benches/dump_bench.sh
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=benches/data
ROUNDS=${ROUNDS:-3}
mkdir -p "$DATA"
cargo build --release --quiet
BIN=./target/release/redsafe

BIG=$DATA/dump-bench.rdb
if [ ! -s "$BIG" ]; then
  dir=$(mktemp -d); port=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
  redis-server --bind 127.0.0.1 --port "$port" --dir "$dir" --save "" --appendonly no \
    --enable-debug-command yes --rdbcompression no --daemonize no --logfile "$dir/log" &
  pid=$!
  until redis-cli -p "$port" ping >/dev/null 2>&1; do sleep 0.1; done
  redis-cli -p "$port" DEBUG POPULATE 6500000 key 120 >/dev/null
  python3 benches/gen_rdb_bench.py big | redis-cli -p "$port" --pipe >/dev/null
  redis-cli -p "$port" SAVE >/dev/null
  kill "$pid"; wait "$pid" 2>/dev/null || true
  mv "$dir/dump.rdb" "$BIG"; rm -rf "$dir"
fi
SUB9=$DATA/dump-bench-subset-rdb9.rdb
if [ ! -s "$SUB9" ]; then
  $BIN filter "$BIG" -o "$DATA/subset.tmp.rdb" --key '*1' --force >/dev/null
  $BIN convert "$DATA/subset.tmp.rdb" -o "$SUB9" --rdb-version 9 --force >/dev/null
  rm -f "$DATA/subset.tmp.rdb"
fi

# timed CMD... : best of $ROUNDS runs as "WALL CPU" seconds (CPU = user + sys), output
# discarded. The machine may be shared: wall-clock MB/s then undersell, CPU-time MB/s do not.
timed() {
  local bw=999999 bc=999999 line
  for _ in $(seq "$ROUNDS"); do
    line=$( { /usr/bin/time -f '%e %U %S' "$@" >/dev/null; } 2>&1 | tail -1)
    bw=$(python3 -c "w,u,s='$line'.split(); print(min($bw, float(w)))")
    bc=$(python3 -c "w,u,s='$line'.split(); print(min($bc, float(u)+float(s)))")
  done
  echo "$bw $bc"
}
mbps() { python3 -c "print(f'{$1/1e6/max($2,1e-9):.0f}')"; }
rate() { # SIZE "WALL CPU"
  set -- "$1" $2
  echo "$(mbps "$1" "$2") MB/s wall, $(mbps "$1" "$3") MB/s per CPU second"
}
# anon_peak CMD... : peak anonymous memory (RssAnon, KB) while it runs. The input is mapped,
# so total RSS would also count the file's page cache.
anon_peak() {
  "$@" >/dev/null &
  local pid=$! peak=0 v
  while kill -0 "$pid" 2>/dev/null; do
    v=$(awk '/RssAnon/{print $2}' "/proc/$pid/status" 2>/dev/null || true)
    if [ -n "$v" ] && [ "$v" -gt "$peak" ]; then peak=$v; fi
    sleep 0.02
  done
  wait "$pid" || true
  echo "$peak"
}

echo "load average: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores"
size=$(stat -c %s "$BIG"); cat "$BIG" >/dev/null
echo "big file: $BIG $(python3 -c "print(f'{$size/1e6:.0f}')") MB, $($BIN stats "$BIG" --format json | python3 -c 'import json,sys;print(json.load(sys.stdin)["totals"]["keys"])') keys"
echo "  redsafe dump --format jsonl: $(rate "$size" "$(timed $BIN dump "$BIG" --format jsonl)") (target >= 300)"
echo "  redsafe dump --format resp:  $(rate "$size" "$(timed $BIN dump "$BIG" --format resp)")"
echo "  redsafe dump --restore:      $(rate "$size" "$(timed $BIN dump "$BIG" --restore)")"
echo "  redsafe stats:               $(rate "$size" "$(timed $BIN stats "$BIG" --format json)") (target >= 800)"
echo "  redsafe diff (file vs itself, 2 x input): $(rate "$((2 * size))" "$(ROUNDS=1 timed $BIN diff "$BIG" "$BIG")")"
echo "  peak anonymous memory: dump jsonl $(anon_peak $BIN dump "$BIG") KB, resp $(anon_peak $BIN dump "$BIG" --format resp) KB, stats $(anon_peak $BIN stats "$BIG") KB"

if [ -n "${SKIP_RDBTOOLS:-}" ]; then exit 0; fi
VENV=$DATA/venv
if [ ! -x "$VENV/bin/rdb" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet rdbtools python-lzf
fi
s9=$(stat -c %s "$SUB9"); cat "$SUB9" >/dev/null
echo "side by side on $SUB9 ($(python3 -c "print(f'{$s9/1e6:.0f}')") MB, RDB 9, the keys matching '*1'):"
# ratio LABEL "WALL CPU"(rdbtools) "WALL CPU"(redsafe)
ratio() {
  set -- "$1" $2 $3
  echo "  $1: rdbtools $(mbps "$s9" "$2") MB/s wall ($(mbps "$s9" "$3") per CPU s), redsafe $(mbps "$s9" "$4") MB/s wall ($(mbps "$s9" "$5") per CPU s): redsafe $(python3 -c "print(f'{$2/$4:.0f}')")x faster (wall), $(python3 -c "print(f'{$3/$5:.0f}')")x (CPU)"
}
tr=$(ROUNDS=1 timed "$VENV/bin/rdb" --command json "$SUB9")
ratio "json export (rdb --command json vs dump --format jsonl)" "$tr" "$(timed $BIN dump "$SUB9" --format jsonl)"
tr=$(ROUNDS=1 timed "$VENV/bin/rdb" --command protocol "$SUB9")
ratio "redis protocol (rdb --command protocol vs dump --format resp)" "$tr" "$(timed $BIN dump "$SUB9" --format resp)"
tr=$(ROUNDS=1 timed "$VENV/bin/rdb" --command memory "$SUB9")
ratio "memory report (rdb --command memory vs stats --format csv --per-key)" "$tr" "$(timed $BIN stats "$SUB9" --format csv --per-key)"
ratio "memory report vs stats summary (element counts from headers)" "$tr" "$(timed $BIN stats "$SUB9")"
