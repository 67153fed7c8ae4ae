"""Campaigns, frequency caps and program settings (dbt_project/campaigns.yml), validated with pydantic.

A campaign sends one segment to one channel (or to each person's best channel), split into variants and a
control group by a deterministic hash of (campaign, person). Frequency caps bound the messages per person and
channel (or in total) over rolling windows ending at the reference time, counted from sync.contact_ledger.
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from sen.config import DBT_PROJECT_DIR
from sen.segments.catalog import Catalog, FieldType
from sen.segments.loader import SegmentDefinitionError, display_path, format_validation_error

CAMPAIGNS_PATH = DBT_PROJECT_DIR / "campaigns.yml"
NAME_PATTERN = r"^[a-z][a-z0-9_]{0,40}$"
SHARE_TOLERANCE = 1e-9


class Channel(StrEnum):
    email = "email"
    push = "push"
    sms = "sms"
    zalo = "zalo"
    ads = "ads"


MESSAGING_CHANNELS = (Channel.email, Channel.push, Channel.sms, Channel.zalo)


class Destination(StrEnum):
    """Destination types; each audience model is audience_<campaign>_<destination>."""

    email = "email"
    push = "push"
    sms = "sms"
    zalo = "zalo"
    meta = "meta"
    google = "google"


DESTINATION_CHANNEL = {
    Destination.email: Channel.email,
    Destination.push: Channel.push,
    Destination.sms: Channel.sms,
    Destination.zalo: Channel.zalo,
    Destination.meta: Channel.ads,
    Destination.google: Channel.ads,
}


# What each variant must define for a destination type.
VARIANT_CONTENT = {
    Destination.email: ("template",),
    Destination.push: ("title", "body"),
    Destination.sms: ("body",),
    Destination.zalo: ("template",),
    Destination.meta: (),
    Destination.google: (),
}


class Period(StrEnum):
    day = "day"
    week = "week"
    month = "month"


PERIOD_DAYS = {Period.day: 1, Period.week: 7, Period.month: 30}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Variant(_Strict):
    name: str = Field(pattern=r"^[a-z][a-z0-9_]{0,30}$")
    share: float = Field(gt=0, le=1)
    template: str | None = Field(default=None, description="template id at the destination (email, zalo)")
    title: str | None = Field(default=None, description="push title")
    body: str | None = Field(default=None, description="push or sms text")

    @model_validator(mode="after")
    def _not_control(self) -> Variant:
        if self.name == "control":
            raise ValueError("'control' is reserved for the control group; set control_share instead")
        return self


class Campaign(_Strict):
    name: str = Field(pattern=NAME_PATTERN)
    description: str = Field(min_length=1)
    owner: str = Field(min_length=1)
    segment: str
    channel: Channel | None = Field(default=None, description="a fixed channel; null with best_channel: true")
    best_channel: bool = Field(default=False, description="send on each person's best eligible channel")
    destinations: list[Destination] = Field(min_length=1)
    promotional: bool = Field(default=True, description="promotional sends skip people with an open ticket")
    priority: int = Field(default=100, ge=0, description="lower is served first when caps allow only some")
    frequency_capped: bool | None = Field(default=None, description="default: true for messaging channels")
    control_share: float = Field(default=0.0, ge=0, lt=1)
    variants: list[Variant] = Field(min_length=1)
    properties: list[str] = Field(
        default_factory=list, description="profile fields sent along, e.g. cart.n_items"
    )
    occasion: str | None = Field(
        default=None,
        description="a timestamp profile field; a person is contacted again when it moves (e.g. cart.stage_due_at)",
    )
    occasion_key: str | None = Field(
        default=None,
        description="a text profile field naming one occasion (e.g. cart.reminder_key: cart and stage): the "
        "audiences' message_key is campaign:person:<it>, one message per key (default: the occasion's time)",
    )
    exclude_segments: list[str] = Field(default_factory=list)
    enabled: bool = True

    @model_validator(mode="after")
    def _consistent(self) -> Campaign:
        if self.best_channel == (self.channel is not None):
            raise ValueError("set either channel (one fixed channel) or best_channel: true, not both")
        names = [v.name for v in self.variants]
        if len(set(names)) != len(names):
            raise ValueError(f"variant names must be unique, got {names}")
        total = sum(v.share for v in self.variants) + self.control_share
        if abs(total - 1.0) > SHARE_TOLERANCE:
            raise ValueError(f"variant shares plus control_share must add up to 1, got {total:g}")
        if len(set(self.destinations)) != len(self.destinations):
            raise ValueError("destinations must be unique")
        for destination in self.destinations:
            for variant in self.variants:
                missing = [key for key in VARIANT_CONTENT[destination] if not getattr(variant, key)]
                if missing:
                    raise ValueError(
                        f"variant {variant.name!r} needs {' and '.join(missing)} for destination {destination.value!r}"
                    )
            channel = DESTINATION_CHANNEL[destination]
            if self.best_channel and channel not in MESSAGING_CHANNELS:
                raise ValueError(
                    f"best_channel campaigns send messages; destination {destination.value!r} is an ad platform"
                )
            if self.channel is not None and channel is not self.channel:
                raise ValueError(
                    f"destination {destination.value!r} is not a {self.channel.value} destination"
                )
        return self

    @property
    def capped(self) -> bool:
        if self.frequency_capped is not None:
            return self.frequency_capped
        return self.channel is not Channel.ads


class FrequencyCap(_Strict):
    """At most max_contacts messages per person on a channel ('all' = every messaging channel together)
    within the rolling period ending at the reference time."""

    channel: str
    period: Period
    max_contacts: int = Field(ge=0)

    @model_validator(mode="after")
    def _known_channel(self) -> FrequencyCap:
        allowed = [c.value for c in MESSAGING_CHANNELS] + ["all"]
        if self.channel not in allowed:
            raise ValueError(f"unknown channel {self.channel!r} (caps apply to: {', '.join(allowed)})")
        return self


class ProgramSettings(_Strict):
    """Settings of the ready-made programs, read by the marts/programs models (program_settings seed)."""

    cart_reminder_hours: list[int] = Field(default=[3, 5, 7], min_length=1, max_length=10)
    cart_lookback_hours: int = Field(default=72, gt=0)
    cart_ignored_after_hours: int = Field(default=24, gt=0)
    cart_high_value: Decimal = Field(default=Decimal(1_000_000), ge=0)
    cart_campaign: str = Field(
        default="cart_abandoners",
        pattern=NAME_PATTERN,
        description="the campaign whose sends (contact ledger) count as cart reminders",
    )
    low_stock_threshold: int = Field(default=5, ge=0)
    attribution_lookback_days: int = Field(default=30, gt=0, le=365)
    attribution_half_life_days: Decimal = Field(default=Decimal(7), gt=0)
    conversion_window_days: int = Field(default=30, gt=0)
    next_best_top_n: int = Field(default=5, gt=0, le=50)
    recent_purchase_days: int = Field(default=30, gt=0)
    engagement_window_days: int = Field(default=180, gt=0)
    affinity_window_days: int = Field(default=90, gt=0)
    affinity_min_share: Decimal = Field(default=Decimal("0.3"), gt=0, le=1)
    affinity_min_score: int = Field(default=3, ge=1)
    uninterested_min_interactions: int = Field(default=10, ge=1)
    service_window_days: int = Field(default=90, gt=0)
    low_nps_score: int = Field(default=6, ge=0, le=10)
    visit_gap_minutes: int = Field(default=30, gt=0)

    @model_validator(mode="after")
    def _stages(self) -> ProgramSettings:
        hours = self.cart_reminder_hours
        if any(h <= 0 for h in hours) or sorted(set(hours)) != hours:
            raise ValueError(f"cart_reminder_hours must be positive and strictly increasing, got {hours}")
        if self.cart_lookback_hours <= hours[-1]:
            raise ValueError("cart_lookback_hours must exceed the last reminder stage")
        return self


class CampaignsFile(_Strict):
    settings: ProgramSettings = Field(default_factory=ProgramSettings)
    frequency_caps: list[FrequencyCap] = Field(default_factory=list)
    campaigns: list[Campaign] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique(self) -> CampaignsFile:
        keys = [(c.channel, c.period) for c in self.frequency_caps]
        if len(set(keys)) != len(keys):
            raise ValueError("frequency_caps: one entry per (channel, period)")
        names = [c.name for c in self.campaigns]
        if self.campaigns and self.settings.cart_campaign not in names:
            raise ValueError(f"settings.cart_campaign: no campaign named {self.settings.cart_campaign!r}")
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"campaign names defined twice: {', '.join(duplicates)}")
        return self


def _check_profile_field(catalog: Catalog, name: str, where: str, want: FieldType | None = None) -> list[str]:
    found = catalog.profile_field(name)
    if found is None:
        return [
            f"{where}: unknown profile field {name!r} (known: {', '.join(catalog.profile_field_names())})"
        ]
    if want is not None and found[2] is not want:
        return [f"{where}: {name!r} is {found[2].value}, a {want.value} field is needed"]
    return []


def load_campaigns(segment_names: set[str], catalog: Catalog, path: Path = CAMPAIGNS_PATH) -> CampaignsFile:
    """Parse and check campaigns.yml; raises SegmentDefinitionError naming the file, campaign and key."""
    shown = display_path(path)
    try:
        with path.open(encoding="utf-8") as handle:
            raw: Any = yaml.safe_load(handle) or {}
    except FileNotFoundError:
        return CampaignsFile()
    except yaml.YAMLError as exc:
        raise SegmentDefinitionError([f"{shown}: not valid YAML: {exc}"]) from exc
    problems: list[str] = []
    if isinstance(raw, dict) and isinstance(raw.get("campaigns"), list):
        # Validate campaign by campaign so every message names its campaign.
        for i, item in enumerate(raw["campaigns"]):
            label = (
                f"campaign {item['name']!r}"
                if isinstance(item, dict) and "name" in item
                else f"campaign #{i + 1}"
            )
            try:
                Campaign.model_validate(item)
            except ValidationError as exc:
                problems += [f"{shown}: {label}: {m}" for m in format_validation_error(exc)]
    if problems:
        raise SegmentDefinitionError(problems)
    try:
        parsed = CampaignsFile.model_validate(raw)
    except ValidationError as exc:
        raise SegmentDefinitionError([f"{shown}: {m}" for m in format_validation_error(exc)]) from exc
    for campaign in parsed.campaigns:
        label = f"{shown}: campaign {campaign.name!r}"
        for key, name in [("segment", campaign.segment)] + [
            ("exclude_segments", s) for s in campaign.exclude_segments
        ]:
            if name not in segment_names:
                problems.append(
                    f"{label}: {key}: unknown segment {name!r} (defined: {', '.join(sorted(segment_names))})"
                )
        for i, prop in enumerate(campaign.properties):
            problems += _check_profile_field(catalog, prop, f"{label}: properties[{i}]")
        if campaign.occasion is not None:
            problems += _check_profile_field(
                catalog, campaign.occasion, f"{label}: occasion", FieldType.timestamp
            )
        if campaign.occasion_key is not None:
            if campaign.occasion is None:
                problems.append(f"{label}: occasion_key: needs an occasion (the key names one occasion)")
            else:
                problems += _check_profile_field(
                    catalog, campaign.occasion_key, f"{label}: occasion_key", FieldType.text
                )
                key, occasion = (catalog.profile_field(f) for f in (campaign.occasion_key, campaign.occasion))
                if key and occasion and key[0] != occasion[0]:
                    problems.append(f"{label}: occasion_key: must come from the same profile as occasion")
    if problems:
        raise SegmentDefinitionError(problems)
    return parsed
