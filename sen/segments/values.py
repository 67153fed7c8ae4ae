"""Typed values of segment conditions: checked against the field type and written as parameter text.

Values never reach SQL text. They are stored as text in the segment_parameters seed and the generated SQL
casts them to the field's type, a type the catalog decides (never the YAML author).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sen.segments.catalog import FieldType

MAX_TEXT_LENGTH = 500
NUMBER_SCALE = 6  # the generated SQL reads numbers as decimal(38, 6)

# The SQL type each field type's parameters are cast to.
SQL_TYPES = {
    FieldType.boolean: "boolean",
    FieldType.integer: "bigint",
    FieldType.number: f"decimal(38, {NUMBER_SCALE})",
    FieldType.text: "{{ text_type() }}",  # varchar on DuckDB, string on Spark
    FieldType.timestamp: "timestamp",
    FieldType.date: "date",
}


def coerce(value: Any, field_type: FieldType) -> Any:
    """The value as the Python type of field_type, or ValueError saying what was expected."""
    if value is None:
        raise ValueError("a value is required")
    if field_type is FieldType.boolean:
        if isinstance(value, bool):
            return value
        raise ValueError(f"value {value!r} is not a boolean (write true or false)")
    if field_type is FieldType.integer:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ValueError(f"value {value!r} is not an integer")
    if field_type is FieldType.number:
        if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
            raise ValueError(f"value {value!r} is not a number")
        try:
            number = Decimal(str(value))
        except InvalidOperation as exc:
            raise ValueError(f"value {value!r} is not a number") from exc
        if not number.is_finite():
            raise ValueError(f"value {value!r} is not a finite number")
        exponent = number.as_tuple().exponent
        if isinstance(exponent, int) and exponent < -NUMBER_SCALE:
            raise ValueError(f"value {value!r} has more than {NUMBER_SCALE} decimals")
        return number
    if field_type is FieldType.text:
        if not isinstance(value, str):
            raise ValueError(f"value {value!r} is not text (quote it: '{value}')")
        if not value.strip():
            raise ValueError("an empty text value matches nothing; use op is_null for missing values")
        if len(value) > MAX_TEXT_LENGTH or "\n" in value or "\r" in value:
            raise ValueError(f"text values are one line of at most {MAX_TEXT_LENGTH} characters")
        return value
    if field_type is FieldType.timestamp:
        if isinstance(value, datetime):
            return value
        if isinstance(value, date):
            return datetime(value.year, value.month, value.day)
        if isinstance(value, str):
            try:
                parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
            except ValueError:
                pass
            else:
                if parsed.tzinfo is not None:
                    raise ValueError(f"value {value!r}: write timestamps in UTC without an offset")
                return parsed
        raise ValueError(f"value {value!r} is not a timestamp (YYYY-MM-DD HH:MM:SS, UTC)")
    if field_type is FieldType.date:
        if isinstance(value, date) and not isinstance(value, datetime):
            return value
        if isinstance(value, str):
            try:
                return date.fromisoformat(value.strip())
            except ValueError:
                pass
        raise ValueError(f"value {value!r} is not a date (YYYY-MM-DD)")
    raise AssertionError(field_type)


def to_text(value: Any, field_type: FieldType) -> str:
    """Canonical text of a coerced value, as stored in the parameters seed."""
    if field_type is FieldType.boolean:
        return "true" if value else "false"
    if field_type is FieldType.number:
        return format(value, "f")
    if field_type is FieldType.timestamp:
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if field_type is FieldType.date:
        return value.isoformat()
    return str(value)
