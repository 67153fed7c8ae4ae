"""Churn-risk bands and CLV tiers."""

from __future__ import annotations

import numpy as np
import pytest

from sen.clv.bands import ChurnRules, ClvTiers, churn_risk, clv_tier


def test_churn_bands_use_p_alive_with_inclusive_medium_band() -> None:
    p = [0.05, 0.3, 0.5, 0.7, 0.95]
    bands = churn_risk(p, [2] * 5, [10.0] * 5)
    assert list(bands) == ["high", "medium", "medium", "medium", "low"]
    custom = churn_risk(p, [2] * 5, [10.0] * 5, ChurnRules(high_below=0.1, low_above=0.9))
    assert list(custom) == ["high", "medium", "medium", "medium", "low"]
    assert list(churn_risk([0.2, 0.8], [1, 1], [0.0, 0.0], ChurnRules(high_below=0.1, low_above=0.9))) == [
        "medium",
        "medium",
    ]


def test_single_buyers_are_banded_by_recency() -> None:
    # P(alive) = 1 for every single buyer under BG/NBD, so it cannot tell them apart.
    bands = churn_risk([1.0, 1.0, 1.0, 1.0], [0, 0, 0, 0], [10.0, 90.0, 91.0, 181.0])
    assert list(bands) == ["low", "low", "medium", "high"]
    strict = ChurnRules(min_frequency=2, recency_medium_days=30, recency_high_days=60)
    assert list(churn_risk([0.9, 0.9], [1, 2], [45.0, 45.0], strict)) == ["medium", "low"]
    with pytest.raises(ValueError, match="high_below <= low_above"):
        ChurnRules(high_below=0.8, low_above=0.2)


def test_tiers_have_the_configured_sizes() -> None:
    rng = np.random.default_rng(0)
    tiers = clv_tier(rng.gamma(1.0, 100.0, 1000), np.arange(1000))
    labels, counts = np.unique(tiers, return_counts=True)
    assert dict(zip(labels, counts, strict=True)) == {
        "top_1pct": 10,
        "top_10pct": 90,
        "top_50pct": 400,
        "rest": 500,
    }
    values = rng.gamma(1.0, 100.0, 1000)
    out = clv_tier(values, np.arange(1000))
    assert values[out == "top_1pct"].min() > values[out == "top_10pct"].max()
    assert list(clv_tier([5.0, 1.0], ["a", "b"], ClvTiers(tiers=(("top_half", 0.5),)))) == [
        "top_half",
        "rest",
    ]


def test_ties_are_broken_by_person_id_whatever_the_row_order() -> None:
    clv = np.array([10.0, 0.0, 10.0, 0.0] * 50)
    ids = np.array([f"p{i:03d}" for i in range(200)])
    out = clv_tier(clv, ids)
    order = np.random.default_rng(1).permutation(200)
    shuffled = clv_tier(clv[order], ids[order])
    assert list(shuffled) == list(out[order])
    # 100 customers tie at 10.0: the 2 with the smallest ids are the top 1%.
    assert sorted(ids[out == "top_1pct"]) == ["p000", "p002"]
    assert set(out[clv == 0.0]) == {"rest"}


def test_small_populations_do_not_force_a_top_tier() -> None:
    assert list(clv_tier([3.0, 2.0, 1.0], [1, 2, 3])) == ["top_50pct", "rest", "rest"]
    assert list(clv_tier([], [])) == []
