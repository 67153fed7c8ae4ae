"""The live lane end to end: events from the Segment SDK through the collector, live cycles at a controlled
clock, cart reminders on the stand-in FCM and Zalo servers: one message per person, cart and stage, none after
an order, none on a rerun; the stages of one cart are one contact against the frequency caps.

The nightly build runs first (the committed sample, as of 2026-11-21 00:00 UTC, syncs dry). Carts are filled at
00:10; the live cycles run at 03:15, 05:15 (twice) and 07:15, as the sensor would run them with its `sen/as_of`.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import duckdb
import httpx
import pytest

from reverse_etl.testing.standins import FcmStandin, ZaloStandin
from sen.settings import REPO_ROOT

# `unproven`: not yet green end to end, kept out of `make test` (run it with `pytest -m unproven`). On 2026-12-08
# its first cycle passed (stage 1, the order, the merge moving X's events in person_events) and the run then hit
# the 900 s timeout in the second cycle: the nightly build took 9 min and a cycle 5 min on the loaded machine.
pytestmark = [pytest.mark.e2e, pytest.mark.unproven, pytest.mark.timeout(2400)]

T0 = datetime(2026, 11, 21, 0, 0, tzinfo=UTC)  # the nightly build's reference time
CART_AT = T0 + timedelta(minutes=10)
WRITE_KEY = "wk-live-server"
FCM_TOKEN = "ya29.live-fcm-SECRET"
ZALO_TOKEN = "zalo-live-SECRET"
SKU, PRICE = "HOM-10358", 239000


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def pick_people(warehouse: Path) -> dict[str, tuple[str, str]]:
    """role -> (person_id, customer id sent as userId)."""
    conn = duckdb.connect(str(warehouse), read_only=True)
    try:
        rows = conn.execute(
            """with best as (
                select person_id, arg_min(channel, channel_rank) as channel from marts.channel_ranking
                where channel in ('email', 'push', 'zalo') group by 1)
            select best.person_id, best.channel, min(ids.identifier_value)
            from best
            join marts.customer_identifiers ids
              on ids.person_id = best.person_id and ids.identifier_type = 'customer_id'
            left join marts.service_recovery s on s.person_id = best.person_id and s.has_open_ticket
            left join marts.cart_abandonment c on c.person_id = best.person_id
            where s.person_id is null and c.person_id is null and best.channel in ('push', 'zalo')
              -- outside the control group: the bucket of campaign_assignments (macro hash_bucket) past it
              and cast(('0x' || substr(md5(concat_ws('||', 'cart_abandoners', best.person_id)), 1, 8)) as ubigint)
                  / 4294967296.0 >= (select max(bucket_to) from reference.campaign_variants
                                     where campaign = 'cart_abandoners' and variant = 'control')
            group by 1, 2 order by 1"""
        ).fetchall()
        # an anonymous visitor with events but no cart or order: merged into D by an identify during the test
        visitor = conn.execute(
            """select min(ids.identifier_value), ids.person_id
            from marts.customer_identifiers ids
            where ids.identifier_type = 'anonymous_id'
              and ids.person_id not in (select person_id from marts.customer_identifiers
                                        where identifier_type <> 'anonymous_id')
              and ids.person_id in (select person_id from marts.person_events)
              and ids.person_id not in (select person_id from marts.person_events
                                        where event_name in ('product_added', 'order_completed'))
            group by 2 order by 2 limit 1"""
        ).fetchone()
    finally:
        conn.close()
    push = [(p, u) for p, ch, u in rows if ch == "push"]
    zalo = [(p, u) for p, ch, u in rows if ch == "zalo"]
    assert len(push) >= 6 and zalo and visitor, "the sample has too few push/Zalo people for this test"
    return {
        "A": push[0],
        "B": push[1],
        "C": push[2],
        "D": push[3],
        "Z": zalo[0],
        "X": (visitor[1], visitor[0]),
    }


class Collector:
    def __init__(self, env: dict[str, str], log: Path):
        self.env, self.log, self.port = env, log, free_port()
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> str:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "sen.collect", "--port", str(self.port)],
            cwd=REPO_ROOT,
            env=self.env,
            stdout=open(self.log, "ab"),  # noqa: SIM115 - owned by the process
            stderr=subprocess.STDOUT,
        )
        url = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    return url
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError(f"collector did not start: {self.log.read_text(errors='replace')[-2000:]}")

    def __exit__(self, *exc) -> None:  # SIGTERM: the open segment is synced and published
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=30)


def send(collector_env: dict[str, str], log: Path, calls: list[tuple[str, dict]]) -> None:
    """Send through Segment's Python SDK (the real client) and wait until it has been answered."""
    from segment.analytics import Client

    with Collector(collector_env, log) as url:
        errors: list = []
        client = Client(write_key=WRITE_KEY, host=url, sync_mode=True, on_error=lambda e, b: errors.append(e))
        for method, kwargs in calls:
            getattr(client, method)(**kwargs)
        client.flush()
        assert not errors, errors


def cart_calls(user_id: str, cart: str, at: datetime) -> list[tuple[str, dict]]:
    return [
        ("identify", {"user_id": user_id, "anonymous_id": f"anon-{user_id}", "timestamp": at}),
        (
            "track",
            {
                "user_id": user_id,
                "anonymous_id": f"anon-{user_id}",
                "event": "product_added",
                "properties": {"cart_id": cart, "sku": SKU, "price": PRICE, "quantity": 1, "currency": "VND"},
                "timestamp": at + timedelta(minutes=1),
            },
        ),
    ]


def order_calls(user_id: str, at: datetime) -> list[tuple[str, dict]]:
    return [
        (
            "track",
            {
                "user_id": user_id,
                "event": "order_completed",
                "properties": {"order_id": f"web-{user_id}", "total": PRICE, "currency": "VND"},
                "timestamp": at,
            },
        )
    ]


@pytest.fixture(scope="module")
def lane(tmp_path_factory):
    root = tmp_path_factory.mktemp("live")
    data = root / "data"
    shutil.copytree(REPO_ROOT / "data_samples" / "sample", data)
    warehouse = root / "sen.duckdb"
    base = {k: v for k, v in os.environ.items() if not k.startswith(("CDP_", "DAGSTER_HOME"))}
    base.update(
        CDP_DATA_DIR=str(data),
        CDP_WAREHOUSE=str(warehouse),
        CDP_SERVING=str(root / "serving.duckdb"),
    )
    nightly = subprocess.run(
        [sys.executable, "-m", "orchestration.cli", "build"],
        cwd=REPO_ROOT,
        env={**base, "CDP_AS_OF": T0.isoformat()},
        capture_output=True,
        text=True,
    )
    assert nightly.returncode == 0, nightly.stdout[-4000:] + nightly.stderr[-4000:]
    fcm = FcmStandin(token=FCM_TOKEN, project_id="sen-retail-app").__enter__()
    zalo = ZaloStandin(token=ZALO_TOKEN, template_ids={"cart_reminder_a", "cart_reminder_b"}).__enter__()
    env = {
        **base,
        "FCM_ACCESS_TOKEN": FCM_TOKEN,
        "FCM_BASE_URL": fcm.base_url,
        "ZALO_OA_ACCESS_TOKEN": ZALO_TOKEN,
        "ZALO_BASE_URL": zalo.base_url,
        # the ad-suppression and service-recovery syncs have no credentials here: they run dry, as documented
    }
    collector_env = {
        **env,
        "CDP_COLLECT_WRITE_KEYS": f"server={WRITE_KEY}",
        "CDP_COLLECT_SEGMENT_MAX_SECONDS": "1",
        "CDP_COLLECT_MIN_FREE_BYTES": "0",
    }
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        yield {
            "root": root,
            "data": data,
            "warehouse": warehouse,
            "fcm": fcm,
            "zalo": zalo,
            "people": pick_people(warehouse),
            "send": lambda calls: send(collector_env, root / "collector.log", calls),
        }
    finally:
        os.environ.clear()
        os.environ.update(saved)
        fcm.__exit__(None, None, None)
        zalo.__exit__(None, None, None)


def cycle(at: datetime) -> None:
    from orchestration.live import run_live

    result = run_live(at)
    failures = [
        (e.step_key, e.event_specific_data.error.message[:1500] if e.event_specific_data.error else "")
        for e in result.all_events
        if e.event_type_value == "STEP_FAILURE"
    ]
    assert result.success, failures


def push_stages(fcm: FcmStandin, token: str) -> list[str]:
    return [m["data"].get("stage") for m in fcm.messages if m["token"] == token]


def query(warehouse: Path, sql: str, params: list | None = None) -> list[tuple]:
    conn = duckdb.connect(str(warehouse), read_only=True)
    try:
        return conn.execute(sql, params or []).fetchall()
    finally:
        conn.close()


def test_cart_reminders_once_per_stage_none_after_an_order(lane) -> None:
    people, fcm, zalo, warehouse = lane["people"], lane["fcm"], lane["zalo"], lane["warehouse"]
    (a, a_user), (b, b_user), (c, c_user), (z, z_user) = (people[r] for r in "ABCZ")
    # 00:10 four carts; C orders at 01:10, before its first reminder is due
    calls = []
    for user, cart in [
        (a_user, "cart-live-a"),
        (b_user, "cart-live-b"),
        (c_user, "cart-live-c"),
        (z_user, "cart-live-z"),
    ]:
        calls += cart_calls(user, cart, CART_AT)
    # D logs in on the device an anonymous visitor X browsed with: X's person is merged into D's
    (d, d_user), (x, x_anonymous) = people["D"], people["X"]
    before = dict(
        query(
            warehouse, "select event_id, person_id from marts.person_events where person_id in (?, ?)", [d, x]
        )
    )
    assert x in before.values() and d in before.values()
    calls.append(("identify", {"user_id": d_user, "anonymous_id": x_anonymous, "timestamp": CART_AT}))
    lane["send"](calls + order_calls(c_user, CART_AT + timedelta(hours=1)))
    landed = list((lane["data"] / "events" / "collect").rglob("*.jsonl"))
    assert landed, "the collector published no segment"

    # The sample's own abandoned carts (up to 2026-11-20) are messaged too: the nightly build ran dry. The
    # assertions are about the four people above; a rerun must send nothing at all.
    cycle(CART_AT + timedelta(hours=3, minutes=5))  # stage 1 (due 03:11) for A, B, Z
    tokens = dict(
        query(warehouse, "select person_id, push_token from marts.person_push_tokens where token_rank = 1")
    )
    phone = query(
        warehouse, "select phone from audiences.audience_cart_abandoners_zalo where person_id = ?", [z]
    )
    assert len(phone) == 1
    zalo_to_z = lambda: [m for m in zalo.messages if m["phone"] == phone[0][0]]  # noqa: E731
    assert push_stages(fcm, tokens[a]) == ["1"] and push_stages(fcm, tokens[b]) == ["1"]
    assert tokens.get(c) is None or push_stages(fcm, tokens[c]) == []  # ordered in between: nothing
    assert len(zalo_to_z()) == 1  # Z, on its best channel
    # the live cycle updated person_events in place: D's and X's earlier events are now the merged person's
    merged = query(
        warehouse,
        "select person_id from identity.identifier_person_map "
        "where identifier_type = 'customer_id' and identifier_value = ?",
        [d_user],
    )
    assert len(merged) == 1
    after = dict(
        query(
            warehouse,
            "select event_id, person_id from marts.person_events where event_id in (select unnest(?))",
            [list(before)],
        )
    )
    assert after == {event: merged[0][0] for event in before}

    # B orders at 04:10; the next cycle loads it with the new segments
    lane["send"](order_calls(b_user, CART_AT + timedelta(hours=4)))
    cycle(CART_AT + timedelta(hours=5, minutes=5))  # stage 2 (due 05:11)
    assert push_stages(fcm, tokens[a]) == ["1", "2"]
    assert push_stages(fcm, tokens[b]) == ["1"]  # bought: no second reminder
    # Z's stage 2 goes out although the Zalo cap is 1 a day: the stages of one cart are one contact (a second
    # program the same day is still held back: dbt unit test frequency_caps_count_a_journey_once)
    assert len(zalo_to_z()) == 2
    assert query(
        warehouse,
        "select status, continues_journey from marts.campaign_deliveries "
        "where campaign = 'cart_abandoners' and person_id = ?",
        [z],
    ) == [("send", True)]
    assert not query(
        warehouse, "select * from marts.frequency_cap_holdbacks where person_id in (?, ?)", [a, z]
    )

    sent = (len(fcm.messages), len(zalo.messages))
    cycle(CART_AT + timedelta(hours=5, minutes=5))  # a rerun of the same cycle sends nothing at all
    assert (len(fcm.messages), len(zalo.messages)) == sent

    cycle(CART_AT + timedelta(hours=7, minutes=5))  # stage 3 (due 07:11): A's third push of the day
    assert push_stages(fcm, tokens[a]) == [
        "1",
        "2",
        "3",
    ]  # one journey: the push cap (2 a day) counts it once
    assert len(zalo_to_z()) == 3
    assert not query(
        warehouse, "select * from marts.frequency_cap_holdbacks where person_id in (?, ?)", [a, z]
    )
    # one ledger row per message, keyed by person, cart and stage
    ledger = query(
        warehouse,
        "select person_id, count(*), count(distinct message_key) from sync.contact_ledger "
        "where campaign = 'cart_abandoners' and person_id in (?, ?, ?, ?) group by 1",
        [a, b, c, z],
    )
    assert sorted(ledger) == sorted([(a, 3, 3), (b, 1, 1), (z, 3, 3)])
    keys = {
        k for (k,) in query(warehouse, "select primary_key from sync.message_outbox where status = 'sent'")
    }
    assert {f"cart_abandoners:{a}:cart-live-a:{stage}" for stage in (1, 2, 3)} <= keys


def test_the_live_updates_of_person_events_equal_a_full_rebuild(lane, tmp_path) -> None:
    """After the cycles above (new events, a merge of two persons), person_events and int_record_persons, updated
    in place by the live runs, hold what the nightly build's full rebuild of them gives."""
    copy = tmp_path / "rebuilt.duckdb"
    shutil.copy(lane["warehouse"], copy)
    project = REPO_ROOT / "dbt_project"
    args = [
        str(Path(sys.executable).with_name("dbt")),
        "run",
        "--select",
        "int_record_persons",
        "person_events",
    ]
    args += ["--vars", json.dumps({"as_of": "2026-11-21 07:15:00"}), "--project-dir", str(project)]
    args += ["--profiles-dir", str(project), "--target-path", str(tmp_path / "target")]
    args += ["--log-path", str(tmp_path / "logs")]
    run = subprocess.run(
        args, env={**os.environ, "CDP_WAREHOUSE": str(copy)}, capture_output=True, text=True, timeout=600
    )
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    conn = duckdb.connect(str(copy), read_only=True)
    try:
        conn.execute(f"attach '{lane['warehouse']}' as live (read_only)")
        for table, columns in [
            ("intermediate.int_record_persons", "record_source, record_id, person_id, _loaded_at"),
            ("marts.person_events", "* exclude (_identity_at)"),
        ]:
            counts = conn.execute(
                f"select count(*), (select count(*) from live.{table}) from {table}"
            ).fetchone()
            assert counts[0] == counts[1] and counts[0] > 0, (table, counts)
            differ = conn.execute(
                f"select count(*) from ((select {columns} from {table} except all "
                f"select {columns} from live.{table}) union all (select {columns} from live.{table} "
                f"except all select {columns} from {table}))"
            ).fetchone()[0]
            assert differ == 0, (table, differ)
    finally:
        conn.close()


def test_the_sensor_asks_for_a_live_run_and_waits_for_a_running_build(lane) -> None:
    from orchestration.dbt.target import dbt_target_dir
    from orchestration.definitions import build_definitions
    from orchestration.live import LIVE_JOB, LIVE_TAG, live_lane

    defs = build_definitions(dbt_target_dir(lane["warehouse"]))
    repository = defs.get_repository_def()
    with dg.instance_for_test() as instance:
        request = live_lane(dg.build_sensor_context(instance=instance, repository_def=repository))
        assert isinstance(request, dg.RunRequest)
        assert request.tags[LIVE_TAG] == "1" and request.tags["sen/warehouse"] == "write"
        assert "sen/as_of" in request.tags and request.partition_key
        keys = set(request.asset_selection)
        assert dg.AssetKey(["raw", "events"]) in keys
        assert dg.AssetKey(["reverse_etl", "fcm_cart_abandoners"]) in keys
        assert dg.AssetKey(["reverse_etl", "meta_recent_buyers_suppression"]) in keys
        assert dg.AssetKey(["marts", "frequency_cap_holdbacks"]) in keys  # the holdbacks of this cycle
        assert dg.AssetKey(["reference", "campaigns"]) in keys  # the seeds the live syncs read
        # the nightly-only work is not in it
        assert dg.AssetKey(["reverse_etl", "klaviyo_winback"]) not in keys
        assert dg.AssetKey(["raw", "orders"]) in keys  # a buyer leaves the ad audiences within a cycle
        assert dg.AssetKey(["raw", "products"]) not in keys
        assert not any(k.path[0] == "clv" for k in keys)
        # while a warehouse run is in progress, the tick is skipped (one writer at a time)
        job = repository.get_job(LIVE_JOB)
        instance.create_run_for_job(job, tags={"sen/warehouse": "write"}, status=dg.DagsterRunStatus.STARTED)
        skipped = live_lane(dg.build_sensor_context(instance=instance, repository_def=repository))
        assert isinstance(skipped, dg.SkipReason) and "holds the warehouse" in skipped.skip_message


def test_the_file_sensor_leaves_collector_segments_to_the_live_lane(lane) -> None:
    from orchestration.sensors import scan_data_files

    found = scan_data_files(lane["data"])
    assert any(p.startswith("events/") for p in found)  # the nightly event files are still watched
    assert not any(p.startswith("events/collect/") for p in found)
    assert list((lane["data"] / "events" / "collect").rglob("*.jsonl"))


def test_segments_are_read_from_the_collector_with_every_field(lane) -> None:
    rows = query(
        lane["warehouse"],
        "select event, user_id, properties from raw.events where _source_file like '%/collect/%' "
        "and event = 'product_added' order by user_id",
    )
    assert len(rows) == 4 and all(json.loads(p)["cart_id"].startswith("cart-live-") for _, _, p in rows)
