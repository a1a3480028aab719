#!/usr/bin/env bash
# What `botscope trace` (decoding + per-host activity analysis) costs next
# to `botscope logs` (decoding + writing logs) on the decoding engine's
# benchmark capture (see bench/logs.sh: the shared captures replicated).
# Not a test: prints a Markdown table for BENCHMARKS.md.
#
#   bash bench/trace.sh                 # 256 MB capture (default)
#   SIZE_MB=1024 bash bench/trace.sh
#
# Two figures: the activity stage alone next to decoding alone, in one
# process on the same events (crates/activity/examples/stage_cost.rs,
# best of 3), and the two commands end to end (wall clock, peak RSS).
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${BOTSCOPE_DATA:-../shared/data}
WORK=${BENCH_DIR:-/tmp/botscope-bench-trace}
SIZE_MB=${SIZE_MB:-256}
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/botscope-target}"
mkdir -p "$WORK"
BIG=${CAPTURE:-"$WORK/shared-x-${SIZE_MB}MB.pcapng"}

if [ ! -s "$BIG" ]; then
    mapfile -t ONE < <(ls "$DATA"/botnet-pcaps/*.pcap* "$DATA"/protocol-pcaps/*.pcap* "$DATA"/protocol-pcaps/*.cap | sort)
    one_kb=$(du -ck "${ONE[@]}" | tail -1 | cut -f1)
    reps=$(( SIZE_MB * 1024 / one_kb + 1 ))
    cargo run --release -q -p botscope-wire --example replicate -- --reps "$reps" --out "$BIG" "${ONE[@]}"
fi
size=$(stat -c %s "$BIG")

cargo build --release -q -p botscope
cargo build --release -q -p botscope-activity --example stage_cost
BS="$CARGO_TARGET_DIR/release/botscope"
cat "$BIG" >/dev/null

stage=$("$CARGO_TARGET_DIR/release/examples/stage_cost" "$BIG")

measure() { # prints "seconds maxrss_kb"
    /usr/bin/time -f '%e %M' -o "$WORK/time.txt" "$@" >/dev/null 2>"$WORK/stderr.txt" || true
    cat "$WORK/time.txt"
}
read -r logs_s logs_kb < <(measure "$BS" logs --quiet -j 1 --out "$WORK/out" "$BIG")
read -r trace_s trace_kb < <(measure "$BS" trace --json "$BIG")

python3 - "$size" "$stage" "$logs_s" "$logs_kb" "$trace_s" "$trace_kb" <<'PY'
import sys
size, stage, ls, lk, ts, tk = sys.argv[1:]
mb = int(size) / 1e6
ls, ts = float(ls), float(ts)
print(f"| capture | {mb:.0f} MB |")
print("| --- | --- |")
print(f"| stage_cost (one process, best of 3) | {stage} |")
print(f"| botscope logs -j 1 | {ls:.2f} s, peak RSS {int(lk)//1024} MiB |")
print(f"| botscope trace | {ts:.2f} s, peak RSS {int(tk)//1024} MiB |")
print(f"| ratio trace / logs | {ts/ls:.2f}x |")
PY
