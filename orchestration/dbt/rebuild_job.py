"""`rebuild_events`: the batched rebuild of the event-sized models (orchestration.dbt.rebuild) as a Dagster job,
for teams that run everything from the UI: Launchpad -> `ops: {rebuild_event_models: {config: {batches: 5}}}`.

It is an op job, not an asset job: the rebuild is several dbt invocations (capped full refresh, incremental
batches, a graph full refresh, the tests) that a single asset materialization cannot express. When it
succeeds it records a materialization of each event-sized table, so the asset catalog shows them rebuilt,
with the steps and their times as metadata. Run the main job afterwards to bring the downstream marts up to
date, as after `python -m orchestration.cli rebuild-events`.
"""

import dagster as dg

from orchestration.dbt import rebuild
from orchestration.run_clock import RunClock


class RebuildConfig(dg.Config):
    batches: int = 5  # load-time batches of raw.events (1 = a plain full refresh)


@dg.op(description="Rebuild the event-sized dbt models from raw in load-time batches (docs/incremental.md).")
def rebuild_event_models(context: dg.OpExecutionContext, config: RebuildConfig, run_clock: RunClock) -> None:
    # raises on a failed dbt run: the run fails
    steps = rebuild.rebuild_event_models(config.batches, as_of=run_clock.as_of())
    metadata = {
        "batches": config.batches,
        "steps": dg.MetadataValue.md("\n".join(f"- {label}: {seconds:.1f} s" for label, seconds in steps)),
        "seconds": round(sum(seconds for _, seconds in steps), 1),
    }
    for table in rebuild.EVENT_SIZED_TABLES:
        context.log_event(dg.AssetMaterialization(asset_key=dg.AssetKey(table.split(".")), metadata=metadata))


@dg.job(
    description="Batched full rebuild of the event-sized models; then run sen_all for the marts.",
    tags={"sen/warehouse": "write"},  # one warehouse writer at a time (the run queue, docs/serving.md)
)
def rebuild_events() -> None:
    rebuild_event_models()
