"""CDP_ENGINE=spark: the main job runs the steps that have a Spark implementation and names the ones that do not."""

from __future__ import annotations

import dagster as dg

from orchestration.engine_support import engine_plan, unsupported_message


def test_spark_runs_ingestion_and_dbt_and_names_every_other_step(dbt_manifest):
    from orchestration.definitions import defs

    definitions = defs()
    every = set(definitions.resolve_asset_graph().get_all_asset_keys())
    assert engine_plan(definitions, "duckdb").runnable == every

    plan = engine_plan(definitions, "spark")
    assert dg.AssetKey(["raw", "orders"]) in plan.runnable  # ingestion lands raw tables in Spark
    assert dg.AssetKey(["staging", "stg_shop__orders"]) in plan.runnable  # dbt models run on dbt-spark
    # identity resolution reads and writes DuckDB: it is named, and nothing downstream of it runs
    assert "identity_resolution" in plan.unsupported
    assert dg.AssetKey(["identity", "identifier_person_map"]) not in plan.runnable
    assert dg.AssetKey(["marts", "customers"]) in plan.blocked
    assert not (plan.runnable & plan.blocked)
    message = unsupported_message(plan, "spark")
    assert "identity_resolution" in message and "did not run" in message
