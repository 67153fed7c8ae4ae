"""The serving asset: after the marts and audiences are built, publish them to the read-only serving file.

Its upstream assets are looked up from the asset definitions it is given (every key whose first element is
`marts` or `audiences`, plus the identity KPI tables), so a new mart is published without touching this
file. The copy-and-swap logic is ``sen.serving.publish`` (also ``python -m sen.serving``).
"""

from collections.abc import Iterable, Sequence

import dagster as dg

from orchestration.resources import RunClock, Warehouse
from orchestration.run_clock import newest_data, stale_as_of_warning
from sen import serving
from sen.engines.spark_steps import StepError, in_child, serving_step
from sen.settings import Settings

SERVING_KEY = dg.AssetKey(["serving", "published_marts"])


def published_upstream_keys(assets: Iterable[dg.AssetsDefinition | dg.AssetSpec]) -> list[dg.AssetKey]:
    keys: set[dg.AssetKey] = set()
    for definition in assets:
        candidates = [definition.key] if isinstance(definition, dg.AssetSpec) else definition.keys
        keys.update(k for k in candidates if len(k.path) == 2 and serving.is_published(k.path[0], k.path[1]))
    return sorted(keys, key=lambda k: k.path)


def build_serving_asset(upstream: Sequence[dg.AssetsDefinition | dg.AssetSpec]) -> dg.AssetsDefinition:
    @dg.asset(
        key=SERVING_KEY,
        deps=published_upstream_keys(upstream),
        group_name="serving",
        kinds={"duckdb", "spark"},  # on Spark: Parquet only (sen/engines/spark_serving.py)
        description=(
            "Read-only copy of the marts, audiences and identity KPIs for BI tools: a new file swapped in "
            "atomically after each build (CDP_SERVING, default serving.duckdb next to the warehouse). "
            "See docs/serving.md."
        ),
    )
    def published_marts(
        context: dg.AssetExecutionContext, warehouse: Warehouse, run_clock: RunClock
    ) -> dg.MaterializeResult:
        if Settings.from_env().engine == "spark":
            return _publish_on_spark(context, run_clock)
        # Read-write like every other step (DuckDB refuses mixed configurations in one process); the
        # warehouse itself is only read, the new serving file is written.
        with warehouse.connect() as conn:
            result = serving.publish(conn, as_of=run_clock.as_of())
            newest = newest_data(conn)
        context.log.info(f"published {len(result.tables)} tables to {result.path} in {result.seconds:.2f} s")
        stale = stale_as_of_warning(run_clock.as_of(), newest)
        if stale:  # a UI or scheduled run says it too, not only the command line
            context.log.warning(stale)
        return dg.MaterializeResult(
            metadata={
                "path": dg.MetadataValue.path(str(result.path)),
                "version": result.version,
                "tables": dg.MetadataValue.json(result.tables),
                "table_count": len(result.tables),
                "size_mb": round(result.size_bytes / 1e6, 2),
                "seconds": round(result.seconds, 2),
                "dagster/row_count": sum(result.tables.values()),
                "as_of": run_clock.as_of().isoformat(),
                "newest_order_or_event": newest.isoformat(sep=" ") if newest else "none",
                "parquet_dir": (
                    dg.MetadataValue.path(str(result.parquet_dir))
                    if result.parquet_dir
                    else dg.MetadataValue.text("off (CDP_SERVING_PARQUET)")
                ),
            }
        )

    return published_marts


def _publish_on_spark(context: dg.AssetExecutionContext, run_clock: RunClock) -> dg.MaterializeResult:
    """CDP_ENGINE=spark: the same tables published as Parquet (no serving.duckdb: BI tools read the Parquet
    folder, or the cluster's own SQL endpoint); in a child process like every Spark step."""
    try:
        result = in_child(serving_step)
    except StepError as exc:
        raise dg.Failure(description=str(exc)) from exc
    context.log.info(f"published {len(result['tables'])} tables as Parquet to {result['link']}")
    return dg.MaterializeResult(
        metadata={
            "parquet_dir": dg.MetadataValue.path(result["link"]),
            "version": result["version"],
            "tables": dg.MetadataValue.json(result["tables"]),
            "table_count": len(result["tables"]),
            "seconds": result["seconds"],
            "dagster/row_count": sum(result["tables"].values()),
            "as_of": run_clock.as_of().isoformat(),
        }
    )
