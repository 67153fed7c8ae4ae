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
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA_DIR = REPO_ROOT / "data_samples" / "sample"
DEFAULT_WAREHOUSE = REPO_ROOT / "warehouse" / "sen.duckdb"
DBT_PROJECT_DIR = REPO_ROOT / "dbt_project"
DEFAULT_TIMEZONE = "Asia/Ho_Chi_Minh"
DEFAULT_CURRENCY = "VND"
DEFAULT_SETTLE_SECONDS = 30.0
DEFAULT_LIVE_INTERVAL_SECONDS = 180  # the live lane's cycle (orchestration/live.py)
DEFAULT_GX_MAX_ROWS = 100_000
DQ_ENGINES = ("auto", "sql", "gx")
ENGINES = ("duckdb", "spark")  # CDP_ENGINE: where the models run (docs/spark.md)
DEFAULT_ENGINE = "duckdb"
DEFAULT_SPARK_MASTER = "local[2]"
# Tolerances of the raw-data suites (sen.quality.suites.Thresholds) that CDP_DQ_<NAME> overrides.
DQ_THRESHOLDS = (
    "key_unique_mostly",
    "not_future_mostly",
    "max_amount",
    "well_formed_mostly",
    "well_formed_majority",
    "max_quarantine_share",
)
MIN_SALT_LENGTH = 16  # CDP_ERASURE_SALT
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
    timezone: str = DEFAULT_TIMEZONE  # CDP_TIMEZONE: the business's calendar days (dbt and CLV)
    currency: str = DEFAULT_CURRENCY  # CDP_CURRENCY: the reporting currency of every money column
    full_refresh: bool = False  # CDP_FULL_REFRESH
    dbt_artifacts: bool = False  # CDP_DBT_ARTIFACTS
    dbt_runs_kept: int = 1  # CDP_DBT_RUNS_KEPT: dbt folders of past command-line runs kept (logs, artifacts)
    warehouse_lock_wait: float = 0.0  # CDP_WAREHOUSE_LOCK_WAIT: seconds a build waits for another writer
    warehouse_reader_wait: float = 120.0  # CDP_WAREHOUSE_READER_WAIT: seconds a build waits for readers
    sync_dry_run: bool | None = None  # CDP_SYNC_DRY_RUN; None: unset (the main job's CLI then runs dry)
    serving: Path | None = None  # CDP_SERVING; None: serving.duckdb next to the warehouse
    serving_parquet: bool = False  # CDP_SERVING_PARQUET
    automation: bool = False  # CDP_AUTOMATION
    sensor_settle_seconds: float = DEFAULT_SETTLE_SECONDS  # CDP_SENSOR_SETTLE_SECONDS
    live_interval_seconds: int = DEFAULT_LIVE_INTERVAL_SECONDS  # CDP_LIVE_INTERVAL_SECONDS
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
    engine: str = DEFAULT_ENGINE  # CDP_ENGINE: duckdb (one machine) or spark (dbt-spark, docs/spark.md)
    spark_master: str = DEFAULT_SPARK_MASTER  # CDP_SPARK_MASTER: the local session's master, e.g. local[2]
    spark_warehouse: Path | None = None  # CDP_SPARK_WAREHOUSE; None: spark-warehouse/ next to the warehouse
    # CDP_ERASURE_SALT: secret salt of the erased persons' suppression hashes (sen.privacy); never printed
    erasure_salt: str | None = field(default=None, repr=False)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read and validate every variable (``os.environ`` unless ``env`` is given)."""
        env = os.environ if env is None else env
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
        live_interval = _number(env, "CDP_LIVE_INTERVAL_SECONDS", int)
        if live_interval is not None and live_interval < 30:
            raise ValueError(f"CDP_LIVE_INTERVAL_SECONDS={live_interval!r} is under 30 seconds")
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
        runs_kept = _number(env, "CDP_DBT_RUNS_KEPT", int)
        if runs_kept is not None and runs_kept < 0:
            raise ValueError(f"CDP_DBT_RUNS_KEPT={runs_kept!r} is negative")
        waits = {}
        for name in ("CDP_WAREHOUSE_LOCK_WAIT", "CDP_WAREHOUSE_READER_WAIT"):
            value = _number(env, name, float)
            if value is not None and not value >= 0:  # also refuses nan
                raise ValueError(f"{name}={value!r} is not a number of seconds >= 0")
            waits[name] = value
        engine_name = (_text(env, "CDP_ENGINE") or DEFAULT_ENGINE).lower()
        if engine_name not in ENGINES:
            raise ValueError(f"CDP_ENGINE={engine_name!r} is not one of {', '.join(ENGINES)}")
        erasure_salt = env.get("CDP_ERASURE_SALT") or None
        if erasure_salt is not None and len(erasure_salt) < MIN_SALT_LENGTH:
            raise ValueError(
                f"CDP_ERASURE_SALT is shorter than {MIN_SALT_LENGTH} characters: use a long random secret "
                "(e.g. `openssl rand -hex 32`)"
            )
        return cls(
            data_dir=_path(env, "CDP_DATA_DIR") or DEFAULT_DATA_DIR,
            warehouse=_path(env, "CDP_WAREHOUSE") or DEFAULT_WAREHOUSE,
            as_of=operator_as_of(env),
            timezone=timezone,
            currency=currency,
            full_refresh=bool(_bool(env, "CDP_FULL_REFRESH")),
            dbt_artifacts=bool(_bool(env, "CDP_DBT_ARTIFACTS")),
            dbt_runs_kept=1 if runs_kept is None else int(runs_kept),
            warehouse_lock_wait=float(waits["CDP_WAREHOUSE_LOCK_WAIT"] or 0.0),
            warehouse_reader_wait=120.0
            if waits["CDP_WAREHOUSE_READER_WAIT"] is None
            else float(waits["CDP_WAREHOUSE_READER_WAIT"]),
            sync_dry_run=_bool(env, "CDP_SYNC_DRY_RUN"),
            serving=_path(env, "CDP_SERVING"),
            serving_parquet=bool(_bool(env, "CDP_SERVING_PARQUET")),
            automation=bool(_bool(env, "CDP_AUTOMATION")),
            sensor_settle_seconds=DEFAULT_SETTLE_SECONDS if settle is None else float(settle),
            live_interval_seconds=DEFAULT_LIVE_INTERVAL_SECONDS
            if live_interval is None
            else int(live_interval),
            run_failures_log=_path(env, "CDP_RUN_FAILURES_LOG"),
            clv_horizon_months=None if horizon is None else int(horizon),
            clv_discount_rate=None if rate is None else float(rate),
            identity_config=_path(env, "CDP_IDENTITY_CONFIG"),
            blocklist=_path(env, "CDP_BLOCKLIST"),
            dq_engine=engine,
            dq_gx_max_rows=DEFAULT_GX_MAX_ROWS if gx_max_rows is None else int(gx_max_rows),
            dq_thresholds=thresholds,
            dbt_target_path=DBT_PROJECT_DIR / target if target else None,  # absolute stays absolute
            engine=engine_name,
            spark_master=_text(env, "CDP_SPARK_MASTER") or DEFAULT_SPARK_MASTER,
            spark_warehouse=_path(env, "CDP_SPARK_WAREHOUSE"),
            erasure_salt=erasure_salt,
        )

    def dbt_business_vars(self) -> dict[str, str]:
        """The settings dbt reads as vars: the business time zone and the reporting currency."""
        return {"business_timezone": self.timezone, "default_currency": self.currency}

    @property
    def spark_warehouse_path(self) -> Path:
        """The local Spark session's table directory (plain Parquet tables; a metastore_db lives beside it)."""
        return self.spark_warehouse or self.warehouse.with_name("spark-warehouse")

    @property
    def warehouse_lock_path(self) -> Path:
        """The writers' lock file beside the warehouse (sen/warehouse_lock.py)."""
        return self.warehouse.with_name(self.warehouse.name + ".lock")

    @property
    def serving_path(self) -> Path:
        return self.serving or self.warehouse.with_name("serving.duckdb")

    @property
    def run_failures_path(self) -> Path:
        return self.run_failures_log or self.warehouse.with_name("run_failures.jsonl")


# --- the event collector (sen collect, docs/collect.md) ------------------------------------------------
# Read apart from Settings: only the collector needs its write keys, so other commands do not require them.
# The variables are documented in the README table and docs/collect.md.

SOURCE_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class CollectSettingsError(ValueError):
    """A collector setting is missing or malformed; the message names the variable (never a key's value)."""


def _collect_int(env: Mapping[str, str], name: str, default: int, minimum: int = 0) -> int:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw.strip())
    except ValueError as exc:
        raise CollectSettingsError(f"{name}={raw!r} is not an integer") from exc
    if value < minimum:
        raise CollectSettingsError(f"{name}={value} is below the minimum {minimum}")
    return value


def parse_write_keys(raw: str, variable: str = "CDP_COLLECT_WRITE_KEYS") -> dict[str, str]:
    """``web=KEY,ios=KEY`` -> {KEY: source}. Errors name the entry's position and source, never the key."""
    keys: dict[str, str] = {}
    for position, entry in enumerate((e.strip() for e in raw.split(",")), start=1):
        if not entry:
            continue
        source, sep, key = entry.partition("=")
        source, key = source.strip(), key.strip()
        if not sep or not key:
            raise CollectSettingsError(f"{variable}: entry {position} is not of the form source=writeKey")
        if not SOURCE_NAME.match(source):
            raise CollectSettingsError(
                f"{variable}: entry {position}: source name {source!r} must be letters, digits, '_' or '-'"
            )
        if key in keys:
            raise CollectSettingsError(
                f"{variable}: entry {position} ({source}) repeats the write key of source {keys[key]!r}"
            )
        keys[key] = source
    if not keys:
        raise CollectSettingsError(
            f"{variable} is empty: set one write key per source, e.g. web=...,ios=...,android=...,server=..."
        )
    return keys


@dataclass(frozen=True)
class CollectSettings:
    write_keys: dict[str, str]  # write key -> source name
    landing_dir: Path
    host: str = "127.0.0.1"
    port: int = 8088
    workers: int = 1
    segment_max_bytes: int = 64 << 20
    segment_max_seconds: float = 60.0
    max_pending_bytes: int = 32 << 20
    min_free_bytes: int = 1 << 30
    cors_origins: tuple[str, ...] = ("*",)

    def __repr__(self) -> str:  # the keys stay out of logs and tracebacks
        sources = sorted(set(self.write_keys.values()))
        return (
            f"CollectSettings(sources={sources}, landing_dir={str(self.landing_dir)!r}, host={self.host!r}, "
            f"port={self.port}, workers={self.workers}, segment_max_bytes={self.segment_max_bytes}, "
            f"segment_max_seconds={self.segment_max_seconds}, max_pending_bytes={self.max_pending_bytes}, "
            f"min_free_bytes={self.min_free_bytes}, cors_origins={list(self.cors_origins)})"
        )

    __str__ = __repr__

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> CollectSettings:
        env = os.environ if env is None else env
        raw_keys = env.get("CDP_COLLECT_WRITE_KEYS", "")
        if not raw_keys.strip():
            raise CollectSettingsError(
                "CDP_COLLECT_WRITE_KEYS is not set: give one write key per source, "
                "e.g. CDP_COLLECT_WRITE_KEYS=web=...,ios=...,android=...,server=..."
            )
        landing = env.get("CDP_COLLECT_LANDING_DIR") or ""
        if not landing.strip():
            data_dir = env.get("CDP_DATA_DIR") or ""
            if not data_dir.strip():
                raise CollectSettingsError(
                    "set CDP_DATA_DIR (events land in $CDP_DATA_DIR/events, the folder the ingestion reads) "
                    "or CDP_COLLECT_LANDING_DIR; the collector never writes into the committed sample"
                )
            landing = str(Path(data_dir) / "events")
        origins = tuple(o.strip() for o in env.get("CDP_COLLECT_CORS_ORIGINS", "*").split(",") if o.strip())
        return cls(
            write_keys=parse_write_keys(raw_keys),
            landing_dir=Path(landing).expanduser().resolve(),
            host=env.get("CDP_COLLECT_HOST", "127.0.0.1").strip() or "127.0.0.1",
            port=_collect_int(env, "CDP_COLLECT_PORT", 8088, minimum=0),
            workers=_collect_int(env, "CDP_COLLECT_WORKERS", 1, minimum=1),
            segment_max_bytes=_collect_int(env, "CDP_COLLECT_SEGMENT_MAX_BYTES", 64 << 20, minimum=1),
            segment_max_seconds=float(_collect_int(env, "CDP_COLLECT_SEGMENT_MAX_SECONDS", 60, minimum=1)),
            max_pending_bytes=_collect_int(env, "CDP_COLLECT_MAX_PENDING_BYTES", 32 << 20, minimum=1),
            min_free_bytes=_collect_int(env, "CDP_COLLECT_MIN_FREE_BYTES", 1 << 30, minimum=0),
            cors_origins=origins or ("*",),
        )
