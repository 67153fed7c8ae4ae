"""dbt-duckdb plugin: creates the `sync` schema (reverse_etl/state_schema.py) when dbt opens the warehouse.

Marts and the semantic layer read sync.contact_ledger, sync.dead_push_tokens and sync.sync_runs as sources;
on a fresh warehouse no sync has run yet, so they would not exist. dbt carries no copy of their DDL: this
plugin runs the engine's own ("if not exists": tables already there are left alone).

profiles.yml:  plugins: [{module: sen.dbt_plugin}, {module: reverse_etl.dbt_sync_schema}]
(dbt-duckdb keys plugins by the module's last name part: a second `dbt_plugin` would silently replace the
first, hence this module's distinct name.)
"""

from __future__ import annotations

from dbt.adapters.duckdb.plugins import BasePlugin
from duckdb import DuckDBPyConnection

from reverse_etl.state_schema import ensure_schema


class Plugin(BasePlugin):
    def configure_connection(self, conn: DuckDBPyConnection) -> None:
        ensure_schema(conn)
