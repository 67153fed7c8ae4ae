import duckdb
from dbt.adapters.duckdb.plugins import BasePlugin


def test_dbt_duckdb_loads_the_plugin_and_it_registers_the_udfs() -> None:
    plugin = BasePlugin.create("sen.dbt_plugin")
    conn = duckdb.connect()
    try:
        plugin.configure_connection(conn)
        assert conn.execute("select sen_normalize_phone('0912 345 678', 'VN')").fetchall() == [
            ("+84912345678",)
        ]
    finally:
        conn.close()
