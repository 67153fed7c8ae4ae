"""Opt-in households (--household-rate, --household-guests): shared laptops that carry guests and anonymous
members, the case that made identity resolution merge two people (issue 19)."""

from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path

import pytest

from data_samples.generate import main


def _csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_household_laptops_carry_guests(tmp_path: Path) -> None:
    out, truth = tmp_path / "sample", tmp_path / "truth"
    argv = ["--people", "1500", "--out", str(out), "--truth", str(truth), "--seed", "3", "--no-progress"]
    assert main([*argv, "--household-rate", "0.04", "--household-guests"]) == 0
    households = {r["value"] for r in _csv(truth / "traps.csv") if r["type"] == "household_anonymous_id"}
    assert 20 <= len(households) <= 30  # 4% of 1,500 people, two per laptop
    customers_on: dict[str, set[str]] = defaultdict(set)
    guest_orders = 0
    for order in _csv(out / "orders" / "orders.csv"):
        if order["anonymous_id"] in households:
            if order["customer_id"]:
                customers_on[order["anonymous_id"]].add(order["customer_id"])
            elif order["email"] or order["phone"]:
                guest_orders += 1
    assert guest_orders > 0  # someone checked out as a guest on a shared laptop
    known = {r["identifier_value"] for r in _csv(truth / "identifiers.csv")}
    assert not households & known  # a shared laptop is nobody's identifier in the ground truth


def test_household_guests_need_a_rate() -> None:
    with pytest.raises(SystemExit):
        main(["--people", "10", "--household-guests"])
