"""Which dbt target and executable a run uses, from Settings.engine (CDP_ENGINE; docs/spark.md).

duckdb: profile target `dev` (the profile's default) and the dbt beside this interpreter, as always.
spark: profile target `spark` (dbt-spark, method session) and `sen-dbt` (sen/engines/dbt_spark.py), which opens
the shared Spark session with Sen's normalization UDFs before handing over to dbt in the same process.
"""

from __future__ import annotations

import sys
from pathlib import Path

from sen.settings import Settings

# The profile target of each engine (dbt_project/profiles.yml); None = the profile's default target.
DBT_TARGETS: dict[str, str | None] = {"duckdb": None, "spark": "spark"}


def dbt_target(settings: Settings | None = None) -> str | None:
    return DBT_TARGETS[(settings or Settings.from_env()).engine]


def dbt_target_args(settings: Settings | None = None) -> list[str]:
    """`--target <name>` for the engine's target, nothing for DuckDB (its commands stay as they were)."""
    target = dbt_target(settings)
    return ["--target", target] if target else []


def dbt_executable(settings: Settings | None = None) -> str:
    """The dbt command line of the engine, installed beside this interpreter (a venv works unactivated)."""
    engine = (settings or Settings.from_env()).engine
    name = "sen-dbt" if engine == "spark" else "dbt"
    path = Path(sys.executable).parent / name
    if not path.exists():
        raise RuntimeError(
            f"CDP_ENGINE={engine} needs {path}: reinstall Sen (`make install`) so its `{name}` script exists"
        )
    return str(path)
