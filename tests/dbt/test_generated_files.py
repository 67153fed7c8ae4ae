"""Generated files are marked as such (.gitattributes `linguist-generated`) and kept apart from hand-written ones.

Generators: `python -m sen.segments.compile` (segment and audience models, their YAML, seeds and the
audience-wide singular tests under dbt_project/tests/generated/) and `python -m sen.contracts.render` (the raw
sources file of each staging folder, docs/input_contract.md).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from sen.config import DBT_PROJECT_DIR, REPO_ROOT
from sen.contracts.render import DOCS_FILE, render_dbt_sources
from sen.segments import generate


def generated_paths() -> set[Path]:
    return set(generate.build_outputs().files) | set(render_dbt_sources()) | {DOCS_FILE}


def marked_generated() -> set[Path]:
    """Tracked files whose `linguist-generated` attribute is set, per git itself."""
    if shutil.which("git") is None or not (REPO_ROOT / ".git").exists():
        pytest.skip("not a git checkout: .gitattributes cannot be evaluated")
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=REPO_ROOT, check=True, capture_output=True).stdout
    attrs = subprocess.run(
        ["git", "check-attr", "-z", "--stdin", "linguist-generated"],
        cwd=REPO_ROOT,
        input=tracked,
        check=True,
        capture_output=True,
    ).stdout.split(b"\0")
    # -z output: path, attribute, value, path, attribute, value, ...
    triples = zip(attrs[0::3], attrs[1::3], attrs[2::3], strict=False)
    return {(REPO_ROOT / p.decode()).resolve() for p, _, value in triples if value == b"true"}


def _relative(paths: set[Path]) -> list[str]:
    return sorted(str(p.relative_to(REPO_ROOT.resolve())) for p in paths)


def test_every_generated_file_and_nothing_else_is_marked_generated():
    generated = {p.resolve() for p in generated_paths()}
    marked = marked_generated()
    assert not generated - marked, (
        f"generated but not marked in .gitattributes: {_relative(generated - marked)}"
    )
    assert not marked - generated, f"marked generated but written by hand: {_relative(marked - generated)}"


def test_generated_singular_tests_are_kept_apart_from_hand_written_ones():
    tests_dir = DBT_PROJECT_DIR / "tests"
    assert tests_dir / "generated" == generate.TESTS_DIR
    generated_tests = {p for p in generate.build_outputs().files if p.is_relative_to(tests_dir)}
    assert generated_tests and all(p.parent == generate.TESTS_DIR for p in generated_tests)
    hand_written = [p for p in tests_dir.rglob("*.sql") if not p.is_relative_to(generate.TESTS_DIR)]
    assert hand_written, "the hand-written singular tests are missing"
    for path in hand_written:
        assert generate.GENERATED_MARKER not in path.read_text(encoding="utf-8"), (
            f"{path} says it is generated but sits among the hand-written tests"
        )
    on_disk = set(generate.TESTS_DIR.glob("*.sql"))
    assert on_disk == generated_tests, "tests/generated holds only what the compiler writes"
