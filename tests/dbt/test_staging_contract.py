"""The staging layer stays in step with the input contract (no dbt run needed)."""

from __future__ import annotations

import re

from sen.config import DBT_PROJECT_DIR
from sen.contracts import load_contract

STAGING = DBT_PROJECT_DIR / "models" / "staging"
TIMEZONE_MACRO = DBT_PROJECT_DIR / "macros" / "staging" / "contract_timezone.sql"


def test_timezone_map_matches_the_contract() -> None:
    text = TIMEZONE_MACRO.read_text(encoding="utf-8")
    declared = dict(re.findall(r"'(\w+)': '([\w/]+)'", text))
    expected = {name: source.timezone for name, source in load_contract().sources.items()}
    assert declared == expected


def test_every_raw_source_has_exactly_one_staging_model() -> None:
    readers: dict[str, list[str]] = {}
    for model in sorted(STAGING.glob("stg_*.sql")):
        for source in re.findall(r"source\('raw', '(\w+)'\)", model.read_text(encoding="utf-8")):
            readers.setdefault(source, []).append(model.stem)
    assert {name: len(models) for name, models in readers.items()} == dict.fromkeys(
        load_contract().sources, 1
    )


def test_naive_timestamps_use_the_source_timezone_macro() -> None:
    """A raw timestamp parsed with a hard-coded zone would silently shift Ho Chi Minh City local times."""
    offenders = [
        model.name
        for model in STAGING.glob("stg_*.sql")
        if "parse_timestamp_utc(" in model.read_text(encoding="utf-8")
    ]
    assert offenders == []
