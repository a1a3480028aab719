#!/usr/bin/env bash
# Benchmark `botscope simulate`: generation speed of trap mail and sandbox
# captures (MB written per second). Not a test; prints Markdown rows.
#
#   bash bench/simulate.sh              # scale 20, 7 December days
#   SCALE=50 DAYS=14 bash bench/simulate.sh
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=${BENCH_DIR:-/tmp/botscope-bench}
SCALE=${SCALE:-20}
DAYS=${DAYS:-7}
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/botscope-target}"
cargo build --release -q -p botscope
BS="$CARGO_TARGET_DIR/release/botscope"
to=$(date -u -d "2010-12-01 + $((DAYS - 1)) days" +%F)
run() { # label, extra args
    local label=$1; shift
    rm -rf "$WORK/sim"
    /usr/bin/time -f '%e %M' -o "$WORK/time.txt" "$BS" simulate --quiet --seed 1 --scale "$SCALE" \
        --from 2010-12-01 --to "$to" --out "$WORK/sim" "$@"
    read -r secs kb < "$WORK/time.txt"
    bytes=$(du -sb "$WORK/sim" | cut -f1)
    python3 -c "import sys; b=int(sys.argv[2]); s=float(sys.argv[3]); print(f'| {sys.argv[1]} | {b/1e6:.0f} MB | {s:.2f} s | {b/1e6/s:.0f} MB/s | peak RSS {int(sys.argv[4])//1024} MiB |')" \
        "$label" "$bytes" "$secs" "$kb"
}
echo "| simulate winter-2010, scale $SCALE, $DAYS days | output | time | speed | memory |"
echo "| --- | --- | --- | --- | --- |"
run "trap mail only" --no-pcaps
run "sandbox captures only" --no-mail
run "both" 
