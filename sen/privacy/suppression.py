"""The erasure suppression list: salted hashes of an erased person's identifiers and record keys, and the one
rule that applies it to raw rows (at load and when a request is processed).

A raw row is identified by the identifiers it carries (the columns below, normalized as staging normalizes
them) and by its record key. A row is dropped when its record key is suppressed, or when its strongest
identifier (sen.normalize.rules.TYPE_PRIORITY) is: it is the erased person's row. A row of someone else that
merely carries one of the erased identifiers (a shared family phone) is kept with that identifier emptied
(for an identifier read from a JSON column, the JSON column is emptied).

Hashes are sha256(salt, type, value): the salt (CDP_ERASURE_SALT) is a secret, so the list cannot be
reversed by hashing a directory of emails or phone numbers. It is passed as a query parameter, never
written into SQL text, a table or a log.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import duckdb

from sen.normalize.duckdb_udfs import register_udfs
from sen.normalize.rules import DEFAULT_PHONE_REGION, type_rank

SUPPRESSION_TABLE = "raw._erased_identifiers"
SUPPRESSION_DDL = f"""
    create table if not exists {SUPPRESSION_TABLE} (
        identifier_type varchar not null,  -- an identifier type, or record:<source> for a record key
        identifier_hash varchar not null,  -- sha256 of salt, type and normalized value (hex)
        salt_id varchar not null,          -- which salt hashed it (a hash of the salt, not the salt)
        erased_at timestamptz not null
    )"""
SEP = "\x1f"  # unit separator: cannot occur in a normalized identifier


def _json(column: str, *paths: str) -> str:
    parts = [f"try(json_extract_string({column}, '{p}'))" for p in paths]
    return parts[0] if len(parts) == 1 else f"coalesce({', '.join(parts)})"


def _norm(expr: str, identifier_type: str) -> str:
    if "sen_normalize_" in expr:  # already normalized (a composed key)
        return expr
    if identifier_type == "email":
        return f"sen_normalize_email(cast({expr} as varchar))"
    if identifier_type == "phone":
        return f"sen_normalize_phone(cast({expr} as varchar), '{DEFAULT_PHONE_REGION}')"
    return f"sen_normalize_identifier(cast({expr} as varchar), '{identifier_type}')"


@dataclass(frozen=True)
class Identifier:
    identifier_type: str
    expression: str  # over the raw text columns
    clears: tuple[str, ...]  # raw columns emptied when the row is someone else's


@dataclass(frozen=True)
class SourceRule:
    identifiers: tuple[Identifier, ...] = ()
    record_type: str | None = None  # record:<record_source> of sen's identity records
    record_key: str | None = None
    key_columns: tuple[str, ...] = field(default=())  # raw columns holding the record key
    # Columns pointing at someone (a referrer's customer id, the order a ticket is about): emptied when they
    # point at an erased person, never a reason to delete the row.
    references: tuple[Identifier, ...] = field(default=())


def _plain(identifier_type: str, column: str) -> Identifier:
    return Identifier(identifier_type, column, (column,))


EVENT_EMAIL = _json("traits", "$.email"), _json("context", "$.traits.email")
# The raw columns of every source that carry a person, as staging reads them (dbt_project/models/staging).
RULES: dict[str, SourceRule] = {
    "events": SourceRule(
        (
            _plain("customer_id", "user_id"),
            Identifier(
                "email",
                f"coalesce({_json('traits', '$.email')}, {_json('context', '$.traits.email')})",
                ("traits", "context"),
            ),
            Identifier(
                "phone",
                f"coalesce({_json('traits', '$.phone')}, {_json('context', '$.traits.phone')})",
                ("traits", "context"),
            ),
            Identifier(
                "push_token",
                f"coalesce({_json('properties', '$.push_token', '$.token')}, {_json('context', '$.device.token')})",
                ("properties", "context"),
            ),
            Identifier("device_id", _json("context", "$.device.id"), ("context",)),
            _plain("anonymous_id", "anonymous_id"),
        ),
        "record:events",
        "trim(message_id)",
        ("message_id",),
    ),
    "crm_contacts": SourceRule(
        (
            _plain("customer_id", "customer_id"),
            _plain("loyalty_card", "loyalty_card_id"),
            _plain("email", "email"),
            _plain("phone", "phone"),
        ),
        references=(_plain("customer_id", "referred_by_customer_id"),),
    ),
    "orders": SourceRule(
        (
            _plain("customer_id", "customer_id"),
            _plain("email", "email"),
            _plain("phone", "phone"),
            _plain("anonymous_id", "anonymous_id"),
        ),
        "record:orders",
        "trim(order_id)",
        ("order_id",),
    ),
    "order_lines": SourceRule((), "record:orders", "trim(order_id)", ("order_id",)),
    "returns": SourceRule((), "record:orders", "trim(order_id)", ("order_id",)),
    "pos_transactions": SourceRule(
        (
            _plain("customer_id", "customer_id"),
            _plain("loyalty_card", "loyalty_card_id"),
            _plain("phone", "phone"),
        ),
        "record:pos",
        "trim(transaction_id)",
        ("transaction_id",),
    ),
    "chat_conversations": SourceRule(
        (
            _plain("email", "email"),
            _plain("phone", "phone"),
            # identity keys a platform user id by platform: 'zalo:8412...' (stg_chat__conversations)
            Identifier(
                "platform_user_id",
                "lower(nullif(trim(platform), '')) || ':' || "
                "sen_normalize_identifier(cast(platform_user_id as varchar), 'platform_user_id')",
                ("platform_user_id",),
            ),
            _plain("anonymous_id", "anonymous_id"),
        ),
        "record:chat",
        "trim(conversation_id)",
        ("conversation_id",),
    ),
    "support_tickets": SourceRule(
        (_plain("customer_id", "customer_id"), _plain("email", "email"), _plain("phone", "phone")),
        "record:support",
        "trim(ticket_id)",
        ("ticket_id",),
        (Identifier("record:orders", "trim(order_id)", ("order_id",)),),
    ),
    "survey_responses": SourceRule(
        (_plain("customer_id", "customer_id"), _plain("email", "email")),
        "record:surveys",
        "trim(response_id)",
        ("response_id",),
        (Identifier("record:orders", "trim(order_id)", ("order_id",)),),
    ),
    "consent_changes": SourceRule(
        (_plain("customer_id", "customer_id"), _plain("email", "email"), _plain("phone", "phone")),
        "record:consent",
        "trim(change_id)",
        ("change_id",),
    ),
    "email_events": SourceRule(
        (_plain("email", "email"),), "record:email_events", "trim(event_id)", ("event_id",)
    ),
}
# record_source of int_identifier_occurrences -> raw source whose key is the record id
RECORD_SOURCES = {
    "events": "events",
    "crm": "crm_contacts",
    "orders": "orders",
    "pos": "pos_transactions",
    "chat": "chat_conversations",
    "support": "support_tickets",
    "surveys": "survey_responses",
    "consent": "consent_changes",
    "email_events": "email_events",
}


def salt_id(salt: str) -> str:
    """Names a salt without revealing it (a changed salt no longer matches the hashes made with the old one)."""
    return hashlib.sha256(("sen-erasure-salt-id" + SEP + salt).encode()).hexdigest()[:16]


def identifier_hash(salt: str, identifier_type: str, value: str) -> str:
    return hashlib.sha256(f"{salt}{SEP}{identifier_type}{SEP}{value}".encode()).hexdigest()


def _hash_sql(type_sql: str, value_sql: str) -> str:
    return f"sha256($salt || chr(31) || {type_sql} || chr(31) || {value_sql})"


def ensure_suppression_table(conn: duckdb.DuckDBPyConnection) -> None:
    conn.execute("create schema if not exists raw")
    conn.execute(SUPPRESSION_DDL)


def has_suppressions(conn: duckdb.DuckDBPyConnection) -> bool:
    if "identifier_hash" not in raw_columns(conn, SUPPRESSION_TABLE.split(".", 1)[1]):
        return False
    return bool(conn.execute(f"select 1 from {SUPPRESSION_TABLE} limit 1").fetchall())


def other_salts(conn: duckdb.DuckDBPyConnection, salt: str) -> int:
    """Entries hashed with another salt: they no longer match anything (the salt was changed)."""
    return conn.execute(
        f"select count(*) from {SUPPRESSION_TABLE} where salt_id <> ?", [salt_id(salt)]
    ).fetchall()[0][0]


def add_hashes(
    conn: duckdb.DuckDBPyConnection, salt: str, values: Iterable[tuple[str, str]], at: datetime | None = None
) -> int:
    """Add (type, normalized value) pairs to the suppression list as salted hashes; returns how many were new."""
    ensure_suppression_table(conn)
    sid = salt_id(salt)
    hashes = sorted({(t, identifier_hash(salt, t, v)) for t, v in values if t and v})
    if not hashes:
        return 0
    known = {
        (t, h)
        for t, h in conn.execute(
            f"select identifier_type, identifier_hash from {SUPPRESSION_TABLE} where salt_id = ?", [sid]
        ).fetchall()
    }
    new = [(t, h) for t, h in hashes if (t, h) not in known]
    stamp = (at or datetime.now(UTC)).isoformat()
    conn.executemany(
        f"insert into {SUPPRESSION_TABLE} values (?, ?, ?, ?::timestamptz)",
        [[t, h, sid, stamp] for t, h in new],
    )
    return len(new)


def raw_columns(conn: duckdb.DuckDBPyConnection, source: str) -> set[str]:
    """Columns of raw.<source>; empty when it does not exist (looked up, so a transaction is not aborted)."""
    return {
        c
        for (c,) in conn.execute(
            """select column_name from duckdb_columns()
               where database_name = current_database() and schema_name = 'raw' and table_name = ?""",
            [source],
        ).fetchall()
    }


RECORD_SLOT = -1
REFERENCE_SLOT = 1000  # + index of the reference


def identifier_values_sql(source: str, where: str = "true", references: bool = True) -> str | None:
    """(rowid, slot, type, normalized value) of every identifier, record key and reference of raw.<source>
    rows: slot is the index of the identifier in its rule, RECORD_SLOT for the key, REFERENCE_SLOT + i."""
    rule = RULES.get(source)
    if rule is None:
        return None
    slots = [(n, i) for n, i in enumerate(rule.identifiers)]
    if references:
        slots += [(REFERENCE_SLOT + n, i) for n, i in enumerate(rule.references)]
    parts = [
        f"select rowid as __rid, {n} as slot, '{i.identifier_type}' as identifier_type, "
        f"{i.expression if i.identifier_type.startswith('record:') else _norm(i.expression, i.identifier_type)} "
        f'as identifier_value from raw."{source}" where {where}'
        for n, i in slots
    ]
    if rule.record_type:
        parts.append(
            f"select rowid as __rid, {RECORD_SLOT} as slot, '{rule.record_type}' as identifier_type, "
            f'{rule.record_key} as identifier_value from raw."{source}" where {where}'
        )
    return " union all ".join(parts)


@dataclass
class SuppressionResult:
    rows_deleted: int = 0
    rows_cleared: int = 0  # someone else's rows with an erased identifier emptied


def apply_suppression(
    conn: duckdb.DuckDBPyConnection, source: str, salt: str, where: str = "true", params: dict | None = None
) -> SuppressionResult:
    """Drop the rows of raw.<source> (restricted by `where`) that belong to a suppressed identifier or record;
    empty the suppressed identifiers of other rows. Run in the caller's transaction."""
    result = SuppressionResult()
    sql = identifier_values_sql(source, where)
    if sql is None or not raw_columns(conn, source) or not has_suppressions(conn):
        return result
    register_udfs(conn)
    rule = RULES[source]
    hits = conn.execute(
        f"""with ids as ({sql}),
        hashed as (
            select __rid, slot, identifier_type, {_hash_sql("identifier_type", "identifier_value")} as h
            from ids where identifier_value is not null
        ),
        suppressed as (
            select distinct identifier_type, identifier_hash from {SUPPRESSION_TABLE} where salt_id = $salt_id
        ),
        flagged as (
            select hashed.__rid, hashed.slot, suppressed.identifier_hash is not null as hit
            from hashed left join suppressed
                on hashed.identifier_type = suppressed.identifier_type and hashed.h = suppressed.identifier_hash
        )
        select __rid, slot, hit from flagged
        where __rid in (select __rid from flagged where hit)""",
        {**(params or {}), "salt": salt, "salt_id": salt_id(salt)},
    ).fetchall()
    if not hits:
        return result
    per_row: dict[int, dict[int, bool]] = {}
    for rid, slot, hit in hits:
        per_row.setdefault(rid, {})[slot] = bool(hit)
    delete: list[int] = []
    clear: dict[str, list[int]] = {}
    for rid, found in per_row.items():
        if found.get(RECORD_SLOT):
            delete.append(rid)
            continue
        # the row is the erased person's when its strongest identifier is theirs
        owners = sorted(
            (n for n in found if 0 <= n < REFERENCE_SLOT),
            key=lambda n: type_rank(rule.identifiers[n].identifier_type),
        )
        if owners and found[owners[0]]:
            delete.append(rid)
            continue
        for n, hit in found.items():
            if not hit or n == RECORD_SLOT:
                continue
            identifier = rule.identifiers[n] if n < REFERENCE_SLOT else rule.references[n - REFERENCE_SLOT]
            for column in identifier.clears:
                clear.setdefault(column, []).append(rid)
    table = f'raw."{source}"'
    if delete:
        conn.execute(f"delete from {table} where list_contains($rids, rowid)", {"rids": delete})
        result.rows_deleted = len(delete)
    for column, rids in clear.items():
        conn.execute(
            f'update {table} set "{column}" = null where list_contains($rids, rowid)', {"rids": rids}
        )
    result.rows_cleared = len({r for rids in clear.values() for r in rids} - set(delete))
    return result


def identifiers_of_rows(
    conn: duckdb.DuckDBPyConnection, source: str, where: str, params: dict | None = None
) -> list[tuple[str, str]]:
    """Every (type, normalized value) the matching raw rows carry, record key included."""
    sql = identifier_values_sql(source, where, references=False)
    if sql is None or not raw_columns(conn, source):
        return []
    register_udfs(conn)
    return [
        (t, v)
        for t, v in conn.execute(
            f"select distinct identifier_type, identifier_value from ({sql}) where identifier_value is not null",
            params or {},
        ).fetchall()
    ]


def raw_texts_of_rows(
    conn: duckdb.DuckDBPyConnection, source: str, where: str, params: dict | None = None
) -> list[tuple[str, str, str | None]]:
    """(type, raw text, normalized value) of the plain identifier columns of the matching rows (e.g.
    '0901 234 567' before normalization), and ('record', raw key, key) for the key columns: the spellings to
    look for in the tables derived from them."""
    rule = RULES.get(source)
    if rule is None or not raw_columns(conn, source):
        return []
    register_udfs(conn)
    parts = [
        f"select '{i.identifier_type}' as t, cast(\"{i.clears[0]}\" as varchar) as v, "
        f'{_norm(i.expression, i.identifier_type)} as n from raw."{source}" where {where}'
        for i in rule.identifiers
        if i.clears == (i.expression,)
    ]
    parts += [
        f'select \'record\' as t, cast("{c}" as varchar) as v, trim("{c}") as n from raw."{source}" where {where}'
        for c in rule.key_columns
    ]
    if not parts:
        return []
    return conn.execute(
        f"select distinct t, v, n from ({' union all '.join(parts)}) where v is not null", params or {}
    ).fetchall()
