#!/usr/bin/env bash
# Issue 3 benchmark: `redsafe check` and `redsafe fix` on a >= 1 GiB AOF of mixed commands
# (SET/HSET/ZADD/RPUSH/SADD/INCR/PEXPIREAT/DEL, binary values, SELECT, MULTI/EXEC, one #TS:
# per MiB), side by side with `redis-check-aof` (7.0.15) on the same file.
# The file is generated once under benches/data/ (benches/gen_mixed_aof.py).
#
#   bash benches/aof_check.sh             # 3 rounds
#   ROUNDS=5 SIZE_MB=2048 bash benches/aof_check.sh
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=benches/data
ROUNDS=${ROUNDS:-3}
SIZE_MB=${SIZE_MB:-1100}
mkdir -p "$DATA"
cargo build --release --quiet
IN="$DATA/aof_check_${SIZE_MB}M.aof"
[ -s "$IN" ] || python3 benches/gen_mixed_aof.py "$IN" "$SIZE_MB"
BYTES=$(stat -c %s "$IN")
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
cat "$IN" > /dev/null # warm the page cache
# Wall-clock and CPU (user+sys) throughput. On a shared machine CPU time is the stable figure.
measure() { # label command...
  local label=$1; shift
  local tf; tf=$(mktemp)
  /usr/bin/time -f "%e %U %S" -o "$tf" "$@" > /dev/null || true
  read -r wall user sys < "$tf"; rm -f "$tf"
  LABEL="$label" python3 -c "import os; b=$BYTES; w=$wall; c=$user+$sys; print(f'{os.environ[\"LABEL\"]:<40} wall {w:6.2f} s {b/1e9/w:5.2f} GB/s   cpu {c:6.2f} s {b/1e9/c:5.2f} GB/s')"
}
echo "input: $IN ($BYTES bytes), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
for r in $(seq "$ROUNDS"); do
  measure "redsafe check" target/release/redsafe check --json "$IN"
done
for r in $(seq "$ROUNDS"); do
  measure "redis-check-aof" redis-check-aof "$IN"
done
# A truncated copy: fix = one read to find the cut, the copy of what is kept, and the check
# of the output before it is committed.
head -c $((BYTES - 1000)) "$IN" > "$OUT/cut.aof"
for r in $(seq "$ROUNDS"); do
  rm -f "$OUT/fixed.aof"
  measure "redsafe fix -o (1000 bytes cut off)" target/release/redsafe fix "$OUT/cut.aof" -o "$OUT/fixed.aof"
done
