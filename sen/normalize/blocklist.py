"""Configurable blocklist of junk identifier values (exact values and regex patterns, from YAML)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import yaml

from sen.settings import Settings

DEFAULT_BLOCKLIST_PATH = Path(__file__).with_name("blocklist.yml")
BLOCKLIST_ENV = "CDP_BLOCKLIST"


class BlocklistError(ValueError):
    """The blocklist file is unreadable or malformed; the message names the file and the entry."""


@dataclass(frozen=True)
class Rules:
    exact: frozenset[str] = frozenset()
    patterns: tuple[re.Pattern[str], ...] = ()

    def matches(self, value: str) -> bool:
        if value.lower() in self.exact:
            return True
        return any(p.search(value) for p in self.patterns)


@dataclass(frozen=True)
class Blocklist:
    path: Path
    common: Rules = Rules()
    by_type: dict[str, Rules] = field(default_factory=dict)

    def is_common_junk(self, trimmed: str) -> bool:
        return self.common.matches(trimmed.lower())

    def is_blocked(self, identifier_type: str, value: str) -> bool:
        rules = self.by_type.get(identifier_type)
        return rules is not None and rules.matches(value)


def _rules(raw: object, path: Path, section: str) -> Rules:
    if raw is None:
        return Rules()
    if not isinstance(raw, dict):
        raise BlocklistError(f"{path}: section '{section}' must be a mapping with 'exact' and 'patterns'")
    unknown = set(raw) - {"exact", "patterns"}
    if unknown:
        raise BlocklistError(f"{path}: section '{section}' has unknown keys {sorted(unknown)}")
    exact = raw.get("exact") or []
    patterns = raw.get("patterns") or []
    if not isinstance(exact, list) or not isinstance(patterns, list):
        raise BlocklistError(f"{path}: '{section}.exact' and '{section}.patterns' must be lists")
    compiled = []
    for i, pattern in enumerate(patterns):
        try:
            compiled.append(re.compile(str(pattern), re.IGNORECASE))
        except re.error as exc:
            raise BlocklistError(
                f"{path}: '{section}.patterns[{i}]' ({pattern!r}) is not a regex: {exc}"
            ) from exc
    # YAML turns bare 0 / true into non-strings: compare everything as lower-case text.
    return Rules(exact=frozenset(str(v).strip().lower() for v in exact), patterns=tuple(compiled))


def load_blocklist(path: str | Path | None = None) -> Blocklist:
    """Read a blocklist YAML file (default: $CDP_BLOCKLIST, else the packaged blocklist.yml)."""
    resolved = Path(path or Settings.from_env().blocklist or DEFAULT_BLOCKLIST_PATH)
    try:
        data = yaml.safe_load(resolved.read_text(encoding="utf-8")) or {}
    except OSError as exc:
        raise BlocklistError(f"cannot read blocklist {resolved}: {exc}") from exc
    except yaml.YAMLError as exc:
        raise BlocklistError(f"blocklist {resolved} is not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise BlocklistError(f"{resolved}: top level must be a mapping of sections")
    common = _rules(data.get("common"), resolved, "common")
    by_type = {str(k): _rules(v, resolved, str(k)) for k, v in data.items() if k != "common"}
    return Blocklist(path=resolved, common=common, by_type=by_type)


@lru_cache(maxsize=1)
def active_blocklist() -> Blocklist:
    return load_blocklist()
