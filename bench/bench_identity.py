"""Benchmark identity resolution against Splink's and scipy's connected components on one synthetic graph.

    .venv/bin/python bench/bench_identity.py                     # 10M identifiers (heavy: minutes, ~5 GB)
    .venv/bin/python bench/bench_identity.py --identifiers 1000000 --methods resolve,scipy

The graph (~4 identifiers per person: customer id, email, phone, 0-3 anonymous ids, random string-like values,
one random spanning tree of links per person, rows shuffled) is generated once into a DuckDB file under
--workdir, with the key registry the dbt models keep (int_identifier_keys: keys 1, 2, 3... in (type, value)
order; nodes carry identifier_key, edges key_a / key_b). Each method then runs in its own subprocess on its own
copy of that file (flushed to disk before the timers start), so peak memory (VmHWM) is per method. What each method reads and writes (like with like:
every method starts from the same two warehouse tables and ends with warehouse tables naming the component of
every identifier by its key):

- resolve: sen.identity.resolve_identities, all of it: reads int_identity_nodes / int_identity_edges (and the
  previous map), applies the guards (blocklist, degree limits, caps), computes components, assigns stable
  person ids, writes identity.identifier_persons (key, person key, dates, cut reason), identity.persons and
  the identifier_person_map view, plus the history, cut audit and run tables, in one transaction. "compute"
  is every phase but the final write.
- scipy: reads node and edge keys, turns keys into positions with a dense array, builds a CSR matrix and runs
  scipy.sparse.csgraph.connected_components ("compute"); then writes (key, label) ("write").
- splink: splink.clustering.cluster_pairwise_predictions_at_threshold on the DuckDB backend, node ids being
  the identifier keys, from node and edge tables it creates; its own cluster table (key, cluster id) is the
  result, so its "compute" is all of it.

Every method exports (identifier key, component label) after its timers stop; the partitions are compared on the
nodes all methods label. The load average is recorded before and after each method. With --repeat N, the
methods run N rounds, each round starting with the next method, and a summary gives medians and ranges and
resolve's speed-up per round. Results go to stdout as Markdown tables and to <workdir>/results.json (a list of
rounds).

    .venv/bin/python bench/bench_identity.py --repeat 10       # the series quoted in docs/identity.md
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

REPO = Path(__file__).resolve().parent.parent
METHODS = ("resolve", "scipy", "splink")


def generate(path: Path, identifiers: int) -> dict[str, int]:
    """Write intermediate.int_identity_nodes / _edges with about `identifiers` nodes."""
    persons = identifiers // 4
    path.unlink(missing_ok=True)
    conn = duckdb.connect(str(path))
    try:
        conn.execute("create schema intermediate")
        # Per person: a customer id, an email (90%), a phone (80%), 0-3 anonymous ids (mean 1.3).
        conn.execute(
            f"""
            create temp table persons as
            select p,
                'C' || substr(md5('c' || p), 1, 14) as customer_id,
                case when hash(p, 'e') % 10 < 9 then substr(md5('e' || p), 1, 12) || '@mail.vn' end as email,
                case when hash(p, 'p') % 10 < 8
                     then '+849' || lpad((p % 89999999 + 10000001)::varchar, 8, '0') end as phone,
                (hash(p, 'a') % 3)::int + (hash(p, 'b') % 10 < 3)::int as n_anon,
                timestamp '2023-01-01' + to_seconds((hash(p, 't') % 60000000)::bigint) as t0
            from range({persons}) r(p)
            """
        )
        conn.execute(
            """
            create temp table ids as
            select p, t0, 'customer_id' as t, customer_id as v, 0 as k from persons
            union all select p, t0, 'email', email, 1 from persons where email is not null
            union all select p, t0, 'phone', phone, 2 from persons where phone is not null
            union all select p, t0, 'anonymous_id', md5('a' || p || '-' || i), 3 + i
            from persons, range(3) r(i) where i < n_anon
            """
        )
        # The key registry as dbt's int_identifier_keys writes it: keys 1, 2, 3... in (type, value) order.
        conn.execute(
            """
            create table intermediate.int_identifier_keys as
            select t as identifier_type, v as identifier_value,
                   row_number() over (order by t, v) as identifier_key, now() as _loaded_at
            from ids
            """
        )
        conn.execute(
            """
            create table intermediate.int_identity_nodes as
            select k.identifier_key, t as identifier_type, v as identifier_value, t0 as first_seen_at,
                   t0 + interval 30 day as last_seen_at, ['synthetic'] as sources
            from ids join intermediate.int_identifier_keys k on k.identifier_type = t and k.identifier_value = v
            order by hash(v)
            """
        )
        # A random spanning tree per person: identifier j links to a random earlier identifier of the person.
        conn.execute(
            """
            create table intermediate.int_identity_edges as
            with numbered as (
                select p, t, v, t0, row_number() over (partition by p order by k) - 1 as j from ids
            )
            select ka.identifier_key as key_a, kb.identifier_key as key_b,
                   a.t as id_a_type, a.v as id_a, b.t as id_b_type, b.v as id_b, 'synthetic' as source,
                   b.t0 as first_seen_at, b.t0 as last_seen_at, 1 as n_records
            from numbered b join numbered a on a.p = b.p and a.j = hash(b.v) % b.j
            join intermediate.int_identifier_keys ka on ka.identifier_type = a.t and ka.identifier_value = a.v
            join intermediate.int_identifier_keys kb on kb.identifier_type = b.t and kb.identifier_value = b.v
            where b.j > 0
            order by hash(a.v, b.v)
            """
        )
        nodes, edges = conn.sql(
            "select (select count(*) from intermediate.int_identity_nodes), "
            "(select count(*) from intermediate.int_identity_edges)"
        ).fetchall()[0]
        conn.execute(
            "create table bench_meta as select ? as identifiers, ? as nodes, ? as edges",
            [identifiers, nodes, edges],
        )
    finally:
        conn.close()
    return {"persons": persons, "nodes": nodes, "edges": edges}


def peak_rss_gb() -> float:
    """VmHWM of this process: the most resident memory it ever held."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024**2, 3)
    return float("nan")


def _export(conn: duckdb.DuckDBPyConnection, query: str, out: Path) -> None:
    conn.execute(f"copy ({query}) to '{out}' (format parquet)")


def run_resolve(db: Path, out: Path) -> dict[str, Any]:
    from sen.identity import load_identity_config, resolve_identities

    conn = duckdb.connect(str(db))
    timings: dict[str, dict[str, float]] = {}
    wall, cpu = time.perf_counter(), time.process_time()
    stats = resolve_identities(
        conn, load_identity_config(), datetime(2026, 1, 1, tzinfo=UTC), timings=timings
    )
    result = {"wall_s": time.perf_counter() - wall, "cpu_s": time.process_time() - cpu}
    result["compute_wall_s"] = result["wall_s"] - timings["write"]["wall_s"]
    result["compute_cpu_s"] = result["cpu_s"] - timings["write"]["cpu_s"]
    result |= {"components": stats.components, "phases": timings, "peak_rss_gb": peak_rss_gb()}
    _export(
        conn,
        "select identifier_key as h, person_id as label from identity.identifier_person_map",
        out,
    )
    # A second run on unchanged input: the rerun path (previous map, stable ids) and its cost.
    wall, cpu = time.perf_counter(), time.process_time()
    rerun_timings: dict[str, dict[str, float]] = {}
    rerun = resolve_identities(
        conn, load_identity_config(), datetime(2026, 1, 2, tzinfo=UTC), timings=rerun_timings
    )
    result["rerun_wall_s"] = time.perf_counter() - wall
    result["rerun_cpu_s"] = time.process_time() - cpu
    result["rerun_phases"] = rerun_timings
    changed = conn.sql(
        "select count(*) from identity.person_id_history where run_id = ?", params=[rerun.run_id]
    )
    result["rerun_history_events"] = changed.fetchall()[0][0]
    result["peak_rss_gb_with_rerun"] = peak_rss_gb()
    conn.close()
    return result


def run_scipy(db: Path, out: Path) -> dict[str, Any]:
    import numpy as np
    import pyarrow as pa
    from scipy.sparse import coo_array
    from scipy.sparse.csgraph import connected_components

    # Read only for the compute part, as in a read-only analysis; reopened for the write (not timed apart).
    wall, cpu = time.perf_counter(), time.process_time()
    conn = duckdb.connect(str(db), read_only=True)
    nodes = conn.sql("select identifier_key as k from intermediate.int_identity_nodes").fetchnumpy()["k"]
    edges = conn.sql("select key_a as a, key_b as b from intermediate.int_identity_edges").fetchnumpy()
    # Keys 1..n: a dense array turns them into positions (the same lookup resolve makes).
    position = np.full(int(nodes.max()) + 1, -1, dtype=np.int32)
    position[nodes] = np.arange(len(nodes), dtype=np.int32)
    src, dst = position[edges["a"]], position[edges["b"]]
    cc_wall, cc_cpu = time.perf_counter(), time.process_time()
    graph = coo_array((np.ones(len(src), dtype=np.int8), (src, dst)), shape=(len(nodes), len(nodes))).tocsr()
    n_components, labels = connected_components(graph, directed=False)
    result = {
        "compute_wall_s": time.perf_counter() - wall,
        "compute_cpu_s": time.process_time() - cpu,
        "cc_only_wall_s": time.perf_counter() - cc_wall,
        "cc_only_cpu_s": time.process_time() - cc_cpu,
        "components": int(n_components),
    }
    conn.close()
    conn = duckdb.connect(str(db))
    conn.register("_labels", pa.table({"identifier_key": nodes, "label": labels}))
    conn.execute("create table component_map as select identifier_key, label from _labels")
    result["wall_s"] = time.perf_counter() - wall
    result["cpu_s"] = time.process_time() - cpu
    result["peak_rss_gb"] = peak_rss_gb()
    export = duckdb.connect()
    export.register("labels", pa.table({"h": nodes, "label": labels}))
    _export(export, "select * from labels", out)
    export.close()
    conn.close()
    return result


def run_splink(db: Path, out: Path) -> dict[str, Any]:
    import logging

    from splink import DuckDBAPI
    from splink.clustering import cluster_pairwise_predictions_at_threshold

    iterations: list[str] = []

    class Counter(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.getMessage().startswith("Completed iteration"):
                iterations.append(record.getMessage())

    logging.getLogger("splink").addHandler(Counter())
    logging.getLogger("splink").setLevel(logging.INFO)
    conn = duckdb.connect(str(db))
    wall, cpu = time.perf_counter(), time.process_time()
    conn.execute(
        "create table splink_nodes as select identifier_key as unique_id from intermediate.int_identity_nodes"
    )
    conn.execute(
        "create table splink_edges as select key_a as unique_id_l, key_b as unique_id_r "
        "from intermediate.int_identity_edges"
    )
    clusters = cluster_pairwise_predictions_at_threshold(
        "splink_nodes", "splink_edges", db_api=DuckDBAPI(connection=conn), node_id_column_name="unique_id"
    )
    table = clusters.physical_name
    result = {
        "compute_wall_s": time.perf_counter() - wall,
        "compute_cpu_s": time.process_time() - cpu,
        "iterations": len(iterations),
    }
    # Splink's cluster table is keyed by unique_id, the identifier key: it already names every identifier's
    # component, so there is nothing left to write.
    result["wall_s"] = time.perf_counter() - wall
    result["cpu_s"] = time.process_time() - cpu
    result["peak_rss_gb"] = peak_rss_gb()
    result["components"] = conn.sql(f"select count(distinct cluster_id) from {table}").fetchall()[0][0]
    _export(conn, f"select unique_id as h, cluster_id as label from {table}", out)
    conn.close()
    return result


WARM_UP_GB = 3


def _touch_memory(gb: float) -> None:
    """Write to `gb` of fresh memory in a short-lived process, before any timer starts (every method alike).

    This machine is a VM that hands memory left idle back to its host: after a pause, the first process to
    touch a few GB pays for the host to supply it again (a memory-bound numpy loop ran 1.2-1.3 s instead of
    0.75 s, and the first method of a series 30% more CPU time), so whichever method ran first was charged.
    A separate process, so that the method's own allocator starts empty.
    """
    subprocess.run(
        [sys.executable, "-c", f"import numpy as np; np.ones({int(gb * 2**30) // 8}, dtype=np.int64)"],
        check=True,
    )


def worker(method: str, graph: Path, workdir: Path) -> None:
    db = workdir / f"{method}.duckdb"
    shutil.copyfile(graph, db)
    Path(f"{db}.wal").unlink(missing_ok=True)
    # The copy is set-up, not work of the method: flush it to disk first, so that the kernel's write-back of
    # ~0.7 GB does not compete with the timed run (it made the first phase of every method noisy).
    os.sync()
    _touch_memory(WARM_UP_GB)
    out = workdir / f"labels_{method}.parquet"
    runner = {"resolve": run_resolve, "scipy": run_scipy, "splink": run_splink}[method]
    result = runner(db, out)
    db.unlink(missing_ok=True)
    print(json.dumps({"method": method, **result}))


def compare(workdir: Path, methods: list[str]) -> dict[str, Any]:
    """Do the methods put the same nodes together? Compared on the nodes every method labels."""
    conn = duckdb.connect()
    agreement: dict[str, Any] = {}
    base = methods[0]
    for other in methods[1:]:
        a, b = workdir / f"labels_{base}.parquet", workdir / f"labels_{other}.parquet"
        row = conn.sql(
            f"""
            select count(*), count(distinct x.label), count(distinct y.label), count(distinct (x.label, y.label)),
                   (select count(*) from '{a}'), (select count(*) from '{b}')
            from '{a}' x join '{b}' y using (h)
            """
        ).fetchall()[0]
        shared, groups_a, groups_b, pairs, rows_a, rows_b = row
        agreement[f"{base} vs {other}"] = {
            "shared_nodes": shared,
            f"nodes_{base}": rows_a,
            f"nodes_{other}": rows_b,
            "same_partition": groups_a == groups_b == pairs,
        }
    conn.close()
    return agreement


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--identifiers", type=int, default=10_000_000)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/sen-bench-identity"))
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--regenerate", action="store_true")
    parser.add_argument("--repeat", type=int, default=1, help="rounds; each starts with the next method")
    parser.add_argument("--worker", choices=METHODS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    # Named by layout: a graph generated before the key registry lacks the key columns.
    graph = args.workdir / f"graph_keyed_{args.identifiers}.duckdb"
    if args.worker:
        worker(args.worker, graph, args.workdir)
        return 0

    if args.regenerate or not graph.exists():
        started = time.perf_counter()
        shape = generate(graph, args.identifiers)
        print(f"generated {shape} in {time.perf_counter() - started:.1f}s", file=sys.stderr)
    meta = duckdb.connect(str(graph), read_only=True)
    _, nodes, edges = meta.sql("select * from bench_meta").fetchall()[0]
    meta.close()

    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    rounds: list[dict[str, Any]] = []
    for round_no in range(args.repeat):
        # Each round starts with another method, so none is always first (or always right after another).
        shift = round_no % len(methods)
        order = methods[shift:] + methods[:shift]
        results: dict[str, Any] = {}
        for method in order:
            print(f"round {round_no + 1}/{args.repeat}: running {method} ...", file=sys.stderr)
            load_before = os.getloadavg()
            completed = subprocess.run(
                [sys.executable, __file__, "--identifiers", str(args.identifiers), "--workdir", str(args.workdir),
                 "--worker", method],
                capture_output=True, text=True, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)},
            )  # fmt: skip
            if completed.returncode != 0:
                print(completed.stderr[-4000:], file=sys.stderr)
                return 1
            results[method] = json.loads(completed.stdout.strip().splitlines()[-1])
            results[method]["load_average_before"] = load_before
            results[method]["load_average_after"] = os.getloadavg()
        report = {
            "identifiers": nodes,
            "edges": edges,
            "cpus": os.cpu_count(),
            "order": order,
            "results": {m: results[m] for m in methods},
            "agreement": compare(args.workdir, methods),
        }
        rounds.append(report)
        print(_markdown(report), flush=True)
    (args.workdir / "results.json").write_text(json.dumps(rounds, indent=2, default=str))
    if len(rounds) > 1:
        print(_summary(rounds))
    return 0


def _spread(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} ({min(values):.2f}-{max(values):.2f})"


def _summary(rounds: list[dict[str, Any]]) -> str:
    """Median (min-max) over the rounds, per method, and of resolve's speed-up in each round."""
    methods = list(rounds[0]["results"])
    lines = [
        f"\nsummary of {len(rounds)} rounds: median (min-max)\n",
        "| method | end to end: wall s | CPU s | peak RSS GB |",
        "|---|---:|---:|---:|",
    ]
    for m in methods:
        runs = [r["results"][m] for r in rounds]
        lines.append(
            f"| {m} | {_spread([x['wall_s'] for x in runs])} | {_spread([x['cpu_s'] for x in runs])} "
            f"| {_spread([x['peak_rss_gb'] for x in runs])} |"
        )
    if "resolve" in methods:
        for other in (m for m in methods if m != "resolve"):
            wall = [r["results"][other]["wall_s"] / r["results"]["resolve"]["wall_s"] for r in rounds]
            cpu = [r["results"][other]["cpu_s"] / r["results"]["resolve"]["cpu_s"] for r in rounds]
            # The targets: at least 3x faster than Splink, within 2x of scipy.
            bound = 3.0 if other == "splink" else 0.5
            lines.append(
                f"\n{other} / resolve, per round: wall {_spread(wall)}x, CPU {_spread(cpu)}x; "
                f"wall ratio >= {bound} in {sum(w >= bound for w in wall)} of {len(wall)} rounds"
            )
    same = all(a["same_partition"] for r in rounds for a in r["agreement"].values())
    lines.append(f"\nsame partition in every round: {same}")
    return "\n".join(lines)


def _markdown(report: dict[str, Any]) -> str:
    results = report["results"]
    lines = [
        f"\n{report['identifiers']:,} identifiers, {report['edges']:,} edges, {report['cpus']} CPUs\n",
        "| method | end to end: wall s | CPU s | compute only: wall s | CPU s | peak RSS GB | components "
        "| load avg (1 min) before / after | notes |",
        "|---|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for method, r in results.items():
        notes = ""
        if method == "scipy":
            notes = f"csr + connected_components alone: {r['cc_only_wall_s']:.1f} s / {r['cc_only_cpu_s']:.1f} CPU s"
        elif method == "splink":
            notes = f"{r['iterations']} iterations"
        elif method == "resolve":
            notes = (
                f"rerun on unchanged input: {r['rerun_wall_s']:.1f} s / {r['rerun_cpu_s']:.1f} CPU s, "
                f"{r['rerun_history_events']} id changes"
            )
        lines.append(
            f"| {method} | {r['wall_s']:.1f} | {r['cpu_s']:.1f} | {r['compute_wall_s']:.1f} "
            f"| {r['compute_cpu_s']:.1f} | {r['peak_rss_gb']:.2f} | {r['components']:,} "
            f"| {r['load_average_before'][0]:.1f} / {r['load_average_after'][0]:.1f} | {notes} |"
        )
    if "resolve" in results:
        mine = results["resolve"]
        for other in ("splink", "scipy"):
            if other in results:
                theirs = results[other]
                lines.append(
                    f"\nresolve vs {other}: end to end {theirs['wall_s'] / mine['wall_s']:.2f}x wall, "
                    f"{theirs['cpu_s'] / mine['cpu_s']:.2f}x CPU; compute only "
                    f"{theirs['compute_wall_s'] / mine['compute_wall_s']:.2f}x wall, "
                    f"{theirs['compute_cpu_s'] / mine['compute_cpu_s']:.2f}x CPU (>1: resolve is faster)"
                )
        for name in ("phases", "rerun_phases"):
            lines.append(
                f"\nresolve {name.replace('_', ' ')} (wall / CPU s): "
                + ", ".join(f"{k} {v['wall_s']:.1f}/{v['cpu_s']:.1f}" for k, v in mine[name].items())
            )
    for pair, a in report["agreement"].items():
        lines.append(
            f"\n{pair}: same partition = {a['same_partition']} on {a['shared_nodes']:,} shared nodes"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
