#!/usr/bin/env bash
# Page latency and memory of `botscope serve` on the demo dataset, under
# 100 concurrent clients (each with an event stream open), one machine.
#   bash bench/serve.sh                    # builds the demo dataset if missing
#   CLIENTS=100 ROUNDS=5 bash bench/serve.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/botscope-target}"
BIN="${BIN:-$CARGO_TARGET_DIR/release/botscope}"
WORK="${WORK:-/tmp/botscope-bench-serve}"
CLIENTS="${CLIENTS:-100}"
ROUNDS="${ROUNDS:-5}"
PORT="${PORT:-18181}"
[ -x "$BIN" ] || cargo build --release --locked
if [ ! -d "$WORK/demo/dataset" ]; then
    "$BIN" demo --out "$WORK/demo" > "$WORK.demo.log" 2>&1
fi
# The limit per client address is off: all 100 clients come from 127.0.0.1.
"$BIN" serve --store "$WORK/demo/dataset" --listen "127.0.0.1:$PORT" --rate-limit 0 -q 2> "$WORK.serve.log" &
PID=$!
trap 'kill $PID 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
    grep -q "dashboard on" "$WORK.serve.log" 2>/dev/null && break
    sleep 0.2
done
echo "demo dataset: $(du -sh "$WORK/demo/dataset" | cut -f1); server pid $PID"
python3 bench/serve_load.py "127.0.0.1:$PORT" 1 3 "$PID" | tail -n +2 | sed 's/^/warm: /' | tail -1
python3 bench/serve_load.py "127.0.0.1:$PORT" "$CLIENTS" "$ROUNDS" "$PID"
