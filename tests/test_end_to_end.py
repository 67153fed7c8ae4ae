"""The main job on the committed sample: every asset materializes and row counts reconcile with the files."""

from __future__ import annotations

import csv
import gzip
import io

import pytest

from sen.contracts import load_contract
from sen.ingest.readers import accepted_file, file_format
from sen.privacy.erasure import erased_rows
from tests.conftest import SAMPLE_DIR

pytestmark = pytest.mark.e2e


def records_in_file(path) -> int:
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rb") as handle:
        text = io.TextIOWrapper(handle, encoding="utf-8-sig", newline="")
        if file_format(path) == "csv":
            rows = list(csv.reader(text))
            return sum(1 for row in rows[1:] if row)
        return sum(1 for line in text if line.strip())


@pytest.mark.parametrize("source", list(load_contract().sources))
def test_every_input_record_is_loaded_or_quarantined(warehouse_conn, source):
    folder = SAMPLE_DIR / source
    files = [p for p in folder.rglob("*") if accepted_file(p)]
    assert files, f"the committed sample has no {source} files"
    expected = sum(records_in_file(p) for p in files)
    loaded = warehouse_conn.execute(f'select count(*) from raw."{source}"').fetchone()[0]
    quarantined = warehouse_conn.execute(
        "select count(*) from raw._quarantine where source = ? and line is not null", [source]
    ).fetchone()[0]
    # Rows of persons erased by the sample's erasure requests are deleted, each one logged (docs/privacy.md).
    erased = erased_rows(warehouse_conn, source)
    assert loaded + quarantined + erased == expected


def test_every_mart_is_built_and_non_empty(warehouse_conn):
    tables = dict(
        warehouse_conn.execute(
            "select table_name, table_schema from information_schema.tables where table_schema = 'marts'"
        ).fetchall()
    )
    for mart in ("customers", "customer_identifiers", "identity_kpis_daily"):
        assert mart in tables, f"marts.{mart} missing"
        assert warehouse_conn.execute(f"select count(*) from marts.{mart}").fetchone()[0] > 0


def test_nothing_quarantined_beyond_the_planted_errors(warehouse_conn):
    planted = SAMPLE_DIR.parent / "ground_truth" / "planted_errors.csv"
    with open(planted, encoding="utf-8") as handle:
        expected = sum(1 for _ in csv.DictReader(handle))
    quarantined = warehouse_conn.execute("select count(*) from raw._quarantine").fetchone()[0]
    assert quarantined == expected
