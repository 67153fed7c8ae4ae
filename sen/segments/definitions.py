"""The shape of a segment definition file (pydantic). Meaning is checked against the catalog in validation.py.

A file holds a list of segments::

    segments:
      - name: winback_inactive
        description: Bought before, nothing for 120 days.
        owner: crm@senmart.vn
        where:
          all:
            - {field: value.orders, op: ">=", value: 1}
            - {field: value.recency_days, op: ">=", value: 120}
            - not: {field: service.has_open_ticket, op: is_true}
            - aggregate: {collection: events, within_days: 30, where: {field: event_name, op: "=", value: product_viewed}}
              op: ">="
              value: 2
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, field_validator

SEGMENT_NAME_PATTERN = r"^[a-z][a-z0-9_]{0,55}$"


class Operator(StrEnum):
    eq = "="
    ne = "!="
    lt = "<"
    lte = "<="
    gt = ">"
    gte = ">="
    in_ = "in"
    not_in = "not_in"
    between = "between"
    is_null = "is_null"
    not_null = "not_null"
    is_true = "is_true"
    is_false = "is_false"
    contains = "contains"
    within_days = "within_days"
    older_than_days = "older_than_days"


OPERATOR_ALIASES = {
    "==": "=", "eq": "=", "equals": "=", "ne": "!=", "<>": "!=", "not_equals": "!=", "lt": "<", "lte": "<=",
    "gt": ">", "gte": ">=", "is_not_null": "not_null", "not in": "not_in",
}  # fmt: skip
NO_VALUE_OPERATORS = {Operator.is_null, Operator.not_null, Operator.is_true, Operator.is_false}


class AggregateFunction(StrEnum):
    count = "count"
    count_distinct = "count_distinct"
    sum = "sum"
    avg = "avg"
    min = "min"
    max = "max"


def _operator(value: Any) -> Operator:
    if not isinstance(value, str):
        raise ValueError(f"operator must be text, got {value!r}")
    key = value.strip().lower()
    key = OPERATOR_ALIASES.get(key, key)
    try:
        return Operator(key)
    except ValueError:
        known = ", ".join(op.value for op in Operator)
        raise ValueError(f"unknown operator {value!r} (known: {known})") from None


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class FieldCondition(_Strict):
    """Compare one field with a value: `{field: value.recency_days, op: ">=", value: 90}`."""

    field: str
    op: Operator
    value: Any = None

    _check_op = field_validator("op", mode="before")(lambda cls, v: _operator(v))


class AggregateSpec(_Strict):
    """What to aggregate: rows of a collection, optionally filtered and within the last N days."""

    collection: str
    function: AggregateFunction = AggregateFunction.count
    field: str | None = None
    within_days: int | None = Field(default=None, gt=0, le=3660)
    where: Condition | None = None


class AggregateCondition(_Strict):
    """`count(events where ...) >= 3`; people without rows count 0 and sum 0."""

    aggregate: AggregateSpec
    op: Operator
    value: Any = None

    _check_op = field_validator("op", mode="before")(lambda cls, v: _operator(v))


class AllCondition(_Strict):
    all: list[Condition] = Field(min_length=1)


class AnyCondition(_Strict):
    any: list[Condition] = Field(min_length=1)


class NotCondition(_Strict):
    not_: Condition = Field(alias="not")


CONDITION_KEYS = ("field", "aggregate", "all", "any", "not")


def _condition_kind(value: Any) -> str | None:
    if isinstance(value, BaseModel):
        return {
            FieldCondition: "field", AggregateCondition: "aggregate", AllCondition: "all",
            AnyCondition: "any", NotCondition: "not",
        }.get(type(value))  # fmt: skip
    if not isinstance(value, dict):
        return None
    present = [key for key in CONDITION_KEYS if key in value]
    return present[0] if len(present) == 1 else None


Condition = Annotated[
    Annotated[FieldCondition, Tag("field")]
    | Annotated[AggregateCondition, Tag("aggregate")]
    | Annotated[AllCondition, Tag("all")]
    | Annotated[AnyCondition, Tag("any")]
    | Annotated[NotCondition, Tag("not")],
    Discriminator(
        _condition_kind,
        custom_error_type="condition",
        custom_error_message="a condition is a mapping with exactly one of the keys field, aggregate, all, any, not",
    ),
]


class SegmentDefinition(_Strict):
    name: str = Field(pattern=SEGMENT_NAME_PATTERN)
    description: str = Field(min_length=1)
    owner: str = Field(min_length=1)
    tags: list[str] = Field(default_factory=list)
    where: Condition


class SegmentFile(_Strict):
    segments: list[Any] = Field(min_length=1)


AggregateSpec.model_rebuild()
AllCondition.model_rebuild()
AnyCondition.model_rebuild()
NotCondition.model_rebuild()
SegmentDefinition.model_rebuild()
