"""The SQL batches the raw-data expectations run on, built from the contract.

Raw columns are text. Expectations run on a *typed view* of each raw table, the values as staging will read
them: blank -> NULL, trimmed, accepted-value columns lower-cased, timestamps parsed (a naive value is in the
source's timezone), decimals and integers cast. A value the loader would have quarantined becomes NULL here,
so a `not_null` expectation on a required column also proves that it parses.

The row batches hold the rows of the source's *current load* only (the latest `_load_id`, by `_loaded_at`):
the blocking check judges what this run brought, against the suite's tolerances, so one bad row loaded long
ago (or written before the loader quarantined it) never blocks every later run. `LOADED_FILES` likewise
holds the files of the latest load.
"""

from __future__ import annotations

import duckdb

from sen.contracts import Column, Source
from sen.ingest.loader import META_COLUMNS
from sen.settings import Settings

ROWS = "rows"  # the typed view of raw.<source>, one row per loaded row
DISTINCT_ROWS = "distinct_rows"  # (file, key, content hash) once each: exact duplicates are legal in raw
LOADED_FILES = "loaded_files"  # one row per loaded file of this source, with its quarantine share
BATCHES = (ROWS, DISTINCT_ROWS, LOADED_FILES)

# An explicit offset or Z after the time part; anything else is naive local time of the source.
_HAS_OFFSET = r"[0-9]:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?\s*(Z|[+-][0-9]{2}(:?[0-9]{2})?)$"


def quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def typed_expression(column: Column, timezone: str) -> str:
    """SQL giving the value of one raw text column as staging reads it (NULL when blank or unparseable)."""
    text = f"nullif(trim({quote(column.name)}), '')"
    if column.type == "timestamp":
        return (
            f"case when regexp_matches(upper({text}), {literal(_HAS_OFFSET)}) "
            f"then try_cast({text} as timestamptz) "
            f"else timezone({literal(timezone)}, try_cast({text} as timestamp)) end"
        )
    if column.type == "date":
        # Midnight UTC of the day, so dates compare with the same reference timestamp as timestamps.
        return f"timezone('UTC', try_cast({text} as date)::timestamp)"
    if column.type == "decimal":
        return f"try_cast({text} as double)"
    if column.type == "integer":
        return f"try_cast({text} as bigint)"
    if column.accepted or column.type == "boolean":
        return f"lower({text})"
    if column.type == "json":
        return quote(column.name)
    return text


def table_columns(conn: duckdb.DuckDBPyConnection, source: Source) -> list[str] | None:
    """Columns of raw.<source> in table order, or None when the table does not exist."""
    rows = conn.execute(
        """select column_name from information_schema.columns
           where table_schema = 'raw' and table_name = ? order by ordinal_position""",
        [source.name],
    ).fetchall()
    return [r[0] for r in rows] or None


def current_load_filter(source: Source) -> str:
    """SQL condition on raw.<source> keeping the rows of its latest load."""
    table = f"raw.{quote(source.name)}"
    return f"_load_id is not distinct from (select arg_max(_load_id, _loaded_at) from {table})"


def batch_sql(source: Source, batch: str, present: list[str]) -> str:
    """The query of one batch; `present` are the raw table's actual columns (schema drift is tolerated)."""
    name = f"raw.{quote(source.name)}"
    table = f"(select * from {name} where {current_load_filter(source)})" if "_load_id" in present else name
    contract_present = [c for c in source.columns if c.name in present]
    business_tz = Settings.from_env().timezone  # the zone of sources declared `timezone: business`
    if batch == ROWS:
        replaced = ", ".join(
            f"{typed_expression(c, source.timezone_name(business_tz))} as {quote(c.name)}"
            for c in contract_present
        )
        return f"select * replace ({replaced}) from {table}" if replaced else f"select * from {table}"
    if batch == DISTINCT_ROWS:
        # Distinct (file, key, content) where content is a 64-bit hash of the row's raw text: far cheaper than
        # a DISTINCT over every column (JSON payloads included) on tables of millions of rows.
        keys = [c for c in contract_present if c.name in source.key]
        key_cols = "".join(
            f", {typed_expression(c, source.timezone_name(business_tz))} as {quote(c.name)}" for c in keys
        )
        content = ", ".join(quote(c.name) for c in contract_present) or "null"
        return f"select distinct _file_sha256{key_cols}, hash({content}) as _content_hash from {table}"
    if batch == LOADED_FILES:
        return (
            "select file_path, rows_in, rows_quarantined, "
            "rows_quarantined::double / nullif(rows_in, 0) as quarantined_share "
            f"from raw._loaded_files where source = {literal(source.name)} and load_id = ("
            f"select arg_max(load_id, loaded_at) from raw._loaded_files where source = {literal(source.name)})"
        )
    raise ValueError(f"unknown batch {batch!r}; expected one of {BATCHES}")


__all__ = [
    "BATCHES",
    "DISTINCT_ROWS",
    "LOADED_FILES",
    "META_COLUMNS",
    "ROWS",
    "batch_sql",
    "current_load_filter",
    "literal",
    "quote",
    "table_columns",
    "typed_expression",
]
