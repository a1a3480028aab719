#!/usr/bin/env python3
"""Read every table of a botscope dataset with other Delta readers.

Each table is read twice, with the `deltalake` package (delta-rs's Python
binding: the Delta log, then Arrow) and with polars (`pl.read_delta`), and
summarised as row counts and the sum of every integer column, so the
numbers can be compared with `botscope sql` on the same store.

    python3 scripts/delta_read.py --store DS

Prints JSON: {"TABLE": {"rows": N, "polars_rows": N, "sums": {"COL": S}}}
for every folder of DS that holds a Delta table.
"""
import argparse
import json
import os
import sys

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
from deltalake import DeltaTable


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--store", required=True)
    a = ap.parse_args()
    out = {}
    for name in sorted(os.listdir(a.store)):
        path = os.path.join(a.store, name)
        if not os.path.isdir(os.path.join(path, "_delta_log")):
            continue
        t = DeltaTable(path).to_pyarrow_table()
        sums = {}
        for f in t.schema:
            if pa.types.is_integer(f.type):
                s = pc.sum(t.column(f.name)).as_py()
                sums[f.name] = int(s) if s is not None else 0
        out[name] = {
            "rows": t.num_rows,
            "polars_rows": pl.read_delta(path).height,
            "sums": sums,
        }
    print(json.dumps(out, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
