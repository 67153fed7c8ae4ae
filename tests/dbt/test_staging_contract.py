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


def staging_models() -> list:
    """Every staging model, one folder per source system (models/staging/<system>/stg_<system>__*.sql)."""
    models = sorted(STAGING.glob("*/stg_*.sql"))
    assert models, f"no staging model under {STAGING}"
    return models


def test_every_raw_source_has_exactly_one_staging_model() -> None:
    contract = load_contract().sources
    readers: dict[str, list[str]] = {}
    for model in staging_models():
        for system, source in re.findall(r"source\('(\w+)', '(\w+)'\)", model.read_text(encoding="utf-8")):
            if source in contract:
                # The raw table is read through its system's dbt source, from the system's staging folder.
                assert system == contract[source].system == model.parent.name, (model.name, system, source)
                readers.setdefault(source, []).append(model.stem)
    assert {name: len(models) for name, models in readers.items()} == dict.fromkeys(contract, 1)


def test_staging_models_sit_in_the_folder_of_their_system() -> None:
    assert not sorted(STAGING.glob("stg_*.sql")), "staging models go in models/staging/<system>/"
    for model in staging_models():
        assert model.name.startswith(f"stg_{model.parent.name}__"), model


def test_naive_timestamps_use_the_source_timezone_macro() -> None:
    """A raw timestamp parsed with a hard-coded zone would silently shift Ho Chi Minh City local times."""
    offenders = [
        model.name
        for model in staging_models()
        if "parse_timestamp_utc(" in model.read_text(encoding="utf-8")
    ]
    assert offenders == []


def test_business_sources_read_naive_times_in_the_business_timezone(tmp_path) -> None:
    """A shop in Paris (CDP_TIMEZONE=Europe/Paris) exports order times in Paris time: staging must not read
    them as Ho Chi Minh City time (the contract says `timezone: business` for such sources)."""
    import subprocess
    import sys
    from pathlib import Path

    assert load_contract().sources["orders"].timezone_name("Europe/Paris") == "Europe/Paris"
    dbt = Path(sys.executable).parent / "dbt"
    completed = subprocess.run(
        [str(dbt), "compile", "--quiet", "--target", "lint", "--select", "stg_shop__orders",
         "--vars", '{"business_timezone": "Europe/Paris"}', "--target-path", str(tmp_path)],
        cwd=DBT_PROJECT_DIR, capture_output=True, text=True,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stdout[-3000:]
    compiled = next(tmp_path.glob("compiled/**/stg_shop__orders.sql")).read_text(encoding="utf-8")
    assert "Europe/Paris" in compiled and "Asia/Ho_Chi_Minh" not in compiled
