#!/usr/bin/env bash
# Benchmark `botscope logs` against tshark on the same capture, in the
# same run. Not a test: prints a Markdown table row for BENCHMARKS.md.
#
#   bash bench/logs.sh                 # 256 MB capture (default)
#   SIZE_MB=1024 bash bench/logs.sh    # any size
#   PROFILES="release dist" bash bench/logs.sh   # cargo profiles side by side, one tshark run
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

rows=()
for prof in $PROFILES; do
    cargo build --profile "$prof" -q -p botscope
    BS="$CARGO_TARGET_DIR/$prof/botscope"
    read -r bs1_s bs1_kb < <(measure "$BS" logs --quiet -j 1 --out "$WORK/out1" "$BIG")
    read -r bs2_s bs2_kb < <(measure "$BS" logs --quiet --out "$WORK/out2" "$BIG")
    rows+=("$prof $bs1_s $bs1_kb $bs2_s $bs2_kb $(stat -c %s "$BS")")
done
read -r ts_s ts_kb < <(measure tshark -r "$BIG" -T fields -e http.host -e http.request.uri -e http.referer \
    -e smtp.req.command -e dns.qry.name -e tls.handshake.extensions_server_name)

python3 - "$size" "$ts_s" "$ts_kb" "${rows[@]}" <<'PY'
import sys
size, t, mt = sys.argv[1:4]
size = int(size); t = float(t)
mb = size / 1e6
print(f"| capture | {mb:.0f} MB |")
print("| --- | --- |")
for row in sys.argv[4:]:
    prof, b1, m1, b2, m2, binsize = row.split()
    b1, b2 = float(b1), float(b2)
    tag = "" if prof == "release" else f" (--profile {prof})"
    print(f"| botscope logs{tag}, 1 thread | {b1:.2f} s, {mb/b1:.0f} MB/s, peak RSS {int(m1)//1024} MiB |")
    print(f"| botscope logs{tag}, all cores | {b2:.2f} s, {mb/b2:.0f} MB/s, peak RSS {int(m2)//1024} MiB |")
    print(f"| ratio tshark / botscope{tag} (1 thread) | {t/b1:.1f}x |")
    print(f"| ratio tshark / botscope{tag} (all cores) | {t/b2:.1f}x |")
    print(f"| binary{tag} | {int(binsize)/1e6:.0f} MB |")
print(f"| tshark -T fields | {t:.2f} s, {mb/t:.1f} MB/s, peak RSS {int(mt)//1024} MiB |")
PY
