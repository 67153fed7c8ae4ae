"""The values a text field of a profile can hold, read from the dbt models' own `accepted_values` tests.

One source of truth: the same list that dbt enforces on the mart is the list a segment value is checked
against, so `value: top10` for `clv.clv_tier` fails validation naming `top_1pct, top_10pct, ...` instead of
building a segment with 0 members.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import yaml

from sen.settings import DBT_PROJECT_DIR

MODELS_DIR = DBT_PROJECT_DIR / "models"


def _unquote(value: object, quoted: bool) -> object:
    # `quote: false` lists are SQL literals ("'Champions'"); the segment author writes the bare value.
    if not quoted and isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == "'":
        return value[1:-1].replace("''", "'")
    return value


def _accepted(tests: list) -> list | None:
    for test in tests or []:
        if isinstance(test, dict) and "accepted_values" in test:
            spec = test["accepted_values"] or {}
            arguments = spec.get("arguments", spec)
            values = arguments.get("values")
            if values is None:
                continue
            quoted = arguments.get("quote", True) is not False
            return [_unquote(v, quoted) for v in values]
    return None


@cache
def accepted_values(models_dir: Path = MODELS_DIR) -> dict[tuple[str, str], tuple[object, ...]]:
    """(model, column) -> the values its `accepted_values` test allows, for every model YAML under models/."""
    found: dict[tuple[str, str], tuple[object, ...]] = {}
    for path in sorted(models_dir.rglob("*.yml")):
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for model in document.get("models") or []:
            for column in model.get("columns") or []:
                values = _accepted(column.get("data_tests") or column.get("tests") or [])
                if values is not None:
                    found[(model["name"], column["name"])] = tuple(values)
    return found


def known_values(model: str, column: str) -> tuple[object, ...] | None:
    """The values `model.column` can hold, or None when the mart does not restrict them."""
    return accepted_values().get((model, column))
