"""The live lane under load: collector throughput, event-to-effect latency, CPU per live cycle.

What it runs (a script, not a timed test; state the command with the figures):

1. the nightly build on a history (``--data-dir``, default a copy of the committed sample) as of now, syncs dry
   (skip with ``--skip-build`` to reuse ``--workdir``'s warehouse);
2. the collector (``python -m sen.collect``, ``--workers`` processes), and stand-in FCM and Zalo servers in this
   process that stamp the time each message arrives;
3. ``--senders`` load-generator processes running Segment's Python SDK (segment-analytics-python, batches of
   100, gzip) for ``--seconds``: a realistic mix of page views, product views, identifies, cart adds and
   removes, orders, from anonymous visitors and known customers. Among them, ``--tracked`` carts of known
   customers whose best channel is push or Zalo are *backdated* by 3 h (the SDK's `timestamp`), so that their
   first reminder stage is due the moment they arrive: the latency measured is from arrival (the collector's
   `receivedAt`) to the effect;
4. the live lane, one cycle every ``--cycle-seconds`` (``python -m orchestration.live`` as a child process, as
   the sensor's run would), during the load and ``--drain-cycles`` more after it.

Reported: events/s the collector accepted (fsynced) during the load; p50/p95/p99 from a tracked cart's arrival
to (a) its row in the cart audience (`audience_cart_abandoners_push/zalo`, seen after each cycle) and (b) the
stand-in receiving its message; each cycle's wall time and CPU (user+sys of the cycle process and its dbt
children) next to the rows of raw.events, to show whether the cost grows with the history.

    flock /tmp/sen-heavy.lock .venv/bin/python bench/bench_live.py --seconds 300 --cycle-seconds 60
    # the issue's full size: a generated history of 1M people / 50M events (docs/data_generator.md), 15 minutes
    flock /tmp/sen-heavy.lock .venv/bin/python bench/bench_live.py --data-dir /data/gen-1m --seconds 900 \
        --cycle-seconds 180 --senders 2
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import random
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import httpx

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from reverse_etl.testing.standins import FcmStandin, ZaloStandin  # noqa: E402

WRITE_KEY = "bench-live-key"
FCM_TOKEN = "ya29.bench-live"
ZALO_TOKEN = "zalo-bench-live"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def stamped(base: type) -> type:
    """A stand-in noting when each message it accepted arrived."""

    class Stamped(base):
        def route(self, req):
            answer = super().route(req)
            now = time.time()
            with self.lock:
                for message in self.messages:
                    message.setdefault("_received", now)
            return answer

    return Stamped


def percentiles(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"n": 0, "p50": None, "p95": None, "p99": None, "max": None}
    ordered = sorted(values)

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)

    return {"n": len(ordered), "p50": at(0.5), "p95": at(0.95), "p99": at(0.99), "max": round(ordered[-1], 1)}


def known_people(warehouse: Path) -> tuple[list[str], list[tuple[str, str]]]:
    """Every customer id, and (person, customer id) of those whose best cart channel is push or Zalo."""
    conn = duckdb.connect(str(warehouse), read_only=True)
    try:
        customers = [
            r[0]
            for r in conn.execute(
                "select identifier_value from marts.customer_identifiers where identifier_type = 'customer_id'"
            ).fetchall()
        ]
        reachable = conn.execute(
            """with best as (
                select person_id, arg_min(channel, channel_rank) as channel from marts.channel_ranking
                where channel in ('email', 'push', 'zalo') group by 1)
            select best.person_id, min(ids.identifier_value)
            from best join marts.customer_identifiers ids
              on ids.person_id = best.person_id and ids.identifier_type = 'customer_id'
            left join marts.cart_abandonment c on c.person_id = best.person_id
            where best.channel in ('push', 'zalo') and c.person_id is null
            group by 1 order by 1"""
        ).fetchall()
    finally:
        conn.close()
    return customers, reachable


def sender(url: str, seconds: float, seed: int, customers: list[str], tracked: list[str], out) -> None:
    """One SDK client sending the mix for `seconds`; the tracked carts go first, backdated by 3 h."""
    from segment.analytics import Client

    rng = random.Random(seed)
    client = Client(write_key=WRITE_KEY, host=url, gzip=True, upload_size=100, max_queue_size=200_000)
    now = datetime.now(UTC)
    for user in tracked:
        cart = f"bench-cart-{user}"
        client.identify(user_id=user, anonymous_id=f"anon-{user}")
        client.track(
            user_id=user,
            event="product_added",
            properties={
                "cart_id": cart,
                "sku": "HOM-10358",
                "price": 239000,
                "quantity": 1,
                "currency": "VND",
            },
            timestamp=now - timedelta(hours=3),
        )
    sent = 2 * len(tracked)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if client.queue.qsize() > 50_000:  # the SDK drops events when its queue is full: let it drain
            time.sleep(0.05)
            continue
        user = rng.choice(customers) if rng.random() < 0.3 else None
        # a known customer browses from one of their own two browsers, as people do: a new anonymous id per
        # session would give each customer dozens of them within minutes, which the identity cluster alarm
        # rightly stops (it did, 2026-12-08, on the sample's 1.3k customers)
        session = uuid.uuid4().hex
        anon = f"anon-{user}-{rng.randrange(2)}" if user else session
        ids = {"anonymous_id": anon, **({"user_id": user} if user else {})}
        for _ in range(3):
            client.page(name="Danh mục", properties={"path": f"/danh-muc/{rng.randrange(40)}"}, **ids)
        sku = f"GRO-{10000 + rng.randrange(500)}"
        client.track(event="product_viewed", properties={"sku": sku, "price": 99000}, **ids)
        sent += 4
        if user and rng.random() < 0.3:
            client.identify(traits={"locale": "vi-VN"}, **ids)
            sent += 1
        if rng.random() < 0.15:  # an abandoned cart of the moment (its stages come due in 3 h)
            cart = f"cart-{session[:12]}"
            client.track(
                event="product_added", properties={"cart_id": cart, "sku": sku, "price": 99000}, **ids
            )
            sent += 1
            if user and rng.random() < 0.3:
                client.track(event="order_completed", properties={"order_id": f"o-{session[:10]}"}, **ids)
                sent += 1
    client.flush()
    client.join()
    out.put(sent)


def landed_events(data_dir: Path, since: float = 0.0) -> tuple[int, dict[str, float]]:
    """Lines in the published segments, and the receivedAt of each tracked cart (by user id) received at or
    after `since` (a rerun on the same workdir must not see the earlier run's carts)."""
    total, arrivals = 0, {}
    for path in (data_dir / "events" / "collect").rglob("*.jsonl"):
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                total += 1
                if '"bench-cart-' in line:
                    event = json.loads(line)
                    received = datetime.fromisoformat(event["receivedAt"].replace("Z", "+00:00")).timestamp()
                    if received < since:
                        continue
                    arrivals[event["userId"]] = min(received, arrivals.get(event["userId"], received))
    return total, arrivals


def audience_keys(warehouse: Path) -> set[str]:
    conn = duckdb.connect(str(warehouse), read_only=True)
    try:
        return {
            r[0]
            for table in ("audience_cart_abandoners_push", "audience_cart_abandoners_zalo")
            for r in conn.execute(f"select message_key from audiences.{table}").fetchall()
        }
    finally:
        conn.close()


def raw_event_rows(warehouse: Path) -> int:
    conn = duckdb.connect(str(warehouse), read_only=True)
    try:
        return conn.execute("select count(*) from raw.events").fetchone()[0]
    finally:
        conn.close()


# dbt's line for a model it built, e.g. "2 of 2 OK created sql incremental model marts.person_events ... [OK in 0.32s]"
MODEL_LINE = re.compile(r"OK created sql (\w+) model (\w+)\.(\w+) .*? in (\d+(?:\.\d+)?)s\]")
# the per-record tables a live run updates in place (the nightly build rebuilds them): their cost per cycle
WATCHED_MODELS = ("int_record_persons", "person_events", "stg_tracking__events", "int_identifier_occurrences")


def model_seconds(log: Path, offset: int) -> dict[str, str]:
    """The build time and materialization dbt reported for WATCHED_MODELS in the log after `offset`."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", log.read_bytes()[offset:].decode("utf-8", "replace"))
    return {m[2]: f"{m[3]} s ({m[0]})" for m in MODEL_LINE.findall(text) if m[2] in WATCHED_MODELS}


def run_cycle(env: dict[str, str], log: Path) -> dict:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    offset = log.stat().st_size if log.exists() else 0
    started = time.monotonic()
    with open(log, "ab") as handle:
        done = subprocess.run(
            [sys.executable, "-m", "orchestration.live"],
            cwd=REPO,
            env=env,
            stdout=handle,
            stderr=subprocess.STDOUT,
        )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {
        "ok": done.returncode == 0,
        "wall_s": round(time.monotonic() - started, 1),
        "cpu_s": round((after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), 1),
        "models": model_seconds(log, offset),
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/sen-bench-live"))
    parser.add_argument("--data-dir", type=Path, default=REPO / "data_samples" / "sample")
    parser.add_argument("--skip-build", action="store_true", help="reuse the workdir's warehouse")
    parser.add_argument("--seconds", type=float, default=300)
    parser.add_argument("--cycle-seconds", type=float, default=60)
    parser.add_argument("--drain-cycles", type=int, default=2)
    parser.add_argument("--senders", type=int, default=2)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--tracked", type=int, default=100, help="backdated carts whose latency is measured")
    args = parser.parse_args()

    work, data, warehouse = args.workdir, args.workdir / "data", args.workdir / "sen.duckdb"
    base = {k: v for k, v in os.environ.items() if not k.startswith(("CDP_", "DAGSTER_HOME"))}
    base.update(
        CDP_DATA_DIR=str(data), CDP_WAREHOUSE=str(warehouse), CDP_SERVING=str(work / "serving.duckdb")
    )
    if not args.skip_build:
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        shutil.copytree(args.data_dir, data)
        (data / "dataset.yml").unlink(missing_ok=True)  # the history is read as of now
        started = time.monotonic()
        build = subprocess.run(
            [sys.executable, "-m", "orchestration.cli", "build"],
            cwd=REPO,
            env={**base, "CDP_AS_OF": datetime.now(UTC).replace(microsecond=0).isoformat()},
            capture_output=True,
            text=True,
        )
        if build.returncode != 0:
            print(build.stdout[-3000:], build.stderr[-3000:], file=sys.stderr)
            raise SystemExit("the nightly build failed")
        print(f"nightly build: {time.monotonic() - started:.0f} s")
    customers, reachable = known_people(warehouse)
    tracked = reachable[: args.tracked]
    person_of = {user: person for person, user in tracked}
    history_rows = raw_event_rows(warehouse)
    print(
        f"history: {history_rows:,} events in raw.events, {len(customers):,} customer ids; tracked carts: {len(tracked)}"
    )

    fcm = stamped(FcmStandin)(token=FCM_TOKEN, project_id="sen-retail-app").__enter__()
    zalo = stamped(ZaloStandin)(
        token=ZALO_TOKEN, template_ids={"cart_reminder_a", "cart_reminder_b"}
    ).__enter__()
    env = {
        **base,
        "FCM_ACCESS_TOKEN": FCM_TOKEN,
        "FCM_BASE_URL": fcm.base_url,
        "ZALO_OA_ACCESS_TOKEN": ZALO_TOKEN,
        "ZALO_BASE_URL": zalo.base_url,
    }
    port = free_port()
    collector = subprocess.Popen(
        [sys.executable, "-m", "sen.collect", "--port", str(port), "--workers", str(args.workers)],
        cwd=REPO,
        env={
            **env,
            "CDP_COLLECT_WRITE_KEYS": f"server={WRITE_KEY}",
            "CDP_COLLECT_SEGMENT_MAX_SECONDS": "5",
            "CDP_COLLECT_MIN_FREE_BYTES": "0",
        },
        stdout=open(work / "collector.log", "ab"),  # noqa: SIM115 - owned by the process
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.1)
    results: mp.Queue = mp.Queue()
    users = [u for _, u in tracked]
    others = sorted(set(customers) - set(users))  # the tracked carts are nobody else's
    senders = [
        mp.Process(target=sender, args=(url, args.seconds, i, others, users[i :: args.senders], results))
        for i in range(args.senders)
    ]
    landed_before = landed_events(data)[0]
    load_start = time.time()
    for process in senders:
        process.start()
    first_seen: dict[str, float] = {}
    cycles: list[dict] = []

    def observe(cycle: dict) -> None:
        cycle["raw_events"] = raw_event_rows(warehouse)
        seen = time.time()
        for key in audience_keys(warehouse):
            first_seen.setdefault(key, seen)
        cycles.append(cycle)
        print(f"cycle {len(cycles)}: {cycle}", flush=True)

    next_cycle = time.monotonic() + args.cycle_seconds
    while any(p.is_alive() for p in senders):
        time.sleep(max(0.0, next_cycle - time.monotonic()))
        next_cycle = time.monotonic() + args.cycle_seconds
        observe(run_cycle(env, work / "live_cycles.log"))
    for process in senders:
        process.join()
    load_end = time.time()
    sent = sum(results.get() for _ in senders)
    collector.send_signal(signal.SIGTERM)  # publishes the open segment
    collector.wait(timeout=60)
    for _ in range(args.drain_cycles):
        observe(run_cycle(env, work / "live_cycles.log"))
    fcm.__exit__(None, None, None)
    zalo.__exit__(None, None, None)

    landed, arrivals = landed_events(data, since=load_start - 5)
    landed -= landed_before
    to_audience, to_message = [], []
    for user, arrived in arrivals.items():
        person = person_of.get(user)
        key = next((k for k in first_seen if k.startswith(f"cart_abandoners:{person}:bench-cart-")), None)
        if key is not None:
            to_audience.append(first_seen[key] - arrived)
    tokens = {}
    conn = duckdb.connect(str(warehouse), read_only=True)
    try:
        for person, token in conn.execute(
            "select person_id, push_token from audiences.audience_cart_abandoners_push"
        ).fetchall():
            tokens[token] = person
        phones = dict(
            conn.execute("select phone, person_id from audiences.audience_cart_abandoners_zalo").fetchall()
        )
    finally:
        conn.close()
    user_of = {person: user for person, user in tracked}
    for message in fcm.messages:
        user = user_of.get(tokens.get(message.get("token")))
        if user in arrivals:
            to_message.append(message["_received"] - arrivals[user])
    for message in zalo.messages:
        user = user_of.get(phones.get(message.get("phone")))
        if user in arrivals:
            to_message.append(message["_received"] - arrivals[user])
    report = {
        "history_events_before": history_rows,
        "customers": len(customers),
        "load_seconds": round(load_end - load_start, 1),
        "events_sent_by_sdk": sent,
        "events_landed": landed,
        "collector_events_per_s": round(landed / (load_end - load_start), 1),
        "tracked_carts": len(tracked),
        "arrival_to_audience_row_s": percentiles(to_audience),
        "arrival_to_standin_message_s": percentiles(to_message),
        "cycles": cycles,
        "messages": {"fcm": len(fcm.messages), "zalo": len(zalo.messages)},
    }
    (work / "results.json").write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))
    if landed < sent:
        raise SystemExit(f"{sent - landed} events the SDK sent are not in the landing zone")
    if not all(c["ok"] for c in cycles):
        raise SystemExit(f"a live cycle failed: see {work / 'live_cycles.log'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
