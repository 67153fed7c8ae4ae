"""Load and validate the segment definition files (dbt_project/segments/*.yml).

Every problem is reported at once, each naming the file, the segment and the path of the bad key, e.g.
``dbt_project/segments/winback.yml: segment 'winback_inactive': where.all[1].field: unknown field
'value.recncy_days': profile 'value' has no column 'recncy_days' (known: ...)``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from sen.config import DBT_PROJECT_DIR, REPO_ROOT
from sen.segments.catalog import Catalog, load_catalog
from sen.segments.definitions import CONDITION_KEYS, SegmentDefinition, SegmentFile
from sen.segments.validation import SegmentValidator

SEGMENTS_DIR = DBT_PROJECT_DIR / "segments"


class SegmentDefinitionError(ValueError):
    """One or more segment definitions are invalid; `problems` lists each with file, segment and path."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__(
            f"{len(self.problems)} problem(s) in segment definitions:\n  " + "\n  ".join(self.problems)
        )


@dataclass(frozen=True)
class LoadedSegment:
    definition: SegmentDefinition
    path: Path

    @property
    def name(self) -> str:
        return self.definition.name


def display_path(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(REPO_ROOT))
    except ValueError:
        return str(path)


def format_location(loc: Iterable[Any]) -> str:
    """A pydantic error location as a readable path, without the condition-kind tags pydantic inserts."""
    parts: list[str] = []
    expect_tag = False
    previous: Any = None
    for item in loc:
        if expect_tag and item in CONDITION_KEYS:
            expect_tag = False
            continue
        expect_tag = False
        if isinstance(item, int):
            parts.append(f"[{item}]")
            expect_tag = previous in ("all", "any")
        else:
            parts.append(f".{item}" if parts else str(item))
            expect_tag = item in ("where", "not")
        previous = item
    return "".join(parts) or "(top level)"


def format_validation_error(error: ValidationError) -> list[str]:
    messages = []
    for err in error.errors():
        loc = format_location(err["loc"])
        kind = err["type"]
        if kind == "extra_forbidden":
            message = f"unknown key {err['loc'][-1]!r}"
            loc = format_location(err["loc"][:-1])
        elif kind == "missing":
            message = "a required key is missing"
        elif kind == "condition":
            given = err.get("input")
            got = (
                f" (got keys: {', '.join(map(str, given))})"
                if isinstance(given, dict)
                else f" (got {given!r})"
            )
            message = err["msg"] + got
        elif kind == "value_error":
            message = str(err["ctx"]["error"]) if "ctx" in err else err["msg"]
        else:
            message = f"{err['msg']} (got {err.get('input')!r})"
        messages.append(f"{loc}: {message}")
    return messages


def _read_yaml(path: Path) -> Any:
    try:
        with path.open(encoding="utf-8") as handle:
            return yaml.safe_load(handle)
    except yaml.YAMLError as exc:
        raise SegmentDefinitionError([f"{display_path(path)}: not valid YAML: {exc}"]) from exc


def parse_file(path: Path, catalog: Catalog) -> tuple[list[LoadedSegment], list[str]]:
    """The valid segments of one file and the problems of the others."""
    shown = display_path(path)
    try:
        raw = _read_yaml(path)
    except SegmentDefinitionError as exc:
        return [], exc.problems
    try:
        SegmentFile.model_validate(raw)
    except ValidationError as exc:
        return [], [f"{shown}: {m}" for m in format_validation_error(exc)]
    validator = SegmentValidator(catalog)
    loaded: list[LoadedSegment] = []
    problems: list[str] = []
    for i, item in enumerate(raw["segments"]):
        label = (
            f"segment {item['name']!r}" if isinstance(item, dict) and "name" in item else f"segment #{i + 1}"
        )
        try:
            definition = SegmentDefinition.model_validate(item)
        except ValidationError as exc:
            problems += [f"{shown}: {label}: {m}" for m in format_validation_error(exc)]
            continue
        found = validator.check(definition)
        if found:
            problems += [f"{shown}: {label}: {m}" for m in found]
        else:
            loaded.append(LoadedSegment(definition, path))
    return loaded, problems


def load_segments(paths: Iterable[Path] | None = None, catalog: Catalog | None = None) -> list[LoadedSegment]:
    """Every segment of the given files (default: dbt_project/segments/*.yml), sorted by name.

    Raises SegmentDefinitionError listing every problem: invalid keys, unknown fields or operators,
    values of the wrong type, and segment names defined twice.
    """
    catalog = catalog or load_catalog()
    files = sorted(paths) if paths is not None else sorted(SEGMENTS_DIR.glob("*.yml"))
    loaded: list[LoadedSegment] = []
    problems: list[str] = []
    for path in files:
        segments, found = parse_file(Path(path), catalog)
        loaded += segments
        problems += found
    seen: dict[str, LoadedSegment] = {}
    for segment in loaded:
        first = seen.setdefault(segment.name, segment)
        if first is not segment:
            problems.append(
                f"{display_path(segment.path)}: segment {segment.name!r}: name already defined in "
                f"{display_path(first.path)}"
            )
    if problems:
        raise SegmentDefinitionError(problems)
    return sorted(loaded, key=lambda s: s.name)
