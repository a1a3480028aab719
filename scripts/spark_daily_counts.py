#!/usr/bin/env python3
"""Per-family daily message counts from a botscope dataset, with Apache Spark.

The same numbers as `botscope timeline --by family --every day --json`
(non-zero rows), computed from the raw `mail` table (not the rollup), so
it checks the dataset is readable by Spark as written: Delta tables with
hive partitions, microsecond UTC timestamps, zstd Parquet.

The `mail` table is a Delta Lake table: only the files of its current
version hold its rows (a compaction's replaced files and the parts of a
writer that died stay on disk until VACUUM). Spark's own Delta reader
(`spark.read.format("delta")`) needs the delta-spark jars, which PyPI's
pyspark does not carry; with them on the classpath use it. Without them
this script takes the current file list from the Delta log through the
`deltalake` Python package and hands exactly those files to Spark's
Parquet reader.

    python3 scripts/spark_daily_counts.py --store DS [--master local[2]] [--json]

Prints CSV `day,family,count` sorted by day then family (or JSON rows
`{"bucket", "key", "count"}` with --json). On a cluster, point --store at
shared storage (s3a://, hdfs://) and --master at the cluster.
"""
import argparse
import json
import sys

from pyspark.sql import SparkSession
from pyspark.sql import functions as F


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--store", required=True, help="dataset folder or URL")
    ap.add_argument("--master", default="local[2]")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()

    spark = (
        SparkSession.builder.master(a.master)
        .appName("botscope-daily-counts")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "4")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    root = a.store.rstrip("/")
    from deltalake import DeltaTable

    files = DeltaTable(root + "/mail").file_uris()
    if not files:
        rows = []
    else:
        mail = spark.read.option("basePath", root + "/mail").parquet(*files)
        rows = None
    rows = rows if rows is not None else (
        mail.where(F.col("ts").isNotNull())
        .groupBy(F.date_format(F.col("ts"), "yyyy-MM-dd").alias("day"), F.col("family"))
        .count()
        .orderBy("day", "family")
        .collect()
    )
    if a.json:
        print(json.dumps([{"bucket": r["day"], "key": r["family"], "count": r["count"]} for r in rows]))
    else:
        print("day,family,count")
        for r in rows:
            print(f"{r['day']},{r['family']},{r['count']}")
    spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
