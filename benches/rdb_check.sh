#!/usr/bin/env bash
# Issue 2 benchmark: `redsafe check` vs `redis-check-rdb` on two generated files, alternating
# runs, printing MB/s and the ratio. Files are cached under benches/data/.
#
#   bash benches/rdb_check.sh            # generate if missing, then 3 alternating rounds
#   ROUNDS=5 bash benches/rdb_check.sh
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=benches/data
ROUNDS=${ROUNDS:-3}
mkdir -p "$DATA"
cargo build --release --quiet

gen() { # name populate_count populate_size compression
  local name=$1 count=$2 size=$3 comp=$4 dir port pid
  [ -s "$DATA/$name.rdb" ] && return
  dir=$(mktemp -d); port=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
  redis-server --bind 127.0.0.1 --port "$port" --dir "$dir" --save "" --appendonly no \
    --enable-debug-command yes --rdbcompression "$comp" --daemonize no --logfile "$dir/log" &
  pid=$!
  until redis-cli -p "$port" ping >/dev/null 2>&1; do sleep 0.1; done
  redis-cli -p "$port" DEBUG POPULATE "$count" key "$size" >/dev/null
  python3 benches/gen_rdb_bench.py "$([ "$name" = small ] && echo small || echo big)" | redis-cli -p "$port" --pipe >/dev/null
  redis-cli -p "$port" SAVE >/dev/null
  kill "$pid"; wait "$pid" 2>/dev/null || true
  mv "$dir/dump.rdb" "$DATA/$name.rdb"; rm -rf "$dir"
}
gen small 3000000 40 yes
gen big 5000000 120 no

mbps() { python3 -c "print(f'{$1/1e6/$2:.0f}')"; }
now() { date +%s.%N; }
for name in small big; do
  f="$DATA/$name.rdb"; size=$(stat -c %s "$f")
  cat "$f" >/dev/null  # warm the page cache
  best_r=999; best_c=999
  for _ in $(seq "$ROUNDS"); do
    t0=$(now); ./target/release/redsafe check "$f" >/dev/null; t1=$(now)
    redis-check-rdb "$f" >/dev/null; t2=$(now)
    r=$(python3 -c "print($t1-$t0)"); c=$(python3 -c "print($t2-$t1)")
    best_r=$(python3 -c "print(min($best_r,$r))"); best_c=$(python3 -c "print(min($best_c,$c))")
  done
  rss=$( { /usr/bin/time -f '%M' ./target/release/redsafe check "$f" >/dev/null; } 2>&1 | tail -1)
  echo "$name: $(python3 -c "print(f'{$size/1e6:.0f}')") MB  redsafe $(mbps "$size" "$best_r") MB/s  redis-check-rdb $(mbps "$size" "$best_c") MB/s  ratio $(python3 -c "print(f'{$best_c/$best_r:.1f}')")x  redsafe max RSS ${rss} KB (file is mapped: RSS counts page cache of the map)"
done
