"""The diff of an audience against the last acknowledged state, computed in SQL in the warehouse.

Rows are keyed by the primary key and compared by a hash of the mapped columns (raw values, plus a
fingerprint of the mapping so a mapping change resends everything): added, changed, removed, unchanged.
Only added/changed rows are normalized and hashed (in SQL; few-valued fields once per distinct value, in
Python), so an unchanged million-member audience never leaves DuckDB. The removals are planned first, so
the engine can send them while the additions are planned. The result is the temp table `__sen_plan`:

    __group  'add' (sent as upsert/replace) | 'remove' (sent as removal) | 'skip' (state-only change)
    __op     add | change | remove | remove_old (old identifiers of a changed row) | replace
    __batch  batch number within its group (NULL for rejected rows)
    __reject reason the row cannot be sent (validation), else NULL
    __prev_hash the state row's __row_hash a remove/change supersedes: state rows are deleted by this
             integer, ~5x cheaper than matching a million text keys
    f_<field> the value the destination receives (normalized/hashed)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import duckdb

from reverse_etl.config import SyncConfig
from reverse_etl.errors import SyncConfigError
from reverse_etl.identifiers import (
    SQL_HEX64,
    TRANSFORMS,
    e164,
    sql_clean,
    sql_e164_fast,
    sql_is_canonical_e164,
    transform_sql,
)
from reverse_etl.state_schema import SCHEMA, from_state, to_state

PLAN = "__sen_plan"
_CHANGED = "__sen_changed"
_BADPK = "__sen_badpk"
_PHONES = "__sen_phone_map"
_VMAP = "__sen_value_map"
_KEYS = "__sen_diff_keys"
_OLD = "__sen_old"
_KEYS_PARAM = "dup_keys"


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
    # (group, batch) -> {op: rows}, batch -1 for unsent rows: lets the engine skip statements with no rows
    ops: dict[tuple[str, int], dict[str, int]] | None = None


def q(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def state_digest_fields(cfg: SyncConfig) -> frozenset[str]:
    """Mapped fields sent as a per-member digest (hashed email, phone; not names or country): the state
    table stores them as bytes (see `ensure_state_table`)."""
    rules = {f: TRANSFORMS[cfg.field_rule(f).transform] for f in cfg.mapping}
    return frozenset(f for f, t in rules.items() if t.hashed and not t.few_values)


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


def _row_hash_sql(cfg: SyncConfig) -> str:
    # DuckDB's 64-bit hash() of the key and the mapped values: ~25x cheaper than md5 over a million rows,
    # and the diff joins on it alone. A change goes unnoticed only on a 64-bit collision; if a DuckDB
    # upgrade (or this formula) changed, every row would simply look changed once and be resent.
    cols = ", ".join(f"CAST({q(m.column)} AS VARCHAR)" for m in cfg.mapping.values())
    return f"hash('{cfg.fingerprint()}', CAST({q(cfg.primary_key)} AS VARCHAR), {cols})"


def _source_sql(cfg: SyncConfig, relation: str) -> str:
    raw = [f"CAST({q(m.column)} AS VARCHAR) AS {q('r_' + f)}" for f, m in cfg.mapping.items()]
    return (
        f"SELECT CAST({q(cfg.primary_key)} AS VARCHAR) AS __pk, "
        f"CAST({q(cfg.person_column)} AS VARCHAR) AS __person_id, "
        f"{', '.join(raw)}, {_row_hash_sql(cfg)} AS __row_hash FROM {relation}"
    )


def _cleaned(cfg: SyncConfig, alias: str) -> str:
    """The source columns with each mapped value trimmed (r_<field> -> c_<field>), computed once per row
    for the lookups and the preparation."""
    raw = ", ".join(q("r_" + f) for f in cfg.mapping)
    clean = ", ".join(f"{sql_clean(f'{alias}.' + q('r_' + f))} AS {q('c_' + f)}" for f in cfg.mapping)
    return f"{alias}.* EXCLUDE ({raw}), {clean}"


def _diff_against_state(
    conn: duckdb.DuckDBPyConnection, cfg: SyncConfig, relation: str, state: str, pk_ok: str
) -> None:
    """The diff against the last acknowledged state: temp table __sen_diff_keys, the source rows without a
    match in state (with their values; __st_rid NULL) and the row ids of the state rows without a match in
    the source (__pk NULL), plus __sen_old, those state rows (the columns a removal sends) with __diff_op
    (change | remove).

    One join on the 64-bit row hash: the source side streams its mapped values through it (only the ~1%
    without a match are kept), the state side carries only its row id and hash, so the hash table stays
    two integers per member. The state rows the ~1% supersede are then read back by row id (kept in
    __sen_old for the removal values). Reading the source's values back by row id after a join of row
    ids alone cost a second scan of the audience (~30 ms a million rows). One transaction: the row ids
    are read from a single snapshot."""
    conn.execute("BEGIN TRANSACTION")
    try:
        conn.execute(
            f"""CREATE OR REPLACE TEMP TABLE {_KEYS} AS
            SELECT s.*, st.__st_rid
            FROM ({_source_sql(cfg, relation)} WHERE {pk_ok}) s
            FULL OUTER JOIN (SELECT rowid AS __st_rid, __row_hash AS __st_hash FROM {state}) st
              ON st.__st_hash = s.__row_hash
            WHERE s.__pk IS NULL OR st.__st_rid IS NULL"""
        )
        # joined against the small id list, so DuckDB only materializes those rows; a state row whose key
        # the source still sends (under another hash) is a change, else a removal. Only the columns a
        # removal needs: the rows are spread over the whole table, so every column read costs a scan of
        # all of it (~10 ms a million members for a text column; a removal sends no person id)
        conn.execute(
            f"""CREATE OR REPLACE TEMP TABLE {_OLD} AS
            SELECT st.* EXCLUDE (__person_id, __synced_at, __run_id),
                   CASE WHEN st.__pk IN (SELECT __pk FROM {_KEYS} WHERE __pk IS NOT NULL)
                              THEN 'change' ELSE 'remove' END AS __diff_op
            FROM {state} st
            JOIN (SELECT __st_rid FROM {_KEYS} WHERE __pk IS NULL) k ON k.__st_rid = st.rowid"""
        )
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def _execute_without_null_statistics(conn: duckdb.DuckDBPyConnection, sql: str) -> None:
    """Run ``sql`` with DuckDB's statistics propagation off. With it, DuckDB 2.0 fails to bind some string
    comparisons (``split_part(x, '@', 2) = 'gmail.com'``) over a column its statistics show to be all NULL,
    with ``BindBuiltinScalarFunction did not return a BoundFunctionExpression``: a phone-only audience (no
    email at all) crashed every Google sync, dry runs included. The previous setting is restored."""
    previous = conn.execute("SELECT current_setting('disabled_optimizers')").fetchone()[0]
    disabled = ",".join(filter(None, [previous, "statistics_propagation"]))
    conn.execute(f"SET disabled_optimizers = '{disabled}'")
    try:
        conn.execute(sql)
    finally:
        conn.execute(f"SET disabled_optimizers = '{previous}'")


def _load_lookups(conn: duckdb.DuckDBPyConnection, cfg: SyncConfig) -> None:
    """The values computed in Python once per distinct value, found by one query over the rows to send:

    - `__sen_phone_map` (raw, e164): every phone spelling that is not canonical E.164, parsed by
      phonenumbers (the slow path);
    - `__sen_value_map` (i, c, f): few-valued fields (names, country...) by field index and cleaned value,
      normalized and hashed by the Python rules. Python, not SQL: the SQL twin of the name rule is a
      Unicode-class regex that DuckDB compiles per statement and thread (~5 ms a field, most of a small
      resync's preparation), and a handful of distinct values costs microseconds."""
    names = list(cfg.mapping)
    rules = {i: TRANSFORMS[cfg.field_rule(f).transform] for i, f in enumerate(names)}
    phones = [i for i, t in rules.items() if t.phone]
    few = {i: t for i, t in rules.items() if t.few_values and not t.phone}
    parts = []
    if phones:
        fast = "false" if cfg.strict_phone_validation else sql_is_canonical_e164("v")
        union = " UNION ".join(f"SELECT {q('c_' + names[i])} AS v FROM {_CHANGED}" for i in phones)
        parts.append(
            f"SELECT DISTINCT -1 AS i, v AS c FROM ({union}) WHERE v IS NOT NULL "
            f"AND NOT ({fast}) AND NOT (length(v) = 64 AND regexp_full_match(v, '{SQL_HEX64}'))"
        )
    parts += [f"SELECT DISTINCT {i} AS i, {q('c_' + names[i])} AS c FROM {_CHANGED}" for i in few]
    rows = (
        conn.execute(f"SELECT i, c FROM ({' UNION ALL '.join(parts)}) WHERE c IS NOT NULL").fetchall()
        if parts
        else []
    )
    raws = [c for i, c in rows if i < 0]
    values = [(i, c) for i, c in rows if i >= 0]
    conn.execute(
        f"""CREATE OR REPLACE TEMP TABLE {_PHONES} AS
        SELECT unnest(CAST($raw AS VARCHAR[])) AS raw, unnest(CAST($e164 AS VARCHAR[])) AS e164""",
        {"raw": raws, "e164": [e164(r, cfg.default_region) for r in raws]},
    )
    conn.execute(
        f"""CREATE OR REPLACE TEMP TABLE {_VMAP} AS
        SELECT unnest(CAST($i AS INTEGER[])) AS i, unnest(CAST($c AS VARCHAR[])) AS c,
               unnest(CAST($f AS VARCHAR[])) AS f""",
        {
            "i": [i for i, _ in values],
            "c": [c for _, c in values],
            "f": [few[i].apply(c, cfg.default_region) for i, c in values],
        },
    )


def _field_exprs(cfg: SyncConfig, alias: str) -> tuple[list[str], list[str]]:
    """(select expressions for f_<field> over cleaned columns c_<field>, LEFT JOINs for lookup tables)."""
    selects, joins = [], []
    for i, f in enumerate(cfg.mapping):
        transform = TRANSFORMS[cfg.field_rule(f).transform]
        clean = f"{alias}.{q('c_' + f)}"
        if transform.few_values and not transform.phone:
            joins.append(f"LEFT JOIN {_VMAP} __vm{i} ON __vm{i}.i = {i} AND __vm{i}.c = {clean}")
            selects.append(f"__vm{i}.f AS {q('f_' + f)}")
            continue
        e164_expr = None
        if transform.phone:
            pm = f"__pm{i}"
            joins.append(f"LEFT JOIN {_PHONES} {pm} ON {pm}.raw = {clean}")
            slow = f"{pm}.e164"
            e164_expr = slow if cfg.strict_phone_validation else sql_e164_fast(clean, slow)
        selects.append(f"{transform_sql(transform, clean, e164_expr)} AS {q('f_' + f)}")
    return selects, joins


def _reject_sql(cfg: SyncConfig) -> str:
    """Reason a prepared row cannot be sent, or NULL; runs over f_* (prepared) and c_* (cleaned) columns."""
    dest = cfg.destination
    groups = [g for g in dest.match_groups if set(g) <= set(cfg.mapping)]
    clauses = []
    if groups:
        valid = " OR ".join("(" + " AND ".join(f"{q('f_' + f)} IS NOT NULL" for f in g) + ")" for g in groups)
        fields = sorted({f for g in groups for f in g}, key=list(cfg.mapping).index)
        details = ", ".join(
            f"CASE WHEN {q('c_' + f)} IS NULL THEN '{f} missing' "
            f"WHEN {q('f_' + f)} IS NULL THEN '{f} invalid' END"
            for f in fields
        )
        clauses.append(f"WHEN NOT ({valid}) THEN 'no valid identifier: ' || concat_ws(', ', {details})")
    field_cols = {f: q("f_" + f) for f in cfg.mapping}
    for cond, reason in dest.extra_rejections(field_cols):
        clauses.append(f"WHEN {cond} THEN '{reason.replace(chr(39), chr(39) * 2)}'")
    return f"CASE {' '.join(clauses)} END" if clauses else "CAST(NULL AS VARCHAR)"


def build_plan(
    conn: duckdb.DuckDBPyConnection,
    cfg: SyncConfig,
    relation: str,
    state: str,
    batch_size: int,
    on_removals: Callable[[PlanSummary], None] | None = None,
) -> PlanSummary:
    """Create temp table __sen_plan (see module doc) and return the counts.

    `on_removals(summary)` is called as soon as the removals are planned (their batches final, `batches`
    and `to_send` filled in for them) so they can be sent while the additions are still being planned;
    the same summary object is completed before this function returns."""
    summary = PlanSummary()
    src = _source_sql(cfg, relation)
    replace = cfg.mode == "replace"
    pk = f"CAST({q(cfg.primary_key)} AS VARCHAR)"
    conn.execute(f"CREATE OR REPLACE TEMP TABLE {_BADPK} (__pk VARCHAR, reason VARCHAR, n BIGINT)")
    null_keys = int(conn.execute(f"SELECT count(*) FROM {relation} WHERE {pk} IS NULL").fetchone()[0])
    if null_keys:
        conn.execute(f"INSERT INTO {_BADPK} VALUES (NULL, 'null primary key', {null_keys})")
    if replace:  # everything is sent: every duplicated key is refused
        _insert_duplicates(conn, relation, pk, "TRUE")
    bad_filter = f" AND s.__pk NOT IN (SELECT __pk FROM {_BADPK} WHERE __pk IS NOT NULL)" if replace else ""
    good_src = f"(SELECT * FROM ({src}) s WHERE s.__pk IS NOT NULL{bad_filter})"

    # One pass over source and state, joined on the 64-bit row hash (which covers the key): rows on one
    # side only are new/changed (source) or gone/changed (state). A join on one integer column is far
    # cheaper than on the text key plus a hash compare, and only the ~1% that differ go further.
    # nothing to compare with on a first sync: every row is an add (and a join would only copy them)
    first_sync = not conn.execute(f"SELECT 1 FROM {state} LIMIT 1").fetchall()
    if first_sync:
        conn.execute(
            f"CREATE OR REPLACE TEMP TABLE {_OLD} AS SELECT *, 'remove' AS __diff_op FROM {state} LIMIT 0"
        )
        conn.execute(
            f"""CREATE OR REPLACE TEMP TABLE {_CHANGED} AS
            SELECT {_cleaned(cfg, "s")}, s.__pk AS __key, 'add' AS __op, CAST(NULL AS BOOLEAN) AS __prev_created,
                   CAST(NULL AS UBIGINT) AS __prev_hash
            FROM {good_src} s"""
        )
    else:
        bad_pk = f" AND {pk} NOT IN (SELECT __pk FROM {_BADPK} WHERE __pk IS NOT NULL)" if replace else ""
        _diff_against_state(conn, cfg, relation, state, f"{pk} IS NOT NULL{bad_pk}")
        # a source row whose key state holds under another hash is a change
        conn.execute(
            f"""CREATE OR REPLACE TEMP TABLE {_CHANGED} AS
            SELECT {_cleaned(cfg, "n")}, n.__pk AS __key,
                   CASE WHEN g.__pk IS NULL THEN 'add' ELSE 'change' END AS __op,
                   g.__created_by_sync AS __prev_created, g.__row_hash AS __prev_hash
            FROM (SELECT * EXCLUDE (__st_rid) FROM {_KEYS} WHERE __pk IS NOT NULL) n
            LEFT JOIN {_OLD} g ON g.__pk = n.__pk"""
        )
        conn.execute(f"DROP TABLE {_KEYS}")
    if cfg.send_once:
        _hold_sent_keys(conn, cfg)
    bad_keys = bool(null_keys) or replace
    if not replace:
        # A duplicated key matters only where it would be sent: then at least one copy differs from state
        # (or is new). Two such copies show up twice among the changed rows; a copy next to one that still
        # matches state shows up as an 'add' of a key state already holds. Identical copies of an
        # unchanged row are harmless and left alone, which spares aggregating the whole audience.
        dup_keys = f"""
            SELECT __key FROM {_CHANGED} WHERE __op <> 'remove' GROUP BY __key HAVING count(*) > 1
            UNION SELECT st.__pk FROM {state} st
            SEMI JOIN (SELECT __key FROM {_CHANGED} WHERE __op = 'add') a ON a.__key = st.__pk"""
        keys = [r[0] for r in conn.execute(dup_keys).fetchall()]
        if keys:
            bad_keys = True
            _insert_duplicates(
                conn, relation, pk, f"list_contains(${_KEYS_PARAM}, {pk})", {_KEYS_PARAM: keys}
            )
            for table, key in ((_CHANGED, "__key"), (_OLD, "__pk")):  # a bad key's state is left alone
                conn.execute(
                    f"DELETE FROM {table} WHERE {key} IN (SELECT __pk FROM {_BADPK} WHERE __pk IS NOT NULL)"
                )
    if bad_keys:
        summary.invalid_keys = int(conn.execute(f"SELECT coalesce(sum(n), 0) FROM {_BADPK}").fetchone()[0])
    added, changed, removed = conn.execute(
        f"""SELECT (SELECT count(*) FILTER (__op = 'add') FROM {_CHANGED}),
                   (SELECT count(*) FILTER (__op = 'change') FROM {_CHANGED}),
                   (SELECT count(*) FILTER (__diff_op = 'remove') FROM {_OLD})"""
    ).fetchone()
    summary.added, summary.changed, summary.removed = int(added), int(changed), int(removed)

    pending = summary.added + summary.changed
    if replace and (summary.added or summary.changed or summary.removed):
        # replace-all sends the whole audience in one session whenever anything changed
        conn.execute(
            f"""CREATE OR REPLACE TEMP TABLE {_CHANGED} AS
            SELECT {_cleaned(cfg, "s")}, s.__pk AS __key, 'replace' AS __op,
                   CAST(NULL AS BOOLEAN) AS __prev_created,
                   CAST(NULL AS UBIGINT) AS __prev_hash
            FROM {good_src} s"""
        )
        pending = int(conn.execute(f"SELECT count(*) FROM {_CHANGED}").fetchone()[0])

    if pending:
        _load_lookups(conn, cfg)
        selects, joins = _field_exprs(cfg, "b")
        clean_cols = ", ".join(q("c_" + f) for f in cfg.mapping)
        # layered so each transform is computed once per row
        _execute_without_null_statistics(
            conn,
            f"""CREATE OR REPLACE TEMP TABLE __sen_prepared AS
            SELECT * EXCLUDE ({clean_cols}) FROM (
                SELECT *, {_reject_sql(cfg)} AS __reject FROM (
                    SELECT b.__op, b.__pk, b.__person_id, b.__row_hash, b.__prev_created, b.__prev_hash,
                           {clean_cols}, {", ".join(selects)}
                    FROM {_CHANGED} b
                    {" ".join(joins)}
                )
            )""",
        )
    else:
        # nothing to prepare (DuckDB's optimizer also trips over these expressions on an empty input)
        f_defs = ", ".join(f"{q('f_' + f)} VARCHAR" for f in cfg.mapping)
        conn.execute(
            f"""CREATE OR REPLACE TEMP TABLE __sen_prepared (__op VARCHAR, __pk VARCHAR, __person_id VARCHAR,
                __row_hash UBIGINT, __prev_created BOOLEAN, __prev_hash UBIGINT, {f_defs}, __reject VARCHAR)"""
        )

    f_cols = ", ".join(q("f_" + f) for f in cfg.mapping)
    digests = state_digest_fields(cfg)
    # the superseded state rows' values as the plan holds them (digests back to hex)
    old_cols = ", ".join(
        f"{from_state('st.' + q('f_' + f), f in digests)} AS {q('f_' + f)}" for f in cfg.mapping
    )
    match_fields = sorted({f for g in cfg.destination.match_groups for f in g if f in cfg.mapping})
    sources = [
        f"SELECT __op, __pk, __person_id, __row_hash, __prev_created, __prev_hash, {f_cols}, __reject "
        "FROM __sen_prepared"
    ]
    if not replace:
        sources.append(
            f"SELECT 'remove' AS __op, st.__pk, NULL AS __person_id, st.__row_hash, st.__created_by_sync AS __prev_created, "
            f"st.__row_hash AS __prev_hash, {old_cols}, CAST(NULL AS VARCHAR) AS __reject "
            f"FROM {_OLD} st WHERE st.__diff_op = 'remove'"
        )
    if cfg.mode in ("add_remove", "mirror") and match_fields:
        # a changed identifier: take the old one out before the new one goes in
        # compared as stored: one conversion of the new value, none of the old
        differs = " OR ".join(
            f"st.{q('f_' + f)} IS DISTINCT FROM {to_state('p.' + q('f_' + f), f in digests)}"
            for f in match_fields
        )
        sources.append(
            f"""SELECT 'remove_old' AS __op, st.__pk, NULL AS __person_id, st.__row_hash,
                st.__created_by_sync AS __prev_created, st.__row_hash AS __prev_hash, {old_cols},
                CAST(NULL AS VARCHAR) AS __reject
            FROM {_OLD} st JOIN __sen_prepared p ON p.__pk = st.__pk
            WHERE st.__diff_op = 'change' AND p.__op = 'change' AND p.__reject IS NULL AND ({differs})"""
        )
    f_defs = ", ".join(f"{q('f_' + f)} VARCHAR" for f in cfg.mapping)
    conn.execute(
        f"""CREATE OR REPLACE TEMP TABLE {PLAN} (__op VARCHAR, __pk VARCHAR, __person_id VARCHAR,
            __row_hash UBIGINT, __prev_created BOOLEAN, __prev_hash UBIGINT, {f_defs}, __reject VARCHAR,
            __group VARCHAR,
            __batch BIGINT)"""
    )
    group = _group_sql(cfg.mode)
    size = int(batch_size)
    placed = {"remove": 0, "add": 0}
    # prepared rows (add, change, replace) can only be sent as additions, the superseded state rows only
    # as removals (or skipped, per mode); each group's statement reads only its own sources
    by_group = {
        "add": sources[:1] if pending else [],
        "remove": sources[1:] if summary.removed or summary.changed else [],
    }

    def grouped(parts: list[str]) -> str:
        return f"SELECT *, {group} AS __group FROM ({' UNION ALL '.join(f'({s})' for s in parts)})"

    for g in ("remove", "add"):
        if not by_group[g]:
            continue
        # ROW_NUMBER() OVER () streams without sorting, and rows land clustered by batch (insertion
        # order is kept), so fetching one batch later reads only its own row group
        inserted = conn.execute(
            f"""INSERT INTO {PLAN} SELECT *, (row_number() OVER () - 1) // {size}
            FROM ({grouped(by_group[g])}) WHERE __group = '{g}' AND __reject IS NULL"""
        ).fetchone()[0]
        placed[g] = int(inserted)
        if g == "remove" and placed[g] and on_removals is not None:
            summary.to_send = {g: placed[g]}
            summary.batches = {g: (placed[g] + size - 1) // size}
            on_removals(summary)
    every = by_group["add"] + by_group["remove"]
    if every:
        conn.execute(
            f"""INSERT INTO {PLAN}
            SELECT * REPLACE (CASE WHEN __group = 'add' THEN __reject END AS __reject), NULL
            FROM ({grouped(every)}) WHERE __group = 'skip' OR __reject IS NOT NULL"""
        )
    for name in (_CHANGED, "__sen_prepared", _OLD, _VMAP):
        conn.execute(f"DROP TABLE IF EXISTS {name}")
    # after the removals went out: only the run report needs it
    summary.source_rows = int(conn.execute(f"SELECT count(*) FROM {relation}").fetchone()[0])
    summary.unchanged = max(0, summary.source_rows - summary.invalid_keys - summary.added - summary.changed)
    summary.ops = {}
    summary.rejected = summary.invalid_keys
    for g, b, op, rejected, n in conn.execute(
        f"SELECT __group, __batch, __op, __reject IS NOT NULL, count(*) FROM {PLAN} GROUP BY ALL"
    ).fetchall():
        ops = summary.ops.setdefault((g, -1 if b is None else int(b)), {})
        ops[op] = ops.get(op, 0) + int(n)
        summary.rejected += int(n) if rejected else 0
    summary.to_send = {g: n for g, n in placed.items() if n}
    summary.batches = {g: (n + size - 1) // size for g, n in placed.items() if n}
    return summary


def _hold_sent_keys(conn: duckdb.DuckDBPyConnection, cfg: SyncConfig) -> None:
    """send_once: a new key that was sent before (the outbox has it as sent, or sent-unconfirmed) is not sent
    again; it goes back into state as a state-only change (insert mode skips changes)."""
    conn.execute(
        f"""UPDATE {_CHANGED} SET __op = 'change'
        WHERE __op = 'add' AND __key IN (
            SELECT primary_key FROM {SCHEMA}.message_outbox
            WHERE sync_name = $name AND status IN ('sent', 'unknown'))""",
        {"name": cfg.name},
    )


def _insert_duplicates(
    conn: duckdb.DuckDBPyConnection, relation: str, pk: str, where: str, params: dict | None = None
) -> None:
    conn.execute(
        f"""INSERT INTO {_BADPK}
        SELECT __pk, 'duplicate primary key (' || n || ' rows)', n
        FROM (SELECT {pk} AS __pk, count(*) AS n FROM {relation} WHERE {where} GROUP BY 1) WHERE n > 1""",
        params,
    )


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
            "WHEN __op IN ('remove', 'remove_old') AND __prev_created IS TRUE THEN 'remove' ELSE 'skip' END"
        )
    if mode == "insert":
        return "CASE WHEN __op = 'add' THEN 'add' ELSE 'skip' END"
    if mode == "replace":
        return "CASE WHEN __op = 'replace' THEN 'add' ELSE 'skip' END"
    raise ValueError(f"unknown mode {mode!r}")


def drop_plan(conn: duckdb.DuckDBPyConnection) -> None:
    for name in (PLAN, _BADPK, _PHONES, _VMAP, _CHANGED, "__sen_prepared", _KEYS, _OLD):
        conn.execute(f"DROP TABLE IF EXISTS {name}")
