#!/usr/bin/env bash
# Benchmark `botscope logs` against tshark on the same capture, in the
# same run. Not a test: prints a Markdown table row for BENCHMARKS.md.
#
#   bash bench/logs.sh                 # 256 MB capture (default)
#   SIZE_MB=1024 bash bench/logs.sh    # any size
#   PROFILES="release dist" bash bench/logs.sh   # cargo profiles side by side, one tshark run
#   BASE=/path/to/older/botscope RUNS=5 bash bench/logs.sh
#       # an older build beside this one: every binary run RUNS times,
#       # interleaved (the machine's speed drifts), median and best kept
#
# The capture is the shared botnet and protocol captures written as many
# times as needed (crates/wire/examples/replicate.rs: each copy with its
# own hosts, a day later), so every protocol parser works.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${BOTSCOPE_DATA:-../shared/data}
WORK=${BENCH_DIR:-/tmp/botscope-bench}
SIZE_MB=${SIZE_MB:-256}
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/botscope-target}"
mkdir -p "$WORK"
BIG="$WORK/shared-x-${SIZE_MB}MB.pcapng"

if [ ! -s "$BIG" ]; then
    mapfile -t ONE < <(ls "$DATA"/botnet-pcaps/*.pcap* "$DATA"/protocol-pcaps/*.pcap* "$DATA"/protocol-pcaps/*.cap | sort)
    one_kb=$(du -ck "${ONE[@]}" | tail -1 | cut -f1)
    reps=$(( SIZE_MB * 1024 / one_kb + 1 ))
    # Each copy gets its own hosts and is shifted a day later: new
    # connections, not the same flows replayed (see the example's docs).
    cargo run --release -q -p botscope-wire --example replicate -- --reps "$reps" --out "$BIG" "${ONE[@]}"
fi
size=$(stat -c %s "$BIG")

PROFILES=${PROFILES:-release}
measure() { # prints "seconds maxrss_kb"
    /usr/bin/time -f '%e %M' -o "$WORK/time.txt" "$@" >/dev/null 2>"$WORK/stderr.txt" || true
    cat "$WORK/time.txt"
}
# Warm the page cache.
cat "$BIG" >/dev/null

RUNS=${RUNS:-1}
bins=()
for prof in $PROFILES; do
    cargo build --profile "$prof" -q -p botscope
    bins+=("$prof=$CARGO_TARGET_DIR/$prof/botscope")
done
if [ -n "${BASE:-}" ]; then
    bins+=("base=$BASE")
fi
# One line per run: "name threads seconds maxrss_kb", binaries interleaved.
: > "$WORK/runs.txt"
for _ in $(seq "$RUNS"); do
    for b in "${bins[@]}"; do
        name=${b%%=*} BS=${b#*=}
        read -r s kb < <(measure "$BS" logs --quiet -j 1 --out "$WORK/out1" "$BIG")
        echo "$name 1 $s $kb" >> "$WORK/runs.txt"
        read -r s kb < <(measure "$BS" logs --quiet --out "$WORK/out2" "$BIG")
        echo "$name all $s $kb" >> "$WORK/runs.txt"
    done
done
rows=()
for b in "${bins[@]}"; do
    name=${b%%=*} BS=${b#*=}
    med() { awk -v n="$name" -v j="$1" '$1==n && $2==j {print $3}' "$WORK/runs.txt" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
    kb() { awk -v n="$name" -v j="$1" '$1==n && $2==j {print $4}' "$WORK/runs.txt" | sort -n | tail -1; }
    best() { awk -v n="$name" -v j="$1" '$1==n && $2==j {print $3}' "$WORK/runs.txt" | sort -n | head -1; }
    rows+=("$name $(med 1) $(kb 1) $(med all) $(kb all) $(stat -c %s "$BS") $(best 1) $(best all)")
done
read -r ts_s ts_kb < <(measure tshark -r "$BIG" -T fields -e http.host -e http.request.uri -e http.referer \
    -e smtp.req.command -e dns.qry.name -e tls.handshake.extensions_server_name)

python3 - "$size" "$ts_s" "$ts_kb" "$RUNS" "${rows[@]}" <<'PY'
import sys
size, t, mt, runs = sys.argv[1:5]
runs = int(runs)
size = int(size); t = float(t)
mb = size / 1e6
print(f"| capture | {mb:.0f} MB |")
print("| --- | --- |")
for row in sys.argv[5:]:
    prof, b1, m1, b2, m2, binsize, best1, best2 = row.split()
    b1, b2, best1, best2 = float(b1), float(b2), float(best1), float(best2)
    tag = {"release": "", "base": " (BASE)"}.get(prof, f" (--profile {prof})")
    note = "" if runs == 1 else f" (median of {runs}; best {{:.2f}} s)"
    print(f"| botscope logs{tag}, 1 thread | {b1:.2f} s{note.format(best1)}, {mb/b1:.0f} MB/s, peak RSS {int(m1)//1024} MiB |")
    print(f"| botscope logs{tag}, all cores | {b2:.2f} s{note.format(best2)}, {mb/b2:.0f} MB/s, peak RSS {int(m2)//1024} MiB |")
    print(f"| ratio tshark / botscope{tag} (1 thread) | {t/b1:.1f}x (best {t/best1:.1f}x) |")
    print(f"| ratio tshark / botscope{tag} (all cores) | {t/b2:.1f}x (best {t/best2:.1f}x) |")
    print(f"| binary{tag} | {int(binsize)/1e6:.0f} MB |")
print(f"| tshark -T fields | {t:.2f} s, {mb/t:.1f} MB/s, peak RSS {int(mt)//1024} MiB |")
PY
