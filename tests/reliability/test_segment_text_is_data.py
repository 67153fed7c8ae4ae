"""Issue 18, case 3 (templates): dbt renders the properties files generated from segment and campaign YAML,
so a description or owner holding `{{ env_var('META_ACCESS_TOKEN') }}` put the token in target/manifest.json,
the dbt logs and, through persist_docs, the warehouse's table comments. Text fields are now data: shown
literally, and a tag holding Jinja is refused with the file and field named."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
import yaml

from sen.segments.compiler import compile_segment
from sen.segments.loader import SegmentDefinitionError, load_segments
from tests.segments.conftest import segment

TOKEN = "EAAB-reliability-SECRET-token-5150"
HOSTILE = "{{ env_var('META_ACCESS_TOKEN') }}"


def write_segment(tmp_path: Path, **fields) -> Path:
    path = tmp_path / "hostile.yml"
    path.write_text(yaml.safe_dump({"segments": [segment("hostile", **fields)]}), encoding="utf-8")
    return path


def dbt_project(tmp_path: Path, properties: str) -> Path:
    """A one-model dbt project with the repository's persist_docs setting and the generated properties."""
    project = tmp_path / "project"
    (project / "models").mkdir(parents=True)
    (project / "dbt_project.yml").write_text(
        "name: hostile\nversion: '1.0'\nprofile: hostile\nconfig-version: 2\n"
        "models:\n  hostile:\n    +materialized: table\n    +persist_docs: {relation: true, columns: true}\n"
    )
    (project / "profiles.yml").write_text(
        f"hostile:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n      path: {tmp_path / 'wh.duckdb'}\n"
    )
    (project / "models" / "seg_hostile.sql").write_text("select 'p1' as person_id\n")
    (project / "models" / "seg_hostile.yml").write_text(properties)
    return project


def test_jinja_in_description_and_owner_never_renders(tmp_path: Path) -> None:
    path = write_segment(tmp_path, description=f"Reads {HOSTILE} as text.", owner=f"crm {HOSTILE}")
    compiled = compile_segment(load_segments([path])[0], _catalog())
    project = dbt_project(tmp_path, compiled.properties)
    dbt = Path(sys.executable).parent / "dbt"
    env = {"PATH": str(Path(sys.executable).parent), "META_ACCESS_TOKEN": TOKEN, "HOME": str(tmp_path)}
    run = subprocess.run(
        [str(dbt), "run", "--project-dir", str(project), "--profiles-dir", str(project)],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout[-3000:]
    manifest = (project / "target" / "manifest.json").read_text()
    logs = "".join(p.read_text() for p in (project / "logs").glob("*.log"))
    with duckdb.connect(str(tmp_path / "wh.duckdb")) as conn:
        comments = str(conn.execute("SELECT comment FROM duckdb_tables()").fetchall())
    for text in (manifest, logs, run.stdout, comments):
        assert TOKEN not in text
    assert "env_var('META_ACCESS_TOKEN')" in comments  # the text is kept, literally
    assert "env_var('META_ACCESS_TOKEN')" in manifest


def test_jinja_in_a_tag_is_refused_naming_the_file(tmp_path: Path) -> None:
    path = write_segment(tmp_path, tags=["vip", HOSTILE])
    with pytest.raises(SegmentDefinitionError, match=r"hostile\.yml: segment hostile: tags"):
        compile_segment(load_segments([path])[0], _catalog())


def test_text_cannot_close_the_raw_block(tmp_path: Path) -> None:
    path = write_segment(tmp_path, description="x {% endraw %}{{ env_var('META_ACCESS_TOKEN') }}")
    with pytest.raises(SegmentDefinitionError, match="description: text may not contain"):
        compile_segment(load_segments([path])[0], _catalog())


def _catalog():
    from sen.segments.catalog import load_catalog

    return load_catalog()
