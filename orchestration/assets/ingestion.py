"""One ingestion asset per source folder: files -> raw.<source>, with quarantine and reconciliation metadata."""

import dagster as dg

from orchestration.resources import Warehouse
from sen.contracts import Source, load_contract
from sen.ingest import IngestError, ingest_source
from sen.settings import Settings

RAW_GROUP = "raw"


def build_ingestion_asset(source: Source) -> dg.AssetsDefinition:
    @dg.asset(
        key=["raw", source.name],
        group_name=RAW_GROUP,
        description=f"{source.description} Loaded from $CDP_DATA_DIR/{source.name}/ as text.",
        kinds={"duckdb", "python"},
        tags={"layer": "raw"},
    )
    def _ingest(context: dg.AssetExecutionContext, warehouse: Warehouse) -> dg.MaterializeResult:
        data_dir = Settings.from_env().data_dir
        with warehouse.connect() as conn:
            try:
                result = ingest_source(conn, source, data_dir)
            except IngestError as exc:  # missing column or data folder, unreadable file, all rows quarantined
                raise dg.Failure(description=str(exc)) from exc
            total = conn.execute(f'select count(*) from raw."{source.name}"').fetchone()[0]
        for path, reason in result.files_unreadable.items():
            context.log.warning(f"{source.name}: {path}: {reason}")
        if result.rows_quarantined:
            context.log.warning(
                f"{source.name}: {result.rows_quarantined} row(s) quarantined to raw._quarantine: "
                + ", ".join(f"{r} ({n})" for r, n in result.quarantine_reasons.most_common(5))
            )
        return dg.MaterializeResult(
            metadata={
                "data_dir": dg.MetadataValue.path(str(data_dir / source.name)),
                "files_found": result.files_found,
                "files_loaded": len(result.files_loaded),
                "files_already_loaded": len(result.files_already_loaded),
                "files_unreadable": dg.MetadataValue.json(result.files_unreadable),
                "files_read_as": dg.MetadataValue.json(result.files_read_as),  # not UTF-8, or not commas
                "rows_in": result.rows_in,
                "rows_loaded": result.rows_loaded,
                "rows_quarantined": result.rows_quarantined,
                "reconciles": result.reconciles,
                "quarantine_reasons": dg.MetadataValue.json(dict(result.quarantine_reasons)),
                "dagster/row_count": total,
            }
        )

    return _ingest


ingestion_assets = [build_ingestion_asset(s) for s in load_contract().sources.values()]
