"""Loading segment YAML: every mistake an analytics engineer can make is reported with the file, the segment and
the path of the bad key, all at once."""

from __future__ import annotations

import pytest

from sen.segments.loader import SegmentDefinitionError, load_segments
from tests.segments.conftest import segment


def problems_of(write_segments, files) -> list[str]:
    with pytest.raises(SegmentDefinitionError) as caught:
        load_segments(write_segments(files))
    return caught.value.problems


def test_a_valid_file_loads(write_segments):
    loaded = load_segments(write_segments({"ok.yml": [segment("b_segment"), segment("a_segment")]}))
    assert [s.name for s in loaded] == ["a_segment", "b_segment"]
    assert loaded[0].definition.owner == "tests@senmart.vn"


def test_unknown_field_names_file_segment_path_and_known_columns(write_segments):
    where = {
        "all": [
            {"field": "value.orders", "op": ">=", "value": 1},
            {"field": "value.recncy_days", "op": ">", "value": 3},
        ]
    }
    (problem,) = problems_of(write_segments, {"winback.yml": [segment("winback_inactive", where)]})
    assert "winback.yml" in problem
    assert "segment 'winback_inactive'" in problem
    assert "where.all[1].field" in problem
    assert "'value.recncy_days'" in problem
    assert "recency_days" in problem  # the known columns are listed


def test_unknown_profile_and_collection_used_as_a_field_get_a_hint(write_segments):
    problems = problems_of(
        write_segments,
        {
            "a.yml": [
                segment("one", {"field": "valu.orders", "op": "=", "value": 1}),
                segment("two", {"field": "events.sku", "op": "=", "value": "x"}),
                segment("three", {"field": "orders", "op": "=", "value": 1}),
            ]
        },
    )
    assert any("no profile 'valu'" in p and "segment 'one'" in p for p in problems)
    assert any("'events' is a collection" in p and "aggregate" in p for p in problems)
    assert any("<profile>.<column>" in p and "segment 'three'" in p for p in problems)


def test_bad_operator_is_named_with_the_known_ones(write_segments):
    (problem,) = problems_of(
        write_segments, {"a.yml": [segment("s", {"field": "value.orders", "op": "grater_than", "value": 1})]}
    )
    assert "where.op" in problem and "unknown operator 'grater_than'" in problem and ">=" in problem


def test_operator_that_does_not_fit_the_field_type(write_segments):
    (problem,) = problems_of(
        write_segments, {"a.yml": [segment("s", {"field": "value.orders", "op": "contains", "value": 1})]}
    )
    assert "operator 'contains' does not apply to a integer field" in problem


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ({"field": "value.orders", "op": ">=", "value": "three"}, "value 'three' is not an integer"),
        ({"field": "value.orders", "op": ">=", "value": True}, "value True is not an integer"),
        ({"field": "value.total_net_amount", "op": ">", "value": "1e6"}, "is not a number"),
        ({"field": "customer.city", "op": "=", "value": 12}, "is not text"),
        ({"field": "customer.is_identified", "op": "=", "value": "yes"}, "is not a boolean"),
        ({"field": "customer.birthday", "op": ">", "value": "2026-13-01"}, "is not a date"),
        (
            {"field": "customer.created_at", "op": "<", "value": "2026-11-01T00:00:00+07:00"},
            "without an offset",
        ),
        ({"field": "customer.city", "op": "in", "value": "Hanoi"}, "needs a list of values"),
        ({"field": "value.orders", "op": "between", "value": [5, 1]}, "low <= high"),
        ({"field": "value.orders", "op": "between", "value": [1]}, "exactly two values"),
        ({"field": "value.last_order_at", "op": "within_days", "value": -3}, "positive whole number of days"),
        ({"field": "customer.is_identified", "op": "is_true", "value": True}, "takes no value"),
        ({"field": "value.orders", "op": ">"}, "needs a value"),
        ({"field": "customer.city", "op": "=", "value": ""}, "use op is_null"),
    ],
)
def test_bad_values_are_reported_with_their_field(write_segments, condition, expected):
    (problem,) = problems_of(write_segments, {"a.yml": [segment("s", condition)]})
    assert expected in problem
    assert f"(field {condition['field']!r})" in problem


def test_missing_and_misspelt_keys(write_segments):
    no_owner = segment("s")
    del no_owner["owner"]
    typo = segment("t", {"field": "value.orders", "op": ">=", "valeu": 1})
    problems = problems_of(write_segments, {"a.yml": [no_owner, typo]})
    assert any("segment 's'" in p and "owner: a required key is missing" in p for p in problems)
    assert any("segment 't'" in p and "where: unknown key 'valeu'" in p for p in problems)


def test_a_condition_with_two_kinds_is_rejected(write_segments):
    where = {"all": [{"field": "value.orders", "op": ">=", "value": 1, "any": []}]}
    (problem,) = problems_of(write_segments, {"a.yml": [segment("s", where)]})
    assert "where.all[0]" in problem and "exactly one of the keys" in problem and "got keys" in problem


def test_invalid_segment_name(write_segments):
    (problem,) = problems_of(write_segments, {"a.yml": [segment("Winback Inactive")]})
    assert "segment 'Winback Inactive': name:" in problem


def test_aggregate_mistakes(write_segments):
    problems = problems_of(
        write_segments,
        {
            "a.yml": [
                segment("unknown_collection", {"aggregate": {"collection": "evnts"}, "op": ">=", "value": 1}),
                segment(
                    "sum_of_text",
                    {
                        "aggregate": {"collection": "events", "function": "sum", "field": "sku"},
                        "op": ">",
                        "value": 1,
                    },
                ),
                segment(
                    "no_time",
                    {
                        "aggregate": {"collection": "category_affinity", "within_days": 7},
                        "op": ">=",
                        "value": 1,
                    },
                ),
                segment(
                    "nested",
                    {
                        "aggregate": {
                            "collection": "orders",
                            "where": {"aggregate": {"collection": "events"}, "op": ">", "value": 1},
                        },
                        "op": ">",
                        "value": 0,
                    },
                ),
                segment(
                    "bad_inner_field",
                    {
                        "aggregate": {
                            "collection": "orders",
                            "where": {"field": "total", "op": ">", "value": 1},
                        },
                        "op": ">",
                        "value": 0,
                    },
                ),
                segment("negative_count", {"aggregate": {"collection": "orders"}, "op": ">=", "value": -1}),
                segment(
                    "count_with_field",
                    {"aggregate": {"collection": "orders", "field": "net_amount"}, "op": ">=", "value": 1},
                ),
            ]
        },
    )
    text = "\n".join(problems)
    assert "segment 'unknown_collection'" in text and "unknown collection 'evnts'" in text
    assert "segment 'sum_of_text'" in text and "'sum' needs a numeric field, 'sku' is text" in text
    assert "segment 'no_time'" in text and "has no time column" in text
    assert "segment 'nested'" in text and "cannot be nested" in text
    assert "segment 'bad_inner_field'" in text and "unknown field 'total' of collection 'orders'" in text
    assert "segment 'negative_count'" in text and "never negative" in text
    assert "segment 'count_with_field'" in text and "takes no field" in text
    assert len(problems) == 7


def test_duplicate_names_across_files_name_both_files(write_segments):
    (problem,) = problems_of(write_segments, {"one.yml": [segment("dup")], "two.yml": [segment("dup")]})
    assert "two.yml: segment 'dup': name already defined in" in problem and "one.yml" in problem


def test_every_problem_of_every_file_is_reported_at_once(write_segments):
    problems = problems_of(
        write_segments,
        {
            "a.yml": [segment("s1", {"field": "value.nope", "op": "=", "value": 1})],
            "b.yml": [segment("s2", {"field": "value.orders", "op": "~", "value": 1})],
            "c.yml": "segments: [",
        },
    )
    assert len(problems) == 3
    assert "a.yml: segment 's1'" in problems[0] and "'value.nope'" in problems[0]
    assert "b.yml: segment 's2'" in problems[1] and "unknown operator '~'" in problems[1]
    assert "c.yml: not valid YAML" in problems[2]


def test_broken_yaml_is_reported_with_the_file(write_segments):
    (problem,) = problems_of(write_segments, {"broken.yml": "segments: [\n  - name: x\n"})
    assert "broken.yml" in problem and "not valid YAML" in problem


def test_file_without_segments_list(write_segments):
    problems = problems_of(write_segments, {"a.yml": "name: x\n"})
    assert any(p.endswith("a.yml: segments: a required key is missing") for p in problems)
    assert any(p.endswith("a.yml: (top level): unknown key 'name'") for p in problems)


def test_a_value_the_field_never_holds_names_the_allowed_values(write_segments):
    # clv_tier is a band: top_1pct / top_10pct / top_50pct / rest (the mart's accepted_values); "top10" would
    # validate as text and build a segment of 0 members.
    problems = problems_of(
        write_segments,
        {
            "a.yml": [
                segment("tier", {"field": "clv.clv_tier", "op": "=", "value": "top10"}),
                segment("risk", {"field": "clv.churn_risk", "op": "in", "value": ["high", "hihg"]}),
            ]
        },
    )
    assert any(
        "segment 'tier'" in p and "'top10'" in p and "top_1pct, top_10pct, top_50pct, rest" in p
        for p in problems
    )
    assert any("segment 'risk'" in p and "'hihg'" in p and "low, medium, high" in p for p in problems)
    assert not any("'high'" in p for p in problems)


def test_known_values_of_an_rfm_segment_are_unquoted(write_segments):
    loaded = load_segments(
        write_segments(
            {"a.yml": [segment("s", {"field": "value.rfm_segment", "op": "=", "value": "Can't lose"})]}
        )
    )
    assert loaded[0].name == "s"
