"""dbt on Spark (CDP_ENGINE=spark; docs/spark.md): the profile, the engine's dbt command, and the dbt build of
the committed sample on local Spark compared table by table with the DuckDB build.

The comparison test is marked `spark` (slow: a JVM and ~100 models on local[2]); `make test` leaves it out and
CI runs it as its own step (.ci/run): `pytest -m spark tests/engines`.
"""

from __future__ import annotations

import os
import shutil
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from orchestration.dbt import engine as dbt_engine
from sen.engines.equivalence import compare_rows
from sen.engines.spark import spark_conf
from sen.engines.spark_sync_schema import spark_columns
from sen.settings import DBT_PROJECT_DIR, Settings
from tests.conftest import SAMPLE_AS_OF


def render_spark_profile(env: dict[str, str]) -> dict:
    from dbt.config.renderer import ProfileRenderer
    from dbt_common.context import set_invocation_context

    set_invocation_context(env)
    raw = yaml.safe_load((DBT_PROJECT_DIR / "profiles.yml").read_text())["sen"]["outputs"]["spark"]
    return ProfileRenderer({}).render_data(raw)


@pytest.mark.parametrize(
    "env",
    [
        {"CDP_WAREHOUSE": "/data/sen/sen.duckdb"},
        {
            "CDP_WAREHOUSE": "/data/sen/sen.duckdb",
            "CDP_SPARK_WAREHOUSE": "/lake/sen",
            "CDP_SPARK_MASTER": "local[4]",
        },
    ],
)
def test_spark_profile_opens_the_same_catalog_as_the_python_steps(env):
    profile = render_spark_profile(env)
    assert profile["type"] == "spark" and profile["method"] == "session"
    assert profile["server_side_parameters"] == spark_conf(Settings.from_env(env))


def test_the_engine_picks_the_dbt_target_and_command():
    duck = Settings.from_env({})
    spark = Settings.from_env({"CDP_ENGINE": "spark"})
    assert dbt_engine.dbt_target_args(duck) == []
    assert dbt_engine.dbt_target_args(spark) == ["--target", "spark"]
    assert Path(dbt_engine.dbt_executable(duck)).name == "dbt"
    assert Path(dbt_engine.dbt_executable(spark)).name == "sen-dbt"


def test_sync_tables_keep_their_columns_on_spark():
    assert spark_columns("dead_push_tokens") == [
        ("token", "STRING"),
        ("detected_at", "TIMESTAMP"),
        ("sync_name", "STRING"),
    ]
    assert ("destination_key", "STRING") in spark_columns("sync_registry")  # a column added later


def test_comparison_ignores_order_and_float_noise_but_not_real_differences():
    columns = ["id", "amount", "score", "at"]
    duck = [
        ("a", Decimal("1.50"), 0.1 + 0.2, datetime(2026, 1, 1, 7, tzinfo=UTC)),
        ("b", Decimal("2"), 1e6, None),
    ]
    spark = [
        ("b", Decimal("2.000000"), 1e6 * (1 + 1e-12), None),
        ("a", Decimal("1.5"), 0.3, datetime(2026, 1, 1, 7)),
    ]
    assert compare_rows("t", columns, duck, spark).equal
    off = [("b", Decimal("2"), 1e6 * (1 + 1e-6), None), ("a", Decimal("1.5"), 0.3, datetime(2026, 1, 1, 7))]
    diff = compare_rows("t", columns, duck, off)
    assert not diff.equal and "score" in diff.problems[0]
    missing = compare_rows("t", columns, duck, spark[:1])
    assert not missing.equal and "row counts differ" in missing.problems


# Tables the Spark build does not reproduce exactly yet, each with the reason (docs/spark.md). Empty is the goal.
KNOWN_DIFFERENCES: dict[str, str] = {}


@pytest.mark.spark
@pytest.mark.timeout(3600)  # the DuckDB build of the sample, then ~600 dbt nodes on local[2] (docs/spark.md)
def test_dbt_build_on_spark_matches_duckdb(built_warehouse, tmp_path, monkeypatch):
    if shutil.which("java") is None:
        pytest.skip(
            "Java is not installed: local Spark needs a JRE (apt-get install openjdk-17-jre-headless)"
        )
    pytest.importorskip("pyspark", reason="the spark extra is not installed (pip install -e .[spark])")
    import duckdb
    from dbt.cli.main import dbtRunner

    from orchestration.dbt.partitions import dbt_vars, run_window_vars
    from sen.engines import equivalence
    from sen.engines.dbt_spark import open_session, register_normalize_udfs
    from sen.engines.spark_sync_schema import ensure_sync_schema
    from sen.normalize import register_udfs

    env = {**os.environ, "CDP_WAREHOUSE": str(built_warehouse), "CDP_SPARK_WAREHOUSE": str(tmp_path / "lake")}
    settings = Settings.from_env(env)
    as_of = datetime.fromisoformat(SAMPLE_AS_OF).replace(tzinfo=UTC)
    run_vars = dbt_vars(as_of, run_window_vars(as_of), settings)
    conn = duckdb.connect(str(built_warehouse), read_only=True)
    register_udfs(conn)  # DuckDB's staging views call the normalization UDFs
    monkeypatch.setenv(
        "CDP_SPARK_WAREHOUSE", env["CDP_SPARK_WAREHOUSE"]
    )  # the profile's catalog = the session's
    spark = open_session(settings)
    try:
        register_normalize_udfs(spark)
        ensure_sync_schema(spark)
        # The tables the DuckDB build's Python steps wrote (raw, identity, CLV, sync): the inputs of dbt.
        equivalence.copy_to_spark(conn, spark, equivalence.source_tables(conn))
        started = time.perf_counter()
        result = dbtRunner().invoke(
            [
                "build",
                "--target",
                "spark",
                "--vars",
                run_vars,
                "--project-dir",
                str(DBT_PROJECT_DIR),
                "--profiles-dir",
                str(DBT_PROJECT_DIR),
                "--target-path",
                str(tmp_path / "target"),
            ]
        )
        print(f"dbt build on Spark: {time.perf_counter() - started:.0f} s")
        failed = [
            f"{r.node.unique_id}: {(r.message or '').splitlines()[0] if r.message else r.status}"
            for r in (result.result or [])
            if str(r.status) in ("error", "fail", "skipped")
        ]
        assert result.success and not failed, "dbt build on Spark failed:\n" + "\n".join(failed[:40])
        diffs = [equivalence.compare_table(conn, spark, table) for table in equivalence.model_tables(conn)]
    finally:
        spark.stop()
        conn.close()
    assert len(diffs) > 60, "the DuckDB build should have produced every model table"
    unexpected = [d for d in diffs if not d.equal and d.table not in KNOWN_DIFFERENCES]
    assert not unexpected, "Spark and DuckDB disagree:\n" + "\n".join(str(d) for d in unexpected)
