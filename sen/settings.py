"""Every setting of Sen, read from the environment in one place: `Settings.from_env()`.

Each ``CDP_*`` variable is read here and nowhere else, with its type, default and validation; a bad value
raises ``ValueError`` naming the variable. The table in README.md ("Configuration") lists them all.

Nothing caches the values: callers read ``Settings.from_env()`` at their edge (a command, a Dagster run, a
resource set-up), so a test or an operator that changes a variable sees it on the next run. Nothing writes
the environment either: values that a run decides (its reference time, a full refresh, a dry run) travel as
arguments, run tags, run config or dbt ``--vars``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA_DIR = REPO_ROOT / "data_samples" / "sample"
DEFAULT_WAREHOUSE = REPO_ROOT / "warehouse" / "sen.duckdb"
DBT_PROJECT_DIR = REPO_ROOT / "dbt_project"
DEFAULT_PARTITIONS_START = "2024-01-01"
DEFAULT_TIMEZONE = "Asia/Ho_Chi_Minh"
DEFAULT_CURRENCY = "VND"
DEFAULT_SETTLE_SECONDS = 30.0
DEFAULT_GX_MAX_ROWS = 100_000
DQ_ENGINES = ("auto", "sql", "gx")
# Tolerances of the raw-data suites (sen.quality.suites.Thresholds) that CDP_DQ_<NAME> overrides.
DQ_THRESHOLDS = (
    "key_unique_mostly",
    "not_future_mostly",
    "max_amount",
    "well_formed_mostly",
    "well_formed_majority",
    "max_quarantine_share",
)
TRUE_WORDS = ("1", "true", "yes", "on")
FALSE_WORDS = ("0", "false", "no", "off")


def parse_as_of(value: str, name: str = "CDP_AS_OF") -> datetime:
    """A reference time: an ISO date (midnight UTC) or timestamp; an offset is honoured, naive means UTC.

    The one parser of reference times (settings, run tags, the sync engine): the result is aware, in UTC.
    """
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError as exc:
        raise ValueError(
            f"{name}={value!r} is not an ISO date or timestamp (e.g. 2026-11-20 or 2026-11-20T18:00:00Z)"
        ) from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def as_of_sql_literal(moment: datetime) -> str:
    """A reference time as dbt receives it in ``--vars``: UTC, no offset (the warehouse holds naive UTC)."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    text = moment.strftime("%Y-%m-%d %H:%M:%S")
    return f"{text}.{moment.microsecond:06d}" if moment.microsecond else text


def operator_as_of(env: Mapping[str, str] | None = None) -> datetime | None:
    """CDP_AS_OF alone, for the run clock: a bad value of another variable fails the step that reads it."""
    raw = _text(os.environ if env is None else env, "CDP_AS_OF")
    return parse_as_of(raw) if raw else None


def _text(env: Mapping[str, str], name: str) -> str | None:
    raw = env.get(name)
    if raw is None or not raw.strip():
        return None
    return raw.strip()


def _path(env: Mapping[str, str], name: str) -> Path | None:
    raw = _text(env, name)
    return Path(raw).expanduser().resolve() if raw else None


def _bool(env: Mapping[str, str], name: str) -> bool | None:
    raw = _text(env, name)
    if raw is None:
        return None
    if raw.lower() in TRUE_WORDS:
        return True
    if raw.lower() in FALSE_WORDS:
        return False
    raise ValueError(f"{name}={raw!r} is not a yes/no value ({', '.join(TRUE_WORDS + FALSE_WORDS)})")


def _number(env: Mapping[str, str], name: str, cast: type[int] | type[float]) -> int | float | None:
    raw = _text(env, name)
    if raw is None:
        return None
    try:
        return cast(raw)
    except ValueError as exc:
        kind = "an integer" if cast is int else "a number"
        raise ValueError(f"{name}={raw!r} is not {kind}") from exc


@dataclass(frozen=True)
class Settings:
    """The typed settings; see README.md ("Configuration") for what each one does."""

    data_dir: Path = DEFAULT_DATA_DIR  # CDP_DATA_DIR
    warehouse: Path = DEFAULT_WAREHOUSE  # CDP_WAREHOUSE
    as_of: datetime | None = None  # CDP_AS_OF (aware, UTC); None: the run's clock decides
    # CDP_PARTITIONS_START; None: from the data (the first day loaded, orchestration/dbt/partitions.py)
    partitions_start: str | None = None
    timezone: str = DEFAULT_TIMEZONE  # CDP_TIMEZONE: the business's calendar days (dbt and CLV)
    currency: str = DEFAULT_CURRENCY  # CDP_CURRENCY: the reporting currency of every money column
    full_refresh: bool = False  # CDP_FULL_REFRESH
    dbt_artifacts: bool = False  # CDP_DBT_ARTIFACTS
    sync_dry_run: bool | None = None  # CDP_SYNC_DRY_RUN; None: unset (the main job's CLI then runs dry)
    serving: Path | None = None  # CDP_SERVING; None: serving.duckdb next to the warehouse
    serving_parquet: bool = False  # CDP_SERVING_PARQUET
    automation: bool = False  # CDP_AUTOMATION
    sensor_settle_seconds: float = DEFAULT_SETTLE_SECONDS  # CDP_SENSOR_SETTLE_SECONDS
    run_failures_log: Path | None = (
        None  # CDP_RUN_FAILURES_LOG; None: run_failures.jsonl next to the warehouse
    )
    clv_horizon_months: int | None = None  # CDP_CLV_HORIZON_MONTHS; None: the CLV default (12)
    clv_discount_rate: float | None = None  # CDP_CLV_DISCOUNT_RATE; None: the CLV default (0.1)
    identity_config: Path | None = None  # CDP_IDENTITY_CONFIG; None: sen/identity/default_config.yml
    blocklist: Path | None = None  # CDP_BLOCKLIST; None: sen/normalize/blocklist.yml
    dq_engine: str | None = None  # CDP_DQ_ENGINE; None: the caller's default (sql for the asset checks)
    dq_gx_max_rows: int = DEFAULT_GX_MAX_ROWS  # CDP_DQ_GX_MAX_ROWS
    dq_thresholds: Mapping[str, float] = field(default_factory=dict)  # CDP_DQ_<THRESHOLD>, set ones only
    dbt_target_path: Path | None = None  # DBT_TARGET_PATH (dbt's own variable), relative to dbt_project/

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read and validate every variable (``os.environ`` unless ``env`` is given)."""
        env = os.environ if env is None else env
        partitions_start = _text(env, "CDP_PARTITIONS_START")
        if partitions_start is not None:
            try:
                date.fromisoformat(partitions_start)
            except ValueError as exc:
                raise ValueError(
                    f"CDP_PARTITIONS_START={partitions_start!r} is not an ISO date (e.g. 2024-01-01)"
                ) from exc
        timezone = _text(env, "CDP_TIMEZONE") or DEFAULT_TIMEZONE
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(
                f"CDP_TIMEZONE={timezone!r} is not an IANA time zone (e.g. Asia/Ho_Chi_Minh, Europe/Paris, UTC)"
            ) from exc
        currency = (_text(env, "CDP_CURRENCY") or DEFAULT_CURRENCY).upper()
        if not (len(currency) == 3 and currency.isascii() and currency.isalpha()):
            raise ValueError(
                f"CDP_CURRENCY={currency!r} is not an ISO 4217 code (three letters, e.g. VND, USD)"
            )
        settle = _number(env, "CDP_SENSOR_SETTLE_SECONDS", float)
        if settle is not None and settle < 0:
            raise ValueError(f"CDP_SENSOR_SETTLE_SECONDS={settle!r} is negative")
        horizon = _number(env, "CDP_CLV_HORIZON_MONTHS", int)
        if horizon is not None and horizon < 1:
            raise ValueError(f"CDP_CLV_HORIZON_MONTHS={horizon!r} is not at least 1 month")
        rate = _number(env, "CDP_CLV_DISCOUNT_RATE", float)
        if rate is not None and not rate > -1.0:  # also refuses nan
            raise ValueError(f"CDP_CLV_DISCOUNT_RATE={rate!r} is not a number > -1")
        engine = _text(env, "CDP_DQ_ENGINE")
        if engine is not None:
            engine = engine.lower()
            if engine not in DQ_ENGINES:
                raise ValueError(f"CDP_DQ_ENGINE={engine!r} is not one of {', '.join(DQ_ENGINES)}")
        gx_max_rows = _number(env, "CDP_DQ_GX_MAX_ROWS", int)
        thresholds = {}
        for name in DQ_THRESHOLDS:
            value = _number(env, f"CDP_DQ_{name.upper()}", float)
            if value is not None:
                thresholds[name] = float(value)
        target = _text(env, "DBT_TARGET_PATH")
        return cls(
            data_dir=_path(env, "CDP_DATA_DIR") or DEFAULT_DATA_DIR,
            warehouse=_path(env, "CDP_WAREHOUSE") or DEFAULT_WAREHOUSE,
            as_of=operator_as_of(env),
            partitions_start=partitions_start,
            timezone=timezone,
            currency=currency,
            full_refresh=bool(_bool(env, "CDP_FULL_REFRESH")),
            dbt_artifacts=bool(_bool(env, "CDP_DBT_ARTIFACTS")),
            sync_dry_run=_bool(env, "CDP_SYNC_DRY_RUN"),
            serving=_path(env, "CDP_SERVING"),
            serving_parquet=bool(_bool(env, "CDP_SERVING_PARQUET")),
            automation=bool(_bool(env, "CDP_AUTOMATION")),
            sensor_settle_seconds=DEFAULT_SETTLE_SECONDS if settle is None else float(settle),
            run_failures_log=_path(env, "CDP_RUN_FAILURES_LOG"),
            clv_horizon_months=None if horizon is None else int(horizon),
            clv_discount_rate=None if rate is None else float(rate),
            identity_config=_path(env, "CDP_IDENTITY_CONFIG"),
            blocklist=_path(env, "CDP_BLOCKLIST"),
            dq_engine=engine,
            dq_gx_max_rows=DEFAULT_GX_MAX_ROWS if gx_max_rows is None else int(gx_max_rows),
            dq_thresholds=thresholds,
            dbt_target_path=DBT_PROJECT_DIR / target if target else None,  # absolute stays absolute
        )

    def dbt_business_vars(self) -> dict[str, str]:
        """The settings dbt reads as vars: the business time zone and the reporting currency."""
        return {"business_timezone": self.timezone, "default_currency": self.currency}

    @property
    def first_day_path(self) -> Path:
        """Where the ingestion records the first day of the loaded data (the first daily partition)."""
        return self.warehouse.with_name(self.warehouse.name + ".first_day")

    @property
    def serving_path(self) -> Path:
        return self.serving or self.warehouse.with_name("serving.duckdb")

    @property
    def run_failures_path(self) -> Path:
        return self.run_failures_log or self.warehouse.with_name("run_failures.jsonl")
