"""Dagster assets (and schedules) generated from the sync YAML files (the engine is `reverse_etl`).

    from orchestration.assets.syncs import build_sync_assets, build_sync_schedules
    sync_assets = build_sync_assets("reverse_etl/syncs", lambda: Settings.from_env().warehouse)

Each sync becomes asset `reverse_etl/<sync name>` that depends on its audience model's asset key
(see `default_model_asset_key`), runs the sync against the warehouse path given
by `warehouse_path_fn` at materialization time, at the run's reference time (the run clock), and reports
added / changed / removed / rejected / duration as metadata. A failed sync fails the materialization (the
run is still in sync.sync_runs).
(No `from __future__ import annotations` here: Dagster reads the config annotation at definition time.)
"""

import os
from collections.abc import Callable
from pathlib import Path

import dagster as dg

from orchestration.run_clock import RunClock
from reverse_etl.config import SyncConfig, load_syncs
from reverse_etl.engine import run_sync

KEY_PREFIX = "reverse_etl"
GROUP = "reverse_etl"
# The run log every sync appends to (a dbt source, read by semantic.sem_sync_runs): downstream of every sync.
SYNC_RUNS_KEY = dg.AssetKey(["sync", "sync_runs"])
# Tag of the runs that write the warehouse (orchestration/schedules.py; the run queue allows one at a time).
WAREHOUSE_TAG = {"sen/warehouse": "write"}
# Fields of a destination that name an environment variable but are not credentials (a URL, a folder).
NOT_CREDENTIALS = {"base_url_env", "directory_env"}


def credential_envs(cfg: SyncConfig) -> list[str]:
    """The environment variables that can hold the destination's credentials (one of them is enough: e.g. an
    access token or a service-account key)."""
    fields = cfg.destination.model_dump()
    return sorted(
        value
        for name, value in fields.items()
        if name.endswith("_env") and name not in NOT_CREDENTIALS and isinstance(value, str) and value
    )


def missing_credentials(cfg: SyncConfig) -> list[str]:
    """The credential variables of a sync when none of them is set (empty when it can send)."""
    names = credential_envs(cfg)
    if not names or any(os.environ.get(name, "").strip() for name in names):
        return []
    return names


class SyncRunConfig(dg.Config):
    """Run config of a sync asset: `dry_run: true` records the planned diff and sends nothing."""

    dry_run: bool = False


def sync_asset_key(cfg: SyncConfig) -> dg.AssetKey:
    return dg.AssetKey([KEY_PREFIX, cfg.name])


def default_model_asset_key(cfg: SyncConfig) -> dg.AssetKey:
    """The audience model's key: `asset_key` from the YAML, else [schema, model] as dagster-dbt derives it
    from `+schema: audiences` in dbt_project.yml."""
    if cfg.asset_key:
        return dg.AssetKey(cfg.asset_key)
    return dg.AssetKey(["audiences", cfg.model])


def _sync_asset(
    cfg: SyncConfig,
    warehouse_path_fn: Callable[[], str | Path],
    model_asset_key: Callable[[SyncConfig], dg.AssetKey],
) -> dg.AssetsDefinition:
    @dg.asset(
        name=cfg.name,
        key_prefix=KEY_PREFIX,
        deps=[model_asset_key(cfg)],
        group_name=GROUP,
        kinds={"duckdb", cfg.destination.type.split("_")[0]},
        description=(cfg.description or f"Sync {cfg.model} to {cfg.destination.type} ({cfg.mode} mode).")
        + (
            " Writes the contact ledger (sync.contact_ledger) for every message sent."
            if cfg.ledger_channel
            else ""
        ),
        tags={"reverse_etl/destination": cfg.destination.type, "reverse_etl/mode": cfg.mode},
        metadata={
            "schedule": cfg.schedule,
            "primary_key": cfg.primary_key,
            "sync_file": cfg.source_file or "",
            # The warehouse tables the sync writes besides its destination; the contact ledger is read back by
            # the cart and campaign marts upstream of the audiences, so it cannot be an edge of the graph.
            "writes": ", ".join(["sync.sync_runs", *(["sync.contact_ledger"] if cfg.ledger_channel else [])]),
        },
    )
    def _asset(
        context: dg.AssetExecutionContext, config: SyncRunConfig, run_clock: RunClock
    ) -> dg.MaterializeResult:
        dry_run, reason = config.dry_run, "run config dry_run: true" if config.dry_run else ""
        missing = missing_credentials(cfg)
        if missing and not dry_run:
            # A run from the UI or a schedule on a machine without the destination's credentials plans the
            # diff instead of failing on every sync: nothing is sent, and the message says what to set.
            dry_run = True
            reason = f"{' / '.join(missing)} not set: ran dry, nothing sent; set it to send to {cfg.destination.type}"
            context.log.warning(f"{cfg.name}: {reason}")
        result = run_sync(str(warehouse_path_fn()), cfg, dry_run=dry_run, now=run_clock.as_of())
        context.log.info(
            f"{cfg.name}: +{result.added} ~{result.changed} -{result.removed} "
            f"rejected {result.rejected} in {result.duration_s:.2f}s{' (dry run)' if result.dry_run else ''}"
        )
        metadata = result.as_metadata()
        if reason:
            metadata["dry_run_reason"] = reason
        return dg.MaterializeResult(metadata=metadata)

    return _asset


def build_sync_assets(
    sync_dir: str | Path,
    warehouse_path_fn: Callable[[], str | Path],
    *,
    model_asset_key: Callable[[SyncConfig], dg.AssetKey] = default_model_asset_key,
) -> list[dg.AssetsDefinition]:
    """One asset per sync file in `sync_dir` (validated on load: a bad file fails loudly here).

    `model_asset_key` maps a sync to its audience model's asset key (e.g. with
    dagster_dbt.get_asset_key_for_model); the default is [`audiences`, model] unless the YAML sets `asset_key`.
    """
    return [_sync_asset(cfg, warehouse_path_fn, model_asset_key) for cfg in load_syncs(sync_dir)]


def sync_runs_spec(sync_assets: list[dg.AssetsDefinition]) -> dg.AssetSpec:
    """sync.sync_runs as an asset downstream of every sync (they append to it), so the run log and the
    semantic model on it hang off the graph where they come from."""
    return dg.AssetSpec(
        SYNC_RUNS_KEY,
        deps=[key for assets_def in sync_assets for key in assets_def.keys],
        group_name=GROUP,
        kinds={"duckdb"},
        description="One row per run of a reverse-ETL sync, appended by every sync asset (reverse_etl/engine.py).",
    )


def build_sync_schedules(sync_dir: str | Path) -> list[dg.ScheduleDefinition]:
    """One schedule per sync, from its `schedule` cron string, materializing only that sync asset."""
    schedules = []
    for cfg in load_syncs(sync_dir):
        job = dg.define_asset_job(
            name=f"sync_{cfg.name}_job",
            selection=dg.AssetSelection.assets(sync_asset_key(cfg)),
            tags=WAREHOUSE_TAG,
        )
        schedules.append(
            dg.ScheduleDefinition(
                name=f"sync_{cfg.name}_schedule",
                job=job,
                cron_schedule=cfg.schedule,
                execution_timezone=cfg.schedule_timezone,
            )
        )
    return schedules
