#!/usr/bin/env python3
"""Scale-out ingest with Apache Spark: captures handed to `botscope ingest` workers.

Spark distributes the file list (one task per slice, `mapPartitions`);
each task runs `botscope ingest --store STORE FILES…` on its slice. The
store is one set of Delta Lake tables that every worker commits to at
once (optimistic commits, retried on conflict; each input once), so no
merge step follows. Then the result is read back with Spark: the current
files of the `conn` table from its Delta log (the `deltalake` package;
Spark's own Delta reader needs the delta-spark jars, which PyPI's pyspark
does not carry) and counted per source.

    python3 scripts/spark_ingest.py --store DS_OR_URL --botscope PATH \\
        [--master local[2]] [--slices 4] CAPTURE_OR_FOLDER...

Prints JSON: {"workers": [{"files", "exit", "added"}...],
"conn_rows": N, "sources": {source: rows}}. On a cluster, give a
`--store` every executor reaches (s3://bucket/prefix with the AWS_*
variables set on the executors) and a botscope binary installed on them.
"""
import argparse
import json
import os
import subprocess
import sys

from pyspark.sql import SparkSession
from pyspark.sql import functions as F


def files_of(paths):
    out = []
    for p in paths:
        if os.path.isdir(p):
            for root, _, names in os.walk(p):
                out.extend(os.path.join(root, n) for n in sorted(names))
        else:
            out.append(p)
    return sorted(out)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--store", required=True, help="dataset folder or URL")
    ap.add_argument("--botscope", default="botscope", help="the botscope binary")
    ap.add_argument("--master", default="local[2]")
    ap.add_argument("--slices", type=int, default=4)
    ap.add_argument("inputs", nargs="+")
    a = ap.parse_args()

    spark = (
        SparkSession.builder.master(a.master)
        .appName("botscope-ingest")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "4")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    store, binary = a.store, a.botscope

    def ingest(files):
        files = list(files)
        if not files:
            return []
        p = subprocess.run(
            [binary, "ingest", "--json", "-j", "1", "--store", store, *files],
            capture_output=True,
            text=True,
        )
        try:
            added = json.loads(p.stdout)["inputs"].get("added", 0)
        except (ValueError, KeyError):
            added = None
        return [{"files": len(files), "exit": p.returncode, "added": added}]

    workers = (
        spark.sparkContext.parallelize(files_of(a.inputs), a.slices)
        .mapPartitions(ingest)
        .collect()
    )

    from deltalake import DeltaTable

    opts = {k: v for k, v in os.environ.items() if k.startswith("AWS_")}
    uris = DeltaTable(store.rstrip("/") + "/conn", storage_options=opts or None).file_uris()
    sources = {}
    rows = 0
    if uris and not store.startswith("s3"):
        conn = spark.read.option("basePath", store.rstrip("/") + "/conn").parquet(*uris)
        for r in conn.groupBy("source").agg(F.count(F.lit(1)).alias("n")).collect():
            sources[r["source"]] = r["n"]
        rows = sum(sources.values())
    print(json.dumps({"workers": workers, "conn_rows": rows, "sources": sources}))
    spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
