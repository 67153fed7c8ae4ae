"""Cluster-size alarm, configuration errors and the command line."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from sen.identity import IdentityConfigError, cluster_alarm, load_identity_config, resolve_identities
from sen.identity.__main__ import main
from tests.identity.conftest import day, write_graph


def people(n: int, prefix: str) -> list[list[tuple[str, str]]]:
    return [[("customer_id", f"{prefix}{i}"), ("email", f"{prefix}{i}@shop.vn")] for i in range(n)]


def test_alarm_needs_a_run(conn: duckdb.DuckDBPyConnection) -> None:
    passed, details = cluster_alarm(conn)
    assert not passed
    assert "has not run" in details["reasons"][0]


def test_alarm_passes_on_a_stable_graph(conn: duckdb.DuckDBPyConnection) -> None:
    write_graph(conn, people(20, "C"))
    resolve_identities(conn, load_identity_config(), day(0))
    resolve_identities(conn, load_identity_config(), day(1))
    passed, details = cluster_alarm(conn, max_largest=10, max_jump_ratio=2.0)
    assert passed, details
    assert details["largest_component"] == 2


def test_alarm_fires_when_the_largest_person_jumps(conn: duckdb.DuckDBPyConnection) -> None:
    write_graph(conn, people(20, "C"))
    resolve_identities(conn, load_identity_config(), day(0))
    # A linking-only chain (no degree limit applies) glues 12 anonymous ids into one profile.
    chain = [[("anonymous_id", f"a{i}"), ("anonymous_id", f"a{i + 1}")] for i in range(11)]
    write_graph(conn, people(20, "C") + chain)
    resolve_identities(conn, load_identity_config(), day(1))
    passed, details = cluster_alarm(conn, max_largest=100, max_jump_ratio=3.0)
    assert not passed
    assert details["largest_component"] == 12
    assert "grew 6.0x" in details["reasons"][0]
    passed, details = cluster_alarm(conn, max_largest=10, max_jump_ratio=10.0)
    assert not passed
    assert details["reasons"] == ["largest person holds 12 identifiers (bound 10)"]


def test_alarm_fires_when_merged_share_jumps(conn: duckdb.DuckDBPyConnection) -> None:
    write_graph(conn, people(20, "C"))
    resolve_identities(conn, load_identity_config(), day(0))
    # Ten pairs of accounts now share an email: 10 of 20 persons hold two customer ids.
    shared = [[("customer_id", f"D{i}"), ("email", f"C{i}@shop.vn")] for i in range(10)]
    write_graph(conn, people(20, "C") + shared)
    resolve_identities(conn, load_identity_config(), day(1))
    passed, details = cluster_alarm(conn, max_largest=100, max_jump_ratio=2.0)
    assert not passed
    assert details["merged_share"] == pytest.approx(0.5)
    assert "merged share jumped from 0.0000 to 0.5000" in details["reasons"][0]


def test_invalid_config_names_file_and_field(tmp_path: Path) -> None:
    path = tmp_path / "identity.yml"
    path.write_text("caps: {fax: 2}\n", encoding="utf-8")
    with pytest.raises(
        IdentityConfigError,
        match=r"(?s)identity\.yml is invalid.*caps names unknown identifier types \[.fax.\]",
    ):
        load_identity_config(path)
    path.write_text("degree_limits: {email: {device_id: 3}}\n", encoding="utf-8")
    with pytest.raises(IdentityConfigError, match="may only limit person-defining neighbour types"):
        load_identity_config(path)


def test_config_changes_the_guards(conn: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    laptop = ("anonymous_id", "laptop")
    write_graph(conn, [[("customer_id", "A"), laptop], [("customer_id", "B"), laptop]])
    path = tmp_path / "identity.yml"
    path.write_text("degree_limits: {anonymous_id: {customer_id: 2}}\n", encoding="utf-8")
    stats = resolve_identities(conn, load_identity_config(path), day(0))
    assert stats.components == 1


def test_command_line_runs_on_a_warehouse_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    warehouse = tmp_path / "w.duckdb"
    conn = duckdb.connect(str(warehouse))
    write_graph(conn, people(3, "C"))
    conn.close()
    code = main(["--warehouse", str(warehouse), "--as-of", "2025-02-01"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0
    assert out["stats"]["components"] == 3
    assert out["cluster_alarm"]["passed"] is True
    conn = duckdb.connect(str(warehouse), read_only=True)
    assert conn.sql("select count(*) from identity.identifier_person_map").fetchall() == [(6,)]
    conn.close()
