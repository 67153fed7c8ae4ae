"""dbt models as Dagster assets; dbt sources resolve to the ingestion and Python assets upstream.

Two blocks, one graph (docs/incremental.md), neither partitioned, so "Materialize all" in the UI starts one
run at once, as the command line does:
- `sen_dbt_incremental`: the event-sized incremental models (tag `event_sized`). A run processes every row
  loaded since the models' last run and recomputes a window of days (dbt vars `min_date`, `max_date`, plus
  `lookback_days` before): the last complete UTC day before the run's reference time, or the days of the run
  config `window_start` .. `window_end` (a backfill, in one dbt invocation).
- `sen_dbt_models`: every other model, seed and test (including stateful incremental models such as the
  segment membership history, which are not about event days).

A full refresh (`dbt build --full-refresh`) is one flag: run config `full_refresh: true` on either block, or
CDP_FULL_REFRESH=1 for every dbt step of a run. The reference time comes from the run clock, in --vars.
"""

from collections.abc import Iterable, Iterator, Mapping
from collections.abc import Set as AbstractSet
from datetime import datetime
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, DbtProject, dbt_assets

from orchestration.dbt.partitions import LIVE_TAG, dbt_vars, run_window_vars
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
    """Run config of a dbt block (all optional: "Materialize all" needs none)."""

    full_refresh: bool = False  # rebuild incremental models from raw (`dbt build --full-refresh`)
    # A backfill: recompute the events of these days (inclusive ISO dates, both or neither); default: the
    # last complete UTC day before the run's reference time. Give both blocks the same days so that their
    # dbt steps reuse one parse.
    window_start: str = ""
    window_end: str = ""

    def window(self, as_of: datetime, run_tags: Mapping[str, str] | None = None) -> dict[str, str]:
        """The run's window; none in a live-lane run (its tag), which takes the rows loaded since the last."""
        live = bool((run_tags or {}).get(LIVE_TAG))
        return run_window_vars(as_of, self.window_start, self.window_end, live=live)


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
PARAMETERS_SEED = "segment_parameters"  # sen/segments/compiler.py: every segment's values, one row per value


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


def parameters_seed_to_load(
    selected: AbstractSet[dg.AssetKey], block_keys: Iterable[dg.AssetKey]
) -> dg.AssetKey | None:
    """The segment_parameters seed, when a step builds segment models but the seed is not selected with them
    (a segment materialized alone in the UI, `--select` on the command line). ``block_keys``: every key of the
    dbt block (a subsetted step's own assets definition holds only the selected ones)."""
    if not any(key.path[-1].startswith(SEGMENT_PREFIX) for key in selected):
        return None
    seed = next((k for k in block_keys if k.path[-1] == PARAMETERS_SEED), None)
    return seed if seed is not None and seed not in selected else None


def load_parameters_seed(
    context: dg.AssetExecutionContext, dbt: DbtCliResource, seed: dg.AssetKey, args: list[str]
) -> dg.AssetMaterialization:
    """`dbt seed` of the segment parameters before their segments: a segment YAML changed since the last build
    is compiled into the seed, and a segment model built on the old seed would count its members with the old
    values (or, with no row of its own, stop the build)."""
    vars_args = args[args.index("--vars") : args.index("--vars") + 2] if "--vars" in args else []
    context.log.info(f"loading seed {PARAMETERS_SEED} with the segments it parameterizes")
    dbt.cli(["seed", "--select", PARAMETERS_SEED, *vars_args]).wait()  # raises on a failed seed
    return dg.AssetMaterialization(
        asset_key=seed, description="Loaded with the segment models of this step (their parameters)."
    )


def run_dbt(
    context: dg.AssetExecutionContext,
    dbt: DbtCliResource,
    args: list[str],
    block_keys: Iterable[dg.AssetKey] = (),
) -> Iterator[dg.AssetMaterialization | dg.AssetCheckResult | dg.Output]:
    """The dbt step's events, with the member count of every segment built (metadata `members`): an empty
    segment shows as 0 on its asset, not only in the warehouse. Segment models built without the parameters
    seed load it first."""
    seed = parameters_seed_to_load(context.selected_asset_keys, block_keys)
    if seed is not None:
        yield load_parameters_seed(context, dbt, seed, args)
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
    )
    def sen_dbt_incremental(
        context: dg.AssetExecutionContext, dbt: DbtCliResource, run_clock: RunClock, config: DbtBuildConfig
    ):
        as_of = run_clock.as_of()
        yield from run_dbt(context, dbt, build_args(config, as_of, config.window(as_of, context.run.tags)))

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
        as_of = run_clock.as_of()
        args = build_args(config, as_of, config.window(as_of, context.run.tags))
        yield from run_dbt(
            context, dbt, args, block_keys=sen_dbt_models.keys
        )  # the whole block, not the subset

    return [sen_dbt_incremental, sen_dbt_models]
