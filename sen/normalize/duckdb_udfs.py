"""Register the normalizers as vectorized (Arrow) scalar functions on a DuckDB connection."""

from __future__ import annotations

import duckdb
import pyarrow as pa

from sen.normalize.phones import e164_flag
from sen.normalize.vectorized import normalize_arrow

UDF_NAMES = ("sen_normalize_email", "sen_normalize_phone", "sen_normalize_identifier", "sen_phone_flag")


def _email(values: pa.ChunkedArray) -> pa.Array:
    return normalize_arrow(values, "email")


def _phone(values: pa.ChunkedArray, regions: pa.ChunkedArray) -> pa.Array:
    return normalize_arrow(values, "phone", regions)


def _identifier(values: pa.ChunkedArray, types: pa.ChunkedArray) -> pa.Array:
    return normalize_arrow(values, types)


def _phone_flag(values: pa.ChunkedArray, regions: pa.ChunkedArray) -> pa.Array:
    normalized = normalize_arrow(values, "phone", regions)
    return pa.array([e164_flag(v) for v in normalized.to_pylist()], type=pa.string())


def register_udfs(conn: duckdb.DuckDBPyConnection) -> None:
    """Create sen_normalize_email(v), sen_normalize_phone(v, region), sen_normalize_identifier(v, type) and
    sen_phone_flag(v, region).

    NULL in -> NULL out; rejected values -> NULL. Safe to call twice on one connection.
    """
    varchar = duckdb.sqltype("VARCHAR")
    specs = {
        "sen_normalize_email": (_email, [varchar]),
        "sen_normalize_phone": (_phone, [varchar, varchar]),
        "sen_normalize_identifier": (_identifier, [varchar, varchar]),
        # 'unlisted_range' for a phone kept although the phone library does not list its range yet, else NULL.
        "sen_phone_flag": (_phone_flag, [varchar, varchar]),
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
