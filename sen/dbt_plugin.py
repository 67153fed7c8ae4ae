"""dbt-duckdb plugin: registers Sen's normalization UDFs on every connection dbt opens.

profiles.yml:  plugins: [{module: sen.dbt_plugin}]
"""

from __future__ import annotations

from dbt.adapters.duckdb.plugins import BasePlugin
from duckdb import DuckDBPyConnection

from sen.normalize import register_udfs


class Plugin(BasePlugin):
    def configure_connection(self, conn: DuckDBPyConnection) -> None:
        register_udfs(conn)
