"""The raw-quality asset checks in Dagster: results and metadata per expectation, and a failing contract
check stops the downstream assets of that source in the same run."""

from __future__ import annotations

import csv
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from orchestration.assets.ingestion import build_ingestion_asset
from orchestration.checks import CONTRACT_CHECK, HEALTH_CHECK, raw_quality_checks
from orchestration.checks.raw_quality import build_raw_quality_check
from orchestration.resources import RunClock, Warehouse
from sen.contracts import load_contract

STORES = load_contract().sources["stores"]


def write_stores(data_dir: Path, rows: list[dict[str, str]]) -> None:
    folder = data_dir / "stores"
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "stores.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=STORES.column_names)
        writer.writeheader()
        writer.writerows(rows)


def store(i: int, opened_at: str = "2020-01-01") -> dict[str, str]:
    return {
        "store_id": f"S{i:03d}",
        "name": f"Store {i}",
        "city": "Hanoi",
        "country": "VN",
        "opened_at": opened_at,
    }


@dg.asset(key=["staging", "stg_stores"], deps=[dg.AssetKey(["raw", "stores"])])
def downstream_of_stores() -> None:
    """Stands in for the dbt models that read raw.stores."""


def run(tmp_path: Path, monkeypatch) -> dg.ExecuteInProcessResult:
    monkeypatch.setenv("CDP_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("CDP_AS_OF", "2026-06-01T00:00:00Z")
    return dg.materialize(
        [build_ingestion_asset(STORES), build_raw_quality_check(STORES), downstream_of_stores],
        resources={"run_clock": RunClock(), "warehouse": Warehouse(path=str(tmp_path / "wh.duckdb"))},
        raise_on_error=False,
    )


def materialized(result: dg.ExecuteInProcessResult) -> set[dg.AssetKey]:
    return {e.asset_key for e in result.get_asset_materialization_events()}


DOWNSTREAM = dg.AssetKey(["staging", "stg_stores"])


def check_result(result: dg.ExecuteInProcessResult, name: str) -> dg.AssetCheckEvaluation:
    (evaluation,) = [e for e in result.get_asset_check_evaluations() if e.check_name == name]
    return evaluation


def test_clean_source_passes_both_checks_and_downstream_runs(tmp_path, monkeypatch):
    write_stores(tmp_path / "data", [store(i) for i in range(5)])
    result = run(tmp_path, monkeypatch)
    assert result.success
    contract = check_result(result, CONTRACT_CHECK)
    assert contract.passed and contract.severity == dg.AssetCheckSeverity.ERROR
    assert contract.metadata["failing_rows/not_null:store_id"].value == 0
    assert contract.metadata["rows"].value == 5
    assert "| `unique_key` | pass |" in contract.metadata["results"].value
    assert check_result(result, HEALTH_CHECK).passed
    assert DOWNSTREAM in materialized(result)


def plant_in_raw(tmp_path: Path, sql: str) -> None:
    """Breakage written into raw after loading (by other means than the loader, which quarantines such values
    since issue 18): the next run loads nothing new and its checks judge the same current load."""
    conn = duckdb.connect(str(tmp_path / "wh.duckdb"))
    try:
        conn.execute(sql)
    finally:
        conn.close()


def test_failing_contract_check_blocks_downstream(tmp_path, monkeypatch):
    write_stores(tmp_path / "data", [store(1), store(2)])
    assert run(tmp_path, monkeypatch).success
    plant_in_raw(tmp_path, "update raw.stores set opened_at = '2030-01-01' where store_id = 'S002'")
    result = run(tmp_path, monkeypatch)
    contract = check_result(result, CONTRACT_CHECK)
    assert not contract.passed
    assert contract.metadata["failing_rows/not_future:opened_at"].value == 1
    assert contract.metadata["not_future:opened_at"].value.startswith("FAIL: 1 failing of 2 rows")
    assert contract.metadata["failed_expectations"].value == 1
    assert DOWNSTREAM not in materialized(result)  # blocked
    assert dg.AssetKey(["raw", "stores"]) in materialized(result)


def test_health_warning_does_not_block(tmp_path, monkeypatch):
    rows = [store(i) for i in range(3)]
    rows.append({**store(9), "store_id": ""})  # quarantined: 25 % of the file
    write_stores(tmp_path / "data", rows)
    result = run(tmp_path, monkeypatch)
    health = check_result(result, HEALTH_CHECK)
    assert not health.passed and health.severity == dg.AssetCheckSeverity.WARN
    assert check_result(result, CONTRACT_CHECK).passed
    assert DOWNSTREAM in materialized(result)


def test_every_source_has_a_blocking_contract_check():
    specs = [spec for checks in raw_quality_checks for spec in checks.check_specs]
    sources = load_contract().sources
    assert {(s.asset_key.path[1], s.name) for s in specs} == {
        (name, check) for name in sources for check in (CONTRACT_CHECK, HEALTH_CHECK)
    }
    assert all(s.blocking == (s.name == CONTRACT_CHECK) for s in specs)
    assert all(s.asset_key.path[0] == "raw" for s in specs)


@pytest.fixture(autouse=True)
def _no_dagster_home(monkeypatch):
    monkeypatch.delenv("DAGSTER_HOME", raising=False)


def test_rows_after_a_past_as_of_are_not_future(tmp_path, monkeypatch):
    # A backtest on a full export: CDP_AS_OF is 2026-06-01 and the export runs to later days (before today).
    # Those rows are after the as-of, not in the future: the blocking check passes and the build goes on.
    write_stores(tmp_path / "data", [store(1), store(2, opened_at="2026-08-01")])
    result = run(tmp_path, monkeypatch)
    contract = check_result(result, CONTRACT_CHECK)
    assert contract.passed
    assert contract.metadata["failing_rows/not_future:opened_at"].value == 0
    assert DOWNSTREAM in materialized(result)
