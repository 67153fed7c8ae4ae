"""Explain a person: the identifiers it holds, the records that link them, and the rules that cut links nearby.

    python -m sen.identity.explain <person_id> [--warehouse path] [--between TYPE:VALUE TYPE:VALUE] [--json]
    python -m orchestration.cli explain-person <person_id> ...      (the same command)

Without --between, every identifier is explained by its path from the person's naming identifier (the strongest,
oldest one): the hops of a shortest path over the links the person is made of, each hop with the records that
carry both identifiers (source, record id, time; from int_identifier_occurrences, or the link's own dates and
record count when that model is absent). Nearby cuts are the audit rows of the latest run (identity.identity_cuts)
about the person's identifiers or naming one of them as the related identifier: why something is NOT in the person.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import deque
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from sen.identity.config import IdentityConfig, load_identity_config
from sen.identity.graph import relation_exists

OCCURRENCES_TABLE = "intermediate.int_identifier_occurrences"
RECORDS_PER_HOP = 3

Identifier = tuple[str, str]


class PersonNotFoundError(LookupError):
    """No identifier of the person map belongs to this person id."""


@dataclass
class Hop:
    a: Identifier
    b: Identifier
    records: list[dict[str, Any]]  # source, record_id, observed_at (most recent first), or the link's figures


@dataclass
class Explanation:
    person_id: str
    identifiers: list[dict[str, Any]]
    paths: dict[str, list[Hop]] = field(
        default_factory=dict
    )  # "type:value" -> hops from the naming identifier
    cuts: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _label(identifier: Identifier) -> str:
    return f"{identifier[0]}:{identifier[1]}"


def parse_identifier(text: str) -> Identifier:
    kind, sep, value = text.partition(":")
    if not sep or not kind or not value:
        raise ValueError(f"{text!r}: expected TYPE:VALUE, e.g. email:lan@shop.vn")
    return kind, value


def _rows(conn: duckdb.DuckDBPyConnection, sql: str, params: list[Any]) -> list[dict[str, Any]]:
    cursor = conn.execute(sql, params)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def explain_person(
    conn: duckdb.DuckDBPyConnection,
    person_id: str,
    config: IdentityConfig | None = None,
    between: tuple[Identifier, Identifier] | None = None,
) -> Explanation:
    config = config or load_identity_config()
    schema = config.output_schema
    identifiers = _rows(
        conn,
        f"""
        select identifier_type, identifier_value, identifier_key, first_seen_at, last_seen_at, cut_reason
        from {schema}.identifier_person_map where person_id = ?
        """,
        [person_id],
    )
    if not identifiers:
        raise PersonNotFoundError(
            f"no identifier belongs to person {person_id!r} in {schema}.identifier_person_map"
        )
    rank = {t: i for i, t in enumerate(config.type_priority)}
    identifiers.sort(
        key=lambda r: (rank.get(r["identifier_type"], 99), r["first_seen_at"] is None, r["first_seen_at"])
    )
    by_key = {r["identifier_key"]: (r["identifier_type"], r["identifier_value"]) for r in identifiers}
    keys = list(by_key)
    links = conn.execute(
        f"""
        select key_a, key_b, min(first_seen_at), max(last_seen_at), sum(n_records)
        from {config.edges_table}
        where key_a in (select unnest(?::bigint[])) and key_b in (select unnest(?::bigint[]))
        group by all
        """,
        [keys, keys],
    ).fetchall()
    adjacent: dict[Identifier, list[Identifier]] = {i: [] for i in by_key.values()}
    figures: dict[frozenset[Identifier], dict[str, Any]] = {}
    for ka, kb, first, last, n in links:
        a, b = by_key[ka], by_key[kb]
        if a == b:
            continue
        adjacent[a].append(b)
        adjacent[b].append(a)
        figures[frozenset((a, b))] = {"first_seen_at": first, "last_seen_at": last, "records": n}
    for neighbours in adjacent.values():
        neighbours.sort(key=lambda i: (rank.get(i[0], 99), i[1]))

    explanation = Explanation(person_id=person_id, identifiers=identifiers)
    if between is not None:
        for identifier in between:
            if identifier not in adjacent:
                raise PersonNotFoundError(f"{_label(identifier)} does not belong to person {person_id!r}")
        sources, targets = [between[0]], [between[1]]
    else:
        sources, targets = [by_key[keys[0]]], [i for i in by_key.values() if i != by_key[keys[0]]]
    parents = _shortest_paths(adjacent, sources[0])
    occurrences = relation_exists(conn, OCCURRENCES_TABLE)
    for target in targets:
        path = _path(parents, target)
        hops = []
        for a, b in zip(path, path[1:], strict=False):
            records = _records(conn, a, b) if occurrences else []
            hops.append(Hop(a=a, b=b, records=records or [{"link": figures[frozenset((a, b))]}]))
        explanation.paths[_label(target)] = hops
    outside = conn.execute(
        f"""
        select distinct id_b_type, id_b from {config.edges_table}
        where key_a in (select unnest(?::bigint[])) and key_b not in (select unnest(?::bigint[]))
        union
        select distinct id_a_type, id_a from {config.edges_table}
        where key_b in (select unnest(?::bigint[])) and key_a not in (select unnest(?::bigint[]))
        """,
        [keys, keys, keys, keys],
    ).fetchall()
    explanation.cuts = _nearby_cuts(conn, schema, list(by_key.values()), [(t, v) for t, v in outside])
    return explanation


def _shortest_paths(
    adjacent: dict[Identifier, list[Identifier]], source: Identifier
) -> dict[Identifier, Identifier]:
    parents: dict[Identifier, Identifier] = {source: source}
    queue = deque([source])
    while queue:
        node = queue.popleft()
        for nxt in adjacent[node]:
            if nxt not in parents:
                parents[nxt] = node
                queue.append(nxt)
    return parents


def _path(parents: dict[Identifier, Identifier], target: Identifier) -> list[Identifier]:
    if target not in parents:
        return []  # held without a link (an identifier alone in its person, e.g. cut from every other)
    path = [target]
    while parents[path[-1]] != path[-1]:
        path.append(parents[path[-1]])
    return path[::-1]


def _records(conn: duckdb.DuckDBPyConnection, a: Identifier, b: Identifier) -> list[dict[str, Any]]:
    return _rows(
        conn,
        f"""
        select x.record_source as source, x.record_id, x.observed_at
        from {OCCURRENCES_TABLE} as x
        inner join {OCCURRENCES_TABLE} as y using (record_source, record_id)
        where x.identifier_type = ? and x.identifier_value = ? and y.identifier_type = ? and y.identifier_value = ?
        order by x.observed_at desc nulls last, x.record_source, x.record_id
        limit {RECORDS_PER_HOP}
        """,
        [*a, *b],
    )


def _nearby_cuts(
    conn: duckdb.DuckDBPyConnection, schema: str, identifiers: list[Identifier], neighbours: list[Identifier]
) -> list[dict[str, Any]]:
    """Audit rows of the latest run about the person's identifiers, about identifiers linked to them that are
    not in the person (a shared laptop kept with someone else), or naming one of them as related."""
    if not relation_exists(conn, f"{schema}.identity_cuts"):
        return []
    near = identifiers + neighbours
    types = [t for t, _ in near]
    values = [v for _, v in near]
    mine_types = [t for t, _ in identifiers]
    mine_values = [v for _, v in identifiers]
    return _rows(
        conn,
        f"""
        with near as (select unnest(?::varchar[]) as t, unnest(?::varchar[]) as v),
        mine as (select unnest(?::varchar[]) as t, unnest(?::varchar[]) as v),
        latest as (select run_id from {schema}.identity_runs order by run_at desc limit 1)
        select identifier_type, identifier_value, reason, degree, "limit", related_identifier_type,
               related_identifier_value, detail
        from {schema}.identity_cuts as c
        where c.run_id in (select run_id from latest)
          and (exists (select 1 from near where t = c.identifier_type and v = c.identifier_value)
               or exists (select 1 from mine where t = c.related_identifier_type and v = c.related_identifier_value))
        order by reason, identifier_type, identifier_value
        """,
        [types, values, mine_types, mine_values],
    )


def format_explanation(explanation: Explanation) -> str:
    lines = [f"person {explanation.person_id}: {len(explanation.identifiers)} identifiers"]
    for r in explanation.identifiers:
        cut = f"  [cut: {r['cut_reason']}]" if r["cut_reason"] else ""
        lines.append(
            f"  {r['identifier_type']:<16} {r['identifier_value']}  (seen {r['first_seen_at']} .. {r['last_seen_at']}){cut}"
        )
    lines.append("how they are linked:")
    for target, hops in explanation.paths.items():
        if not hops:
            lines.append(f"  {target}: no link (held alone)")
            continue
        lines.append(f"  {target}: {len(hops)} hop(s)")
        for hop in hops:
            lines.append(f"    {_label(hop.a)} -- {_label(hop.b)}")
            for rec in hop.records:
                if "link" in rec:
                    link = rec["link"]
                    lines.append(
                        f"      {link['records']} record(s), {link['first_seen_at']} .. {link['last_seen_at']}"
                    )
                else:
                    lines.append(f"      {rec['source']} record {rec['record_id']} at {rec['observed_at']}")
    lines.append(f"cuts nearby (latest run): {len(explanation.cuts)}")
    for c in explanation.cuts:
        related = (
            f" (related {c['related_identifier_type']}:{c['related_identifier_value']})"
            if c["related_identifier_value"]
            else ""
        )
        lines.append(
            f"  {c['reason']}: {c['identifier_type']}:{c['identifier_value']}{related}: {c['detail']}"
        )
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("person_id")
    parser.add_argument("--warehouse", type=Path, help="DuckDB file (default: $CDP_WAREHOUSE)")
    parser.add_argument(
        "--config", type=Path, help="identity YAML (default: $CDP_IDENTITY_CONFIG or built-in)"
    )
    parser.add_argument(
        "--between", nargs=2, metavar="TYPE:VALUE", help="explain the link between these two identifiers only"
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")


def run(args: argparse.Namespace) -> int:
    from sen.config import warehouse_path

    config = load_identity_config(args.config)
    between = (parse_identifier(args.between[0]), parse_identifier(args.between[1])) if args.between else None
    conn = duckdb.connect(str(args.warehouse or warehouse_path()), read_only=True)
    try:
        explanation = explain_person(conn, args.person_id, config, between)
    except PersonNotFoundError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    finally:
        conn.close()
    print(
        json.dumps(explanation.as_dict(), default=str, indent=2)
        if args.json
        else format_explanation(explanation)
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m sen.identity.explain",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
