"""Render generated segment SQL without dbt, for fast tests on DuckDB: ref() -> a table, as_of() -> a literal,
and the few dbt cross-database and Sen macros the compiler emits, with DuckDB's implementations."""

from __future__ import annotations

import re

import duckdb
import jinja2

from sen.segments.compiler import CompiledSegment

AS_OF = "2026-11-21 00:00:00"


class _Dbt:
    @staticmethod
    def dateadd(datepart: str, interval: str, from_expr: str) -> str:
        return f"({from_expr} + cast({interval} as bigint) * interval 1 {datepart})"

    @staticmethod
    def position(substring: str, string: str) -> str:
        return f"position({substring} in {string})"


def _fail_unless(condition: str, message: str) -> str:
    # DuckDB's implementation of the macro (dbt_project/macros/dispatch/fail_unless.sql)
    escaped = message.replace("'", "''")
    return f"case when {condition} then true else error('{escaped}') end"


def render(sql: str) -> str:
    env = jinja2.Environment(undefined=jinja2.StrictUndefined)
    return env.from_string(sql).render(
        ref=lambda name: f"fixture.{name}",
        as_of=lambda: f"cast('{AS_OF}' as timestamp)",
        config=lambda **_: "",
        dbt=_Dbt(),
        fail_unless=_fail_unless,
        text_type=lambda: "varchar",  # DuckDB's (dbt_project/macros/dispatch/text_type.sql)
    )


def load_parameters(conn: duckdb.DuckDBPyConnection, compiled: list[CompiledSegment]) -> None:
    conn.execute("create schema if not exists fixture")
    conn.execute(
        "create or replace table fixture.segment_parameters (segment varchar, param varchar, value_type varchar, value varchar)"
    )
    rows = [(p.segment, p.param, p.value_type, p.value) for c in compiled for p in c.parameters]
    if rows:
        conn.executemany("insert into fixture.segment_parameters values (?, ?, ?, ?)", rows)


def members(conn: duckdb.DuckDBPyConnection, compiled: CompiledSegment) -> set[str]:
    return {row[0] for row in conn.execute(render(compiled.sql)).fetchall()}


def sql_literals(sql: str) -> list[str]:
    """Quoted literals of the SQL outside Jinja calls and comments (where a spliced value would sit)."""
    code = re.sub(r"\{\{.*?\}\}", " ", sql, flags=re.S)
    code = re.sub(r"--[^\n]*", " ", code)
    return re.findall(r"'([^']*)'", code)
