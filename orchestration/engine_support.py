"""Which steps of the main job run on the configured engine (CDP_ENGINE; docs/spark.md).

On DuckDB every step runs. On Spark a step runs when it says so: the dbt blocks (dbt-spark through sen-dbt), and
every asset whose kinds include "spark" (ingestion today; identity, CLV, serving and the syncs once they have a
Spark implementation: add "spark" to their kinds). A step that does not would read and write the DuckDB file
instead of Spark's tables; it is left out of the run together with everything downstream of it, and the command
line fails naming it, so a partial Spark build never looks like a finished one.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import dagster as dg

from orchestration.dbt.assets import DBT_BLOCKS

SPARK_KIND_TAG = "dagster/kind/spark"


@dataclass
class EnginePlan:
    runnable: set[dg.AssetKey] = field(default_factory=set)
    # step (op) name -> its asset keys, for the steps that have no implementation on the engine
    unsupported: dict[str, list[dg.AssetKey]] = field(default_factory=dict)
    # assets left out because something upstream of them is unsupported
    blocked: set[dg.AssetKey] = field(default_factory=set)


def runs_on_spark(assets_def: dg.AssetsDefinition) -> bool:
    if assets_def.op.name in DBT_BLOCKS:
        return True
    return all(SPARK_KIND_TAG in (assets_def.tags_by_key.get(key) or {}) for key in assets_def.keys)


def engine_plan(defs: dg.Definitions, engine: str) -> EnginePlan:
    graph = defs.resolve_asset_graph()
    every = set(graph.get_all_asset_keys())
    plan = EnginePlan()
    if engine != "spark":
        plan.runnable = every
        return plan
    for assets_def in defs.assets or []:
        if not isinstance(assets_def, dg.AssetsDefinition) or not assets_def.keys:
            continue
        if not runs_on_spark(assets_def):
            plan.unsupported[assets_def.op.name] = sorted(assets_def.keys, key=lambda k: k.to_user_string())
    unsupported = {key for keys in plan.unsupported.values() for key in keys}
    downstream = dg.AssetSelection.assets(*unsupported).downstream().resolve(graph) if unsupported else set()
    plan.blocked = set(downstream) - unsupported
    plan.runnable = every - set(downstream)
    return plan


def unsupported_message(plan: EnginePlan, engine: str) -> str:
    steps = ", ".join(sorted(plan.unsupported))
    return (
        f"CDP_ENGINE={engine}: these steps have no {engine} implementation yet and did not run: {steps}. "
        f"They read and write the DuckDB warehouse directly (issue 21: identity resolution, CLV, serving and the "
        f"syncs on Spark). {len(plan.blocked)} asset(s) downstream of them did not run either. "
        "See docs/spark.md, 'Status'."
    )
