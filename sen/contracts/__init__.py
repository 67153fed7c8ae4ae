"""The input contract (``sources.yml``): which files each source folder holds and what their columns mean."""

from __future__ import annotations

from datetime import date, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

CONTRACT_PATH = Path(__file__).with_name("sources.yml")

ColumnType = Literal["string", "timestamp", "date", "decimal", "integer", "boolean", "json"]

# Row-level limits the loader applies to every value (a value beyond one quarantines its row with the reason;
# see docs/input_contract.md). A column may narrow or widen them with `min`, `max` and `max_length`.
# Amounts are VND: below 0 or from 10 billion on is a sign or unit error unless the column says otherwise.
DEFAULT_MIN_AMOUNT = 0.0
DEFAULT_MAX_AMOUNT = 1e10
# The plausible window of a timestamp: nothing Sen models predates 1990 (a 1970-01-01 or 0001-01-01 is an
# unset clock), and a date more than a day after the load's real clock is a broken clock or a placeholder
# (9999-12-31); a day tolerates device clocks running ahead and naive local times read in another zone.
# Dates (a birthday, a store's opening) may go back to 1900.
EARLIEST_TIMESTAMP = date(1990, 1, 1)
EARLIEST_DATE = date(1900, 1, 1)
FUTURE_TOLERANCE = timedelta(days=1)
# Characters per value: a name, an email or an id is short; JSON payloads (event properties) may be larger.
DEFAULT_MAX_LENGTH = {"json": 65_536}
DEFAULT_MAX_TEXT_LENGTH = 4_096


class Column(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    path: str | None = None  # dotted path inside a JSON-lines record; defaults to the name
    type: ColumnType
    required: bool = False
    accepted: list[str] | None = None
    # Bounds of an integer or decimal column (a decimal defaults to [0, 10 billion)), or the earliest date of a
    # date or timestamp column (`min: 1900-01-01`); a value outside is quarantined with its row.
    min: float | date | None = None
    max: float | None = None
    max_length: int | None = Field(None, gt=0)

    @property
    def json_path(self) -> str:
        return self.path or self.name

    @property
    def bounds(self) -> tuple[float | None, float | None]:
        """Numeric bounds (inclusive minimum, exclusive maximum for decimals) of an integer or decimal column."""
        low = self.min if isinstance(self.min, int | float) else None
        if self.type == "decimal":
            return (
                DEFAULT_MIN_AMOUNT if low is None else low,
                DEFAULT_MAX_AMOUNT if self.max is None else self.max,
            )
        return (low, self.max)

    @property
    def earliest(self) -> date:
        """The earliest plausible value of a date or timestamp column."""
        if isinstance(self.min, date):
            return self.min
        return EARLIEST_DATE if self.type == "date" else EARLIEST_TIMESTAMP

    @property
    def length_limit(self) -> int:
        return self.max_length or DEFAULT_MAX_LENGTH.get(self.type, DEFAULT_MAX_TEXT_LENGTH)

    @model_validator(mode="after")
    def _bounds_fit_the_type(self) -> Column:
        numeric = self.type in ("integer", "decimal")
        if self.max is not None and not numeric:
            raise ValueError(f"column {self.name}: `max` applies to integer and decimal columns")
        if isinstance(self.min, date) and self.type not in ("date", "timestamp"):
            raise ValueError(f"column {self.name}: a date `min` applies to date and timestamp columns")
        if isinstance(self.min, int | float) and not numeric:
            raise ValueError(f"column {self.name}: a numeric `min` applies to integer and decimal columns")
        return self


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


# A source timezone that follows the business's own (CDP_TIMEZONE) rather than a fixed zone.
BUSINESS_TIMEZONE = "business"


class Source(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = ""
    # The system that exports the folder: the dbt source the table belongs to and its staging folder
    # (dbt_project/models/staging/<system>/), e.g. `shop` for orders, order lines and returns.
    system: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    description: str
    format_hint: Literal["csv", "jsonl", "parquet"]
    # The zone of the source's naive timestamps: an IANA name, or `business` for the shop's own local time
    # (CDP_TIMEZONE: orders, POS and CRM exports are written in the business's wall-clock time).
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

    def timezone_name(self, business_timezone: str) -> str:
        """The IANA zone of the source's naive timestamps (``business`` resolves to CDP_TIMEZONE)."""
        return business_timezone if self.timezone == BUSINESS_TIMEZONE else self.timezone

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
