#!/usr/bin/env bash
# Benchmark mail analysis (parse + features + URLs + category + campaign +
# family attribution, per message) against rspamd on the same messages,
# in the same run. Not a test: prints a Markdown table for BENCHMARKS.md.
#
#   bash bench/mail.sh                     # simulated trap mail, 7 days, scale 2
#   DAYS=14 SCALE=4 bash bench/mail.sh     # more
#
# The corpus is the simulator's winter-2010 trap mail (seed 2); the model
# is learned from the sandbox captures of seed 1. botscope's side is
# `crates/mail/examples/mailbench.rs` (messages loaded in memory first,
# then analysed on 1 thread and on 2). rspamd (Debian's package, default
# configuration, no Redis) is started here on loopback and fed every
# message as one .eml file with `rspamc`; its time is wall time for the
# whole corpus with rspamd's default workers (all cores).
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=${BENCH_DIR:-/tmp/botscope-bench-mail}
DAYS=${DAYS:-7}
SCALE=${SCALE:-2}
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/botscope-target}"
mkdir -p "$WORK"

if ! command -v rspamd >/dev/null || ! command -v rspamc >/dev/null; then
    apt-get install -y --no-install-recommends rspamd >/dev/null
fi

cargo build --release -q -p botscope
cargo build --release -q -p botscope-mail --example mailbench
BS="$CARGO_TARGET_DIR/release/botscope"
MB="$CARGO_TARGET_DIR/release/examples/mailbench"

to=$(date -u -d "2010-12-01 + $((DAYS - 1)) days" +%F)
if [ ! -d "$WORK/seed1/pcap" ]; then
    "$BS" simulate --seed 1 --from 2010-12-20 --to 2010-12-22 --no-mail -q --out "$WORK/seed1"
fi
if [ ! -d "$WORK/seed2-$DAYS-$SCALE/mail" ]; then
    "$BS" simulate --seed 2 --scale "$SCALE" --from 2010-12-01 --to "$to" --no-pcaps -q --out "$WORK/seed2-$DAYS-$SCALE"
fi
CORPUS="$WORK/seed2-$DAYS-$SCALE/mail"
"$BS" learn --out "$WORK/model.json" "$WORK/seed1/pcap" 2>/dev/null

# botscope: in-memory throughput, 1 and 2 threads.
"$MB" --model "$WORK/model.json" --threads 2 --rounds 5 "$CORPUS" >"$WORK/bs.txt" 2>/dev/null
n=$(awk -F'\t' '$1=="messages"{print $2}' "$WORK/bs.txt")
one=$(awk -F'\t' '$1=="msgs_per_s_1_thread"{print $2}' "$WORK/bs.txt")
two=$(awk -F'\t' '$1=="msgs_per_s_2_threads"{print $2}' "$WORK/bs.txt")
# botscope mail end to end (reading the mbox files, JSON out), one thread.
/usr/bin/time -f '%e %M' -o "$WORK/time.txt" "$BS" mail --json --model "$WORK/model.json" "$CORPUS" >/dev/null
read -r cli_s cli_kb <"$WORK/time.txt"

# rspamd: the same messages as .eml files.
EML="$WORK/eml-$DAYS-$SCALE"
if [ ! -d "$EML" ]; then
    mkdir -p "$EML"
    python3 - "$CORPUS" "$EML" <<'PY'
import mailbox, os, sys
src, dst = sys.argv[1:]
i = 0
for f in sorted(os.listdir(src)):
    for m in mailbox.mbox(os.path.join(src, f)):
        with open(os.path.join(dst, f"{i:07d}.eml"), "wb") as o:
            o.write(m.as_bytes(unixfrom=False))
        i += 1
PY
fi
neml=$(ls "$EML" | wc -l)
RS="$WORK/rspamd"
mkdir -p "$RS/run" "$RS/log" "$RS/db"
cat >"$RS/local.conf" <<CONF
.include "/etc/rspamd/rspamd.conf"
options { pidfile = "$RS/run/rspamd.pid"; dbdir = "$RS/db"; }
logging { type = "file"; filename = "$RS/log/rspamd.log"; level = "error"; }
CONF
rspamd -i -c "$RS/local.conf" -u root -g root
cleanup() { [ -s "$RS/run/rspamd.pid" ] && kill "$(cat "$RS/run/rspamd.pid")" 2>/dev/null || true; }
trap cleanup EXIT
for _ in $(seq 1 60); do
    rspamc -h 127.0.0.1:11333 stat >/dev/null 2>&1 && break
    sleep 1
done
# Warm-up on a few messages, then the whole corpus.
ls "$EML" | head -50 | sed "s|^|$EML/|" | xargs rspamc -h 127.0.0.1:11333 >/dev/null 2>&1 || true
start=$(date +%s.%N)
rspamc -h 127.0.0.1:11333 -n 16 "$EML" >"$WORK/rspamc.out" 2>&1 || true
end=$(date +%s.%N)
scanned=$(grep -c '^Action:' "$WORK/rspamc.out" || true)

python3 - "$n" "$one" "$two" "$cli_s" "$cli_kb" "$neml" "$scanned" "$start" "$end" <<'PY'
import sys
n, one, two, cli_s, cli_kb, neml, scanned, start, end = sys.argv[1:]
n, one, two, cli_s = int(n), float(one), float(two), float(cli_s)
neml, scanned = int(neml), int(scanned)
rs_s = float(end) - float(start)
rs = scanned / rs_s if rs_s > 0 else 0
print(f"| corpus | {n} simulated trap messages ({neml} .eml for rspamd) |")
print("| --- | --- |")
print(f"| botscope analyse, 1 thread (in memory) | {one:,.0f} msg/s |")
print(f"| botscope analyse, 2 threads (in memory) | {two:,.0f} msg/s ({two/one:.2f}x) |")
print(f"| botscope mail --json, end to end, 1 thread | {cli_s:.2f} s, {n/cli_s:,.0f} msg/s, peak RSS {int(cli_kb)//1024} MiB |")
print(f"| rspamd 3.4 (rspamc -n 16, default workers, all cores) | {scanned} scanned in {rs_s:.2f} s, {rs:,.0f} msg/s |")
if rs > 0:
    print(f"| ratio botscope 1 thread / rspamd all cores | {one/rs:.0f}x |")
    print(f"| ratio botscope 2 threads / rspamd all cores | {two/rs:.0f}x |")
PY
