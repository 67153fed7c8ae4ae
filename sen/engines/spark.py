"""One Spark configuration for every process of a Spark build: dbt-spark's session and Sen's Python steps.

dbt-spark's ``session`` method builds ``SparkSession.builder.enableHiveSupport()`` with the profile's
``server_side_parameters``; Sen's own steps build the same session from :func:`spark_conf`, so both see one
catalog: an embedded Derby metastore and plain Parquet tables under ``CDP_SPARK_WAREHOUSE``. Derby allows one
JVM at a time, so a step stops its session before the next process (e.g. a dbt subprocess) opens one.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from sen.settings import Settings

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


def spark_conf(settings: Settings | None = None) -> dict[str, str]:
    """The session configuration shared by dbt (profile target ``spark``) and Sen's Python steps."""
    settings = settings or Settings.from_env()
    warehouse = settings.spark_warehouse_path.resolve()
    return {
        "spark.master": settings.spark_master,
        "spark.app.name": "sen",
        "spark.sql.warehouse.dir": str(warehouse),
        # The metastore lives beside the tables, not in the process's working directory.
        "spark.hadoop.javax.jdo.option.ConnectionURL": (
            f"jdbc:derby:;databaseName={warehouse / 'metastore_db'};create=true"
        ),
        "spark.driver.extraJavaOptions": f"-Dderby.system.home={warehouse}",
        "spark.sql.session.timeZone": "UTC",
        # A laptop or CI box: few cores, so few shuffle partitions; a cluster sets its own (docs/spark.md).
        "spark.sql.shuffle.partitions": "4",
        "spark.ui.enabled": "false",
        "spark.sql.sources.partitionOverwriteMode": "dynamic",
    }


def use_this_python(session: SparkSession) -> None:
    """Python UDFs (identity's per-component rules, CLV scoring) run in this interpreter's environment, not
    whatever `python3` is first on PATH (pyspark's default when PYSPARK_PYTHON is unset). Read by every UDF
    defined afterwards; the environment is left alone."""
    if "PYSPARK_PYTHON" not in os.environ:
        session.sparkContext.pythonExec = sys.executable


@contextmanager
def spark_session(settings: Settings | None = None) -> Iterator[SparkSession]:
    """A Hive-enabled session on the shared catalog, stopped on exit (Derby admits one JVM at a time)."""
    from pyspark.sql import SparkSession

    settings = settings or Settings.from_env()
    settings.spark_warehouse_path.mkdir(parents=True, exist_ok=True)
    builder = SparkSession.builder.enableHiveSupport()
    for key, value in spark_conf(settings).items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    use_this_python(session)
    try:
        yield session
    finally:
        session.stop()
