"""Segment assets show their member count: the dbt step adds `members` to every seg_* materialization."""

from __future__ import annotations

import logging

import dagster as dg
import duckdb

from orchestration.dbt.assets import run_dbt

SEG = dg.AssetKey(["marts", "seg_winback_inactive"])
OTHER = dg.AssetKey(["marts", "customers"])
NAMES = {"marts__seg_winback_inactive": SEG, "marts__customers": OTHER}


class FakeContext:
    log = logging.getLogger("test")
    # No segment selected through the context: run_dbt loads no parameters seed before dbt.
    selected_asset_keys = frozenset()

    def asset_key_for_output(self, name: str) -> dg.AssetKey:
        return NAMES[name]


class FakeDbt:
    def cli(self, args, context):
        class Invocation:
            def stream(self):
                yield dg.Output(None, output_name="marts__customers")
                yield dg.Output(None, output_name="marts__seg_winback_inactive")
                yield dg.AssetCheckResult(asset_key=SEG, check_name="unique", passed=True)

        return Invocation()


def test_segment_materializations_carry_their_member_count(tmp_path, monkeypatch):
    warehouse = tmp_path / "wh.duckdb"
    with duckdb.connect(str(warehouse)) as conn:
        conn.execute("create schema marts")
        conn.execute("create table marts.seg_winback_inactive as select * from range(3) t(person_id)")
    monkeypatch.setenv("CDP_WAREHOUSE", str(warehouse))
    events = list(run_dbt(FakeContext(), FakeDbt(), ["build"]))
    customers, segment, check = events
    assert "members" not in customers.metadata
    assert segment.metadata["members"].value == 3 and segment.metadata["dagster/row_count"].value == 3
    assert isinstance(check, dg.AssetCheckResult)  # order kept: the check follows its asset
