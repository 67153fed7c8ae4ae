"""The `sync` schema, owned here: run log, rejections, contact ledger, dead push tokens, message outbox,
dry-run plans, the registry of syncs, and one state table per sync.

All of it lives in the same warehouse as the audiences, so diffs are SQL joins and every table is queryable
next to the data it describes. This module is the one definition of these tables: the sync engine
creates them before a run, and dbt (whose marts and semantic layer read the ledger, the dead tokens and
the runs as sources) gets them from reverse_etl/dbt_sync_schema.py when it opens the warehouse, so a
fresh warehouse builds before any sync has run. Column types are plain SQL (VARCHAR, TIMESTAMP, BIGINT, DOUBLE, BOOLEAN).
"""

from __future__ import annotations

import duckdb

SCHEMA = "sync"

# table -> column definitions, in column order
TABLES: dict[str, str] = {
    "sync_runs": """
        run_id VARCHAR PRIMARY KEY,
        sync_name VARCHAR NOT NULL,
        destination VARCHAR NOT NULL,
        mode VARCHAR NOT NULL,
        dry_run BOOLEAN NOT NULL,
        status VARCHAR NOT NULL,          -- running | success | failed | interrupted (process killed)
        started_at TIMESTAMP NOT NULL,
        finished_at TIMESTAMP,
        duration_s DOUBLE,
        source_rows BIGINT,
        added BIGINT, changed BIGINT, removed BIGINT, unchanged BIGINT, rejected BIGINT,
        sent_rows BIGINT, requests BIGINT, retries BIGINT,
        unattributed_invalid BIGINT,
        error VARCHAR""",
    "sync_rejections": """
        run_id VARCHAR NOT NULL,
        sync_name VARCHAR NOT NULL,
        primary_key VARCHAR,
        operation VARCHAR,                -- add | change | remove | message
        stage VARCHAR NOT NULL,           -- validation (before sending) | destination (refused)
        reason VARCHAR NOT NULL,
        rejected_at TIMESTAMP NOT NULL,
        resolved_run_id VARCHAR           -- the later run that synced the row""",
    "contact_ledger": """
        person_id VARCHAR,
        channel VARCHAR NOT NULL,
        campaign VARCHAR,
        destination VARCHAR NOT NULL,
        sync_name VARCHAR NOT NULL,
        sent_at TIMESTAMP NOT NULL,
        run_id VARCHAR,
        message_key VARCHAR,
        delivery VARCHAR                  -- acknowledged | unconfirmed (sent, answer lost)""",
    "dead_push_tokens": """
        token VARCHAR NOT NULL,
        detected_at TIMESTAMP NOT NULL,
        sync_name VARCHAR NOT NULL""",
    "message_outbox": """
        sync_name VARCHAR NOT NULL,
        message_key VARCHAR NOT NULL,
        primary_key VARCHAR NOT NULL,
        person_id VARCHAR,
        run_id VARCHAR NOT NULL,
        status VARCHAR NOT NULL,          -- pending | sent | rejected | failed | unknown
        created_at TIMESTAMP NOT NULL,
        updated_at TIMESTAMP NOT NULL,
        destination_message_id VARCHAR,
        detail VARCHAR""",
    "dry_run_plans": """
        run_id VARCHAR NOT NULL,
        sync_name VARCHAR NOT NULL,
        primary_key VARCHAR,
        operation VARCHAR NOT NULL,
        reject_reason VARCHAR""",
    "sync_registry": """
        sync_name VARCHAR PRIMARY KEY,
        destination VARCHAR NOT NULL,
        fingerprint VARCHAR NOT NULL,
        state_table VARCHAR NOT NULL,
        updated_at TIMESTAMP NOT NULL""",
}
# columns added after their table was first released: (table, column, type), applied to older warehouses
ADDED_COLUMNS: list[tuple[str, str, str]] = [
    # which destination object (e.g. one Meta audience) a sync writes to
    ("sync_registry", "destination_key", "VARCHAR"),
]

DDL = [
    f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}",
    *(
        f"CREATE TABLE IF NOT EXISTS {SCHEMA}.{table} ({columns.rstrip()}\n    )"
        for table, columns in TABLES.items()
    ),
    *(
        f"ALTER TABLE {SCHEMA}.{table} ADD COLUMN IF NOT EXISTS {column} {kind}"
        for table, column, kind in ADDED_COLUMNS
    ),
]


def ensure_schema(conn: duckdb.DuckDBPyConnection) -> None:
    """Create whatever is missing of the schema (every statement is "if not exists")."""
    # every run: one catalog lookup when all is in place, instead of nine DDL statements
    found = conn.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE database_name = current_database() "
        "AND schema_name = $schema AND list_contains($tables, table_name)",
        {"schema": SCHEMA, "tables": list(TABLES)},
    ).fetchone()[0]
    if found == len(TABLES) and all(
        column in state_columns(conn, f"{SCHEMA}.{table}") for table, column, _ in ADDED_COLUMNS
    ):
        return
    for statement in DDL:
        conn.execute(statement)


def other_states(conn: duckdb.DuckDBPyConnection, destination_key: str | None, sync_name: str) -> list[str]:
    """State tables of the other syncs writing to the same destination object."""
    if not destination_key:
        return []
    rows = conn.execute(
        f"SELECT state_table FROM {SCHEMA}.sync_registry WHERE destination_key = ? AND sync_name <> ? "
        "ORDER BY sync_name",
        [destination_key, sync_name],
    ).fetchall()
    return [r[0] for r in rows]


def state_columns(conn: duckdb.DuckDBPyConnection, table: str) -> dict[str, str]:
    """Column name -> type of a (quoted, schema-qualified) state table: read from an empty result, ~10x
    cheaper than the information schema. Empty for a registered sync whose state table was dropped."""
    try:
        return {d[0]: str(d[1]) for d in conn.execute(f"SELECT * FROM {table} LIMIT 0").description}
    except duckdb.CatalogException:
        return {}


def to_state(expr: str, digest: bool) -> str:
    """A plan value (64 hex characters for a digest) as stored in a state column."""
    return f"unhex({expr})" if digest else expr


def from_state(expr: str, digest: bool) -> str:
    """A state column's value as the plan holds it (a digest back to lowercase hex)."""
    return f"lower(hex({expr}))" if digest else expr


def state_table(sync_name: str) -> str:
    """Per-sync state: what was last acknowledged, one row per primary key (name validated on load)."""
    return f'{SCHEMA}."state__{sync_name}"'


def ensure_state_table(
    conn: duckdb.DuckDBPyConnection,
    sync_name: str,
    fields: tuple[str, ...],
    digests: frozenset[str] = frozenset(),
) -> str:
    """Create the state table, adding a column for any newly mapped field; returns its name.

    `digests`: fields holding one distinct SHA-256 digest per member (hashed email, phone), stored as
    32-byte BLOBs without compression. A resync reads the last-sent values of the ~1% that changed,
    spread over the whole table, so it loads every block of these columns: half the bytes of hex text
    made that read ~30% cheaper, and FSST (which barely shrinks random hex) decoded whole vectors to read
    a few rows. A column created as hex text by an earlier version is converted in place."""
    table = state_table(sync_name)
    conn.execute(
        f"""CREATE TABLE IF NOT EXISTS {table} (
            __pk VARCHAR NOT NULL,
            __person_id VARCHAR,
            __row_hash UBIGINT NOT NULL,
            __created_by_sync BOOLEAN,
            __synced_at TIMESTAMP NOT NULL,
            __run_id VARCHAR NOT NULL
        )"""
    )
    existing = state_columns(conn, table)
    for f in fields:
        col = f'"f_{f}"'
        kind = existing.get(f"f_{f}")
        if kind is None:
            storage = "BLOB USING COMPRESSION uncompressed" if f in digests else "VARCHAR"
            conn.execute(f"ALTER TABLE {table} ADD COLUMN {col} {storage}")
        elif f in digests and kind != "BLOB":
            conn.execute(f"ALTER TABLE {table} ALTER COLUMN {col} TYPE BLOB USING unhex({col})")
        elif f not in digests and kind == "BLOB":  # the field's rule changed: every row is resent anyway
            conn.execute(f"ALTER TABLE {table} ALTER COLUMN {col} TYPE VARCHAR USING lower(hex({col}))")
    return table
