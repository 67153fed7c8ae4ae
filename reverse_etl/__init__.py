"""Reverse ETL: diff-based syncs from DuckDB audience tables to ad, email, push and messaging tools.

    from reverse_etl import load_syncs, run_sync
    for sync in load_syncs("reverse_etl/syncs"):
        result = run_sync("warehouse/sen.duckdb", sync)

See docs/reverse_etl.md.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from reverse_etl.config import SyncConfig, load_sync, load_syncs
    from reverse_etl.engine import SyncHooks, run_sync
    from reverse_etl.errors import SyncConfigError, SyncRunError
    from reverse_etl.result import SyncResult

# Imported on first use: dbt loads reverse_etl.dbt_sync_schema (only the schema DDL) in every invocation, and
# should not pay for the engine, pydantic models and HTTP clients it never uses.
_EXPORTS = {
    "SyncConfig": "reverse_etl.config",
    "load_sync": "reverse_etl.config",
    "load_syncs": "reverse_etl.config",
    "SyncHooks": "reverse_etl.engine",
    "run_sync": "reverse_etl.engine",
    "SyncConfigError": "reverse_etl.errors",
    "SyncRunError": "reverse_etl.errors",
    "SyncResult": "reverse_etl.result",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'reverse_etl' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


__all__ = [
    "SyncConfig",
    "SyncConfigError",
    "SyncHooks",
    "SyncResult",
    "SyncRunError",
    "load_sync",
    "load_syncs",
    "run_sync",
]
