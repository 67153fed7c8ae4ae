"""The fields segment definitions may use: profiles (one row per person) and collections (many rows)."""

from __future__ import annotations

from enum import StrEnum
from functools import cache
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, model_validator

CATALOG_PATH = Path(__file__).with_name("fields.yml")


class FieldType(StrEnum):
    boolean = "boolean"
    integer = "integer"
    number = "number"
    text = "text"
    timestamp = "timestamp"
    date = "date"


class Profile(BaseModel):
    """A model with at most one row per person, joined on person_id."""

    model_config = ConfigDict(extra="forbid")

    model: str
    description: str
    fields: dict[str, FieldType]


class Collection(BaseModel):
    """A model with many rows per person; `time` is the column time windows filter on."""

    model_config = ConfigDict(extra="forbid")

    model: str
    description: str
    time: str | None = None
    fields: dict[str, FieldType]

    @model_validator(mode="after")
    def _time_is_a_timestamp_field(self) -> Collection:
        if self.time is not None and self.fields.get(self.time) not in (FieldType.timestamp, FieldType.date):
            raise ValueError(f"time column {self.time!r} must be a timestamp or date field of the collection")
        return self


class Catalog(BaseModel):
    model_config = ConfigDict(extra="forbid")

    profiles: dict[str, Profile]
    collections: dict[str, Collection]

    def profile_field(self, qualified: str) -> tuple[str, str, FieldType] | None:
        """`value.recency_days` -> ('value', 'recency_days', integer), or None when unknown."""
        profile, _, column = qualified.partition(".")
        entry = self.profiles.get(profile)
        if entry is None or column not in entry.fields:
            return None
        return profile, column, entry.fields[column]

    def profile_field_names(self) -> list[str]:
        return [f"{p}.{c}" for p, entry in self.profiles.items() for c in entry.fields]


@cache
def load_catalog(path: Path = CATALOG_PATH) -> Catalog:
    with path.open(encoding="utf-8") as handle:
        return Catalog.model_validate(yaml.safe_load(handle))
