"""CDP_ENGINE=spark: the main job runs the steps that have a Spark implementation and names the ones that do not."""

from __future__ import annotations

import dagster as dg

from orchestration.engine_support import checks_message, engine_plan, syncs_message, unsupported_message


def test_spark_runs_the_whole_pipeline_and_names_the_syncs_it_cannot_run(dbt_manifest):
    from orchestration.definitions import defs

    definitions = defs()
    every = set(definitions.resolve_asset_graph().get_all_asset_keys())
    assert engine_plan(definitions, "duckdb").runnable == every

    plan = engine_plan(definitions, "spark")
    for key in (
        ["raw", "orders"],  # ingestion lands raw tables in Spark
        ["staging", "stg_shop__orders"],  # dbt models run on dbt-spark
        ["identity", "identifier_person_map"],  # identity resolution on the cluster
        ["marts", "customers"],  # dbt downstream of identity
        ["marts", "customer_clv"],  # CLV
        ["marts", "clv_backtest"],
        ["serving", "published_marts"],  # Parquet
    ):
        assert dg.AssetKey(key) in plan.runnable, key
    assert plan.missing == []  # nothing of the data pipeline is left out: not INCOMPLETE
    # The syncs read and write the DuckDB warehouse: named, left out with what reads their state.
    assert plan.syncs_not_run and all(name != "identity_resolution" for name in plan.syncs_not_run)
    assert dg.AssetKey(["privacy", "erasures"]) not in plan.runnable
    assert not (plan.runnable & plan.blocked)
    message = syncs_message(plan, "spark")
    assert "did not run" in message and "nothing was sent" in message
    # Identity's alarm has a Spark implementation; the raw suites, which read DuckDB, are named instead.
    assert any(key.name == "cluster_size_alarm" for key in plan.checks)
    assert plan.checks_not_run and "raw_orders_quality" in checks_message(plan, "spark")


def test_a_step_without_a_spark_implementation_makes_the_build_incomplete():
    @dg.asset(kinds={"spark"})
    def landed() -> None: ...

    @dg.asset(deps=[landed], kinds={"duckdb"})
    def duck_only() -> None: ...

    @dg.asset(deps=[duck_only], kinds={"spark"})
    def after() -> None: ...

    plan = engine_plan(dg.Definitions(assets=[landed, duck_only, after]), "spark")
    assert plan.runnable == {dg.AssetKey("landed")}
    assert plan.missing == ["duck_only"] and plan.blocked == {dg.AssetKey("after")}
    assert "duck_only" in unsupported_message(plan, "spark")
