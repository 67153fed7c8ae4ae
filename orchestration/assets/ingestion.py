"""One ingestion asset per source folder: files -> raw.<source>, with quarantine and reconciliation metadata."""

import dagster as dg

from orchestration.dbt.partitions import EVENT_TIME_COLUMNS, first_loaded_day, record_first_day
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
        kinds={"duckdb", "spark", "python"},  # both engines (orchestration/engine_support.py)
        tags={"layer": "raw"},
    )
    def _ingest(context: dg.AssetExecutionContext, warehouse: Warehouse) -> dg.MaterializeResult:
        settings = Settings.from_env()
        data_dir = settings.data_dir
        try:
            if settings.engine == "spark":  # raw tables in Spark (docs/spark.md, sen/ingest/spark.py)
                result, total, first_day = _ingest_on_spark(source, settings)
            else:
                with warehouse.connect() as conn:
                    result = ingest_source(conn, source, data_dir)
                    total = conn.execute(f'select count(*) from raw."{source.name}"').fetchone()[0]
                    first_day = first_loaded_day(conn, source.name)
        except IngestError as exc:  # missing column or data folder, unreadable file, all rows quarantined
            raise dg.Failure(description=str(exc)) from exc
        if first_day is not None:
            record_first_day(
                first_day
            )  # the daily partitions start at the data (orchestration/dbt/partitions.py)
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


def _ingest_on_spark(source: Source, settings: Settings):
    """ingest_source into Spark's raw tables; (result, rows in raw.<source>, first day of its event time).

    In a child process: Spark's embedded Derby metastore admits one JVM, and a JVM started in the Dagster
    process would keep it after the session stops, locking out the dbt step (sen-dbt) that follows."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        outcome = pool.submit(_ingest_on_spark_here, source.name).result()
    if isinstance(outcome, str):  # an IngestError's message (its class does not survive pickling)
        raise IngestError(outcome)
    return outcome


def _ingest_on_spark_here(source_name: str):
    from sen.engines.spark import spark_session
    from sen.ingest.spark import ingest_source_spark, spark_first_loaded_day

    settings = Settings.from_env()
    source = load_contract().sources[source_name]
    with spark_session(settings) as spark:
        try:
            result = ingest_source_spark(spark, source, settings.data_dir)
        except IngestError as exc:
            return str(exc)
        total = spark.sql(f"select count(*) from raw.`{source.name}`").collect()[0][0]
        first_day = spark_first_loaded_day(spark, source.name, EVENT_TIME_COLUMNS.get(source.name))
    return result, total, first_day


ingestion_assets = [build_ingestion_asset(s) for s in load_contract().sources.values()]
