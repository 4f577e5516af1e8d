#!/usr/bin/env bash
# Peak anonymous memory (RssAnon) of every command on a big RDB and a big AOF.
#
# Inputs (made once by redis-server 7.0 under $DATA, reused while their SCALE matches): at
# SCALE=1 an RDB of ~7 M small keys with a 500 MB list and a 200 MB string (~0.9 GB,
# `rdbcompression no`), the same data as a ~0.9 GB AOF (`appendonly yes`, no RDB preamble,
# `aof-timestamp-enabled yes`), a copy of that AOF with 4 KiB zeroed in the middle (for
# `fix --salvage`), and a 4-command AOF of `SETBIT kN 4294967295 1` (a 512 MB string each in
# Redis). Every command runs under benches/mem_peak.py, which polls /proc/PID/status every
# 20 ms; mapped input pages are RssFile, so RssAnon is what the command allocated itself.
#
#   SCALE=0.1 nice -n 10 bash benches/memory.sh      # ~100 MB inputs, a few minutes
#   nice -n 10 bash benches/memory.sh                # the full ~1 GB run
#   BIN=target/ci/redsafe ONLY='digest|dump' bash benches/memory.sh
#   KEEP=1 ...                                       # keep $DATA afterwards (default: deleted)
set -euo pipefail
cd "$(dirname "$0")/.."
SCALE=${SCALE:-1}
MEMDIR=${MEMDIR:-/tmp/redsafe-mem}
DATA=${DATA:-$MEMDIR}
BIN=${BIN:-target/ci/redsafe}
ONLY=${ONLY:-.}
PEAK="python3 benches/mem_peak.py"
if [ -z "${NO_BUILD:-}" ]; then cargo build --profile ci --quiet; fi
mkdir -p "$DATA"

free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }

if [ "$(cat "$DATA/scale" 2>/dev/null)" != "$SCALE" ]; then
  rm -rf "${DATA:?}"/*
  srv=$DATA/server; mkdir -p "$srv"
  port=$(free_port)
  redis-server --bind 127.0.0.1 --port "$port" --dir "$srv" --save "" --appendonly yes \
    --aof-use-rdb-preamble no --aof-timestamp-enabled yes --appendfsync no \
    --auto-aof-rewrite-percentage 0 --rdbcompression no --enable-debug-command yes \
    --daemonize no --logfile "$srv/log" &
  pid=$!
  until redis-cli -p "$port" ping >/dev/null 2>&1; do sleep 0.1; done
  python3 benches/gen_memory_inputs.py "$SCALE" | redis-cli -p "$port" --pipe >/dev/null
  redis-cli -p "$port" SAVE >/dev/null
  redis-cli -p "$port" INFO memory | awk -F: '/^used_memory:/{print $2}' | tr -d '\r' >"$DATA/used_memory"
  redis-cli -p "$port" DEBUG DIGEST | tr -d '\r' >"$DATA/digest"
  date +%s >"$DATA/at"
  kill "$pid"; wait "$pid" 2>/dev/null || true
  mv "$srv/dump.rdb" "$DATA/big.rdb"
  mv "$srv/appendonlydir" "$DATA/aof"
  # A damaged copy for fix --salvage: 4 KiB of zeros in the middle of the INCR file.
  cp -r "$DATA/aof" "$DATA/aof-damaged"
  incr=$(ls "$DATA"/aof-damaged/*.incr.aof)
  half=$(( $(stat -c %s "$incr") / 2 ))
  dd if=/dev/zero of="$incr" bs=4096 count=1 seek=$((half / 4096)) conv=notrunc status=none
  python3 - "$DATA/setbit.aof" <<'PY'
import sys
with open(sys.argv[1], "wb") as f:
    for k in range(4):
        a = [b"SETBIT", b"k%d" % k, b"4294967295", b"1"]
        f.write(b"*4\r\n" + b"".join(b"$%d\r\n%s\r\n" % (len(x), x) for x in a))
PY
  rm -rf "$srv"
  echo "$SCALE" >"$DATA/scale"
fi

RDB=$DATA/big.rdb; AOF=$DATA/aof; OUT=$DATA/out
mb() { python3 -c "print(f'{$1/1048576:.0f}')"; }
rdb_size=$(stat -c %s "$RDB"); aof_size=$(du -sb "$AOF" | cut -f1)
used=$(cat "$DATA/used_memory")
big_list=$(( $(python3 -c "print(int(500_000_000 * $SCALE) // 1000 * 1000)") ))
big_str=$(python3 -c "print(int(200_000_000 * $SCALE))")
echo "redsafe memory benchmark: SCALE=$SCALE, $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg), $($BIN --version)"
echo "RDB $RDB: $(mb "$rdb_size") MiB; AOF $AOF: $(mb "$aof_size") MiB; largest values: list $(mb "$big_list") MiB (1000-byte elements), string $(mb "$big_str") MiB (zero bytes)"
echo "redis-server 7.0 used_memory for the data: $(mb "$used") MiB"
echo
echo "| command | peak RssAnon (MiB) | wall (s) | exit |"
echo "| --- | ---: | ---: | ---: |"
run() { # LABEL CMD...
  local label=$1; shift
  if ! [[ $label =~ $ONLY ]]; then return; fi
  rm -rf "$OUT"

  set -- $($PEAK "$@")
  echo "| \`$label\` | $(python3 -c "print(f'{$1/1024:.0f}')") | $2 | $3 |"
  rm -rf "$OUT"
}
run "check RDB"               $BIN check "$RDB"
run "dump --format jsonl"     $BIN dump "$RDB" --format jsonl
run "dump --format resp"      $BIN dump "$RDB" --format resp
run "stats"                   $BIN stats "$RDB"
run "diff RDB RDB"            $BIN diff "$RDB" "$RDB"
run "digest RDB"              $BIN digest "$RDB"
run "filter --exclude-key 's:1*'" $BIN filter "$RDB" -o "$OUT" --exclude-key 's:1*'
run "convert --rdb-version 9" $BIN convert "$RDB" -o "$OUT" --rdb-version 9
run "salvage"                 $BIN salvage "$RDB" -o "$OUT"
run "check AOF"               $BIN check "$AOF"
run "digest AOF"              $BIN digest "$AOF"
run "compact AOF"             $BIN compact "$AOF" -o "$OUT"
run "fix --salvage (damaged AOF)" $BIN fix "$DATA/aof-damaged" --salvage -o "$OUT"
run "timeline AOF"            $BIN timeline "$AOF"
run "restore AOF --at"        $BIN restore "$AOF" --at "$(cat "$DATA/at")" -o "$OUT"
run "digest 4x SETBIT 4294967295" $BIN digest "$DATA/setbit.aof"
run "compact 4x SETBIT 4294967295" $BIN compact "$DATA/setbit.aof" -o "$OUT"
if [ -z "${KEEP:-}" ]; then rm -rf "${DATA:?}"; fi
