#!/usr/bin/env bash
# Benchmark the event dataset (issue 6). Not a test; prints the figures
# recorded in BENCHMARKS.md.
#
#   bash bench/store.sh                     # 20M conn events, 100M mail rows
#   CONN=5000000 MAIL=10000000 bash bench/store.sh
#   NO_BUILD=1 STAGES="2 3" bash bench/store.sh   # some stages, binaries as built
#
# 1. write path: generated conn events (already decoded) → Parquet, per second;
# 2. end to end: `botscope ingest` of the simulator's sandbox captures vs
#    `botscope logs` (Zeek TSV) on the same captures, events per second;
# 3. `timeline --by family --every day` over MAIL generated mail rows, vs a
#    DataFusion scan of the raw mail table computing the same counts.
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=${BENCH_DIR:-/tmp/botscope-bench-store}
CONN=${CONN:-20000000}
MAIL=${MAIL:-100000000}
SCALE=${SCALE:-20}
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/botscope-target}"
# One invocation for both (with --example alone cargo builds no binary,
# and two invocations resolve features differently: DataFusion twice).
# NO_BUILD=1 uses the binaries already built.
if [ -z "${NO_BUILD:-}" ]; then
    cargo build --release -q -p botscope -p botscope-store --bins --example store_bench
fi
STAGES=${STAGES:-1 2 3}
BS="$CARGO_TARGET_DIR/release/botscope"
SB="$CARGO_TARGET_DIR/release/examples/store_bench"
mkdir -p "$WORK"

if [[ " $STAGES " == *" 1 "* ]]; then
echo "## 1. write path ($CONN conn events)"
rm -rf "$WORK/conn"
"$SB" conn "$CONN" "$WORK/conn"
du -sh "$WORK/conn" | sed 's/^/on disk: /'
fi

if [[ " $STAGES " == *" 2 "* ]]; then
echo "## 2. end to end: sandbox captures, scale $SCALE, 7 days"
rm -rf "$WORK/world" "$WORK/ds" "$WORK/logs"
"$BS" simulate --quiet --seed 1 --scale "$SCALE" --from 2010-12-20 --to 2010-12-26 --no-mail --out "$WORK/world"
du -sh "$WORK/world/pcap" | sed 's/^/captures: /'
/usr/bin/time -f '%e %M' -o "$WORK/t1" "$BS" ingest --quiet --store "$WORK/ds" "$WORK/world/pcap"
/usr/bin/time -f '%e %M' -o "$WORK/t2" "$BS" logs --quiet --out "$WORK/logs" "$WORK/world/pcap"
rows=$("$BS" sql --store "$WORK/ds" --format csv \
  "SELECT (SELECT count(*) FROM conn) + (SELECT count(*) FROM http) + (SELECT count(*) FROM smtp) + (SELECT count(*) FROM dns) + (SELECT count(*) FROM ssl) + (SELECT count(*) FROM irc) AS n" | tail -1)
read -r s1 kb1 < "$WORK/t1"
read -r s2 kb2 < "$WORK/t2"
# The peer, same captures, same run: tshark extracting the application
# fields (the command of bench/logs.sh), one capture after another.
t0=$(date +%s.%N)
find "$WORK/world/pcap" -name '*.pcap' -print0 | sort -z | while IFS= read -r -d '' f; do
    tshark -r "$f" -T fields -e http.host -e http.request.uri -e http.referer \
        -e smtp.req.command -e dns.qry.name -e tls.handshake.extensions_server_name > /dev/null 2>&1 || true
done
t1=$(date +%s.%N)
python3 -c "import sys; n=int(sys.argv[1]); a=float(sys.argv[2]); b=float(sys.argv[3]); t=float(sys.argv[6])-float(sys.argv[5]); print(f'events {n}; botscope ingest {a:.2f} s = {n/a/1e6:.2f} M events/s (peak RSS {int(sys.argv[4])//1024} MiB); botscope logs {b:.2f} s = {n/b/1e6:.2f} M events/s; ingest/logs time {a/b:.2f}x; tshark -T fields {t:.2f} s: tshark/ingest time {t/a:.1f}x')" "$rows" "$s1" "$s2" "$kb1" "$t0" "$t1"

echo "## 2b. Zeek logs (text, as written by botscope logs above) into the dataset"
rm -rf "$WORK/ds-zeek"
/usr/bin/time -f '%e %M' -o "$WORK/t3" "$BS" ingest --quiet --store "$WORK/ds-zeek" "$WORK/logs"/*.log
zrows=$("$BS" sql --store "$WORK/ds-zeek" --format csv \
  "SELECT (SELECT count(*) FROM conn) + (SELECT count(*) FROM http) + (SELECT count(*) FROM smtp) + (SELECT count(*) FROM dns) + (SELECT count(*) FROM ssl) + (SELECT count(*) FROM irc) AS n" | tail -1)
read -r s3 kb3 < "$WORK/t3"
du -sh "$WORK/logs" | sed 's/^/Zeek logs: /'
python3 -c "import sys; n=int(sys.argv[1]); a=float(sys.argv[2]); print(f'events {n}; botscope ingest of Zeek logs {a:.2f} s = {n/a/1e6:.2f} M events/s (peak RSS {int(sys.argv[3])//1024} MiB)')" "$zrows" "$s3" "$kb3"

fi

if [[ " $STAGES " == *" 3 "* ]]; then
echo "## 3. timeline over $MAIL mail rows"
if [ ! -d "$WORK/mail-$MAIL" ]; then
    "$SB" mail "$MAIL" "$WORK/mail-$MAIL"
fi
du -sh "$WORK/mail-$MAIL/mail" "$WORK/mail-$MAIL/mail_hourly" | sed 's/^/on disk: /'
"$SB" timeline "$WORK/mail-$MAIL"
/usr/bin/time -f '%e s wall, peak RSS %M KiB' "$BS" timeline --store "$WORK/mail-$MAIL" --by family --every day > /dev/null
fi
