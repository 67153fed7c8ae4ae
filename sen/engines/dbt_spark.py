"""`sen-dbt`: dbt in a process whose Spark session already has Sen's normalization functions.

Staging calls sen_normalize_email / sen_normalize_phone / sen_normalize_identifier / sen_phone_flag, one
implementation in Python (sen.normalize). On DuckDB the dbt-duckdb plugin sen.dbt_plugin registers them; dbt-spark
has no plugin hook, but its ``session`` method opens its session with ``SparkSession.builder.getOrCreate()`` in the
dbt process. This launcher opens that session first, from the same configuration (sen.engines.spark.spark_conf,
equal to the profile's ``server_side_parameters``), registers the functions as pandas UDFs and creates the sync
tables marts read, then runs dbt's own command line in the same process: dbt reuses the session and its functions.

Usage: ``sen-dbt <dbt arguments>`` (e.g. ``sen-dbt build --target spark``); the orchestration uses it as its dbt
executable when CDP_ENGINE=spark. On a cluster (thrift / Databricks) the functions must be registered there
instead (docs/spark.md); this launcher is for the local ``session`` method.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import pyarrow as pa

from sen.normalize.phones import e164_flag
from sen.normalize.vectorized import normalize_arrow
from sen.settings import Settings

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

# dbt-spark forces this on every session it opens (Spark 3 and 4 behave alike with it); the launcher's session
# must agree, or getOrCreate() would hand dbt a session with another SQL dialect.
DBT_SPARK_FIXED_CONF = {"spark.sql.ansi.enabled": "false"}

UDF_NAMES = ("sen_normalize_email", "sen_normalize_phone", "sen_normalize_identifier", "sen_phone_flag")


def _email(values: pa.Array) -> pa.Array:
    return normalize_arrow(values, "email")


def _phone(values: pa.Array, regions: pa.Array) -> pa.Array:
    return normalize_arrow(values, "phone", regions)


def _identifier(values: pa.Array, types: pa.Array) -> pa.Array:
    return normalize_arrow(values, types)


def _phone_flag(values: pa.Array, regions: pa.Array) -> pa.Array:
    normalized = normalize_arrow(values, "phone", regions)
    return pa.array([e164_flag(v) for v in normalized.to_pylist()], type=pa.string())


def register_normalize_udfs(spark: SparkSession) -> None:
    """The four functions of sen.normalize.duckdb_udfs, the same Arrow code, as Spark Arrow UDFs."""
    from pyspark.sql.functions import ArrowUDFType, arrow_udf

    # The UDFs' Python workers run this interpreter (Sen and pyarrow installed), not the first python3 on PATH
    # (PySpark's default without PYSPARK_PYTHON); a UDF keeps the interpreter it was created with.
    spark.sparkContext.pythonExec = sys.executable
    functions = (_email, _phone, _identifier, _phone_flag)
    for name, function in zip(UDF_NAMES, functions, strict=True):
        spark.udf.register(name, arrow_udf(function, "string", ArrowUDFType.SCALAR))


def open_session(settings: Settings | None = None) -> SparkSession:
    """The session dbt-spark will reuse: the shared configuration plus dbt-spark's fixed settings."""
    from pyspark.sql import SparkSession

    from sen.engines.spark import spark_conf

    settings = settings or Settings.from_env()
    settings.spark_warehouse_path.mkdir(parents=True, exist_ok=True)
    builder = SparkSession.builder.enableHiveSupport()
    for key, value in {**spark_conf(settings), **DBT_SPARK_FIXED_CONF}.items():
        builder = builder.config(key, value)
    return builder.getOrCreate()


def main(argv: list[str] | None = None) -> int:
    from dbt.cli.main import cli

    from sen.engines.spark_sync_schema import ensure_sync_schema

    args = list(sys.argv[1:] if argv is None else argv)
    # `dbt --version`, `dbt parse` and `dbt deps` need no session (dagster-dbt asks for the version).
    needs_session = any(a in args for a in ("build", "run", "test", "seed", "compile", "show", "snapshot"))
    spark = open_session() if needs_session else None
    try:
        if spark is not None:
            register_normalize_udfs(spark)
            ensure_sync_schema(spark)
        try:
            cli.main(args=args, prog_name="sen-dbt", standalone_mode=True)
        except SystemExit as exit_:
            return int(exit_.code or 0)
        return 0
    finally:
        if spark is not None:
            spark.stop()  # Derby: the next process (a Python step, the next dbt step) needs the metastore


if __name__ == "__main__":
    sys.exit(main())
