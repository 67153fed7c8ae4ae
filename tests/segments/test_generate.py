"""The generator: committed files match the YAML (a stale file fails the suite), stale and left-over files are
detected, campaigns are validated, and A/B buckets cover [0, 1) exactly once."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
import yaml

from sen.segments import generate
from sen.segments.campaigns import load_campaigns
from sen.segments.catalog import load_catalog
from sen.segments.loader import SegmentDefinitionError
from tests.segments.conftest import segment


def test_generated_files_in_the_repository_are_current():
    stale = generate.stale_files(generate.build_outputs())
    assert not stale, "run `python -m sen.segments.compile` and commit:\n" + "\n".join(stale)


def test_check_reports_out_of_date_missing_and_left_over_files(write_segments, tmp_path: Path, monkeypatch):
    for name in ("SEGMENT_MODELS_DIR", "AUDIENCES_DIR", "SEEDS_DIR", "TESTS_DIR"):
        folder = tmp_path / name.lower()
        folder.mkdir()
        monkeypatch.setattr(generate, name, folder)
    paths = write_segments({"s.yml": [segment("first"), segment("second")]})
    campaigns = tmp_path / "campaigns.yml"
    campaigns.write_text("campaigns: []\n", encoding="utf-8")
    outputs = generate.build_outputs(paths, campaigns)
    assert generate.stale_files(outputs)  # nothing written yet: every file is missing
    generate.write_outputs(outputs)
    assert generate.stale_files(generate.build_outputs(paths, campaigns)) == []

    # A changed value makes the parameters seed stale; a deleted segment leaves its model behind.
    write_segments({"s.yml": [segment("first", {"field": "value.orders", "op": ">=", "value": 5})]})
    stale = generate.stale_files(generate.build_outputs(paths, campaigns))
    assert any(line.startswith("out of date:") and "segment_parameters.csv" in line for line in stale)
    assert any(line.startswith("left over:") and "seg_second.sql" in line for line in stale)
    generate.write_outputs(generate.build_outputs(paths, campaigns))
    assert not (tmp_path / "segment_models_dir" / "seg_second.sql").exists()
    assert generate.stale_files(generate.build_outputs(paths, campaigns)) == []


def campaign(**overrides):
    base = {
        "name": "cart_abandoners",
        "description": "A test campaign.",
        "owner": "tests@senmart.vn",
        "segment": "known",
        "channel": "email",
        "destinations": ["email"],
        "control_share": 0.1,
        "variants": [
            {"name": "a", "share": 0.45, "template": "t_a"},
            {"name": "b", "share": 0.45, "template": "t_b"},
        ],
    }
    base.update(overrides)
    return base


def campaign_problems(tmp_path: Path, campaigns: list[dict], **top) -> list[str]:
    path = tmp_path / "campaigns.yml"
    path.write_text(yaml.safe_dump({"campaigns": campaigns, **top}, allow_unicode=True), encoding="utf-8")
    with pytest.raises(SegmentDefinitionError) as caught:
        load_campaigns({"known"}, load_catalog(), path)
    return caught.value.problems


def test_a_valid_campaign_loads(tmp_path: Path):
    path = tmp_path / "campaigns.yml"
    path.write_text(yaml.safe_dump({"campaigns": [campaign(name="cart_abandoners")]}), encoding="utf-8")
    parsed = load_campaigns({"known"}, load_catalog(), path)
    assert parsed.campaigns[0].capped and parsed.settings.cart_reminder_hours == [3, 5, 7]


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"segment": "unknown_segment"}, "segment: unknown segment 'unknown_segment'"),
        ({"exclude_segments": ["nope"]}, "exclude_segments: unknown segment 'nope'"),
        ({"control_share": 0.2}, "must add up to 1, got 1.1"),
        ({"destinations": ["meta"]}, "destination 'meta' is not a email destination"),
        ({"channel": None}, "set either channel"),
        (
            {"channel": None, "best_channel": True, "destinations": ["email", "google"]},
            "'google' is an ad platform",
        ),
        (
            {"channel": "push", "destinations": ["push"]},
            "variant 'a' needs title and body for destination 'push'",
        ),
        ({"properties": ["cart.stages"]}, "properties[0]: unknown profile field 'cart.stages'"),
        ({"occasion": "cart.stage"}, "occasion: 'cart.stage' is integer, a timestamp field is needed"),
        ({"variants": [{"name": "control", "share": 0.9, "template": "x"}]}, "'control' is reserved"),
        ({"name": "Bad Name"}, "name:"),
        ({"channel": "fax"}, "channel:"),
    ],
)
def test_campaign_mistakes_name_the_campaign_and_key(tmp_path: Path, overrides, expected):
    problems = campaign_problems(tmp_path, [campaign(**overrides)])
    assert any(expected in p for p in problems), problems
    assert all("campaigns.yml" in p for p in problems)


def test_cap_and_settings_mistakes(tmp_path: Path):
    problems = campaign_problems(
        tmp_path,
        [campaign(name="cart_abandoners")],
        frequency_caps=[{"channel": "fax", "period": "day", "max_contacts": 1}],
    )
    assert any("unknown channel 'fax'" in p for p in problems)
    problems = campaign_problems(
        tmp_path, [campaign(name="cart_abandoners")], settings={"cart_reminder_hours": [5, 3]}
    )
    assert any("strictly increasing" in p for p in problems)
    problems = campaign_problems(tmp_path, [campaign(name="other")])
    assert any("settings.cart_campaign: no campaign named 'cart_abandoners'" in p for p in problems)


def test_variant_buckets_partition_the_unit_interval():
    outputs = generate.build_outputs()
    rows = list(csv.DictReader(io.StringIO(outputs.files[generate.SEEDS_DIR / "campaign_variants.csv"])))
    by_campaign: dict[str, list[tuple[float, float]]] = {}
    for row in rows:
        by_campaign.setdefault(row["campaign"], []).append(
            (float(row["bucket_from"]), float(row["bucket_to"]))
        )
    for name, buckets in by_campaign.items():
        buckets.sort()
        assert buckets[0][0] == 0 and buckets[-1][1] == 1, name
        assert all(a[1] == b[0] for a, b in zip(buckets, buckets[1:], strict=False)), name
    controls = {row["campaign"]: float(row["share"]) for row in rows if row["variant"] == "control"}
    config = {c.name: c.control_share for c in outputs.campaigns.campaigns}
    assert controls == {name: share for name, share in config.items() if share > 0}


def test_every_campaign_destination_has_an_audience_model_and_tests():
    outputs = generate.build_outputs()
    for c in outputs.campaigns.campaigns:
        for d in c.destinations:
            path = generate.AUDIENCES_DIR / f"audience_{c.name}_{d.value}.sql"
            assert path in outputs.files
            assert f"campaign='{c.name}'" in outputs.files[path]
            assert (
                f"ref('audience_{c.name}_{d.value}')"
                in outputs.files[generate.AUDIENCES_DIR / "audience_members.sql"]
            )
    for test in ("assert_audiences_have_consent.sql", "assert_audiences_exclude_controls_and_holdbacks.sql"):
        assert "ref('audience_members')" in outputs.files[generate.TESTS_DIR / test]
