"""dbt models as Dagster assets; dbt sources resolve to the ingestion and Python assets upstream.

Two blocks, one graph (docs/incremental.md):
- `sen_dbt_incremental`: the event-sized incremental models (tag `event_sized`), daily-partitioned by event
  day with a single-run backfill policy. A run processes every row loaded since the models' last run and
  recomputes its partition window (dbt vars `min_date`, `max_date`, plus `lookback_days` before): the main
  job, the schedule and the file sensor run the last complete day, a backfill runs a range in one invocation.
- `sen_dbt_models`: every other model, seed and test, unpartitioned (including stateful incremental models
  such as the segment membership history, which are not about event days).

A full refresh (`dbt build --full-refresh`) is one flag: run config `full_refresh: true` on either block, or
CDP_FULL_REFRESH=1 for every dbt step of a run. The reference time comes from the run clock, in --vars.
"""

from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, DbtProject, dbt_assets

from orchestration.dbt.partitions import dbt_vars, event_partitions, run_window_vars
from orchestration.run_clock import RunClock
from sen.settings import Settings

# Incremental models whose rows are events (one row per event or per identifier of an event): the ones that
# grow with traffic and that a day of event time partitions meaningfully.
INCREMENTAL_SELECTION = "config.materialized:incremental,tag:event_sized"
DBT_BLOCKS = ("sen_dbt_incremental", "sen_dbt_models")
# dbt rewrites manifest.json (2.6 MB) twice per invocation plus run_results.json, in each dbt step of a run,
# for files nothing reads (Dagster gets every result from dbt's event stream, and each step's dbt.log keeps
# the per-node timings). CDP_DBT_ARTIFACTS=1 writes them, e.g. for `dbt retry`.


class SenDbtTranslator(DagsterDbtTranslator):
    """Asset keys are [schema, table] (e.g. marts/customers) and groups follow the model folders."""

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        if dbt_resource_props["resource_type"] == "source":
            return None
        fqn = dbt_resource_props.get("fqn", [])
        return fqn[1] if len(fqn) > 2 else "dbt"


class DbtBuildConfig(dg.Config):
    """Run config of a dbt block."""

    full_refresh: bool = False  # rebuild incremental models from raw (`dbt build --full-refresh`)


def build_args(
    run_config: DbtBuildConfig,
    as_of: datetime,
    extra_vars: Mapping[str, str] | None = None,
    settings: Settings | None = None,
) -> list[str]:
    settings = settings or Settings.from_env()
    args = ["build", "--vars", dbt_vars(as_of, extra_vars)]
    if run_config.full_refresh or settings.full_refresh:
        args.append("--full-refresh")
    if not settings.dbt_artifacts:
        args.append("--no-write-json")
    return args


SEGMENT_PREFIX = "seg_"


def is_segment_event(event: object, context: dg.AssetExecutionContext) -> bool:
    if isinstance(event, dg.Output):
        key = context.asset_key_for_output(event.output_name)
    else:
        key = getattr(event, "asset_key", None)
    return key is not None and key.path[-1].startswith(SEGMENT_PREFIX)


def segment_members(keys: list[dg.AssetKey]) -> dict[dg.AssetKey, int]:
    """Current members of each segment table, read after dbt has released the warehouse."""
    import duckdb

    counts: dict[dg.AssetKey, int] = {}
    # Read-only: other readers of the file do not refuse it (this run holds the warehouse's writer lock).
    with duckdb.connect(str(Settings.from_env().warehouse), read_only=True) as conn:
        for key in keys:
            schema, table = key.path[0], key.path[-1]
            counts[key] = conn.execute(f'select count(*) from "{schema}"."{table}"').fetchone()[0]
    return counts


def run_dbt(
    context: dg.AssetExecutionContext, dbt: DbtCliResource, args: list[str]
) -> Iterator[dg.AssetMaterialization | dg.AssetCheckResult | dg.Output]:
    """The dbt step's events, with the member count of every segment built (metadata `members`): an empty
    segment shows as 0 on its asset, not only in the warehouse."""
    context.log.info(f"dbt {' '.join(args)}")
    held: list = []  # segment events wait until dbt is done: DuckDB has one writer per file
    for event in dbt.cli(args, context=context).stream():
        if held or is_segment_event(event, context):
            held.append(event)
        else:
            yield event
    outputs = {id(e): context.asset_key_for_output(e.output_name) for e in held if isinstance(e, dg.Output)}
    counts = segment_members([k for k in outputs.values() if k.path[-1].startswith(SEGMENT_PREFIX)])
    for event in held:
        key = outputs.get(id(event))
        if key in counts:
            event = event.with_metadata(
                {**event.metadata, "members": counts[key], "dagster/row_count": counts[key]}
            )
        yield event


def build_dbt_assets(project: DbtProject) -> list[dg.AssetsDefinition]:
    """The two dbt blocks, from the manifest in ``project``'s target folder."""

    @dbt_assets(
        manifest=project.manifest_path,
        select=INCREMENTAL_SELECTION,
        dagster_dbt_translator=SenDbtTranslator(),
        name="sen_dbt_incremental",
        partitions_def=event_partitions(),
        backfill_policy=dg.BackfillPolicy.single_run(),
    )
    def sen_dbt_incremental(
        context: dg.AssetExecutionContext, dbt: DbtCliResource, run_clock: RunClock, config: DbtBuildConfig
    ):
        window = run_window_vars(context.run.tags)
        yield from run_dbt(context, dbt, build_args(config, run_clock.as_of(), window))

    @dbt_assets(
        manifest=project.manifest_path,
        exclude=INCREMENTAL_SELECTION,
        dagster_dbt_translator=SenDbtTranslator(),
        name="sen_dbt_models",
    )
    def sen_dbt_models(
        context: dg.AssetExecutionContext, dbt: DbtCliResource, run_clock: RunClock, config: DbtBuildConfig
    ):
        # The run's window too (unused by these models): identical --vars let every dbt step reuse one parse.
        window = run_window_vars(context.run.tags)
        yield from run_dbt(context, dbt, build_args(config, run_clock.as_of(), window))

    return [sen_dbt_incremental, sen_dbt_models]
