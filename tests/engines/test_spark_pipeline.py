"""The whole pipeline on Spark equals the DuckDB build (issue 21, "proof of equivalence"; docs/spark.md).

`CDP_ENGINE=spark python -m orchestration.cli build` on the committed sample, on local[2], from an empty catalog:
ingestion, every dbt model, identity resolution, CLV and serving on Spark. Every table the DuckDB build of the
same sample made in the compared schemas (staging to audiences, identity, the CLV tables) must exist in Spark
with the same columns and the same rows in any order (an order-free digest per table; floats within 1e-9
relative). Left out of the comparison, by name: the columns that name a run (ids, clock times, durations),
which differ between any two builds.

Marked `spark` (a JVM per step; ~15 min on a 2-core box): `make test` leaves it out and CI runs it in its Spark
step (.ci/run).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time

import pytest

from sen.settings import REPO_ROOT
from tests.conftest import SAMPLE_AS_OF, SAMPLE_DIR

COMPARED_SCHEMAS = ("staging", "intermediate", "marts", "audiences", "semantic", "reference", "identity")
# Columns that identify a run or its clock time rather than data: differ between any two builds.
RUN_COLUMNS = frozenset(
    {
        "run_id",  # identity runs
        "run_at",
        "occurred_at",  # person id history: when the run happened
        "duration_s",
        "fit_id",  # CLV fits
        "fitted_at",
        "dagster_run_id",
        "fit_seconds",
        "score_seconds",
        "_load_id",  # ingestion: one id and clock time per load
        "_loaded_at",
        "_first_loaded_at",
        "load_id",
        "loaded_at",
    }
)
# Tables of the DuckDB build that the Spark build does not make, each with the reason. Only what reads the
# syncs' state (they do not run on Spark: SYNCS NOT RUN) may be here.
NOT_ON_SPARK: dict[str, str] = {
    "semantic.sem_sync_runs": "the run log of the syncs (sync.sync_runs), which they write; they do not run on Spark",
}


def _env(**extra: str) -> dict[str, str]:
    env = {**os.environ, "CDP_DATA_DIR": str(SAMPLE_DIR), "CDP_AS_OF": SAMPLE_AS_OF, **extra}
    env.pop("DAGSTER_HOME", None)
    return env


# The DuckDB reference: the same scope as the Spark build, which leaves out the syncs and what runs after them
# (the erasure step, the sync run log; SYNCS NOT RUN). The erasure step deletes the sample's erased persons
# from every layer, so a reference that ran it would differ from a build that did not, by design.
REFERENCE_SELECTION = "not group:reverse_etl+"


def _build(env: dict[str, str], *select: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "orchestration.cli", "build", *select],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
    )


@pytest.mark.spark
@pytest.mark.timeout(5400)
def test_the_pipeline_on_spark_matches_duckdb(tmp_path):
    if shutil.which("java") is None:
        pytest.skip(
            "Java is not installed: local Spark needs a JRE (apt-get install openjdk-17-jre-headless)"
        )
    pytest.importorskip("pyspark", reason="the spark extra is not installed (pip install -e .[spark])")
    import duckdb

    from sen.engines import equivalence
    from sen.engines.spark import spark_session
    from sen.normalize import register_udfs
    from sen.settings import Settings

    duck_env = _env(
        CDP_WAREHOUSE=str(tmp_path / "duck" / "sen.duckdb"), CDP_SERVING=str(tmp_path / "duck" / "s.duckdb")
    )
    duck_env.pop("CDP_ENGINE", None)
    (tmp_path / "duck").mkdir()
    started = time.perf_counter()
    reference = _build(duck_env, "--select", REFERENCE_SELECTION)
    print(f"reference build on DuckDB: {time.perf_counter() - started:.0f} s")
    assert reference.returncode == 0, (
        f"the DuckDB build failed:\n{reference.stdout[-4000:]}{reference.stderr[-4000:]}"
    )

    env = _env(
        CDP_ENGINE="spark",
        CDP_SPARK_MASTER="local[2]",
        CDP_WAREHOUSE=str(tmp_path / "sen.duckdb"),
        CDP_SPARK_WAREHOUSE=str(tmp_path / "lake"),
        CDP_SERVING=str(tmp_path / "serving.duckdb"),
    )
    started = time.perf_counter()
    completed = _build(env)
    print(f"pipeline on Spark: {time.perf_counter() - started:.0f} s")
    output = completed.stdout[-6000:] + completed.stderr[-6000:]
    assert completed.returncode == 0, f"the Spark build failed:\n{output}"
    assert "INCOMPLETE" not in completed.stderr, output
    assert "SYNCS NOT RUN" in completed.stderr, "the syncs do not run on Spark: the build must say so"
    published = tmp_path / "serving_parquet" / "current"
    assert (published / "marts" / "customers.parquet").exists(), "serving published no Parquet"

    conn = duckdb.connect(duck_env["CDP_WAREHOUSE"], read_only=True)
    register_udfs(conn)  # DuckDB's staging views call the normalization functions
    try:
        with spark_session(Settings.from_env(env)) as spark:
            started = time.perf_counter()
            missing, diffs = equivalence.compare_builds(
                conn,
                spark,
                COMPARED_SCHEMAS,
                skip_columns=RUN_COLUMNS,
                leave_out=frozenset(NOT_ON_SPARK),
            )
            print(f"comparison: {time.perf_counter() - started:.0f} s")
    finally:
        conn.close()
    assert not missing, f"tables of the DuckDB build missing on Spark: {missing}"
    assert len(diffs) > 100, "the DuckDB build should have produced every table"
    for schema in ("marts", "audiences", "identity"):
        assert any(d.table.startswith(f"{schema}.") and d.duckdb_rows > 0 for d in diffs), schema
    print(f"{len(diffs)} tables compared, {sum(d.duckdb_rows for d in diffs)} rows")
    unequal = [str(d) for d in diffs if not d.equal]
    assert not unequal, f"Spark and DuckDB disagree on {len(unequal)} table(s):\n" + "\n".join(unequal)
