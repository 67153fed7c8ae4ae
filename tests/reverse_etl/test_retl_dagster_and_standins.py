"""Dagster assets built from sync YAML; the stand-ins enforce each destination's contract."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import dagster as dg
import duckdb
import httpx
import yaml
from retl_helpers import META_MAPPING, base_sync, make_audience

from orchestration.assets.syncs import SyncRunConfig, build_sync_assets, build_sync_schedules
from orchestration.run_clock import RunClock
from reverse_etl.testing.standins import FcmStandin, MetaStandin

REPO_SYNCS = Path(__file__).resolve().parents[2] / "reverse_etl" / "syncs"


def test_repository_syncs_become_assets_and_schedules() -> None:
    assets = build_sync_assets(REPO_SYNCS, lambda: "unused.duckdb")
    keys = {a.key for a in assets}
    assert dg.AssetKey(["reverse_etl", "meta_retargeting"]) in keys
    meta = next(a for a in assets if a.key == dg.AssetKey(["reverse_etl", "meta_retargeting"]))
    deps = {dep.asset_key for spec in meta.specs for dep in spec.deps}
    assert deps == {dg.AssetKey(["audiences", "audience_retargeting_meta"])}
    schedules = {s.name: s.cron_schedule for s in build_sync_schedules(REPO_SYNCS)}
    assert schedules["sync_meta_retargeting_schedule"] == "0 3 * * *"
    custom = build_sync_assets(REPO_SYNCS, lambda: "x", model_asset_key=lambda cfg: dg.AssetKey([cfg.model]))
    assert {dep.asset_key for a in custom for spec in a.specs for dep in spec.deps} >= {
        dg.AssetKey(["audience_retargeting_meta"])
    }


def test_sync_asset_materializes_with_metadata(tmp_path: Path, meta: MetaStandin) -> None:
    db = tmp_path / "wh.duckdb"
    with duckdb.connect(str(db)) as conn:
        make_audience(conn, 30)
    sync = base_sync(
        "meta_dagster",
        {
            "type": "meta_custom_audiences",
            "audience_id": "6100000000001",
            "token_env": "META_TOKEN",
            "base_url": meta.base_url,
        },
        META_MAPPING,
    )
    (tmp_path / "syncs").mkdir()
    (tmp_path / "syncs" / "meta.yml").write_text(yaml.safe_dump(sync))
    [asset] = build_sync_assets(tmp_path / "syncs", lambda: db)
    # invoked directly (a full dg.materialize costs ~10 s of Dagster start-up; the Definitions test covers it)
    result = asset(
        context=dg.build_asset_context(resources={"run_clock": RunClock()}), config=SyncRunConfig()
    )
    assert isinstance(result, dg.MaterializeResult)
    assert result.metadata["added"] == 30 and result.metadata["rejected"] == 0
    assert result.metadata["status"] == "success" and result.metadata["duration_s"] >= 0
    assert len(meta.members("EMAIL")) == 30
    # run config `dry_run: true` previews without sending (direct invocation: no run storage needed)
    dry = asset(
        context=dg.build_asset_context(resources={"run_clock": RunClock()}),
        config=SyncRunConfig(dry_run=True),
    )
    assert dry.metadata["dry_run"] is True and dry.metadata["added"] == 0
    assert len(meta.log) == 1


def _meta_post(
    meta: MetaStandin, data: list, seq: int = 1, session_id: int = 7, last: bool = True
) -> httpx.Response:
    body = {
        "access_token": meta.token,
        "payload": {"schema": ["EMAIL"], "data": data},
        "session": {"session_id": session_id, "batch_seq": seq, "last_batch_flag": last},
    }
    return httpx.post(f"{meta.base_url}/v27.0/6100000000001/users", json=body)


def test_meta_standin_contract(meta: MetaStandin) -> None:
    digest = hashlib.sha256(b"a@example.com").hexdigest()
    raw = _meta_post(meta, [["a@example.com"]])  # unhashed personal data
    assert raw.status_code == 400 and raw.json()["error"]["code"] == 100
    assert _meta_post(meta, [[digest]] * 10_001).json()["error"]["message"].startswith("(#100) Too many rows")
    assert (
        _meta_post(meta, [[digest]], seq=2, session_id=8)
        .json()["error"]["message"]
        .startswith("(#100) batch_seq must start at 1")
    )
    assert _meta_post(meta, [[digest]], seq=1, session_id=9, last=False).status_code == 200
    assert _meta_post(meta, [[digest]], seq=3, session_id=9).status_code == 400  # a gap
    form = httpx.post(
        f"{meta.base_url}/v27.0/6100000000001/users",
        data={
            "access_token": meta.token,
            "payload": json.dumps({"schema": "EMAIL_SHA256", "data": [digest]}),
            "session": json.dumps({"session_id": 10, "batch_seq": 1, "last_batch_flag": True}),
        },
    )
    assert form.status_code == 400  # data rows must be lists
    bad_token = httpx.post(f"{meta.base_url}/v27.0/6100000000001/users", params={"access_token": "nope"})
    assert bad_token.json()["error"]["code"] == 190
    assert meta.members("EMAIL") == {digest}


def test_fcm_standin_contract(fcm: FcmStandin) -> None:
    headers = {"Authorization": f"Bearer {fcm.token}"}
    url = f"{fcm.base_url}/v1/projects/sen-app/messages:send"
    number = httpx.post(url, headers=headers, json={"message": {"token": "t", "data": {"n": 1}}})
    assert number.status_code == 400  # data values must be strings
    big = httpx.post(url, headers=headers, json={"message": {"token": "t", "data": {"x": "y" * 4100}}})
    assert big.status_code == 400
    fcm.unregistered.add("dead")
    gone = httpx.post(url, headers=headers, json={"message": {"token": "dead"}})
    assert gone.status_code == 404 and gone.json()["error"]["details"][0]["errorCode"] == "UNREGISTERED"
    assert httpx.post(url, json={"message": {"token": "t"}}).status_code == 401
    assert fcm.messages == []
