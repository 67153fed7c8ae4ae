"""The portable SQL connected components (dbt macro) agrees with scipy and stays fast on long chains."""

from __future__ import annotations

import os
import random
from pathlib import Path

import duckdb
import numpy as np
import pytest
from dbt.cli.main import dbtRunner

from sen.config import DBT_PROJECT_DIR
from sen.identity.components import connected_components

pytestmark = pytest.mark.e2e  # runs dbt (about ten seconds)


def test_macro_matches_scipy_and_converges_in_few_rounds_on_a_long_chain(tmp_path: Path) -> None:
    rng = random.Random(3)
    # A 600-node chain whose ids increase along it (one round per hop for plain min-id propagation), plus
    # a random sparse graph and nodes without links.
    edges = [(f"c{i:04d}", f"c{i + 1:04d}") for i in range(599)]
    loose = [f"r{i}" for i in range(300)]
    edges += [tuple(rng.sample(loose, 2)) for _ in range(200)]
    nodes = sorted({n for e in edges for n in e} | {f"alone{i}" for i in range(5)})

    warehouse = tmp_path / "cc.duckdb"
    conn = duckdb.connect(str(warehouse))
    conn.execute("create table edges (a varchar, b varchar)")
    conn.executemany("insert into edges values (?, ?)", edges)
    conn.execute("create table nodes (node varchar)")
    conn.executemany("insert into nodes values (?)", [(n,) for n in nodes])
    conn.close()

    project = tmp_path / "project"
    (project / "models").mkdir(parents=True)
    # The macro and the dispatch macros it calls (text_type), nothing else of the project.
    macros = [os.path.relpath(DBT_PROJECT_DIR / "macros" / d, project) for d in ("identity", "dispatch")]
    (project / "dbt_project.yml").write_text(
        f'name: sen\nversion: "1.0.0"\nconfig-version: 2\nprofile: sen\nmacro-paths: ["{macros[0]}", "{macros[1]}"]\n',
        encoding="utf-8",
    )
    (project / "profiles.yml").write_text(
        f"sen:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n      path: {warehouse}\n      threads: 1\n",
        encoding="utf-8",
    )
    (project / "models" / "components.sql").write_text(
        "{{ config(materialized='table') }}\n"
        "{{ sen.connected_components('main.edges', 'a', 'b', nodes='main.nodes', max_iterations=20) }}\n",
        encoding="utf-8",
    )
    result = dbtRunner().invoke(
        ["run", "--project-dir", str(project), "--profiles-dir", str(project), "--target-path",
         str(tmp_path / "target"), "--log-path", str(tmp_path / "logs"), "--quiet"]
    )  # fmt: skip
    assert result.success, result.exception

    conn = duckdb.connect(str(warehouse))  # dbt-duckdb may still hold the file open in this process
    rows = conn.sql("select node, component from main.components").fetchall()
    conn.close()
    got = dict(rows)
    assert sorted(got) == nodes

    position = {n: i for i, n in enumerate(nodes)}
    src = np.array([position[a] for a, _ in edges])
    dst = np.array([position[b] for _, b in edges])
    _, labels = connected_components(len(nodes), src, dst)
    expected = {frozenset(n for n in nodes if labels[position[n]] == c) for c in set(labels.tolist())}
    groups: dict[str, set[str]] = {}
    for n, c in got.items():
        groups.setdefault(c, set()).add(n)
    assert {frozenset(g) for g in groups.values()} == expected
