"""Which steps of the main job run on the configured engine (CDP_ENGINE; docs/spark.md).

On DuckDB every step runs. On Spark a step runs when it says so: the dbt blocks (dbt-spark through sen-dbt), and
every asset whose kinds include "spark" (ingestion, identity resolution, CLV, serving), and every asset check
whose op is tagged SPARK_CHECK_TAG (identity's cluster alarm). A step that does not would read and write the
DuckDB file instead of Spark's tables; it is left out of the run together with everything downstream of it, and
the command line says so by name, so a partial Spark build never looks like a finished one:

- a step of the data pipeline left out (one that would someday gain "spark" and is missing) makes the build
  INCOMPLETE: the command fails naming it;
- the reverse-ETL syncs (and the erasure step after them) have no Spark implementation yet: the sync engine reads
  audiences and writes its state in the DuckDB warehouse (reverse_etl/engine.py), not through one warehouse
  interface. Their left-out is printed as SYNCS NOT RUN; the tables are built, nothing is sent;
- the checks that read raw tables in DuckDB (the raw contract/health suites, source freshness) are listed as
  CHECKS NOT RUN; ingestion on Spark applies the same contract and quarantine (sen/ingest/spark.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import dagster as dg

from orchestration.dbt.assets import DBT_BLOCKS

SPARK_KIND_TAG = "dagster/kind/spark"
# The op tag of an asset check that runs on Spark (asset checks have no kinds).
SPARK_CHECK_TAG = "sen/engine_spark"
# Steps whose absence on Spark is known and said (SYNCS NOT RUN), not a missing piece of the data pipeline:
# the syncs (reverse_etl/<name>), the sync run log and the erasure step after them.
SYNC_KEY_PREFIXES = ("reverse_etl", "sync")
ERASURE_KEY = dg.AssetKey(["privacy", "erasures"])


@dataclass
class EnginePlan:
    runnable: set[dg.AssetKey] = field(default_factory=set)
    # step (op) name -> its asset keys, for the steps that have no implementation on the engine
    unsupported: dict[str, list[dg.AssetKey]] = field(default_factory=dict)
    # assets left out because something upstream of them is unsupported
    blocked: set[dg.AssetKey] = field(default_factory=set)
    # asset checks run, and the names of those left out (no implementation on the engine)
    checks: set[dg.AssetCheckKey] | None = None
    checks_not_run: list[str] = field(default_factory=list)

    @property
    def syncs_not_run(self) -> list[str]:
        return sorted(step for step, keys in self.unsupported.items() if all(_sync_side(k) for k in keys))

    @property
    def missing(self) -> list[str]:
        """Steps of the data pipeline left out: the build is incomplete."""
        syncs = set(self.syncs_not_run)
        return sorted(step for step in self.unsupported if step not in syncs)


def _sync_side(key: dg.AssetKey) -> bool:
    return key.path[0] in SYNC_KEY_PREFIXES or key == ERASURE_KEY


def runs_on_spark(assets_def: dg.AssetsDefinition) -> bool:
    if assets_def.op.name in DBT_BLOCKS:
        return True
    return all(SPARK_KIND_TAG in (assets_def.tags_by_key.get(key) or {}) for key in assets_def.keys)


def check_runs_on_spark(checks_def: dg.AssetChecksDefinition) -> bool:
    return SPARK_CHECK_TAG in (checks_def.op.tags or {})


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
    # Checks: those defined with their asset (dbt tests, CLV) run with it; standalone ones only if tagged.
    left_out: set[dg.AssetCheckKey] = set()
    for checks_def in defs.asset_checks or []:
        if not check_runs_on_spark(checks_def):
            left_out.update(checks_def.check_keys)
            plan.checks_not_run.append(checks_def.op.name)
    plan.checks = {
        key for key in graph.asset_check_keys if key.asset_key in plan.runnable and key not in left_out
    }
    plan.checks_not_run.sort()
    return plan


def unsupported_message(plan: EnginePlan, engine: str) -> str:
    steps = ", ".join(plan.missing)
    return (
        f"CDP_ENGINE={engine}: these steps have no {engine} implementation and did not run: {steps}. "
        f"They read and write the DuckDB warehouse directly. {len(plan.blocked)} asset(s) downstream of them "
        "did not run either. See docs/spark.md, 'Status'."
    )


def syncs_message(plan: EnginePlan, engine: str) -> str:
    steps = ", ".join(plan.syncs_not_run)
    after = sorted(k.to_user_string() for k in plan.blocked)
    return (
        f"CDP_ENGINE={engine}: the reverse-ETL syncs and the erasure step did not run: {steps}"
        + (f"; nor what reads their state: {', '.join(after)}" if after else "")
        + ". The sync engine "
        f"reads audiences and writes its state in the DuckDB warehouse, not yet through the {engine} catalog: "
        f"the audiences are built in {engine}, nothing was sent to any destination, and pending erasure requests "
        "were not carried out. See docs/spark.md, 'Status'."
    )


def checks_message(plan: EnginePlan, engine: str) -> str:
    return (
        f"CDP_ENGINE={engine}: these asset checks read the DuckDB warehouse and did not run: "
        f"{', '.join(plan.checks_not_run)}. Ingestion on {engine} applies the same input contract and quarantine."
    )
