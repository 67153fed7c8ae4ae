"""The diff of an audience against the last acknowledged state, computed in SQL in the warehouse.

Rows are keyed by the primary key and compared by a hash of the mapped columns (raw values, plus a
fingerprint of the mapping so a mapping change resends everything): added, changed, removed, unchanged.
Only added/changed rows are normalized and hashed (in SQL), so an unchanged million-member audience
never leaves DuckDB. The result is the temp table `__sen_plan`:

    __group  'add' (sent as upsert/replace) | 'remove' (sent as removal) | 'skip' (state-only change)
    __op     add | change | remove | remove_old (old identifiers of a changed row) | replace
    __batch  batch number within its group (NULL for rejected rows)
    __reject reason the row cannot be sent (validation), else NULL
    f_<field> the value the destination receives (normalized/hashed)
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from reverse_etl.config import SyncConfig
from reverse_etl.errors import SyncConfigError
from reverse_etl.identifiers import SQL_HEX64, TRANSFORMS, e164, sql_e164_fast, transform_sql

PLAN = "__sen_plan"
_CHANGED = "__sen_changed"
_BADPK = "__sen_badpk"
_PHONES = "__sen_phone_map"


@dataclass
class PlanSummary:
    source_rows: int = 0
    added: int = 0
    changed: int = 0
    removed: int = 0
    unchanged: int = 0
    invalid_keys: int = 0  # rows dropped for a null or duplicate primary key
    rejected: int = 0  # rows failing validation before sending (incl. invalid keys)
    to_send: dict[str, int] | None = None  # rows per group that will be sent
    batches: dict[str, int] | None = None


def q(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def resolve_relation(conn: duckdb.DuckDBPyConnection, cfg: SyncConfig) -> str:
    """The quoted table/view to read: `relation` as given, else the one table named like the model."""
    name = cfg.relation or cfg.model
    parts = name.split(".")
    if len(parts) > 1:
        schema, table = parts[-2], parts[-1]
        found = conn.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
            [schema, table],
        ).fetchone()[0]
        if not found:
            raise SyncConfigError(f"{cfg.where}: relation: table {name!r} not found in the warehouse")
        return ".".join(q(p) for p in parts)
    rows = conn.execute(
        "SELECT table_schema FROM information_schema.tables WHERE table_name = ? "
        "AND table_schema <> 'sync' ORDER BY table_schema",
        [name],
    ).fetchall()
    if not rows:
        raise SyncConfigError(f"{cfg.where}: model: no table or view named {name!r} in the warehouse")
    if len(rows) > 1:
        schemas = ", ".join(r[0] for r in rows)
        raise SyncConfigError(
            f"{cfg.where}: model: {name!r} exists in several schemas ({schemas}); set `relation: <schema>.{name}`"
        )
    return f"{q(rows[0][0])}.{q(name)}"


def check_columns(conn: duckdb.DuckDBPyConnection, cfg: SyncConfig, relation: str) -> None:
    columns = {r[0] for r in conn.execute(f"SELECT * FROM {relation} LIMIT 0").description}
    needed = {"primary_key": cfg.primary_key, "person_id_column": cfg.person_column}
    needed.update({f"mapping.{k}": v.column for k, v in cfg.mapping.items()})
    missing = [f"{where} -> column {col!r}" for where, col in needed.items() if col not in columns]
    if missing:
        raise SyncConfigError(f"{cfg.where}: {relation} has no such column: " + "; ".join(missing))


def _source_sql(cfg: SyncConfig, relation: str) -> str:
    raw = [f"CAST({q(m.column)} AS VARCHAR) AS {q('r_' + f)}" for f, m in cfg.mapping.items()]
    parts = ", chr(31), ".join(
        f"coalesce(CAST({q(m.column)} AS VARCHAR), chr(0))" for m in cfg.mapping.values()
    )
    row_hash = f"md5_number('{cfg.fingerprint()}' || chr(30) || concat({parts}))"
    return (
        f"SELECT CAST({q(cfg.primary_key)} AS VARCHAR) AS __pk, "
        f"CAST({q(cfg.person_column)} AS VARCHAR) AS __person_id, "
        f"{', '.join(raw)}, {row_hash} AS __row_hash FROM {relation}"
    )


def _phone_fields(cfg: SyncConfig) -> list[str]:
    return [f for f in cfg.mapping if TRANSFORMS[cfg.field_rule(f).transform].phone]


def _load_phone_map(conn: duckdb.DuckDBPyConnection, cfg: SyncConfig) -> None:
    """Parse with phonenumbers every distinct phone spelling that is not canonical E.164 (slow path)."""
    conn.execute(f"CREATE OR REPLACE TEMP TABLE {_PHONES} (raw VARCHAR, e164 VARCHAR)")
    fields = _phone_fields(cfg)
    if not fields:
        return
    fast = "false" if cfg.strict_phone_validation else r"regexp_full_match(trim(v), '\+[1-9][0-9]{6,14}')"
    union = " UNION ".join(f"SELECT {q('r_' + f)} AS v FROM {_CHANGED}" for f in fields)
    raws = [
        r[0]
        for r in conn.execute(
            f"SELECT DISTINCT v FROM ({union}) WHERE v IS NOT NULL "
            f"AND NOT ({fast}) AND NOT regexp_full_match(trim(v), '{SQL_HEX64}')"
        ).fetchall()
    ]
    if raws:
        parsed = [e164(r, cfg.default_region) for r in raws]
        conn.execute(
            f"INSERT INTO {_PHONES} SELECT unnest($raws), unnest(CAST($parsed AS VARCHAR[]))",
            {"raws": raws, "parsed": parsed},
        )


def _field_exprs(cfg: SyncConfig, alias: str) -> tuple[list[str], list[str], dict[str, str]]:
    """(select expressions for f_<field>, LEFT JOINs for the phone map, field -> SQL expr)."""
    selects, joins, exprs = [], [], {}
    for i, f in enumerate(cfg.mapping):
        transform = TRANSFORMS[cfg.field_rule(f).transform]
        raw = f"{alias}.{q('r_' + f)}"
        e164_expr = None
        if transform.phone:
            pm = f"__pm{i}"
            joins.append(f"LEFT JOIN {_PHONES} {pm} ON {pm}.raw = {raw}")
            slow = f"{pm}.e164"
            e164_expr = slow if cfg.strict_phone_validation else sql_e164_fast(raw, slow)
        expr = transform_sql(transform, raw, e164_expr)
        exprs[f] = expr
        selects.append(f"{expr} AS {q('f_' + f)}")
    return selects, joins, exprs


def _reject_sql(cfg: SyncConfig) -> str:
    """Reason a prepared row cannot be sent, or NULL; runs over f_* (prepared) and r_* (raw) columns."""
    dest = cfg.destination
    groups = [g for g in dest.match_groups if set(g) <= set(cfg.mapping)]
    clauses = []
    if groups:
        valid = " OR ".join("(" + " AND ".join(f"{q('f_' + f)} IS NOT NULL" for f in g) + ")" for g in groups)
        fields = sorted({f for g in groups for f in g}, key=list(cfg.mapping).index)
        details = ", ".join(
            f"CASE WHEN nullif(trim({q('r_' + f)}), '') IS NULL THEN '{f} missing' "
            f"WHEN {q('f_' + f)} IS NULL THEN '{f} invalid' END"
            for f in fields
        )
        clauses.append(f"WHEN NOT ({valid}) THEN 'no valid identifier: ' || concat_ws(', ', {details})")
    field_cols = {f: q("f_" + f) for f in cfg.mapping}
    for cond, reason in dest.extra_rejections(field_cols):
        clauses.append(f"WHEN {cond} THEN '{reason.replace(chr(39), chr(39) * 2)}'")
    return f"CASE {' '.join(clauses)} END" if clauses else "CAST(NULL AS VARCHAR)"


def build_plan(
    conn: duckdb.DuckDBPyConnection, cfg: SyncConfig, relation: str, state: str, batch_size: int
) -> PlanSummary:
    """Create temp table __sen_plan (see module doc) and return the counts."""
    summary = PlanSummary()
    src = _source_sql(cfg, relation)
    conn.execute(
        f"""CREATE OR REPLACE TEMP TABLE {_BADPK} AS
        SELECT __pk, CASE WHEN __pk IS NULL THEN 'null primary key'
                          ELSE 'duplicate primary key (' || n || ' rows)' END AS reason, n
        FROM (SELECT CAST({q(cfg.primary_key)} AS VARCHAR) AS __pk, count(*) AS n FROM {relation} GROUP BY 1)
        WHERE __pk IS NULL OR n > 1"""
    )
    summary.invalid_keys = int(conn.execute(f"SELECT coalesce(sum(n), 0) FROM {_BADPK}").fetchone()[0])
    good_src = f"(SELECT * FROM ({src}) s WHERE s.__pk IS NOT NULL AND s.__pk NOT IN (SELECT __pk FROM {_BADPK} WHERE __pk IS NOT NULL))"

    replace = cfg.mode == "replace"
    conn.execute(
        f"""CREATE OR REPLACE TEMP TABLE {_CHANGED} AS
        SELECT s.*, CASE WHEN st.__pk IS NULL THEN 'add' ELSE 'change' END AS __op,
               st.__created_by_sync AS __prev_created
        FROM {good_src} s LEFT JOIN {state} st ON st.__pk = s.__pk
        WHERE st.__pk IS NULL OR st.__row_hash <> s.__row_hash"""
    )
    summary.source_rows = int(conn.execute(f"SELECT count(*) FROM {relation}").fetchone()[0])
    counts = dict(conn.execute(f"SELECT __op, count(*) FROM {_CHANGED} GROUP BY 1").fetchall())
    summary.added, summary.changed = int(counts.get("add", 0)), int(counts.get("change", 0))
    summary.removed = int(
        conn.execute(
            f"SELECT count(*) FROM {state} st ANTI JOIN {good_src} s ON s.__pk = st.__pk"
        ).fetchone()[0]
    )
    summary.unchanged = summary.source_rows - summary.invalid_keys - summary.added - summary.changed

    if replace and (summary.added or summary.changed or summary.removed):
        # replace-all sends the whole audience in one session whenever anything changed
        conn.execute(
            f"""CREATE OR REPLACE TEMP TABLE {_CHANGED} AS
            SELECT s.*, 'replace' AS __op, CAST(NULL AS BOOLEAN) AS __prev_created FROM {good_src} s"""
        )

    _load_phone_map(conn, cfg)
    selects, joins, _ = _field_exprs(cfg, "c")
    raw_cols = ", ".join(q("r_" + f) for f in cfg.mapping)
    conn.execute(
        f"""CREATE OR REPLACE TEMP TABLE __sen_prepared AS
        SELECT * EXCLUDE ({raw_cols}) FROM (
            SELECT *, {_reject_sql(cfg)} AS __reject FROM (
                SELECT c.__op, c.__pk, c.__person_id, c.__row_hash, c.__prev_created,
                       {", ".join(q("r_" + f) for f in cfg.mapping)}, {", ".join(selects)}
                FROM {_CHANGED} c {" ".join(joins)}
            )
        )"""
    )

    f_cols = ", ".join(q("f_" + f) for f in cfg.mapping)
    match_fields = sorted({f for g in cfg.destination.match_groups for f in g if f in cfg.mapping})
    rows_sql = [
        f"SELECT __op, __pk, __person_id, __row_hash, __prev_created, {f_cols}, __reject FROM __sen_prepared"
    ]
    if not replace:
        # rows that left the audience: their last acknowledged values come from state
        rows_sql.append(
            f"""SELECT 'remove', st.__pk, st.__person_id, st.__row_hash, st.__created_by_sync, {f_cols}, NULL
            FROM {state} st ANTI JOIN {good_src} s ON s.__pk = st.__pk"""
        )
    if cfg.mode == "add_remove" and match_fields:
        # a changed identifier: take the old one out before the new one goes in
        differs = " OR ".join(f"st.{q('f_' + f)} IS DISTINCT FROM p.{q('f_' + f)}" for f in match_fields)
        st_cols = ", ".join(f"st.{q('f_' + f)}" for f in cfg.mapping)
        rows_sql.append(
            f"""SELECT 'remove_old', st.__pk, st.__person_id, st.__row_hash, st.__created_by_sync, {st_cols}, NULL
            FROM {state} st JOIN __sen_prepared p ON p.__pk = st.__pk
            WHERE p.__op = 'change' AND p.__reject IS NULL AND ({differs})"""
        )
    group = _group_sql(cfg.mode)
    size = int(batch_size)
    conn.execute(
        f"""CREATE OR REPLACE TEMP TABLE {PLAN} AS
        WITH rows AS ({" UNION ALL ".join(rows_sql)}),
        grouped AS (
            SELECT *, {group} AS __group FROM rows
        ),
        cleaned AS (
            SELECT * REPLACE (CASE WHEN __group = 'add' THEN __reject END AS __reject) FROM grouped
        )
        SELECT *, CASE WHEN __reject IS NULL AND __group <> 'skip' THEN
            (row_number() OVER (PARTITION BY __group, __reject IS NULL ORDER BY __pk, __op) - 1) // {size}
            END AS __batch
        FROM cleaned
        ORDER BY __group, __batch, __pk"""
    )
    for name in (_CHANGED, "__sen_prepared"):
        conn.execute(f"DROP TABLE IF EXISTS {name}")
    summary.rejected = summary.invalid_keys + int(
        conn.execute(f"SELECT count(*) FROM {PLAN} WHERE __reject IS NOT NULL").fetchone()[0]
    )
    rows = conn.execute(
        f"SELECT __group, count(*), coalesce(max(__batch) + 1, 0) FROM {PLAN} "
        f"WHERE __reject IS NULL AND __group <> 'skip' GROUP BY 1"
    ).fetchall()
    summary.to_send = {g: int(n) for g, n, _ in rows}
    summary.batches = {g: int(b) for g, _, b in rows}
    return summary


def _group_sql(mode: str) -> str:
    """Which rows are sent, and how, per mode."""
    if mode == "upsert":
        return "CASE WHEN __op IN ('add', 'change') THEN 'add' ELSE 'skip' END"
    if mode == "add_remove":
        return "CASE WHEN __op IN ('add', 'change') THEN 'add' ELSE 'remove' END"
    if mode == "mirror":
        # only what this sync created may be deleted; anything else is just forgotten
        return (
            "CASE WHEN __op IN ('add', 'change') THEN 'add' "
            "WHEN __op = 'remove' AND __prev_created IS TRUE THEN 'remove' ELSE 'skip' END"
        )
    if mode == "insert":
        return "CASE WHEN __op = 'add' THEN 'add' ELSE 'skip' END"
    if mode == "replace":
        return "CASE WHEN __op = 'replace' THEN 'add' ELSE 'skip' END"
    raise ValueError(f"unknown mode {mode!r}")


def drop_plan(conn: duckdb.DuckDBPyConnection) -> None:
    for name in (PLAN, _BADPK, _PHONES, _CHANGED, "__sen_prepared"):
        conn.execute(f"DROP TABLE IF EXISTS {name}")
