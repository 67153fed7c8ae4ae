"""The input contract (``sources.yml``): which files each source folder holds and what their columns mean."""

from __future__ import annotations

from datetime import timedelta
from functools import lru_cache
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

CONTRACT_PATH = Path(__file__).with_name("sources.yml")

ColumnType = Literal["string", "timestamp", "date", "decimal", "integer", "boolean", "json"]


class Column(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    path: str | None = None  # dotted path inside a JSON-lines record; defaults to the name
    type: ColumnType
    required: bool = False
    accepted: list[str] | None = None

    @property
    def json_path(self) -> str:
        return self.path or self.name


FreshnessPeriod = Literal["minute", "hour", "day"]
PERIOD_SECONDS: dict[str, int] = {"minute": 60, "hour": 3600, "day": 86400}


class FreshnessThreshold(BaseModel):
    """A duration in dbt's source-freshness form: ``{count: 30, period: hour}``."""

    model_config = ConfigDict(extra="forbid")

    count: int = Field(gt=0)
    period: FreshnessPeriod

    @property
    def delta(self) -> timedelta:
        return timedelta(seconds=self.count * PERIOD_SECONDS[self.period])

    def __str__(self) -> str:
        return f"{self.count} {self.period}{'s' if self.count != 1 else ''}"


class Freshness(BaseModel):
    """How long after the latest load (``_loaded_at``) a source is stale: a warning, then an error."""

    model_config = ConfigDict(extra="forbid")

    warn_after: FreshnessThreshold
    error_after: FreshnessThreshold

    @model_validator(mode="after")
    def _warn_before_error(self) -> Freshness:
        if self.warn_after.delta >= self.error_after.delta:
            raise ValueError(
                f"freshness: warn_after ({self.warn_after}) must be shorter than error_after ({self.error_after})"
            )
        return self


class Source(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = ""
    # The system that exports the folder: the dbt source the table belongs to and its staging folder
    # (dbt_project/models/staging/<system>/), e.g. `shop` for orders, order lines and returns.
    system: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    description: str
    format_hint: Literal["csv", "jsonl", "parquet"]
    timezone: str = "UTC"
    key: list[str]
    # Rows of one file sharing a key must agree (else all of them are quarantined as conflicting), unless the
    # source's duplicates are expected to differ (event retries carry the same id with a new sentAt).
    duplicates_may_differ: bool = False
    # Every source says when its data is overdue (checked by dbt source freshness and a Dagster asset check).
    freshness: Freshness
    columns: list[Column]

    @model_validator(mode="after")
    def _key_columns_exist(self) -> Source:
        names = {c.name for c in self.columns}
        missing = [k for k in self.key if k not in names]
        if missing:
            raise ValueError(f"key columns {missing} are not declared columns")
        return self

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def required_columns(self) -> list[Column]:
        return [c for c in self.columns if c.required]


class Contract(BaseModel):
    version: int
    sources: dict[str, Source] = Field(default_factory=dict)


@lru_cache(maxsize=1)
def load_contract(path: Path = CONTRACT_PATH) -> Contract:
    contract = Contract.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
    for name, source in contract.sources.items():
        source.name = name
    return contract


def source_names() -> list[str]:
    return list(load_contract().sources)
