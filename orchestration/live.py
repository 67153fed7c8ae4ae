"""The live lane: every few minutes, load what the collector landed and act on the time-bound programs.

The nightly build (`sen_all`) rebuilds everything once a day. The programs below cannot wait for it: a cart
reminder is due 3, 5 and 7 hours after the cart was abandoned, a buyer must leave the ad audiences once the
order is recorded, a bad NPS answer calls for service recovery the same day. The live job `sen_live`
materializes only what those programs need:

- `raw/events`: the collector's published segments (`$CDP_DATA_DIR/events/collect/`; the loader skips files
  it has loaded, by SHA-256), and the other LIVE_SOURCES' new files: orders (recent-buyer suppression),
  support tickets and survey answers (service recovery);
- the dbt models between the events and the live syncs: the incremental staging and identity graph (rows
  loaded since their last run only: a live run has no partition window, see `LIVE_TAG`), identity resolution
  for new identifiers, the cart stages, recent purchases, service recovery, channel choice, campaign
  deliveries (contact ledger and frequency caps), their audiences and the holdback report;
- the syncs marked `live: true` (reverse_etl/syncs/*.yml): the cart reminder messages (FCM, Zalo ZNS: one
  message per person, cart and stage, `send_once`), the service-recovery webhook and the recent-buyer
  suppression audiences (Meta, Google).

Everything else (CLV, customer value, segments not feeding a live sync, the serving copy...) keeps last night's
build. The selection is computed from the graph: assets downstream of a live source and upstream of a live sync.

Trigger: the sensor `live_lane` asks for a run every CDP_LIVE_INTERVAL_SECONDS (default 180), new segments or
not, since a reminder stage comes due with time alone; it skips while a live or nightly run is queued or
running (one writer at a time), so cycles never pile up. Its runs carry the run clock tag (`sen/as_of`, the
tick's time). Like every schedule and sensor it starts stopped unless CDP_AUTOMATION=on.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg

from orchestration.dbt.partitions import LIVE_TAG  # no partition window: only rows loaded since the last run
from orchestration.run_clock import as_of_tag
from orchestration.schedules import WAREHOUSE_TAG, automation_default_status, run_partition_key
from reverse_etl.config import load_syncs
from sen.collect.landing import SEGMENT_SUFFIX, SUBFOLDER
from sen.settings import REPO_ROOT, Settings

LIVE_JOB = "sen_live"
EVENTS_KEY = dg.AssetKey(["raw", "events"])
# The sources whose news a time-bound program acts on: the collected events (carts, visits, order_completed),
# the order feeds (a buyer leaves the ad audiences), support tickets and survey answers (service recovery).
# Their folders are small drops besides the events; the loader skips the files it has loaded.
LIVE_SOURCES = ("events", "orders", "order_lines", "pos_transactions", "support_tickets", "survey_responses")
SYNC_DIR = REPO_ROOT / "reverse_etl" / "syncs"
# Reports on what a live cycle decided, which no sync reads: without them the holdbacks shown would be last
# night's while the live cycles send (or hold back) every few minutes.
LIVE_REPORTS = (dg.AssetKey(["marts", "frequency_cap_holdbacks"]),)
SEED_SCHEMA = "reference"  # dbt_project.yml: seeds +schema
# The identity resolution is one step writing four tables: it is selected whole or not at all.
IDENTITY_PREFIX = "identity"
ACTIVE_STATUSES = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]


def live_sync_keys(sync_dir: Path = SYNC_DIR) -> list[dg.AssetKey]:
    """The sync assets the live lane runs (`live: true` in their YAML)."""
    from orchestration.assets.syncs import sync_asset_key

    keys = [sync_asset_key(cfg) for cfg in load_syncs(sync_dir) if cfg.live]
    if not keys:
        raise RuntimeError(f"no sync in {sync_dir} has `live: true`: the live lane would send nothing")
    return keys


def live_selection(sync_dir: Path = SYNC_DIR) -> dg.AssetSelection:
    """The LIVE_SOURCES' ingestion, every asset downstream of them that a live sync depends on, the live syncs,
    and the whole identity resolution (new identifiers get their person; one step writing four tables runs
    whole)."""
    from orchestration.assets.clv import clv_assets
    from orchestration.assets.identity import identity_resolution

    syncs = dg.AssetSelection.assets(*live_sync_keys(sync_dir))
    sources = dg.AssetSelection.assets(*[dg.AssetKey(["raw", name]) for name in LIVE_SOURCES])
    between = sources.downstream() & syncs.upstream()
    # The CLV fit (a model fitted on the order history) is nightly work: live runs read last night's scores.
    nightly = dg.AssetSelection.assets(*[key for assets_def in clv_assets for key in assets_def.keys])
    # The seeds the live syncs read (campaigns, caps, stages: a dozen small tables): a recompiled campaigns.yml,
    # or a seed column added by a newer Sen, takes effect at the next cycle instead of failing it until the
    # nightly build reloads them.
    seeds = syncs.upstream() & dg.AssetSelection.key_prefixes([SEED_SCHEMA])
    return (
        (between - nightly)
        | syncs
        | seeds
        | dg.AssetSelection.assets(*identity_resolution.keys, *LIVE_REPORTS)
    )


# dbt tests a live run keeps: those on the small per-person tables the messages are made from. Tests on the
# event-sized and identity tables scan their whole history: the nightly build runs them.
TESTED_IN_LIVE_RUNS = (
    ("audiences",),
    ("marts", "cart_abandonment"),
    ("marts", "campaign_deliveries"),
    ("marts", "recent_purchases"),
    ("marts", "service_recovery"),
)


def live_checks(graph, keys: Iterable[dg.AssetKey]) -> list[dg.AssetCheckKey]:
    """The checks of a live run: every Dagster check on its assets (the blocking raw-data checks of the events,
    the identity cluster alarm) and the dbt tests of TESTED_IN_LIVE_RUNS."""
    keys = set(keys)
    chosen = []
    for check in graph.asset_check_keys:
        if check.asset_key not in keys:
            continue
        is_dbt_test = "dagster_dbt/unique_id" in (graph.get_check_spec(check).metadata or {})
        path = tuple(check.asset_key.path)
        if not is_dbt_test or any(path[: len(prefix)] == prefix for prefix in TESTED_IN_LIVE_RUNS):
            chosen.append(check)
    return sorted(chosen, key=lambda k: (k.asset_key.path, k.name))


def live_run_tags(moment: datetime) -> dict[str, str]:
    return {**WAREHOUSE_TAG, **as_of_tag(moment), LIVE_TAG: "1", "sen/trigger": "live_lane"}


def interval_seconds() -> int:
    return Settings.from_env().live_interval_seconds


def new_segments(data_dir: Path, after_ns: int) -> tuple[int, int]:
    """Collector segments published under the events folder after `after_ns` (mtime, ns): (count, newest)."""
    root = data_dir / "events" / SUBFOLDER
    count, newest = 0, after_ns
    if not root.is_dir():
        return count, newest
    for path in root.rglob(f"*{SEGMENT_SUFFIX}"):
        if path.name.startswith((".", "_")):
            continue
        try:
            mtime = path.stat().st_mtime_ns
        except OSError:  # archived between listing and stat
            continue
        if mtime > after_ns:
            count, newest = count + 1, max(newest, mtime)
    return count, newest


sen_live_job = dg.define_asset_job(
    name=LIVE_JOB,
    selection=live_selection(),
    description=(
        "The live lane: collected events -> incremental staging -> identity -> cart stages, recent buyers, "
        "service recovery -> the message and ad-suppression syncs marked live (orchestration/live.py)."
    ),
    tags={**WAREHOUSE_TAG, LIVE_TAG: "1"},
)


@dg.sensor(
    name="live_lane",
    job=sen_live_job,
    minimum_interval_seconds=interval_seconds(),
    default_status=dg.DefaultSensorStatus(automation_default_status().value),
    description=(
        "Every CDP_LIVE_INTERVAL_SECONDS: load the collector's new segments and run the time-bound programs "
        "(cart reminders, recent-buyer suppression, service recovery) and their syncs."
    ),
)
def live_lane(context: dg.SensorEvaluationContext):
    busy = context.instance.get_runs(
        filters=dg.RunsFilter(statuses=ACTIVE_STATUSES, tags=WAREHOUSE_TAG), limit=1
    )
    if busy:
        run = busy[0]
        return dg.SkipReason(f"run {run.run_id} of {run.job_name} holds the warehouse; the next tick retries")
    now = datetime.now(UTC).replace(microsecond=0)
    # The cursor is the newest segment seen (mtime): for the run's tags and the log only, since the run
    # loads whatever is new whether or not the sensor saw it.
    count, newest = new_segments(Settings.from_env().data_dir, int(context.cursor or 0))
    context.update_cursor(str(newest))
    graph = context.repository_def.asset_graph
    keys = sen_live_job.selection.resolve(graph)
    context.log.info(f"live cycle at {now.isoformat()}: {count} new segment(s)")
    return dg.RunRequest(
        run_key=f"live-{now.strftime('%Y%m%dT%H%M%S')}",
        asset_selection=sorted(keys, key=lambda k: k.path),
        asset_check_keys=live_checks(graph, keys),
        partition_key=run_partition_key(context.repository_def, keys, now),
        tags={**live_run_tags(now), "sen/new_segments": str(count)},
    )


live_jobs = [sen_live_job]
live_sensors = [live_lane]


def run_live(
    as_of: datetime | None = None, *, send: bool = True, instance: dg.DagsterInstance | None = None
) -> dg.ExecuteInProcessResult:
    """One live cycle in this process, as the sensor's run would do it (tests, the benchmark, a cron without
    the Dagster daemon): the reference time is `as_of`, else CDP_AS_OF, else now. `send=False` plans the
    syncs' diffs and sends nothing."""
    from orchestration.cli import parse_dbt_project, run_config_for
    from orchestration.dbt.target import dbt_target_dir, remove_step_folders
    from orchestration.definitions import build_definitions

    settings = Settings.from_env()
    moment = (as_of or settings.as_of or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
    target = settings.dbt_target_path
    if target is None:
        target = dbt_target_dir(settings.warehouse)
        remove_step_folders(target)
    # No partition window in a live run: the parse gets the same --vars as its dbt steps, which reuse it.
    if parse_dbt_project(moment, target, live=True) != 0:
        raise RuntimeError(f"dbt parse failed for the live run (target {target}); run `dbt parse` to see why")
    defs = build_definitions(target)
    graph = defs.resolve_asset_graph()
    keys = sen_live_job.selection.resolve(graph)
    job = defs.resolve_job_def(LIVE_JOB).get_subset(
        asset_selection=keys, asset_check_selection=set(live_checks(graph, keys))
    )
    partition = run_partition_key(defs.get_repository_def(), keys, moment)
    return job.execute_in_process(
        instance=instance or dg.DagsterInstance.ephemeral(),
        partition_key=partition if job.partitions_def is not None else None,
        run_config=run_config_for(defs, job, full_refresh=False, dry_run=not send),
        tags=live_run_tags(moment),
        raise_on_error=False,
    )


def main(argv: list[str] | None = None) -> int:
    import argparse

    from sen.settings import parse_as_of

    parser = argparse.ArgumentParser(
        prog="python -m orchestration.live", description="Run one cycle of the live lane (docs/collect.md)."
    )
    parser.add_argument("--as-of", help="reference time (ISO; default CDP_AS_OF, else now)")
    parser.add_argument("--dry-run", action="store_true", help="plan the syncs, send nothing")
    args = parser.parse_args(argv)
    result = run_live(parse_as_of(args.as_of, "--as-of") if args.as_of else None, send=not args.dry_run)
    failed = [e.step_key for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    print(f"live cycle {'succeeded' if result.success else 'FAILED: ' + ', '.join(map(str, failed))}")
    return 0 if result.success else 1


if __name__ == "__main__":
    raise SystemExit(main())
