"""One ingestion asset per source folder: files -> raw.<source>, with quarantine and reconciliation metadata."""

from pathlib import Path

import dagster as dg
import duckdb

from orchestration.resources import Warehouse
from sen.contracts import Source, load_contract
from sen.ingest import IngestError, LoadResult, ingest_source
from sen.privacy import ErasureError, erasure_salt, filter_load, has_suppressions
from sen.privacy.scrub import compact_database
from sen.settings import Settings

RAW_GROUP = "raw"


def build_ingestion_asset(source: Source) -> dg.AssetsDefinition:
    @dg.asset(
        key=["raw", source.name],
        group_name=RAW_GROUP,
        description=f"{source.description} Loaded from $CDP_DATA_DIR/{source.name}/ as text.",
        kinds={"duckdb", "spark", "python"},  # both engines (orchestration/engine_support.py)
        tags={"layer": "raw"},
    )
    def _ingest(context: dg.AssetExecutionContext, warehouse: Warehouse) -> dg.MaterializeResult:
        settings = Settings.from_env()
        data_dir = settings.data_dir
        if settings.engine == "spark":  # raw tables in Spark (docs/spark.md, sen/ingest/spark.py)
            try:
                result, total = _ingest_on_spark(source, settings)
            except IngestError as exc:
                raise dg.Failure(description=str(exc)) from exc
            erased = 0  # the erasure step does not run on Spark yet (docs/privacy.md): its asset says so
        else:
            with warehouse.connect() as conn:
                try:
                    result = ingest_source(conn, source, data_dir)
                # a missing column or data folder, an unreadable file, all rows quarantined
                except IngestError as exc:
                    loaded = getattr(exc, "result", None)
                    if loaded is not None:  # what did load is still kept clear of erased persons
                        _suppress(context, conn, loaded, settings)
                    raise dg.Failure(description=str(exc)) from exc
                erased = _suppress(context, conn, result, settings)
                total = conn.execute(f'select count(*) from raw."{source.name}"').fetchone()[0]
        if erased:  # the dropped rows' blocks would stay readable in the file until reused (docs/privacy.md)
            compact_database(Path(warehouse.resolved_path()))
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
                # rows of erased persons dropped after loading (sen.privacy): part of rows_loaded
                "rows_erased": erased,
                "reconciles": result.reconciles,
                "quarantine_reasons": dg.MetadataValue.json(dict(result.quarantine_reasons)),
                "dagster/row_count": total,
            }
        )

    return _ingest


def _suppress(
    context: dg.AssetExecutionContext, conn: duckdb.DuckDBPyConnection, result: LoadResult, settings: Settings
) -> int:
    """Drop the new rows of erased persons (the suppression list of salted hashes, docs/privacy.md)."""
    shas = [result.file_sha[path] for path in result.files_loaded if path in result.file_sha]
    if not shas or not has_suppressions(conn):
        return 0
    try:
        salt, _ = erasure_salt(settings)
        dropped, cleared = filter_load(conn, result.source, shas, salt)
    except ErasureError as exc:
        raise dg.Failure(description=str(exc)) from exc
    if dropped or cleared:
        context.log.info(
            f"{result.source}: {dropped} row(s) of erased persons dropped, {cleared} row(s) with an erased "
            "identifier emptied (suppression list)"
        )
    return dropped


def _ingest_on_spark(source: Source, settings: Settings):
    """ingest_source into Spark's raw tables; (result, rows in raw.<source>).

    In the Spark worker process (sen/engines/spark_steps.py): Spark's embedded Derby metastore admits one JVM,
    and a JVM started in the Dagster process would keep it, locking out the dbt step (sen-dbt) that follows;
    the worker keeps one session for all sources."""
    from sen.engines.spark_steps import StepError, in_child

    try:
        return in_child(_ingest_on_spark_here, source.name)
    except StepError as exc:  # an IngestError's message (its class does not survive pickling)
        raise IngestError(str(exc)) from exc


def _ingest_on_spark_here(source_name: str):
    from sen.engines.spark_steps import worker_session
    from sen.ingest.spark import ingest_source_spark

    settings = Settings.from_env()
    source = load_contract().sources[source_name]
    spark = worker_session(settings)
    try:
        result = ingest_source_spark(spark, source, settings.data_dir)
    except IngestError as exc:
        return ("error", str(exc))
    total = spark.sql(f"select count(*) from raw.`{source.name}`").collect()[0][0]
    return result, total


ingestion_assets = [build_ingestion_asset(s) for s in load_contract().sources.values()]
