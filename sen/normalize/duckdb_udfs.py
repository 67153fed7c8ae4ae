"""Register the normalizers as vectorized (Arrow) scalar functions on a DuckDB connection."""

from __future__ import annotations

import duckdb
import pyarrow as pa

from sen.normalize.vectorized import normalize_arrow

UDF_NAMES = ("sen_normalize_email", "sen_normalize_phone", "sen_normalize_identifier")


def _email(values: pa.ChunkedArray) -> pa.Array:
    return normalize_arrow(values, "email")


def _phone(values: pa.ChunkedArray, regions: pa.ChunkedArray) -> pa.Array:
    return normalize_arrow(values, "phone", regions)


def _identifier(values: pa.ChunkedArray, types: pa.ChunkedArray) -> pa.Array:
    return normalize_arrow(values, types)


def register_udfs(conn: duckdb.DuckDBPyConnection) -> None:
    """Create sen_normalize_email(v), sen_normalize_phone(v, region), sen_normalize_identifier(v, type).

    NULL in -> NULL out; rejected values -> NULL. Safe to call twice on one connection.
    """
    varchar = duckdb.sqltype("VARCHAR")
    specs = {
        "sen_normalize_email": (_email, [varchar]),
        "sen_normalize_phone": (_phone, [varchar, varchar]),
        "sen_normalize_identifier": (_identifier, [varchar, varchar]),
    }
    for name, (function, params) in specs.items():
        try:
            conn.create_function(
                name, function, params, varchar, type="arrow", null_handling="special", side_effects=False
            )
        except duckdb.NotImplementedException as exc:
            # DuckDB refuses to redefine a Python function; the existing one is this same function.
            if "already created" not in str(exc):
                raise
