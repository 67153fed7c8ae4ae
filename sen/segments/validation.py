"""Meaning checks of a parsed segment against the catalog: known fields, operators that fit their type,
values of the right type and shape. Every problem names its path inside the segment."""

from __future__ import annotations

from sen.segments.catalog import Catalog, Collection, FieldType
from sen.segments.definitions import (
    AggregateCondition,
    AggregateFunction,
    AllCondition,
    AnyCondition,
    FieldCondition,
    NotCondition,
    Operator,
    SegmentDefinition,
)
from sen.segments.known_values import known_values
from sen.segments.values import coerce

Op = Operator
_ORDERED = {Op.eq, Op.ne, Op.lt, Op.lte, Op.gt, Op.gte, Op.between, Op.is_null, Op.not_null}
ALLOWED_OPERATORS: dict[FieldType, set[Operator]] = {
    FieldType.boolean: {Op.eq, Op.ne, Op.is_true, Op.is_false, Op.is_null, Op.not_null},
    FieldType.integer: _ORDERED | {Op.in_, Op.not_in},
    FieldType.number: _ORDERED,
    FieldType.text: {Op.eq, Op.ne, Op.in_, Op.not_in, Op.contains, Op.is_null, Op.not_null},
    FieldType.timestamp: _ORDERED | {Op.within_days, Op.older_than_days},
    FieldType.date: _ORDERED | {Op.in_, Op.not_in, Op.within_days, Op.older_than_days},
}
NO_VALUE = {Op.is_null, Op.not_null, Op.is_true, Op.is_false}
LIST_OPERATORS = {Op.in_, Op.not_in}
DAY_OPERATORS = {Op.within_days, Op.older_than_days}
MAX_LIST_VALUES = 1000

F = AggregateFunction
NUMERIC = {FieldType.integer, FieldType.number}


def measure_type(function: AggregateFunction, field_type: FieldType | None) -> FieldType:
    """The type of an aggregate's result, which its comparison value must have."""
    if function in (F.count, F.count_distinct):
        return FieldType.integer
    if function in (F.sum, F.avg):
        return FieldType.number
    assert field_type is not None
    return field_type


def check_value(op: Operator, value: object, field_type: FieldType, where: str) -> list[str]:
    """Problems of one (operator, value) pair for a field of field_type; empty when fine."""
    if op not in ALLOWED_OPERATORS[field_type]:
        allowed = ", ".join(sorted(o.value for o in ALLOWED_OPERATORS[field_type]))
        return [
            f"{where}: operator {op.value!r} does not apply to a {field_type.value} field (allowed: {allowed})"
        ]
    if op in NO_VALUE:
        return [] if value is None else [f"{where}: operator {op.value!r} takes no value (got {value!r})"]
    if value is None:
        return [f"{where}: operator {op.value!r} needs a value"]
    if op in DAY_OPERATORS:
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            return [f"{where}: operator {op.value!r} needs a positive whole number of days, got {value!r}"]
        return []
    if op in LIST_OPERATORS or op is Op.between:
        if not isinstance(value, list):
            return [f"{where}: operator {op.value!r} needs a list of values, got {value!r}"]
        if op is Op.between and len(value) != 2:
            return [f"{where}: operator 'between' needs exactly two values [low, high], got {value!r}"]
        if not value or len(value) > MAX_LIST_VALUES:
            return [f"{where}: operator {op.value!r} needs 1 to {MAX_LIST_VALUES} values"]
        problems = []
        coerced = []
        for i, item in enumerate(value):
            try:
                coerced.append(coerce(item, field_type))
            except ValueError as exc:
                problems.append(f"{where}.value[{i}]: {exc}")
        if not problems and op is Op.between and coerced[0] > coerced[1]:
            problems.append(f"{where}: 'between' needs low <= high, got {value!r}")
        return problems
    if isinstance(value, list | dict):
        return [f"{where}: operator {op.value!r} needs a single value, got {value!r}"]
    try:
        coerce(value, field_type)
    except ValueError as exc:
        return [f"{where}: {exc}"]
    return []


KNOWN_VALUE_OPERATORS = {Op.eq, Op.ne, Op.in_, Op.not_in}


def check_known(op: Operator, value: object, allowed: tuple[object, ...] | None, where: str) -> list[str]:
    """A value the field never holds (its mart's accepted values) matches nobody: an error, not 0 members."""
    if allowed is None or op not in KNOWN_VALUE_OPERATORS:
        return []
    values = value if isinstance(value, list) else [value]
    unknown = [v for v in values if v not in allowed]
    if not unknown:
        return []
    shown = ", ".join(str(v) for v in allowed)
    return [f"{where}: {', '.join(repr(v) for v in unknown)} is not a value of this field (allowed: {shown})"]


class SegmentValidator:
    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog

    def check(self, segment: SegmentDefinition) -> list[str]:
        return self._condition(segment.where, "where", None)

    def _condition(self, node: object, path: str, collection: tuple[str, Collection] | None) -> list[str]:
        if isinstance(node, AllCondition):
            return [
                p
                for i, child in enumerate(node.all)
                for p in self._condition(child, f"{path}.all[{i}]", collection)
            ]
        if isinstance(node, AnyCondition):
            return [
                p
                for i, child in enumerate(node.any)
                for p in self._condition(child, f"{path}.any[{i}]", collection)
            ]
        if isinstance(node, NotCondition):
            return self._condition(node.not_, f"{path}.not", collection)
        if isinstance(node, FieldCondition):
            return self._field(node, path, collection)
        if isinstance(node, AggregateCondition):
            if collection is not None:
                return [f"{path}: an aggregate cannot be nested inside the 'where' of another aggregate"]
            return self._aggregate(node, path)
        raise AssertionError(type(node))

    def _field(self, node: FieldCondition, path: str, collection: tuple[str, Collection] | None) -> list[str]:
        where = f"{path} (field {node.field!r})"
        if collection is not None:
            name, entry = collection
            field_type = entry.fields.get(node.field)
            if field_type is None:
                known = ", ".join(entry.fields)
                return [f"{path}.field: unknown field {node.field!r} of collection {name!r} (known: {known})"]
            model, column = entry.model, node.field
        else:
            found = self.catalog.profile_field(node.field)
            if found is None:
                return [f"{path}.field: {self._unknown_profile_field(node.field)}"]
            field_type = found[2]
            model, column = self.catalog.profiles[found[0]].model, found[1]
        return check_value(node.op, node.value, field_type, where) or check_known(
            node.op, node.value, known_values(model, column), where
        )

    def _unknown_profile_field(self, name: str) -> str:
        profile, dot, column = name.partition(".")
        if not dot:
            return (
                f"unknown field {name!r}: write <profile>.<column> "
                f"(profiles: {', '.join(self.catalog.profiles)}); events and orders are read with 'aggregate'"
            )
        entry = self.catalog.profiles.get(profile)
        if entry is None:
            if profile in self.catalog.collections:
                return f"unknown field {name!r}: {profile!r} is a collection, read it with an 'aggregate' condition"
            return f"unknown field {name!r}: no profile {profile!r} (profiles: {', '.join(self.catalog.profiles)})"
        return f"unknown field {name!r}: profile {profile!r} has no column {column!r} (known: {', '.join(entry.fields)})"

    def _aggregate(self, node: AggregateCondition, path: str) -> list[str]:
        spec = node.aggregate
        apath = f"{path}.aggregate"
        entry = self.catalog.collections.get(spec.collection)
        if entry is None:
            known = ", ".join(self.catalog.collections)
            return [f"{apath}.collection: unknown collection {spec.collection!r} (known: {known})"]
        problems: list[str] = []
        field_type: FieldType | None = None
        if spec.function is F.count:
            if spec.field is not None:
                problems.append(f"{apath}.field: 'count' counts rows and takes no field (use count_distinct)")
        elif spec.field is None:
            problems.append(f"{apath}.field: {spec.function.value!r} needs a field of {spec.collection!r}")
        else:
            field_type = entry.fields.get(spec.field)
            if field_type is None:
                known = ", ".join(entry.fields)
                problems.append(
                    f"{apath}.field: unknown field {spec.field!r} of collection {spec.collection!r} (known: {known})"
                )
            elif spec.function in (F.sum, F.avg) and field_type not in NUMERIC:
                problems.append(
                    f"{apath}.field: {spec.function.value!r} needs a numeric field, {spec.field!r} is {field_type.value}"
                )
            elif spec.function in (F.min, F.max) and field_type in (FieldType.boolean, FieldType.text):
                problems.append(
                    f"{apath}.field: {spec.function.value!r} needs a numeric or time field, {spec.field!r} is {field_type.value}"
                )
        if spec.within_days is not None and entry.time is None:
            problems.append(
                f"{apath}.within_days: collection {spec.collection!r} has no time column to window on"
            )
        if spec.where is not None:
            problems += self._condition(spec.where, f"{apath}.where", (spec.collection, entry))
        if problems:
            return problems
        result = measure_type(spec.function, field_type)
        where = f"{path} ({spec.function.value} of {spec.collection})"
        problems = check_value(node.op, node.value, result, where)
        if (
            not problems
            and spec.function in (F.count, F.count_distinct)
            and isinstance(node.value, int)
            and node.value < 0
        ):
            problems.append(f"{where}: a count is never negative, got {node.value!r}")
        return problems
