"""The landing zone: group commit, atomic publication, crash recovery, several writers on one folder."""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
import threading

import pytest

from sen.collect.landing import OPEN_SUFFIX, SUBFOLDER, LandingError, SegmentWriter, recover_orphans
from sen.ingest.readers import accepted_file


def line(i: int) -> bytes:
    return json.dumps({"messageId": f"m-{i}", "type": "track"}).encode() + b"\n"


def published(landing) -> list:
    return sorted(p for p in (landing / SUBFOLDER).rglob("*") if accepted_file(p))


def test_concurrent_requests_share_fsyncs_and_none_returns_before_its_sync(tmp_path, monkeypatch):
    syncs: list[int] = []
    real_fdatasync = os.fdatasync
    writer = SegmentWriter(tmp_path, max_seconds=3600)
    synced_bytes = {"n": 0}

    def counting_fdatasync(fd):
        real_fdatasync(fd)
        syncs.append(fd)
        synced_bytes["n"] = os.fstat(fd).st_size

    monkeypatch.setattr(os, "fdatasync", counting_fdatasync)
    writer.start()

    async def one(i: int) -> int:
        await writer.append([line(i)])
        return synced_bytes["n"]  # how much of the segment was synced when this request was answered

    async def many():
        return await asyncio.gather(*(one(i) for i in range(500)))

    synced_at_answer = asyncio.run(many())
    writer.stop()
    assert len(syncs) < 500, "requests waiting together share one fsync"
    [segment] = published(tmp_path)
    content = segment.read_bytes()
    assert len(content.splitlines()) == 500
    for i, synced in enumerate(synced_at_answer):
        end = content.index(line(i)) + len(line(i))
        assert end <= synced, f"request {i} was answered before its line was synced"


def test_open_segment_is_invisible_to_the_ingestion_until_published(tmp_path):
    writer = SegmentWriter(tmp_path, max_seconds=3600)
    writer.start()
    asyncio.run(writer.append([line(1)]))
    open_files = [p for p in (tmp_path / SUBFOLDER).rglob("*") if p.is_file()]
    assert len(open_files) == 1 and open_files[0].name.endswith(OPEN_SUFFIX)
    assert published(tmp_path) == []
    writer.stop()
    assert len(published(tmp_path)) == 1


def test_segments_rotate_by_size(tmp_path):
    writer = SegmentWriter(tmp_path, max_bytes=200, max_seconds=3600)
    writer.start()

    async def send():
        for i in range(20):
            await writer.append([line(i)])

    asyncio.run(send())
    writer.stop()
    files = published(tmp_path)
    assert len(files) > 3
    ids = [json.loads(x)["messageId"] for f in files for x in f.read_text().splitlines()]
    assert sorted(ids) == sorted(f"m-{i}" for i in range(20))


def test_recovery_publishes_a_dead_writers_segment_without_its_torn_line(tmp_path):
    folder = tmp_path / SUBFOLDER / "2026-12-07"
    folder.mkdir(parents=True)
    orphan = folder / f".events-x-1{OPEN_SUFFIX}"
    orphan.write_bytes(line(1) + line(2) + b'{"messageId": "m-3", "ty')
    assert recover_orphans(tmp_path) == [folder / "events-x-1.jsonl"]
    assert (folder / "events-x-1.jsonl").read_bytes() == line(1) + line(2)
    assert not orphan.exists()


def test_recovery_leaves_a_live_writers_segment_alone(tmp_path):
    folder = tmp_path / SUBFOLDER / "2026-12-07"
    folder.mkdir(parents=True)
    live = folder / f".events-live{OPEN_SUFFIX}"
    live.write_bytes(line(1))
    fd = os.open(live, os.O_RDWR)
    fcntl.flock(fd, fcntl.LOCK_EX)  # another process (here: another open file description) owns it
    try:
        assert recover_orphans(tmp_path) == []
        assert live.exists()
    finally:
        os.close(fd)


def test_two_writers_share_a_landing_zone(tmp_path):
    writers = [SegmentWriter(tmp_path, max_bytes=300, max_seconds=3600) for _ in range(2)]
    for writer in writers:
        writer.start()

    def run(writer: SegmentWriter, offset: int) -> None:
        async def send():
            for i in range(50):
                await writer.append([line(offset + i)])

        asyncio.run(send())

    threads = [threading.Thread(target=run, args=(w, k * 1000)) for k, w in enumerate(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for writer in writers:
        writer.stop()
    ids = [json.loads(x)["messageId"] for f in published(tmp_path) for x in f.read_text().splitlines()]
    assert sorted(ids) == sorted([f"m-{i}" for i in range(50)] + [f"m-{1000 + i}" for i in range(50)])


def test_a_failed_write_is_not_acknowledged_and_leaves_no_partial_lines(tmp_path, monkeypatch):
    writer = SegmentWriter(tmp_path, max_seconds=3600)
    writer.start()
    asyncio.run(writer.append([line(1)]))
    real_fdatasync = os.fdatasync
    calls = {"n": 0}

    def failing_once(fd):
        calls["n"] += 1
        if calls["n"] == 1:
            raise OSError(28, "No space left on device")
        real_fdatasync(fd)

    monkeypatch.setattr(os, "fdatasync", failing_once)
    with pytest.raises(LandingError, match="No space left"):
        asyncio.run(writer.append([line(2)]))
    asyncio.run(writer.append([line(3)]))
    writer.stop()
    [segment] = published(tmp_path)
    assert segment.read_bytes() == line(1) + line(3)
