#!/usr/bin/env bash
# Benchmark mail analysis (parse + features + URLs + category + campaign +
# family attribution, per message) against rspamd on the same messages,
# in the same run. Not a test: prints a Markdown table for BENCHMARKS.md.
#
#   bash bench/mail.sh                     # simulated trap mail, 7 days, scale 2
#   DAYS=14 SCALE=4 bash bench/mail.sh     # more
#   REAL=1 bash bench/mail.sh              # real mail instead: CSDMC2010 spam + ham
#                                          # (../shared/data/spam-csdmc2010, 4,186 .eml)
#   IR=1 bash bench/mail.sh                # also instructions per message (valgrind)
#
# The corpus is the simulator's winter-2010 trap mail (seed 2); the model
# is learned from the sandbox captures of seed 1. botscope's side is
# `crates/mail/examples/mailbench.rs` (messages loaded in memory first,
# then analysed on 1 thread and on 2). rspamd (Debian's package, default
# configuration, no Redis) is started here on loopback and fed every
# message as one .eml file with `rspamc`; its time is wall time for the
# whole corpus with two rspamd workers (both cores).
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

# BS=path/to/botscope uses a binary already built (e.g. by `cargo build
# --release` at the workspace root) instead of building one here.
if [ -z "${BS:-}" ]; then
    cargo build --release -q -p botscope
    BS="$CARGO_TARGET_DIR/release/botscope"
fi
# MB=path/to/mailbench likewise (e.g. `cargo build --profile dist -p
# botscope-mail --example mailbench`).
if [ -z "${MB:-}" ]; then
    cargo build --release -q -p botscope-mail --example mailbench
    MB="$CARGO_TARGET_DIR/release/examples/mailbench"
fi

to=$(date -u -d "2010-12-01 + $((DAYS - 1)) days" +%F)
if [ ! -d "$WORK/seed1/pcap" ]; then
    "$BS" simulate --seed 1 --from 2010-12-20 --to 2010-12-22 --no-mail -q --out "$WORK/seed1"
fi
if [ "${REAL:-0}" = 1 ]; then
    # Real mail: the corpus's .eml files, copied into one folder (rspamc
    # does not follow symbolic links) and read by both sides as they are.
    REAL_DIR=${BOTSCOPE_DATA:-../shared/data}/spam-csdmc2010
    CORPUS="$WORK/csdmc2010"
    rm -rf "$CORPUS"
    mkdir -p "$CORPUS"
    for d in spam ham; do
        for f in "$REAL_DIR/$d"/*.eml; do
            cp "$f" "$CORPUS/$d-$(basename "$f")"
        done
    done
    LABEL="real messages (CSDMC2010 spam and ham)"
else
    if [ ! -d "$WORK/seed2-$DAYS-$SCALE/mail" ]; then
        "$BS" simulate --seed 2 --scale "$SCALE" --from 2010-12-01 --to "$to" --no-pcaps -q --out "$WORK/seed2-$DAYS-$SCALE"
    fi
    CORPUS="$WORK/seed2-$DAYS-$SCALE/mail"
    LABEL="simulated trap messages"
fi
"$BS" learn --out "$WORK/model.json" "$WORK/seed1/pcap" 2>/dev/null

# botscope: in-memory throughput, 1 and 2 threads.
"$MB" --model "$WORK/model.json" --threads 2 --rounds 5 "$CORPUS" >"$WORK/bs.txt" 2>/dev/null
n=$(awk -F'\t' '$1=="messages"{print $2}' "$WORK/bs.txt")
one=$(awk -F'\t' '$1=="msgs_per_s_1_thread"{print $2}' "$WORK/bs.txt")
two=$(awk -F'\t' '$1=="msgs_per_s_2_threads"{print $2}' "$WORK/bs.txt")
onecpu=$(awk -F'\t' '$1=="msgs_per_cpu_s"{print $2}' "$WORK/bs.txt")
# With IR=1: instructions per message of one analysis round, counted by
# valgrind (cachegrind, no cache simulation): a figure this shared
# machine's changing speed does not move, for comparing two builds.
if [ "${IR:-0}" = 1 ] && command -v valgrind >/dev/null; then
    ir() {
        valgrind --tool=cachegrind --cache-sim=no --cachegrind-out-file=/dev/null \
            "$MB" --model "$WORK/model.json" --threads 1 --rounds "$1" "$CORPUS" 2>&1 >/dev/null |
            awk '/I *refs:/ { gsub(",", "", $NF); print $NF }'
    }
    r1=$(ir 1)
    r2=$(ir 2)
    echo "instructions per message, one round of mailbench (valgrind): $(( (r2 - r1) / n ))"
fi
# botscope mail end to end (reading the mbox files, JSON out), one thread.
/usr/bin/time -f '%e %M' -o "$WORK/time.txt" "$BS" mail --json --model "$WORK/model.json" "$CORPUS" >/dev/null
read -r cli_s cli_kb <"$WORK/time.txt"

# rspamd: the same messages as .eml files.
EML="$WORK/eml-$DAYS-$SCALE"
if [ "${REAL:-0}" = 1 ]; then
    EML="$CORPUS"
elif [ ! -d "$EML" ]; then
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
mkdir -p "$RS/run" "$RS/log" "$RS/db" "$RS/local/local.d"
# Debian's configuration, with: two normal workers (both cores), state
# under $RS, and DNS pointed at a closed loopback port so that the
# network checks (RBLs, SPF, DMARC) fail at once instead of waiting on a
# resolver this loopback-only machine cannot reach.
echo 'count = 2;' >"$RS/local/local.d/worker-normal.inc"
cat >"$RS/local/local.d/options.inc" <<CONF
pidfile = "$RS/run/rspamd.pid";
dbdir = "$RS/db";
dns { nameserver = ["127.0.0.1:53"]; timeout = 0.1s; retransmits = 0; }
CONF
cat >"$RS/local/local.d/logging.inc" <<CONF
type = "file"; filename = "$RS/log/rspamd.log"; level = "error";
CONF
# Network checks off (issue 17: compare work with work): every module
# that asks DNS or a remote service is disabled, so rspamd runs its local
# rules only (regexp, MIME, headers, URLs, HTML, chartable, phishing's
# local checks, multimap's local maps). RSPAMD_NETWORK=1 keeps them (the
# 2026-11-27 setting, with lookups failing on a closed port).
mkdir -p "$RS/local/override.d"
rm -f "$RS"/local/override.d/*.conf
if [ "${RSPAMD_NETWORK:-0}" != 1 ]; then
    for m in rbl surbl emails spf dkim dmarc arc asn hfilter mx_check fuzzy_check dcc \
        url_redirector rspamd_update external_services antivirus p0f bimi; do
        echo 'enabled = false;' >"$RS/local/override.d/$m.conf"
    done
fi
rspamd -i -u root -g root -c /etc/rspamd/rspamd.conf --var="LOCAL_CONFDIR=$RS/local"
cleanup() { [ -s "$RS/run/rspamd.pid" ] && kill "$(cat "$RS/run/rspamd.pid")" 2>/dev/null || true; }
trap cleanup EXIT
for _ in $(seq 1 60); do
    rspamc -h 127.0.0.1:11333 stat >/dev/null 2>&1 && break
    sleep 1
done
# Warm-up on a few messages, then the whole corpus.
ls "$EML" | head -50 | sed "s|^|$EML/|" | xargs rspamc -h 127.0.0.1:11333 >/dev/null 2>&1 || true
# CPU time of rspamd's processes (main and children), in clock ticks:
# DNS checks time out here (no resolver), so wall time is mostly waiting;
# CPU time is what the analysis costs.
main_pid=$(cat "$RS/run/rspamd.pid")
rs_ticks() {
    local t=0 p
    for p in "$main_pid" $(ps --ppid "$main_pid" -o pid=); do
        [ -r "/proc/$p/stat" ] || continue
        t=$(( t + $(awk '{print $14 + $15}' "/proc/$p/stat") ))
    done
    echo "$t"
}
t0=$(rs_ticks)
start=$(date +%s.%N)
rspamc -h 127.0.0.1:11333 -n 16 "$EML" >"$WORK/rspamc.out" 2>&1 || true
end=$(date +%s.%N)
t1=$(rs_ticks)
rs_cpu=$(python3 -c "print(($t1 - $t0) / $(getconf CLK_TCK))")
scanned=$(grep -c '^Action:' "$WORK/rspamc.out" || true)

python3 - "$n" "$one" "$two" "$cli_s" "$cli_kb" "$neml" "$scanned" "$start" "$end" "$rs_cpu" "$onecpu" "$(cut -d' ' -f1 /proc/loadavg)" "$LABEL" <<'PY'
import sys
n, one, two, cli_s, cli_kb, neml, scanned, start, end, rs_cpu, onecpu, load, label = sys.argv[1:]
onecpu = float(onecpu)
rs_cpu = float(rs_cpu)
n, one, two, cli_s = int(n), float(one), float(two), float(cli_s)
neml, scanned = int(neml), int(scanned)
rs_s = float(end) - float(start)
rs = scanned / rs_s if rs_s > 0 else 0
print(f"| corpus | {n} {label} ({neml} .eml for rspamd); load average at the end {load} |")
print("| --- | --- |")
print(f"| botscope analyse, 1 thread (in memory), wall | {one:,.0f} msg/s |")
print(f"| botscope analyse, 1 thread, CPU time | {onecpu:,.0f} msg per CPU-second |")
print(f"| botscope analyse, 2 threads (in memory) | {two:,.0f} msg/s ({two/one:.2f}x) |")
print(f"| botscope mail --json, end to end, 1 thread | {cli_s:.2f} s, {n/cli_s:,.0f} msg/s, peak RSS {int(cli_kb)//1024} MiB |")
rs_core = scanned / rs_cpu if rs_cpu > 0 else 0
print(f"| rspamd 3.4 (rspamc -n 16, 2 normal workers), wall | {scanned} scanned in {rs_s:.2f} s, {rs:,.0f} msg/s |")
print(f"| rspamd 3.4, CPU time of its processes | {rs_cpu:.2f} s, {rs_core:,.0f} msg per CPU-second |")
if rs_core > 0:
    print(f"| ratio per CPU-second: botscope / rspamd | {onecpu/rs_core:.0f}x |")
if rs > 0:
    print(f"| ratio wall: botscope 2 threads / rspamd 2 workers | {two/rs:.0f}x |")
PY
