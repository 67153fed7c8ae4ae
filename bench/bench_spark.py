"""Identity and CLV on local Spark beside the DuckDB / pandas path, on generated data (a script, not a test).

    flock /tmp/sen-spark.lock .venv/bin/python bench/bench_spark.py --identifiers 1000000 --people 100000
    flock /tmp/sen-spark.lock .venv/bin/python bench/bench_spark.py --identifiers 10000000 --stages components

Stages (--stages, comma-separated; default all):
- components: the identity graph of bench/bench_identity.py (about 4 identifiers per person, one spanning tree
  of links per person, shuffled) at --identifiers nodes; large-star/small-star on Spark (rounds, wall time)
  beside sen.identity.components.connected_components (numpy, one process) on the same edges;
- identity: the whole of resolve_identities_spark (guards, components, stable ids, writes) beside
  resolve_identities on DuckDB, same graph;
- clv: --people simulated customers (BG/NBD + Gamma-Gamma orders, sen.clv.simulate); summary, fit and scoring
  on Spark beside sen.clv.pipeline.fit_and_score (pandas).

Wall seconds per stage, the driver's peak RSS (the Python process; the JVM is reported by its own VmHWM), and
per-row costs (microseconds per identifier / per customer) go to stdout as Markdown and to
<workdir>/results.json; docs/spark_scale.md derives its capacity plan from them.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from bench_identity import generate  # noqa: E402

from sen.settings import Settings  # noqa: E402


def _rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 / 1024


def _jvm_hwm_gb(spark: Any) -> float | None:
    try:
        pid = spark.sparkContext._jvm.ProcessHandle.current().pid()
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024 / 1024
    except Exception:  # noqa: BLE001 - a figure we report when we can
        return None
    return None


def _timed(fn: Any) -> tuple[Any, float]:
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def graph_to_spark(spark: Any, db: Path, parquet: Path) -> None:
    conn = duckdb.connect(str(db), read_only=True)
    parquet.mkdir(parents=True, exist_ok=True)
    for name in ("int_identity_nodes", "int_identity_edges", "int_identifier_keys"):
        if not (parquet / f"{name}.parquet").exists():
            conn.execute(f"copy intermediate.{name} to '{parquet / name}.parquet' (format parquet)")
    conn.close()
    spark.sql("create database if not exists intermediate")
    for name in ("int_identity_nodes", "int_identity_edges", "int_identifier_keys"):
        spark.sql(f"drop table if exists intermediate.{name}")
        spark.read.parquet(str(parquet / f"{name}.parquet")).write.format("parquet").saveAsTable(
            f"intermediate.{name}"
        )


def bench_components(spark: Any, db: Path) -> dict[str, Any]:
    from pyspark.sql import functions as F

    from sen.engines.spark_graph import connected_components
    from sen.identity.components import connected_components as numpy_components

    edges = spark.table("intermediate.int_identity_edges").select(F.col("key_a"), F.col("key_b"))
    n_edges = edges.count()
    result, spark_s = _timed(lambda: connected_components(edges, "key_a", "key_b"))
    n_labels = result.labels.select("component").distinct().count()
    conn = duckdb.connect(str(db), read_only=True)
    keys = conn.sql("select key_a, key_b from intermediate.int_identity_edges").fetchnumpy()
    n_nodes = (
        conn.sql("select max(identifier_key) from intermediate.int_identifier_keys").fetchall()[0][0] + 1
    )
    conn.close()
    (n_local, _), numpy_s = _timed(lambda: numpy_components(n_nodes, keys["key_a"], keys["key_b"]))
    return {
        "edges": n_edges,
        "spark_rounds": result.rounds,
        "spark_s": round(spark_s, 1),
        "spark_components_with_links": n_labels,
        "numpy_s": round(numpy_s, 1),
        "spark_us_per_edge": round(spark_s / n_edges * 1e6, 2),
    }


def bench_identity(spark: Any, db: Path, workdir: Path) -> dict[str, Any]:
    from sen.identity import load_identity_config, resolve_identities
    from sen.identity.spark import resolve_identities_spark

    config = load_identity_config()
    spark.sql("drop database if exists identity cascade")
    timings: dict[str, dict[str, float]] = {}
    stats, spark_s = _timed(lambda: resolve_identities_spark(spark, config, timings=timings))
    copy = workdir / "duckdb_copy.duckdb"
    copy.write_bytes(db.read_bytes())
    conn = duckdb.connect(str(copy))
    duck_timings: dict[str, dict[str, float]] = {}
    duck_stats, duck_s = _timed(lambda: resolve_identities(conn, config, timings=duck_timings))
    conn.close()
    copy.unlink()
    return {
        "nodes": stats.nodes,
        "spark_s": round(spark_s, 1),
        "spark_phases": {k: v.get("wall_s", v.get("rounds")) for k, v in timings.items()},
        "duckdb_s": round(duck_s, 1),
        "duckdb_phases": {k: v["wall_s"] for k, v in duck_timings.items()},
        "same_components": stats.components == duck_stats.components,
        "spark_us_per_identifier": round(spark_s / stats.nodes * 1e6, 2),
    }


def bench_clv(spark: Any, people: int) -> dict[str, Any]:
    from sen.clv import pipeline
    from sen.clv.bgnbd import BgNbdParams
    from sen.clv.gamma_gamma import GammaGammaParams
    from sen.clv.simulate import simulate_orders, simulate_summary
    from sen.clv.spark import fit_spark, score_spark, summary_spark

    as_of = "2025-06-30 23:59:59"
    bg = BgNbdParams(r=0.25, alpha=30.0, a=0.8, b=2.5, time_unit="days")
    gg = GammaGammaParams(p=6.0, q=4.0, gamma=15.0)
    orders = simulate_orders(simulate_summary(people, bg, gg, max_age=730, seed=1), as_of, gg, seed=2)
    orders["person_id"] = "p_" + orders["person_id"].astype(str)
    orders["ordered_at"] = orders["ordered_at"].dt.floor("us")  # Spark keeps microseconds (Arrow transfer)
    frame = spark.createDataFrame(orders).localCheckpoint(eager=True)
    summary, summary_s = _timed(lambda: summary_spark(frame, as_of).localCheckpoint(eager=True))
    model, fit_s = _timed(lambda: fit_spark(summary))
    scores, score_s = _timed(lambda: score_spark(summary, model).localCheckpoint(eager=True))
    _, pandas_s = _timed(lambda: pipeline.fit_and_score(orders, as_of))
    n = scores.count()
    return {
        "people": n,
        "orders": len(orders),
        "spark_summary_s": round(summary_s, 1),
        "spark_fit_s": round(fit_s, 1),
        "spark_score_s": round(score_s, 1),
        "pandas_total_s": round(pandas_s, 1),
        "spark_summary_us_per_order": round(summary_s / len(orders) * 1e6, 2),
        "spark_score_us_per_person": round(score_s / n * 1e6, 2),
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--identifiers", type=int, default=1_000_000)
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--stages", default="components,identity,clv")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/sen-bench-spark"))
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--driver-memory", default="3g")
    parser.add_argument("--shuffle-partitions", type=int, default=8)
    args = parser.parse_args()
    stages = args.stages.split(",")
    args.workdir.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "master": args.master,
        "cpus": os.cpu_count(),
        "load_before": os.getloadavg()[0],
    }
    db = args.workdir / f"graph_{args.identifiers}.duckdb"
    if {"components", "identity"} & set(stages) and not db.exists():
        report["graph"] = generate(db, args.identifiers)

    from pyspark.sql import SparkSession

    from sen.engines.spark import spark_conf, use_this_python

    settings = Settings.from_env(
        {"CDP_WAREHOUSE": str(args.workdir / "w.duckdb"), "CDP_SPARK_MASTER": args.master}
    )
    builder = SparkSession.builder.enableHiveSupport()
    for key, value in spark_conf(settings).items():
        builder = builder.config(key, value)
    builder = builder.config("spark.driver.memory", args.driver_memory).config(
        "spark.sql.shuffle.partitions", str(args.shuffle_partitions)
    )
    spark = builder.getOrCreate()
    use_this_python(spark)
    spark.sparkContext.setLogLevel("ERROR")
    try:
        if {"components", "identity"} & set(stages):
            _, report["copy_to_spark_s"] = _timed(
                lambda: graph_to_spark(spark, db, args.workdir / f"parquet_{args.identifiers}")
            )
        if "components" in stages:
            report["components"] = bench_components(spark, db)
            print(json.dumps({"components": report["components"]}), flush=True)
        if "identity" in stages:
            report["identity"] = bench_identity(spark, db, args.workdir)
            print(json.dumps({"identity": report["identity"]}), flush=True)
        if "clv" in stages:
            report["clv"] = bench_clv(spark, args.people)
            print(json.dumps({"clv": report["clv"]}), flush=True)
        report["jvm_peak_gb"] = _jvm_hwm_gb(spark)
    finally:
        spark.stop()
    report["python_peak_gb"] = round(_rss_gb(), 2)
    report["load_after"] = os.getloadavg()[0]
    out = args.workdir / "results.json"
    runs = json.loads(out.read_text()) if out.exists() else []
    runs.append({"identifiers": args.identifiers, "people": args.people, **report})
    out.write_text(json.dumps(runs, indent=2, default=str))
    print(json.dumps(report, indent=2, default=str))
    return 0


if __name__ == "__main__":
    np.seterr(all="ignore")
    sys.exit(main())
