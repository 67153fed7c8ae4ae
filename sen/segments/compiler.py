"""Compile a validated segment into a dbt model (SQL + properties YAML) and its parameter rows.

The SQL never contains a value from the YAML. Each value becomes a row of the segment_parameters seed
(segment, param, value_type, value); the model reads its row(s) back in a `params` CTE, cast to the type the
catalog gives the field. Identifiers that do reach the SQL text come from the catalog (profile, collection
and column names) or are the segment name, which must match ^[a-z][a-z0-9_]*$.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import yaml

from sen.segments import jinja_text
from sen.segments.catalog import Catalog, FieldType
from sen.segments.definitions import (
    AggregateCondition,
    AggregateFunction,
    AllCondition,
    AnyCondition,
    FieldCondition,
    NotCondition,
    Operator,
)
from sen.segments.loader import LoadedSegment, display_path
from sen.segments.validation import measure_type
from sen.segments.values import SQL_TYPES, coerce, to_text

MODEL_PREFIX = "seg_"
PARAMETERS_SEED = "segment_parameters"
PEOPLE_MODEL = "customers"

Op = Operator
_COMPARISONS = {Op.eq: "=", Op.ne: "<>", Op.lt: "<", Op.lte: "<=", Op.gt: ">", Op.gte: ">="}
_AGGREGATES = {
    AggregateFunction.count: "count(*)",
    AggregateFunction.count_distinct: "count(distinct {col})",
    AggregateFunction.sum: "sum({col})",
    AggregateFunction.avg: "avg({col})",
    AggregateFunction.min: "min({col})",
    AggregateFunction.max: "max({col})",
}


@dataclass(frozen=True)
class Parameter:
    segment: str
    param: str
    value_type: str
    value: str


# A checksum of a segment's parameter rows that SQL engines compute alike without hex casts: per row, the
# first DIGEST_CHARS characters of md5("param=value") read as ASCII codes (48-102, so base 100), summed over the
# rows (order-free: Spark's string aggregation has no ORDER BY). A model built against a seed whose values
# changed (a segment YAML edited, the seed not reloaded) fails instead of counting members with old values.
DIGEST_CHARS = 6


def parameters_digest(parameters: list[Parameter]) -> int:
    total = 0
    for parameter in parameters:
        digest = hashlib.md5(f"{parameter.param}={parameter.value}".encode()).hexdigest()
        total += sum(ord(digest[k]) * 100**k for k in range(DIGEST_CHARS))
    return total


def parameters_digest_sql() -> str:
    row = "md5(param || '=' || value)"
    terms = [f"cast(ascii(substr({row}, {k + 1}, 1)) as bigint) * {100**k}" for k in range(DIGEST_CHARS)]
    return f"sum({' + '.join(terms)})"


@dataclass
class CompiledSegment:
    name: str
    model_name: str
    sql: str
    properties: str
    parameters: list[Parameter]


@dataclass
class _Aggregate:
    alias: str
    sql: str
    empty_is_zero: bool


@dataclass
class _State:
    scalars: list[tuple[str, FieldType]] = field(default_factory=list)
    lists: list[tuple[str, FieldType]] = field(default_factory=list)
    profiles: list[str] = field(default_factory=list)
    aggregates: list[_Aggregate] = field(default_factory=list)
    rows: list[Parameter] = field(default_factory=list)


def _indent(text: str, spaces: int) -> str:
    pad = " " * spaces
    return "\n".join(pad + line if line else line for line in text.splitlines())


class SegmentCompiler:
    def __init__(self, segment: LoadedSegment, catalog: Catalog) -> None:
        self.segment = segment
        self.catalog = catalog
        self.name = segment.name
        self.state = _State()

    # parameters -------------------------------------------------------------------------------------
    def _next_param(self) -> str:
        return f"p{len(self.state.scalars) + len(self.state.lists) + 1}"

    def _scalar(self, value: Any, field_type: FieldType) -> str:
        param = self._next_param()
        self.state.scalars.append((param, field_type))
        self.state.rows.append(
            Parameter(self.name, param, field_type.value, to_text(coerce(value, field_type), field_type))
        )
        return f"params.{param}"

    def _list(self, values: list[Any], field_type: FieldType) -> str:
        param = self._next_param()
        self.state.lists.append((param, field_type))
        for value in values:
            self.state.rows.append(
                Parameter(self.name, param, field_type.value, to_text(coerce(value, field_type), field_type))
            )
        return f"(select {param}_values.list_value from {param}_values)"

    # conditions -------------------------------------------------------------------------------------
    def condition(self, node: object, collection: str | None = None) -> str:
        if isinstance(node, AllCondition):
            return self._join("and", node.all, collection)
        if isinstance(node, AnyCondition):
            return self._join("or", node.any, collection)
        if isinstance(node, NotCondition):
            return f"not {self.condition(node.not_, collection)}"
        if isinstance(node, FieldCondition):
            if collection is None:
                profile, column, field_type = self.catalog.profile_field(node.field)  # type: ignore[misc]
                if self.catalog.profiles[profile].model == PEOPLE_MODEL:
                    column_sql = f"people.{column}"  # the universe itself, no join needed
                else:
                    if profile not in self.state.profiles:
                        self.state.profiles.append(profile)
                    column_sql = f"p_{profile}.{column}"
            else:
                field_type = self.catalog.collections[collection].fields[node.field]
                column_sql = f"c.{node.field}"
            return self._comparison(column_sql, node.op, node.value, field_type)
        if isinstance(node, AggregateCondition):
            return self._aggregate(node)
        raise AssertionError(type(node))

    def _join(self, keyword: str, children: list[Any], collection: str | None) -> str:
        parts = [self.condition(child, collection) for child in children]
        if len(parts) == 1:
            return parts[0]
        body = f"\n{keyword} ".join(parts)
        return f"(\n{_indent(body, 4)}\n)"

    def _comparison(self, column: str, op: Operator, value: Any, field_type: FieldType) -> str:
        if op is Op.is_null:
            return f"{column} is null"
        if op is Op.not_null:
            return f"{column} is not null"
        if op is Op.is_true:
            return f"coalesce({column}, false)"
        if op is Op.is_false:
            return f"coalesce(not {column}, false)"
        if op in _COMPARISONS:
            expr = f"{column} {_COMPARISONS[op]} {self._scalar(value, field_type)}"
        elif op is Op.between:
            low, high = self._scalar(value[0], field_type), self._scalar(value[1], field_type)
            expr = f"{column} between {low} and {high}"
        elif op is Op.in_:
            expr = f"{column} in {self._list(value, field_type)}"
        elif op is Op.not_in:
            expr = f"{column} not in {self._list(value, field_type)}"
        elif op is Op.contains:
            expr = (
                "{{ dbt.position(" + repr(self._scalar(value, field_type)) + ", " + repr(column) + ") }} > 0"
            )
        elif op is Op.within_days:
            days = self._scalar(value, FieldType.integer)
            expr = f"{column} >= {self._days_ago(days)} and {column} <= {{{{ as_of() }}}}"
        elif op is Op.older_than_days:
            days = self._scalar(value, FieldType.integer)
            expr = f"{column} < {self._days_ago(days)}"
        else:
            raise AssertionError(op)
        # A missing value satisfies no comparison, also under `not`.
        return f"coalesce({expr}, false)"

    @staticmethod
    def _days_ago(days_param: str) -> str:
        return "{{ dbt.dateadd('day', '-1 * " + days_param + "', as_of()) }}"

    def _aggregate(self, node: AggregateCondition) -> str:
        spec = node.aggregate
        entry = self.catalog.collections[spec.collection]
        alias = f"agg_{len(self.state.aggregates) + 1}"
        filters: list[str] = []
        if entry.time is not None:
            filters.append(f"c.{entry.time} <= {{{{ as_of() }}}}")
            if spec.within_days is not None:
                days = self._scalar(spec.within_days, FieldType.integer)
                filters.append(f"c.{entry.time} >= {self._days_ago(days)}")
        if spec.where is not None:
            filters.append(self.condition(spec.where, spec.collection))
        measure = _AGGREGATES[spec.function].format(col=f"c.{spec.field}")
        where = ""
        if filters:
            where = "\nwhere\n" + _indent("\nand ".join(filters), 4)
        sql = (
            f"select\n    c.person_id,\n    {measure} as measure\n"
            f"from {{{{ ref('{entry.model}') }}}} as c\ncross join params{where}\ngroup by c.person_id"
        )
        empty_is_zero = spec.function in (
            AggregateFunction.count,
            AggregateFunction.count_distinct,
            AggregateFunction.sum,
        )
        self.state.aggregates.append(_Aggregate(alias, sql, empty_is_zero))
        field_type = entry.fields.get(spec.field) if spec.field else None
        result_type = measure_type(spec.function, field_type)
        column = f"coalesce({alias}.measure, 0)" if empty_is_zero else f"{alias}.measure"
        return self._comparison(column, node.op, node.value, result_type)

    # output -----------------------------------------------------------------------------------------
    def compile(self) -> CompiledSegment:
        predicate = self.condition(self.segment.definition.where)
        state = self.state
        ctes: list[tuple[str, str]] = []
        ref_params = f"{{{{ ref('{PARAMETERS_SEED}') }}}}"
        scalar_columns = [
            f"max(case when param = '{p}' then cast(value as {SQL_TYPES[t]}) end) as {p}"
            for p, t in state.scalars
        ]
        # One row even without parameters, so `cross join params` never empties the result.
        columns = ["count(*) as n_parameters", *scalar_columns]
        select_list = (
            f"select {columns[0]}" if len(columns) == 1 else "select\n    " + ",\n    ".join(columns)
        )
        params_body = f"{select_list}\nfrom {ref_params}\nwhere segment = '{self.name}'"
        if state.rows:
            # A segment model rebuilt without its parameters seed (a missing row, or values the YAML no longer
            # has) would read null or old parameters and silently have 0 or the wrong members: stop the build
            # instead, saying what to rebuild (the Dagster step loads the seed with its segments).
            message = (
                f"segment_parameters holds no or stale parameters of segment {self.name}: "
                f"rebuild seed segment_parameters with it (dbt build -s segment_parameters {MODEL_PREFIX}{self.name})"
            )
            condition = f"count(*) = {len(state.rows)} and {parameters_digest_sql()} = {parameters_digest(state.rows)}"
            params_body += f"\nhaving {{{{ fail_unless({condition!r}, {message!r}) }}}}"
        ctes.append(("params", params_body))
        for p, t in state.lists:
            ctes.append(
                (
                    f"{p}_values",
                    f"select cast(value as {SQL_TYPES[t]}) as list_value\nfrom {ref_params}\n"
                    f"where segment = '{self.name}' and param = '{p}'",
                )
            )
        for agg in state.aggregates:
            ctes.append((agg.alias, agg.sql))
        joins = [
            f"left join {{{{ ref('{self.catalog.profiles[p].model}') }}}} as p_{p} on people.person_id = p_{p}.person_id"
            for p in state.profiles
        ]
        joins += [f"left join {a.alias} on people.person_id = {a.alias}.person_id" for a in state.aggregates]
        members = (
            f"select people.person_id\nfrom {{{{ ref('{PEOPLE_MODEL}') }}}} as people\ncross join params\n"
            + "".join(j + "\n" for j in joins)
            + "where\n"
            + _indent(predicate, 4)
        )
        ctes.append(("members", members))
        source = display_path(self.segment.path)
        header = (
            f"-- Generated by `python -m sen.segments.compile` from {source} (segment {self.name!r}); do not edit.\n"
            "-- Values come from the segment_parameters seed, never from this text.\n\n"
        )
        body = "with\n\n" + ",\n\n".join(f"{name} as (\n{_indent(sql, 4)}\n)" for name, sql in ctes)
        sql = header + body + "\n\nselect distinct person_id from members\n"
        return CompiledSegment(
            name=self.name,
            model_name=MODEL_PREFIX + self.name,
            sql=sql,
            properties=self._properties(source),
            parameters=state.rows,
        )

    def _properties(self, source: str) -> str:
        definition = self.segment.definition
        document = {
            "version": 2,
            "models": [
                {
                    "name": MODEL_PREFIX + self.name,
                    # free text is data, never a template (dbt renders these files): see jinja_text.py
                    "description": jinja_text.literal(
                        f"Segment {self.name}: {definition.description.strip()} (generated from {source})",
                        f"{source}: segment {self.name}: description",
                    ),
                    "config": {
                        "tags": [
                            "segments",
                            *(
                                jinja_text.tag(t, f"{source}: segment {self.name}: tags")
                                for t in definition.tags
                            ),
                        ],
                        "meta": {
                            "owner": jinja_text.literal(
                                definition.owner, f"{source}: segment {self.name}: owner"
                            ),
                            "segment": self.name,
                            "definition_file": source,
                        },
                    },
                    "columns": [
                        {
                            "name": "person_id",
                            "description": "A current member of the segment.",
                            "data_tests": ["unique", "not_null"],
                        }
                    ],
                }
            ],
        }
        return "# Generated by `python -m sen.segments.compile`; do not edit.\n" + yaml.safe_dump(
            document, sort_keys=False, allow_unicode=True, width=110
        )


def compile_segment(segment: LoadedSegment, catalog: Catalog) -> CompiledSegment:
    return SegmentCompiler(segment, catalog).compile()
