# Shared setup of the S3 benchmarks (sourced): builds redsafe (unless NO_BUILD is set), starts
# s3s-fs on a free loopback port with bucket `bench` in a temporary WORK directory (removed on
# exit), exports credentials, and defines `measure LABEL BYTES COMMAND...`, which runs the
# command under /usr/bin/time and prints wall and CPU (user+sys) throughput and peak RSS; the
# command's stdout is kept in $WORK/last.out, its stderr in $WORK/last.log.
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
  sync  # the previous step's dirty pages are written back now, not billed to this step
  /usr/bin/time -f "%e %U %S %M" -o "$tf" "$@" > "$WORK/last.out" 2>"$WORK/last.log" || { cat "$WORK/last.log"; exit 1; }
  read -r wall user sys rss < "$tf"; rm -f "$tf"
  LABEL="$label" python3 -c "import os; b=$bytes; w=$wall; c=$user+$sys; print(f'{os.environ[\"LABEL\"]:<34} {b/1e6:8.0f} MB  wall {w:6.2f} s {b/1e6/w:6.0f} MB/s   cpu {c:6.2f} s {b/1e6/c:6.0f} MB/s   peak RSS {$rss/1024:6.1f} MiB')"
}
