"""The erasure step as a Dagster asset: right-to-be-forgotten requests carried out in every layer.

It runs after everything that reads or copies the person's data in a build (dbt models, identity, CLV, the
syncs, which remove the person from each destination with the identifiers they last sent). It rewrites the
serving copy and every kept Parquet version itself, so the serving step may run before or after it. The logic is
``sen.privacy.process_erasures`` (docs/privacy.md).
"""

from collections.abc import Sequence
from pathlib import Path

import dagster as dg

from orchestration.resources import Warehouse
from sen.privacy import ErasureError, erasure_salt, pending_requests, process_erasures, scrub
from sen.settings import REPO_ROOT, Settings

ERASURE_KEY = dg.AssetKey(["privacy", "erasures"])
SYNC_DIR = REPO_ROOT / "reverse_etl" / "syncs"


def build_erasure_asset(upstream: Sequence[dg.AssetsDefinition | dg.AssetSpec]) -> dg.AssetsDefinition:
    keys: set[dg.AssetKey] = set()
    for definition in upstream:
        keys.update([definition.key] if isinstance(definition, dg.AssetSpec) else definition.keys)

    @dg.asset(
        key=ERASURE_KEY,
        deps=sorted(keys, key=lambda k: k.path),
        group_name="privacy",
        kinds={"python", "duckdb"},
        description=(
            "Carries out pending right-to-be-forgotten requests: deletes the persons' rows from raw, staging, "
            "intermediate, identity, marts, audiences and sync tables, rewrites the file exports and serving "
            "versions without them, keeps only salted hashes (raw._erased_identifiers) so no later load brings "
            "them back, and empties the requests' identifiers (docs/privacy.md)."
        ),
    )
    def erasures(context: dg.AssetExecutionContext, warehouse: Warehouse) -> dg.MaterializeResult:
        settings = Settings.from_env()
        if settings.engine != "duckdb":
            message = (
                f"erasure requests are not carried out with CDP_ENGINE={settings.engine} yet (the step deletes "
                "from the DuckDB warehouse only); marts and destinations still leave erased persons out"
            )
            context.log.warning(message)
            return dg.MaterializeResult(metadata={"skipped": message})
        with warehouse.connect() as conn:
            if not pending_requests(conn):
                return dg.MaterializeResult(metadata={"requests_processed": 0})
            try:
                salt, warning = erasure_salt(settings)
            except ErasureError as exc:
                raise dg.Failure(description=str(exc)) from exc
            if warning:
                context.log.warning(warning)
            report = process_erasures(conn, salt, sync_dir=SYNC_DIR, serving_path=settings.serving_path)
        # The deleted rows' old blocks would stay readable in the file until reused: write a new file.
        size = scrub.compact_database(Path(warehouse.resolved_path()))
        context.log.info(f"warehouse rewritten without the erased rows' old blocks ({size / 1e6:.1f} MB)")
        for message in report.warnings:
            context.log.warning(message)
        context.log.info(f"erasure: {report.as_metadata()}")
        return dg.MaterializeResult(
            metadata={
                **report.as_metadata(),
                "raw_rows_deleted_by_table": dg.MetadataValue.json(report.raw_rows_deleted),
                "derived_rows_deleted_by_table": dg.MetadataValue.json(report.derived_rows_deleted),
                "pending_destination": dg.MetadataValue.json(report.pending_destination),
            }
        )

    return erasures
