"""The live lane's pieces that need no warehouse: its setting, the file sensor's folders, the dbt window."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from orchestration.dbt.partitions import LIVE_TAG, run_window_vars
from orchestration.sensors import scan_data_files
from sen.settings import Settings


def test_live_interval_setting() -> None:
    assert Settings.from_env({}).live_interval_seconds == 180
    assert Settings.from_env({"CDP_LIVE_INTERVAL_SECONDS": "60"}).live_interval_seconds == 60
    with pytest.raises(ValueError, match="CDP_LIVE_INTERVAL_SECONDS='10'|CDP_LIVE_INTERVAL_SECONDS=10"):
        Settings.from_env({"CDP_LIVE_INTERVAL_SECONDS": "10"})
    with pytest.raises(ValueError, match="CDP_LIVE_INTERVAL_SECONDS"):
        Settings.from_env({"CDP_LIVE_INTERVAL_SECONDS": "often"})


def test_file_sensor_leaves_the_collector_folder_to_the_live_lane(tmp_path) -> None:
    (tmp_path / "events" / "collect" / "2026-12-07").mkdir(parents=True)
    (tmp_path / "events" / "2026-12-06.jsonl").write_text('{"type": "page"}\n')
    (tmp_path / "events" / "collect" / "2026-12-07" / "events-x.jsonl").write_text('{"type": "page"}\n')
    (tmp_path / "events" / "collectors_export.jsonl").write_text('{"type": "page"}\n')  # not the folder
    found = scan_data_files(tmp_path)
    assert sorted(found) == ["events/2026-12-06.jsonl", "events/collectors_export.jsonl"]


def test_a_live_run_takes_no_partition_window() -> None:
    as_of = datetime(2026, 11, 21, tzinfo=UTC)
    assert run_window_vars(as_of) == {"min_date": "2026-11-20", "max_date": "2026-11-21"}
    assert run_window_vars(as_of, live=True) == {"live": "true"}
    assert LIVE_TAG == "sen/live"
