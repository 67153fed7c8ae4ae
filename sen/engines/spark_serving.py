"""Serving on Spark: publish the BI-facing tables of the Spark catalog as Parquet, with sen.serving's layout.

The same rule picks the tables (sen.serving.is_published: the `marts` and `audiences` schemas and the identity
KPIs) and the same layout and swap serve them: ``<target stem>_parquet/<version>/<schema>/<table>.parquet``, then
the symlink ``current`` renamed over the old one (atomic on POSIX), the previous version kept for readers that
resolved ``current`` just before the swap. Each table is written by the executors as one Parquet file (one
partition), so a reader sees the same single file as the DuckDB path writes.
"""

from __future__ import annotations

import os
import shutil
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from sen.serving import PARQUET_VERSIONS_KEPT, is_published

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


class NothingToPublish(RuntimeError):
    """The catalog holds no published table: a build that made no marts must not look like a publish."""


def tables_to_publish(spark: SparkSession) -> list[tuple[str, str]]:
    found = []
    for database in spark.catalog.listDatabases():
        for table in spark.catalog.listTables(database.name):
            if not table.isTemporary and is_published(database.name, table.name):
                found.append((database.name, table.name))
    return sorted(found)


def publish_parquet(spark: SparkSession, target: Path, keep: int = PARQUET_VERSIONS_KEPT) -> Path:
    """Write every published table under a new version folder and point ``current`` at it; returns the link."""
    tables = tables_to_publish(spark)
    if not tables:
        raise NothingToPublish(
            "no marts, audiences or identity KPI table in the Spark catalog: nothing to publish"
        )
    root = target.with_name(f"{target.stem}_parquet")
    version = f"{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"
    folder = root / version
    for schema, table in tables:
        (folder / schema).mkdir(parents=True, exist_ok=True)
        staging = folder / schema / f".{table}.spark"
        spark.table(f"{schema}.{table}").coalesce(1).write.mode("overwrite").option(
            "compression", "zstd"
        ).parquet(str(staging))
        parts = sorted(staging.glob("part-*.parquet"))
        if len(parts) != 1:
            raise RuntimeError(f"{schema}.{table}: expected one Parquet part from Spark, found {len(parts)}")
        os.replace(parts[0], folder / schema / f"{table}.parquet")
        shutil.rmtree(staging)
    link, tmp_link = root / "current", root / f"current.tmp-{version}"
    tmp_link.symlink_to(version, target_is_directory=True)
    os.replace(tmp_link, link)
    versions = sorted(
        (p for p in root.iterdir() if p.is_dir() and not p.is_symlink()), key=lambda p: p.stat().st_mtime
    )
    for old in versions[:-keep]:
        if old.name != version:
            shutil.rmtree(old, ignore_errors=True)
    return link
