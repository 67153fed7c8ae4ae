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

from collections.abc import Callable
from pathlib import Path

import dagster as dg

from orchestration.run_clock import RunClock
from reverse_etl.config import SyncConfig, load_syncs
from reverse_etl.engine import run_sync

KEY_PREFIX = "reverse_etl"
GROUP = "reverse_etl"


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
        description=cfg.description or f"Sync {cfg.model} to {cfg.destination.type} ({cfg.mode} mode).",
        tags={"reverse_etl/destination": cfg.destination.type, "reverse_etl/mode": cfg.mode},
        metadata={
            "schedule": cfg.schedule,
            "primary_key": cfg.primary_key,
            "sync_file": cfg.source_file or "",
        },
    )
    def _asset(
        context: dg.AssetExecutionContext, config: SyncRunConfig, run_clock: RunClock
    ) -> dg.MaterializeResult:
        result = run_sync(str(warehouse_path_fn()), cfg, dry_run=config.dry_run, now=run_clock.as_of())
        context.log.info(
            f"{cfg.name}: +{result.added} ~{result.changed} -{result.removed} "
            f"rejected {result.rejected} in {result.duration_s:.2f}s"
        )
        return dg.MaterializeResult(metadata=result.as_metadata())

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


def build_sync_schedules(sync_dir: str | Path) -> list[dg.ScheduleDefinition]:
    """One schedule per sync, from its `schedule` cron string, materializing only that sync asset."""
    schedules = []
    for cfg in load_syncs(sync_dir):
        job = dg.define_asset_job(
            name=f"sync_{cfg.name}_job", selection=dg.AssetSelection.assets(sync_asset_key(cfg))
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
