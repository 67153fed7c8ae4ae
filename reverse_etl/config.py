"""Sync definitions: one YAML file per sync, validated with pydantic on load.

Example (reverse_etl/syncs/meta_retargeting.yml):

    name: meta_retargeting
    model: audience_meta_retargeting        # dbt model = Dagster asset key; the table read in DuckDB
    primary_key: person_id
    mode: add_remove                    # upsert | add_remove | mirror | insert | replace
    schedule: "0 3 * * *"
    mapping: {EMAIL: email, PHONE: phone, FN: first_name, LN: last_name, COUNTRY: country}
    destination:
      type: meta_custom_audiences
      audience_id: "23851234567890123"
      token_env: META_ACCESS_TOKEN      # secrets only through environment variables
      base_url_env: META_GRAPH_BASE_URL

Errors name the file and the field: `syncs/meta_retargeting.yml: destination.audience_id: Field required`.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from reverse_etl.destinations import AnyDestination, destination_types
from reverse_etl.destinations.base import FieldSpec, validate_transform_name
from reverse_etl.errors import SyncConfigError
from reverse_etl.identifiers import DEFAULT_REGION

Mode = Literal["upsert", "add_remove", "mirror", "insert", "replace"]
_NAME = re.compile(r"[a-z][a-z0-9_]{0,62}")
_CAMPAIGN = re.compile(r"[a-z][a-z0-9_]{0,40}")  # as campaign names in dbt_project/campaigns.yml
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*){0,2}")


_CRON_FIELDS = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 7))  # minute hour day-of-month month day-of-week
_CRON_NAMES = (
    {},
    {},
    {},
    {
        m: i + 1
        for i, m in enumerate(
            ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
        )
    },
    {d: i for i, d in enumerate(["sun", "mon", "tue", "wed", "thu", "fri", "sat"])},
)
_CRON_ALIASES = {"@hourly", "@daily", "@midnight", "@weekly", "@monthly", "@yearly", "@annually"}


def _valid_cron(expr: str) -> bool:
    """Standard 5-field cron (ranges, steps, lists, month/day names) or an @alias, as Dagster accepts.

    Checked here so a bad schedule is reported with the sync file on load, without importing Dagster."""
    expr = expr.strip()
    if expr in _CRON_ALIASES:
        return True
    parts = expr.split()
    if len(parts) != 5:
        return False

    def value(token: str, i: int) -> int | None:
        token = token.lower()
        if token in _CRON_NAMES[i]:
            return _CRON_NAMES[i][token]
        if not token.isdigit():
            return None
        n = int(token)
        lo, hi = _CRON_FIELDS[i]
        return n if lo <= n <= hi else None

    for i, part in enumerate(parts):
        for item in part.split(","):
            base, _, step = item.partition("/")
            if step and (not step.isdigit() or int(step) == 0):
                return False
            if base == "*":
                continue
            lo, dash, hi = base.partition("-")
            first = value(lo, i)
            if first is None or (dash and (value(hi, i) is None or value(hi, i) < first)):  # type: ignore[operator]
                return False
    return True


class FieldMapping(BaseModel):
    """A destination field fed by a column, optionally through a named transform."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    column: str
    transform: str | None = None

    @field_validator("column")
    @classmethod
    def _column_is_identifier(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", value):
            raise ValueError(f"column {value!r} is not a plain column name")
        return value

    @field_validator("transform")
    @classmethod
    def _known_transform(cls, value: str | None) -> str | None:
        return None if value is None else validate_transform_name(value)


class SyncConfig(BaseModel):
    """One sync: an audience table, a destination, a mode, a mapping, a schedule, a primary key."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    model: str = Field(description="dbt model name: the Dagster asset key and, by default, the table")
    relation: str | None = Field(None, description="table to read when it differs from `model`")
    asset_key: list[str] | None = Field(
        None, description="Dagster asset key of the model, if not the default"
    )
    primary_key: str
    person_id_column: str | None = None
    mode: Mode
    schedule: str
    schedule_timezone: str = "Asia/Ho_Chi_Minh"
    mapping: dict[str, FieldMapping]
    destination: AnyDestination
    campaign: str | None = None
    # The primary key is an idempotency key (e.g. person + cart + reminder stage): sent at most once, ever.
    # A key the message outbox holds as sent for this sync is never sent again, even after it left the
    # audience and came back (the diff state alone forgets keys that leave); its message key is stable.
    send_once: bool = False
    # Also run by the live lane every few minutes (orchestration/live.py), not only on its own schedule.
    live: bool = False
    default_region: str = DEFAULT_REGION
    dry_run: bool = False
    strict_phone_validation: bool = False  # parse every phone with phonenumbers, even canonical E.164
    description: str = ""
    source_file: str | None = Field(None, exclude=True)

    @field_validator("mapping", mode="before")
    @classmethod
    def _mapping_shorthand(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: ({"column": v} if isinstance(v, str) else v) for k, v in value.items()}
        return value

    @field_validator("name")
    @classmethod
    def _name_is_safe(cls, value: str) -> str:
        if not _NAME.fullmatch(value):
            raise ValueError("must be lowercase letters, digits and '_' starting with a letter (max 63)")
        return value

    @field_validator("model", "relation", "primary_key", "person_id_column")
    @classmethod
    def _identifier(cls, value: str | None) -> str | None:
        if value is not None and not _IDENT.fullmatch(value):
            raise ValueError(f"{value!r} is not a plain SQL identifier")
        return value

    @field_validator("schedule")
    @classmethod
    def _cron(cls, value: str) -> str:
        if not _valid_cron(value):
            raise ValueError(f"{value!r} is not a valid cron string")
        return value

    @field_validator("default_region")
    @classmethod
    def _region(cls, value: str) -> str:
        import phonenumbers

        value = value.upper()
        if value not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError(f"{value!r} is not a region phonenumbers knows")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> SyncConfig:
        dest = self.destination
        if self.mode not in dest.supported_modes:
            raise ValueError(
                f"mode: {self.mode!r} is not supported by destination type {dest.type!r} "
                f"(supported: {', '.join(sorted(dest.supported_modes))})"
            )
        if not self.mapping:
            raise ValueError("mapping: at least one field must be mapped")
        for name, fm in self.mapping.items():
            if dest.field_spec(name) is None:
                raise ValueError(
                    f"mapping.{name}: unknown field for {dest.type!r} (allowed: {dest.allowed_fields_hint()})"
                )
            if fm.transform and not dest.allow_custom_transforms:
                raise ValueError(f"mapping.{name}.transform: {dest.type!r} fixes its own transforms")
        if dest.match_groups and not any(set(g) <= set(self.mapping) for g in dest.match_groups):
            groups = " | ".join("+".join(g) for g in dest.match_groups)
            raise ValueError(f"mapping: needs at least one identifier for {dest.type!r}: {groups}")
        dest.check_campaign(self.campaign)
        if self.send_once and self.mode != "insert":
            raise ValueError("send_once: only for mode insert (a message destination, one message per key)")
        if self.campaign and not _CAMPAIGN.fullmatch(self.campaign):
            raise ValueError("campaign: lowercase letters, digits and '_' starting with a letter (max 41)")
        dest.check_sync(self.mode, frozenset(self.mapping))  # the destination's own rules
        return self

    # ------------------------------------------------------------------ derived
    @property
    def ledger_channel(self) -> str | None:
        """Channel of the contact ledger rows this sync writes, None when it causes no message."""
        return self.destination.ledger_channel()

    @property
    def person_column(self) -> str:
        return self.person_id_column or self.primary_key

    @property
    def fields(self) -> tuple[str, ...]:
        return tuple(self.mapping)

    def field_rule(self, name: str) -> FieldSpec:
        spec = self.destination.field_spec(name)
        assert spec is not None  # validated on load
        override = self.mapping[name].transform
        return FieldSpec(override, spec.match_key) if override else spec

    def fingerprint(self) -> str:
        """Changes when what is sent per row changes (mapping, transforms, region): forces a resend."""
        spec = {
            "mapping": {k: [v.column, self.field_rule(k).transform] for k, v in self.mapping.items()},
            "region": self.default_region,
            "strict_phone": self.strict_phone_validation,
            "destination": self.destination.type,
        }
        return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]

    @property
    def where(self) -> str:
        return self.source_file or f"sync {self.name!r}"


def _format_validation_error(path: str, exc: ValidationError, discriminators: set[str]) -> str:
    lines = []
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ()) if str(p) not in discriminators]
        msg = err.get("msg", "invalid")
        if msg.startswith("Value error, "):
            msg = msg[len("Value error, ") :]
        where = ".".join(loc)
        lines.append(f"{path}: {where + ': ' if where else ''}{msg}")
    return "\n".join(lines)


def parse_sync(data: Any, *, source: str) -> SyncConfig:
    """Validate one sync definition (already parsed YAML); errors name `source` and the field."""
    if not isinstance(data, dict):
        raise SyncConfigError(f"{source}: expected a mapping of sync settings, got {type(data).__name__}")
    try:
        return SyncConfig.model_validate({**data, "source_file": source})
    except ValidationError as exc:
        raise SyncConfigError(_format_validation_error(source, exc, destination_types())) from None


def load_sync(path: str | Path) -> SyncConfig:
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise SyncConfigError(f"{path}:{where} invalid YAML: {getattr(exc, 'problem', exc)}") from None
    return parse_sync(data, source=str(path))


def load_syncs(folder: str | Path) -> list[SyncConfig]:
    """Every *.yml / *.yaml sync in `folder`, sorted by file name; names must be unique."""
    folder = Path(folder)
    if not folder.is_dir():
        raise SyncConfigError(f"{folder}: sync folder does not exist")
    syncs: list[SyncConfig] = []
    seen: dict[str, str] = {}
    errors: list[str] = []
    for path in sorted([*folder.glob("*.yml"), *folder.glob("*.yaml")]):
        try:
            sync = load_sync(path)
        except SyncConfigError as exc:
            errors.append(str(exc))
            continue
        if sync.name in seen:
            errors.append(f"{path}: name: {sync.name!r} is already used by {seen[sync.name]}")
            continue
        seen[sync.name] = str(path)
        syncs.append(sync)
    if errors:
        raise SyncConfigError("\n".join(errors))
    return syncs
