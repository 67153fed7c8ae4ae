"""One settings object: every CDP_* variable read in sen/settings.py, documented in the README's one table,
validated with the variable's name; no code writes the environment; Dagster lives in orchestration/ only."""

from __future__ import annotations

import re
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from orchestration.dbt.resource import SenDbtCliResource
from sen.settings import DEFAULT_WAREHOUSE, REPO_ROOT, Settings, as_of_sql_literal, parse_as_of

CODE_DIRS = ("sen", "orchestration", "reverse_etl", "dbt_project/macros", "dbt_project/models")
VARIABLE = re.compile(r"\bCDP_[A-Z_]+[A-Z]\b")


def code_files(*dirs: str):
    for folder in dirs:
        for path in (REPO_ROOT / folder).rglob("*"):
            if path.suffix in (".py", ".sql", ".yml") and "__pycache__" not in path.parts:
                yield path


def readme_table_variables() -> set[str]:
    text = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    return {m.group(1) for m in re.finditer(r"^\| `(CDP_[A-Z_]+)` \|", section, re.MULTILINE)}


def test_every_variable_the_code_names_is_in_the_readme_table():
    named = {m.group(0) for path in code_files(*CODE_DIRS) for m in VARIABLE.finditer(path.read_text())}
    named -= {"CDP_DQ_"}  # the prefix of the threshold variables, each listed on its own
    missing = sorted(named - readme_table_variables())
    assert not missing, f"variables missing from README.md's Configuration table: {missing}"


def test_only_the_settings_module_reads_cdp_variables():
    reads = re.compile(r"environ(\.get)?[\[(]\s*f?[\"']CDP_")
    offenders = [
        str(path.relative_to(REPO_ROOT))
        for path in code_files("sen", "orchestration", "reverse_etl")
        if path.suffix == ".py" and path.name != "settings.py" and reads.search(path.read_text())
    ]
    assert offenders == []


def test_no_code_writes_the_environment():
    writes = re.compile(r"os\.environ\[.*\]\s*=|os\.environ\.(setdefault|update|pop)|putenv")
    offenders = [
        str(path.relative_to(REPO_ROOT))
        for path in code_files("sen", "orchestration", "reverse_etl")
        if path.suffix == ".py" and writes.search(path.read_text())
    ]
    assert offenders == []


def test_dagster_lives_in_orchestration_only():
    imports = re.compile(r"^\s*(import dagster|from dagster)", re.MULTILINE)
    offenders = [
        str(path.relative_to(REPO_ROOT))
        for path in code_files("sen", "reverse_etl")
        if path.suffix == ".py" and imports.search(path.read_text())
    ]
    assert offenders == []


def test_defaults_and_types():
    settings = Settings.from_env({})
    assert settings.warehouse == DEFAULT_WAREHOUSE and settings.as_of is None
    assert settings.serving_path == DEFAULT_WAREHOUSE.with_name("serving.duckdb")
    assert settings.sync_dry_run is None and settings.full_refresh is False
    parsed = Settings.from_env(
        {
            "CDP_AS_OF": "2026-11-21T07:00:00+07:00",
            "CDP_SYNC_DRY_RUN": "0",
            "CDP_FULL_REFRESH": "yes",
            "CDP_DQ_ENGINE": " GX ",
            "CDP_DQ_MAX_AMOUNT": "5e9",
            "CDP_SENSOR_SETTLE_SECONDS": "2.5",
        }
    )
    assert parsed.as_of == datetime(2026, 11, 21, tzinfo=UTC)
    assert parsed.sync_dry_run is False and parsed.full_refresh is True
    assert parsed.dq_engine == "gx" and parsed.dq_thresholds == {"max_amount": 5e9}
    assert parsed.sensor_settle_seconds == 2.5


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("CDP_AS_OF", "yesterday"),
        ("CDP_FULL_REFRESH", "maybe"),
        ("CDP_SENSOR_SETTLE_SECONDS", "-1"),
        ("CDP_CLV_HORIZON_MONTHS", "0"),
        ("CDP_CLV_DISCOUNT_RATE", "ten percent"),
        ("CDP_DQ_ENGINE", "pandas"),
        ("CDP_DQ_GX_MAX_ROWS", "1.5"),
        ("CDP_DQ_WELL_FORMED_MOSTLY", "most"),
    ],
)
def test_a_bad_value_names_its_variable(name, value):
    with pytest.raises(ValueError, match=re.escape(name)):
        Settings.from_env({name: value})


@pytest.mark.parametrize(
    ("value", "utc"),
    [
        ("2026-11-21", "2026-11-21 00:00:00"),
        ("2026-11-21T00:00:00", "2026-11-21 00:00:00"),  # naive is UTC
        ("2026-11-21T07:00:00+07:00", "2026-11-21 00:00:00"),
        ("2026-11-20T17:30:00Z", "2026-11-20 17:30:00"),
    ],
)
def test_one_parser_honours_offsets(value, utc):
    assert as_of_sql_literal(parse_as_of(value)) == utc


def test_the_sync_engine_reads_the_reference_time_with_its_offset(monkeypatch):
    from reverse_etl.engine import reference_now

    monkeypatch.setenv("CDP_AS_OF", "2026-11-21T07:00:00+07:00")
    assert reference_now() == datetime(2026, 11, 21)  # naive UTC, as stored in the warehouse


def test_each_dbt_step_starts_from_the_runs_parse(tmp_path: Path):
    (tmp_path / "partial_parse.msgpack").write_bytes(b"the run's parse")
    resource = SenDbtCliResource(
        project_dir=str(REPO_ROOT / "dbt_project"),
        dbt_executable=str(Path(sys.executable).parent / "dbt"),
        target_dir=str(tmp_path),
    )
    step = resource.step_target_path(None)
    assert step.parent == tmp_path
    assert (step / "partial_parse.msgpack").read_bytes() == b"the run's parse"
    assert resource.step_target_path(None) != step  # a fresh folder per step
