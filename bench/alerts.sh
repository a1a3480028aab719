#!/usr/bin/env bash
# Benchmark the alerts (change points + rules) against ruptures, the
# usual Python change-point library, on the same synthetic families.
# Not a test; prints Markdown rows.
#
#   bash bench/alerts.sh     # 100 families × 365 days against ruptures,
#                            # then 100 × 3650 (ten years) botscope alone
#
# ruptures has no count cost: its PELT runs with the l2 cost (min_size 3,
# jump 1, penalty 3·ln(n)·σ², σ from the series' differences), i.e. the
# segmentation only; botscope's figure includes the negative-binomial
# PELT, the dispersion estimate and every alert rule. ruptures is
# installed into a venv under $BENCH_DIR on first use (pip, PyPI).
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=${BENCH_DIR:-/tmp/botscope-bench}
mkdir -p "$WORK"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/botscope-target}"
cargo build --release -q -p botscope-timeline --example alerts_bench
BIN="$CARGO_TARGET_DIR/release/examples/alerts_bench"
VENV="$WORK/venv-ruptures"
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import ruptures' 2>/dev/null; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q 'ruptures==1.1.10'
fi
peer() { # csv
    "$VENV/bin/python" - "$1" <<'PY'
import sys, time, math, collections
import numpy as np, ruptures as rpt
series = collections.defaultdict(dict)
days = 0
for line in open(sys.argv[1]):
    f, d, c = line.rstrip("\n").split(",")
    series[f][int(d)] = float(c)
    days = max(days, int(d) + 1)
arrays = [np.array([s.get(t, 0.0) for t in range(days)]) for s in series.values()]
t0 = time.perf_counter()
cps = 0
for y in arrays:
    sigma2 = (np.median(np.abs(np.diff(y))) / 0.6745) ** 2 / 2 or 1.0
    algo = rpt.Pelt(model="l2", min_size=3, jump=1).fit(y)
    cps += len(algo.predict(pen=3 * math.log(len(y)) * sigma2)) - 1
secs = time.perf_counter() - t0
print(f"{secs:.4f} {cps}")
PY
}
echo "| families × days | botscope alerts | ruptures PELT (l2) | ratio |"
echo "| --- | --- | --- | --- |"
read -r _ _ _ _ _ secs _ pps _ alerts <<< "$("$BIN" 100 365 "$WORK/alerts.csv")"
read -r psecs pcps <<< "$(peer "$WORK/alerts.csv")"
python3 -c "import sys; a=float(sys.argv[1]); b=float(sys.argv[2]); print(f'| 100 × 365 | {a*1000:.1f} ms ({sys.argv[3]} alerts) | {b*1000:.0f} ms ({sys.argv[4]} change points) | {b/a:.0f}x |')" \
    "$secs" "$psecs" "$alerts" "$pcps"
# Ten years of 100 families: ruptures' O(n²) Python loop would take hours.
read -r _ _ _ _ _ secs _ pps _ alerts <<< "$("$BIN" 100 3650)"
python3 -c "import sys; a=float(sys.argv[1]); print(f'| 100 × 3650 | {a*1000:.0f} ms ({sys.argv[2]} alerts, {float(sys.argv[3])/1e3:.0f}k daily points/s) | not run | |')" \
    "$secs" "$alerts" "$pps"
