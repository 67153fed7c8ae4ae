"""Reverse ETL: diff-based syncs from DuckDB audience tables to ad, email, push and messaging tools.

    from reverse_etl import load_syncs, run_sync
    for sync in load_syncs("reverse_etl/syncs"):
        result = run_sync("warehouse/sen.duckdb", sync)

See docs/reverse_etl.md.
"""

from reverse_etl.config import SyncConfig, load_sync, load_syncs
from reverse_etl.engine import SyncHooks, run_sync
from reverse_etl.errors import SyncConfigError, SyncRunError
from reverse_etl.result import SyncResult

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
