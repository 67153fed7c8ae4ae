"""Identity-resolution settings: identifier types, over-merge guards, input tables (pydantic, from YAML)."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Literal, Self

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from sen.normalize.rules import LINKING_TYPES, PERSON_DEFINING_TYPES, TYPE_PRIORITY
from sen.settings import Settings

DEFAULT_CONFIG_PATH = Path(__file__).with_name("default_config.yml")
CONFIG_ENV = "CDP_IDENTITY_CONFIG"
_SQL_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?")


class IdentityConfigError(ValueError):
    """The identity configuration file is unreadable or invalid; the message names file and field."""


class BlocklistConfig(BaseModel):
    """Junk values never used as links. Values are compared case-insensitively; patterns use RE2 syntax
    (DuckDB's regexp_matches), searched in the identifier value."""

    model_config = ConfigDict(extra="forbid")

    any_type: list[str] = Field(default_factory=list, description="exact values dropped for every type")
    exact: dict[str, list[str]] = Field(default_factory=dict, description="identifier type -> exact values")
    patterns: dict[str, list[str]] = Field(default_factory=dict, description="identifier type -> regexes")
    include_normalization_blocklist: bool = Field(
        True, description="also drop the exact values of sen.normalize's blocklist (same file staging uses)"
    )


class WeakIdentifierRule(BaseModel):
    """A weak identifier (a cookie, a device, a push token) seen with two persons is not a link between them."""

    model_config = ConfigDict(extra="forbid")

    # most_recent: the identifier stays with the person it was seen with last (its links to the others are
    # cut); none: it belongs to no one (all its links to persons are cut).
    attribute_to: Literal["most_recent", "none"] = "most_recent"
    # Seen with this many persons or more, it is a shared terminal (a kiosk), not a household: no one gets it.
    shared_by_persons: int = Field(4, ge=2)
    # The most identifiers of a type a person joined through weak identifiers may hold: a cookie seen with an
    # account and with an email joins them, unless the account already has another email (then they are two
    # people on one laptop). Persons joined by a strong identifier (two accounts with one phone) may hold more.
    limits: dict[str, int] = Field(
        default_factory=lambda: {"customer_id": 1, "email": 1, "phone": 1, "loyalty_card": 1}
    )
    # Pairs of weak types whose links are not used: [push_token, anonymous_id] - a browser's push subscription
    # seen only with the browser's cookie identifies the browser, which a household shares; a token joins a
    # person through its app install's device id or a record that names the person. Off unless configured.
    not_linked: list[tuple[str, str]] = Field(default_factory=list)
    # A guest (a person whose identifiers were never seen with an `account_type` identifier through anything
    # but weak ones: guest orders, identify calls) seen on a weak identifier with an account joins it when no
    # type conflicts (true: a phone typed at a guest checkout on the account's own laptop is the account
    # holder's), or stays a person of their own (false: on a household laptop it may be a member's).
    guests_join_accounts: bool = True
    account_type: str = "customer_id"


class BehaviourJunkRule(BaseModel):
    """A person-defining value (an email, a phone) on several accounts that nothing else relates is junk
    ('khongco@gmail.com', a shop's call-center number): its links are cut, whatever the blocklist says."""

    model_config = ConfigDict(extra="forbid")

    types: list[str] = Field(default_factory=lambda: ["email", "phone"])
    # The value is junk when it joins this many holders of `of_type` that nothing else relates. Not 2: two
    # accounts of one person often share only their email or phone (duplicate accounts still merge). Larger
    # counts are the degree limits' job, whatever the shop's size.
    unrelated_holders: int = Field(3, ge=2)
    of_type: str = "customer_id"


class IdentityConfig(BaseModel):
    """Everything resolve_identities needs besides the warehouse connection."""

    model_config = ConfigDict(extra="forbid")

    nodes_table: str = "intermediate.int_identity_nodes"
    edges_table: str = "intermediate.int_identity_edges"
    # The key registry: every identifier's (type, value) by its integer key; the person map view reads strings here.
    keys_table: str = "intermediate.int_identifier_keys"
    output_schema: str = "identity"

    # Defaults from the shared identifier rules (sen/normalize/rules.py).
    person_defining_types: list[str] = list(PERSON_DEFINING_TYPES)
    linking_types: list[str] = list(LINKING_TYPES)
    # Strongest first: decides which links win when a person would exceed a cap, and which identifier
    # names a new person.
    type_priority: list[str] = list(TYPE_PRIORITY)
    # Linking types shared by households and shops: one seen with two persons (each holding a different
    # person-defining identifier) is cut between them (weak_identifiers says how). Like the other guards,
    # off unless configured ([]): default_config.yml turns it on with sen.normalize.rules.WEAK_TYPES.
    weak_types: list[str] = Field(default_factory=list)
    weak_identifiers: WeakIdentifierRule = Field(default_factory=WeakIdentifierRule)
    # Off unless configured (None); default_config.yml turns it on.
    behaviour_junk: BehaviourJunkRule | None = None

    # identifier type -> {person-defining neighbour type -> max distinct neighbours}. An identifier above a
    # limit is not used as a link at all (all its links are cut and audited): a kiosk device seen with dozens
    # of customer ids, a phone on 30 accounts, a household laptop seen with two customer ids.
    degree_limits: dict[str, dict[str, int]] = Field(default_factory=dict)
    # Limit for (type, person-defining neighbour type) pairs not listed in degree_limits.
    default_degree_limit: int = Field(20, ge=1)
    # identifier type -> max identifiers of that type per person; links that would exceed it are cut,
    # strongest / oldest links first.
    caps: dict[str, int] = Field(default_factory=dict)
    blocklist: BlocklistConfig = Field(default_factory=BlocklistConfig)

    @property
    def all_types(self) -> list[str]:
        return [*self.person_defining_types, *self.linking_types]

    @field_validator("nodes_table", "edges_table", "keys_table", "output_schema")
    @classmethod
    def _sql_name(cls, value: str) -> str:
        if not _SQL_NAME.fullmatch(value):
            raise ValueError(f"{value!r} is not a plain [schema.]name")
        return value

    @model_validator(mode="after")
    def _check_types(self) -> Self:
        types = self.all_types
        if len(set(types)) != len(types):
            raise ValueError("person_defining_types and linking_types overlap or repeat a type")
        if sorted(self.type_priority) != sorted(types):
            raise ValueError("type_priority must list every person-defining and linking type exactly once")
        if set(self.weak_types) - set(self.linking_types):
            raise ValueError(
                f"weak_types must be linking types, got {sorted(set(self.weak_types) - set(self.linking_types))}"
            )
        unlinked = {t for pair in self.weak_identifiers.not_linked for t in pair}
        if unlinked - set(self.weak_types):
            raise ValueError(
                f"weak_identifiers.not_linked must pair weak types, got {sorted(unlinked - set(self.weak_types))}"
            )
        if self.weak_identifiers.account_type not in self.person_defining_types:
            raise ValueError("weak_identifiers.account_type must be a person-defining type")
        wrong_limits = set(self.weak_identifiers.limits) - set(self.person_defining_types)
        if wrong_limits or any(v < 1 for v in self.weak_identifiers.limits.values()):
            raise ValueError("weak_identifiers.limits must map person-defining types to limits >= 1")
        junk = self.behaviour_junk
        if junk is not None:
            wrong = set(junk.types) - set(self.person_defining_types)
            if wrong or junk.of_type not in self.person_defining_types:
                raise ValueError(
                    "behaviour_junk.types and behaviour_junk.of_type must be person-defining types"
                )
        for name, mapping in (("degree_limits", self.degree_limits), ("caps", self.caps)):
            unknown = set(mapping) - set(types)
            if unknown:
                raise ValueError(f"{name} names unknown identifier types {sorted(unknown)}")
        for node_type, limits in self.degree_limits.items():
            bad = set(limits) - set(self.person_defining_types)
            if bad:
                raise ValueError(
                    f"degree_limits.{node_type} may only limit person-defining neighbour types, got {sorted(bad)}"
                )
            if any(v < 1 for v in limits.values()):
                raise ValueError(f"degree_limits.{node_type}: limits must be >= 1")
        if any(v < 1 for v in self.caps.values()):
            raise ValueError("caps must be >= 1")
        for section in (self.blocklist.exact, self.blocklist.patterns):
            unknown = set(section) - set(types)
            if unknown:
                raise ValueError(f"blocklist names unknown identifier types {sorted(unknown)}")
        return self

    def degree_limit(self, node_type: str, neighbour_type: str) -> int | None:
        """Max distinct neighbours of `neighbour_type` for a node of `node_type` (None: no limit)."""
        if neighbour_type not in self.person_defining_types:
            return None
        return self.degree_limits.get(node_type, {}).get(neighbour_type, self.default_degree_limit)

    def fingerprint(self) -> str:
        """Short hash of the settings, stored with each run so a change of guards is visible."""
        return hashlib.sha256(json.dumps(self.model_dump(), sort_keys=True).encode()).hexdigest()[:12]


def load_identity_config(path: str | Path | None = None) -> IdentityConfig:
    """Read the YAML config (default: $CDP_IDENTITY_CONFIG, else the packaged default_config.yml)."""
    resolved = Path(path or Settings.from_env().identity_config or DEFAULT_CONFIG_PATH)
    try:
        data = yaml.safe_load(resolved.read_text(encoding="utf-8")) or {}
    except OSError as exc:
        raise IdentityConfigError(f"cannot read identity config {resolved}: {exc}") from exc
    except yaml.YAMLError as exc:
        raise IdentityConfigError(f"identity config {resolved} is not valid YAML: {exc}") from exc
    try:
        return IdentityConfig.model_validate(data)
    except ValidationError as exc:
        raise IdentityConfigError(f"identity config {resolved} is invalid:\n{exc}") from exc
