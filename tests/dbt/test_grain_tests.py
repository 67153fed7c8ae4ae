"""Every dbt model declares its grain: a test that one row per key holds (issue 16).

The grain is either `unique` + `not_null` on one primary-key column, or the project's `unique_combination`
generic test (tests/generic/unique_combination.sql; dbt hub packages are out of reach) on the columns that
together identify a row. A test restricted by a `where` config checks part of the table only and does not count.
"""

from __future__ import annotations

import json

import pytest


def _tests_by_model(manifest: dict) -> dict[str, list[dict]]:
    tests: dict[str, list[dict]] = {}
    for node in manifest["nodes"].values():
        if node["resource_type"] == "test" and node.get("test_metadata") and node.get("attached_node"):
            tests.setdefault(node["attached_node"], []).append(node)
    return tests


def declares_grain(tests: list[dict]) -> bool:
    whole_table = [t for t in tests if not t["config"].get("where")]
    not_null = {t["column_name"] for t in whole_table if t["test_metadata"]["name"] == "not_null"}
    for test in whole_table:
        name = test["test_metadata"]["name"]
        if name == "unique_combination" and test["test_metadata"]["kwargs"].get("columns"):
            return True
        if name == "unique" and test["column_name"] in not_null:
            return True
    return False


def models_without_grain_test(manifest: dict) -> list[str]:
    tests = _tests_by_model(manifest)
    return sorted(
        node["original_file_path"]
        for unique_id, node in manifest["nodes"].items()
        if node["resource_type"] == "model" and not declares_grain(tests.get(unique_id, []))
    )


def test_every_model_has_a_grain_test(dbt_manifest):
    manifest = json.loads(dbt_manifest.read_text(encoding="utf-8"))
    assert sum(n["resource_type"] == "model" for n in manifest["nodes"].values()) > 50
    missing = models_without_grain_test(manifest)
    assert not missing, (
        "models without a grain test (unique + not_null on the key column, or unique_combination on the key "
        "columns) in their YAML:\n" + "\n".join(missing)
    )


def _model(name: str) -> tuple[str, dict]:
    return f"model.sen.{name}", {
        "resource_type": "model",
        "original_file_path": f"models/{name}.sql",
    }


def _test(model: str, name: str, column: str | None = None, where: str | None = None, **kwargs) -> dict:
    return {
        "resource_type": "test",
        "attached_node": f"model.sen.{model}",
        "column_name": column,
        "config": {"where": where},
        "test_metadata": {"name": name, "kwargs": {"column_name": column, **kwargs}},
    }


@pytest.mark.parametrize(
    ("tests", "has_grain"),
    [
        ([_test("m", "unique", "id"), _test("m", "not_null", "id")], True),
        ([_test("m", "unique_combination", columns=["a", "b"])], True),
        ([], False),
        ([_test("m", "not_null", "id")], False),
        ([_test("m", "unique", "id")], False),  # a null key would pass unique
        ([_test("m", "unique", "id"), _test("m", "not_null", "other")], False),
        ([_test("m", "unique", "id", where="is_current"), _test("m", "not_null", "id")], False),
        ([_test("m", "unique_combination", columns=["a"], where="is_current")], False),
        ([_test("other", "unique", "id"), _test("other", "not_null", "id")], False),  # another model's test
    ],
)
def test_the_check_names_a_model_without_a_grain_test(tests, has_grain):
    model_id, model = _model("m")
    nodes = {model_id: model, **{f"test.sen.t{i}": t for i, t in enumerate(tests)}}
    expected = [] if has_grain else ["models/m.sql"]
    assert models_without_grain_test({"nodes": nodes}) == expected
