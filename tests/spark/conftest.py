"""One local Spark session for every test of this directory (a JVM start costs tens of seconds on a small box).

Skipped with a clear reason when Java or pyspark is missing; tests here are marked `spark`
(`pytest -m "not spark"` leaves them out).
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest


def _java_missing() -> str | None:
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        return "Java is not installed (Spark needs Java 17: apt-get install openjdk-17-jre-headless)"
    try:
        import pyspark  # noqa: F401
    except ImportError:
        return "pyspark is not installed (pip install -e '.[spark]')"
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    reason = _java_missing()
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.spark)
            if reason:
                item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(scope="session")
def spark(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    from sen.engines.spark import spark_session
    from sen.settings import Settings

    # Timestamps without a zone are UTC on both engines.
    os.environ["TZ"] = "UTC"
    time.tzset()
    root = tmp_path_factory.mktemp("spark")
    settings = Settings.from_env(
        {"CDP_WAREHOUSE": str(root / "warehouse.duckdb"), "CDP_SPARK_MASTER": "local[2]"}
    )
    with spark_session(settings) as session:
        session.conf.set("spark.sql.shuffle.partitions", "2")
        yield session
