#!/usr/bin/env python3
"""conn.log `service` agreement with Zeek on its own regression corpus.

Reads ../shared/data/zeek-btest/map.tsv, runs `botscope logs` on every
trace that has a conn.log baseline, pairs baseline rows with ours on the
5-tuple (multiset, in order within one 5-tuple) and compares the
`service` column. Rows where Zeek ran bare (`-b`) and left `service`
unset while we set one count as matched (a full run sets it).

Usage: scripts/service_parity.py BOTSCOPE_BINARY [--only SERVICE,...] [-v]

Prints one line per trace with a difference and a summary: rows paired,
service equal, and the same restricted to rows where either side names a
service (the figure that moves when detection changes).
"""
import collections
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.environ.get("BOTSCOPE_DATA", os.path.join(HERE, "../../shared/data"))
BT = os.path.join(DATA, "zeek-btest")


def read_rows(path):
    rows, fields = [], None
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            line = line.rstrip("\n")
            if line.startswith("###") or not line:
                continue
            if line.startswith("#fields"):
                fields = line.split("\t")[1:]
                continue
            if line.startswith("#"):
                continue
            if fields is None:  # zeek-cut -m: first line is the names
                fields = line.split("\t")
                continue
            rows.append(dict(zip(fields, line.split("\t"))))
    return rows


def key(r):
    return tuple(r.get(k, "-") for k in
                 ("id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p", "proto"))


def main():
    args = sys.argv[1:]
    if not args:
        print(__doc__)
        return 2
    binary = args[0]
    only = None
    if "--only" in args:
        only = set(args[args.index("--only") + 1].split(","))
    verbose = "-v" in args
    runs = {}
    tot = collections.Counter()
    with open(os.path.join(BT, "map.tsv")) as f:
        hdr = f.readline().rstrip("\n").split("\t")
        maps = [dict(zip(hdr, l.rstrip("\n").split("\t"))) for l in f]
    for m in maps:
        if m["log"] != "conn":
            continue
        base = os.path.join(BT, "Baseline", m["baseline_dir"], m["baseline_file"])
        trace = os.path.join(BT, "Traces", m["trace"])
        if not os.path.exists(base) or not os.path.exists(trace):
            continue
        brows = read_rows(base)
        if brows and "service" not in brows[0]:
            continue
        if only is not None:
            svcs = {s for r in brows for s in r.get("service", "-").split(",")}
            if not svcs & only:
                continue
        if trace not in runs:
            out = tempfile.mkdtemp(prefix="svcpar-")
            subprocess.run([binary, "logs", "--quiet", "--format", "zeek", "--out", out, trace],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            p = os.path.join(out, "conn.log")
            runs[trace] = read_rows(p) if os.path.exists(p) else []
        bare = m["bare"] == "T"
        if brows and "id.orig_h" not in brows[0]:
            # A `zeek-cut` baseline without the 5-tuple: compare the
            # multisets of service values.
            want = collections.Counter(r.get("service", "-") for r in brows)
            got = collections.Counter(r.get("service", "-") for r in runs[trace])
            paired = min(sum(want.values()), sum(got.values()))
            ok = min(sum((want & got).values()), paired)
            tot["paired"] += paired
            tot["ok"] += ok
            tot["unpaired"] += sum(want.values()) - paired
            named = sum(v for k, v in want.items() if k != "-")
            tot["named"] += named
            tot["named_ok"] += min(sum(v for k, v in (want & got).items() if k != "-"), named)
            if ok < paired:
                print(f"{m['trace']} ({m['baseline_dir']}, no 5-tuple): zeek {dict(want)} ours {dict(got)}")
            continue
        ours = collections.defaultdict(list)
        for r in runs[trace]:
            ours[key(r)].append(r.get("service", "-"))
        diffs = []
        for r in brows:
            k = key(r)
            want = r.get("service", "-")
            if not ours[k]:
                tot["unpaired"] += 1
                if want != "-":
                    tot["unpaired_named"] += 1
                continue
            got = ours[k].pop(0)
            tot["paired"] += 1
            named = want != "-" or got != "-"
            ok = got == want or (bare and want == "-")
            if named:
                tot["named"] += 1
                tot["named_ok"] += ok
            tot["ok"] += ok
            if not ok:
                diffs.append(f"{'/'.join(k)} zeek={want} ours={got}")
        if diffs:
            print(f"{m['trace']} ({m['baseline_dir']}{', bare' if bare else ''}): {len(diffs)} differ")
            if verbose:
                for d in diffs[:20]:
                    print("   ", d)
    p, n = tot["paired"], tot["named"]
    print(f"paired rows {p}: service equal {tot['ok']} ({100 * tot['ok'] / max(p, 1):.1f} %); "
          f"rows naming a service on either side {n}: equal {tot['named_ok']} "
          f"({100 * tot['named_ok'] / max(n, 1):.1f} %); baseline rows not paired {tot['unpaired']} "
          f"(naming a service {tot['unpaired_named']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
