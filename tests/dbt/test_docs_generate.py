"""`dbt docs generate` runs on the built warehouse without a single warning (issue 7).

Warnings are read from dbt's structured log (one JSON object per line), so a deprecation, a doc block that does
not exist, a documented column the relation lacks or a catalog problem fails the test with dbt's own message.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sen.config import DBT_PROJECT_DIR
from tests.conftest import SAMPLE_AS_OF

pytestmark = pytest.mark.e2e


def dbt_log_events(stdout: str) -> list[dict]:
    """The JSON log lines of a dbt command; a line that is not JSON is reported as a warning of its own."""
    events = []
    for line in stdout.splitlines():
        if not line.strip():
            continue
        try:
            events.append(json.loads(line))
        except json.JSONDecodeError:
            events.append({"info": {"level": "warn", "msg": f"unstructured output: {line}"}})
    return events


def warnings_of(events: list[dict]) -> list[str]:
    return [
        f"{e['info'].get('name', '?')}: {e['info'].get('msg', '')}"
        for e in events
        if e.get("info", {}).get("level") in ("warn", "error")
    ]


def test_a_non_json_or_warning_line_is_reported():
    out = "\n".join(
        [
            json.dumps({"info": {"level": "info", "name": "MainReportVersion", "msg": "Running with dbt"}}),
            json.dumps(
                {"info": {"level": "warn", "name": "NodeNotFoundOrDisabled", "msg": "doc 'x' not found"}}
            ),
            "Traceback (most recent call last):",
        ]
    )
    assert warnings_of(dbt_log_events(out)) == [
        "NodeNotFoundOrDisabled: doc 'x' not found",
        "?: unstructured output: Traceback (most recent call last):",
    ]


def test_docs_generate_has_no_warnings(built_warehouse, tmp_path):
    completed = subprocess.run(
        [
            str(Path(sys.executable).parent / "dbt"),
            "--log-format",
            "json",
            "--log-level",
            "info",
            "docs",
            "generate",
            "--vars",
            json.dumps({"as_of": SAMPLE_AS_OF.replace("T", " ")}),
            "--target-path",
            str(tmp_path / "target"),
            "--log-path",
            str(tmp_path / "logs"),
        ],
        cwd=DBT_PROJECT_DIR,
        env={**os.environ, "CDP_WAREHOUSE": str(built_warehouse)},
        capture_output=True,
        text=True,
    )
    events = dbt_log_events(completed.stdout)
    assert completed.returncode == 0, "\n".join(warnings_of(events)) or completed.stderr[-3000:]
    assert warnings_of(events) == []
    catalog = json.loads((tmp_path / "target" / "catalog.json").read_text())
    # The catalog describes the warehouse: every model built by the main job is in it, with its columns.
    assert catalog["nodes"]["model.sen.int_identity_edges"]["columns"]
    assert not catalog.get("errors")
