"""Collector throughput: events/s accepted (fsynced before each 200) on this machine, in batches.

Starts ``python -m sen.collect`` (uvicorn; ``--workers`` processes sharing one landing zone) on 127.0.0.1 and
sends realistic Segment batches to ``/v1/batch`` for ``--seconds``:

- ``--client raw`` (default): a load generator that posts gzip batches prepared before the clock starts
  (every event a unique messageId), from ``--concurrency`` connections, so the machine's CPU goes to the
  collector rather than to building JSON;
- ``--client sdk``: ``--senders`` processes each running Segment's Python SDK (segment-analytics-python),
  calling ``track`` as fast as it can; slower, because the SDK's JSON encoding shares the same 2 cores.

At the end the collector is stopped and every line in the landing zone is counted: the run fails loudly when
the landed events differ from the acknowledged ones.

    flock /tmp/sen-heavy.lock .venv/bin/python bench/bench_collect.py --seconds 20
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import multiprocessing as mp
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
WRITE_KEY = "bench-server-key"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def event(i: int, run: str) -> dict:
    now = datetime.now(UTC).isoformat()
    kind = ("page", "track", "track", "identify")[i % 4]
    base = {
        "messageId": f"{run}-{i}",
        "type": kind,
        "anonymousId": f"anon-{i % 50_000}",
        "userId": f"user-{i % 20_000}" if i % 3 else None,
        "timestamp": now,
        "context": {
            "library": {"name": "analytics.js", "version": "npm:next-1.84.3"},
            "page": {"url": f"https://shop.example/p/{i % 900}?utm_source=zalo", "path": f"/p/{i % 900}"},
            "userAgent": "Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 Chrome/131 Mobile Safari/537.36",
            "ip": "113.161.1.2",
            "consent": {"categoryPreferences": {"Advertising": i % 5 != 0, "Analytics": True}},
        },
    }
    if kind == "track":
        base |= {
            "event": "Product Added" if i % 2 else "Product Viewed",
            "properties": {
                "sku": f"SKU-{i % 3000}",
                "price": 199000,
                "quantity": 1,
                "cart_id": f"c-{i % 9000}",
            },
        }
    elif kind == "page":
        base |= {"name": "Product", "properties": {"path": f"/p/{i % 900}"}}
    else:
        base |= {"traits": {"email": f"user{i % 20_000}@example.com"}}
    return base


def prepare_bodies(n_batches: int, batch_size: int, run: str) -> list[bytes]:
    bodies = []
    for b in range(n_batches):
        batch = [event(b * batch_size + j, run) for j in range(batch_size)]
        payload = {"batch": batch, "sentAt": datetime.now(UTC).isoformat()}
        bodies.append(gzip.compress(json.dumps(payload).encode(), compresslevel=1))
    return bodies


async def raw_load(url: str, bodies: list[bytes], batch_size: int, seconds: float, concurrency: int) -> dict:
    headers = {"Content-Encoding": "gzip", "Content-Type": "application/json"}
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    next_body = 0
    stop_at = time.monotonic() + seconds
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(auth=(WRITE_KEY, ""), timeout=60, limits=limits) as client:

        async def worker() -> None:
            nonlocal next_body
            while time.monotonic() < stop_at and next_body < len(bodies):
                body = bodies[next_body]
                next_body += 1
                t0 = time.perf_counter()
                response = await client.post(f"{url}/v1/batch", content=body, headers=headers)
                latencies.append(time.perf_counter() - t0)
                statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

        started = time.monotonic()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.monotonic() - started
    if next_body >= len(bodies):
        print(
            "warning: the prepared batches ran out before the time was up; raise --prepare", file=sys.stderr
        )
    return {
        "elapsed": elapsed,
        "accepted": statuses.get(200, 0) * batch_size,
        "statuses": statuses,
        "p50_ms": statistics.median(latencies) * 1000 if latencies else None,
        "p99_ms": statistics.quantiles(latencies, n=100)[98] * 1000 if len(latencies) >= 100 else None,
    }


def _sdk_sender(url: str, seconds: float, run: str, index: int, out: mp.Queue) -> None:
    import segment.analytics as segment_analytics

    errors: list = []
    client = segment_analytics.Client(
        write_key=WRITE_KEY,
        host=url,
        gzip=True,
        upload_size=100,
        max_queue_size=200_000,
        on_error=lambda e, b: errors.append(e),
    )
    stop_at = time.monotonic() + seconds
    sent = 0
    while time.monotonic() < stop_at:
        e = event(sent, f"{run}-{index}")
        client.track(
            user_id=e["userId"] or "u",
            event="Product Added",
            properties={"sku": f"SKU-{sent % 3000}"},
            context=e["context"],
        )
        sent += 1
    client.flush()
    client.join()
    out.put((sent, len(errors)))


def sdk_load(url: str, seconds: float, senders: int, run: str) -> dict:
    ctx = mp.get_context("spawn")
    out: mp.Queue = ctx.Queue()
    started = time.monotonic()
    procs = [ctx.Process(target=_sdk_sender, args=(url, seconds, run, i, out)) for i in range(senders)]
    for p in procs:
        p.start()
    results = [out.get() for _ in procs]
    for p in procs:
        p.join()
    elapsed = time.monotonic() - started
    sent, errors = sum(r[0] for r in results), sum(r[1] for r in results)
    if errors:
        raise SystemExit(f"the SDK reported {errors} failed batches")
    return {"elapsed": elapsed, "accepted": sent, "statuses": {}, "p50_ms": None, "p99_ms": None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--client", choices=["raw", "sdk"], default="raw")
    parser.add_argument("--workers", type=int, default=1, help="collector processes")
    parser.add_argument("--concurrency", type=int, default=8, help="connections of the raw load generator")
    parser.add_argument("--senders", type=int, default=2, help="SDK processes (--client sdk)")
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--prepare", type=int, help="batches prepared for the raw generator (default 300/s)")
    parser.add_argument("--landing", help="landing folder (default: a temporary one, removed after)")
    args = parser.parse_args()

    run = uuid.uuid4().hex[:8]
    with tempfile.TemporaryDirectory(prefix="sen-bench-collect-") as tmp:
        data_dir = Path(args.landing or tmp)
        port = free_port()
        env = {
            **os.environ,
            "CDP_DATA_DIR": str(data_dir),
            "CDP_COLLECT_WRITE_KEYS": f"server={WRITE_KEY}",
            "CDP_COLLECT_SEGMENT_MAX_SECONDS": "10",
        }
        n_batches = args.prepare or int(args.seconds * 300)
        bodies = prepare_bodies(n_batches, args.batch_size, run) if args.client == "raw" else []
        log = open(Path(tmp) / "collector.log", "wb")  # noqa: SIM115
        cmd = [sys.executable, "-m", "sen.collect", "--port", str(port), "--workers", str(args.workers)]
        collector = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        for _ in range(300):
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        else:
            raise SystemExit("the collector did not start")
        cpu_before = _cpu_seconds(collector.pid)
        if args.client == "raw":
            stats = asyncio.run(raw_load(url, bodies, args.batch_size, args.seconds, args.concurrency))
        else:
            stats = sdk_load(url, args.seconds, args.senders, run)
        cpu_used = _cpu_seconds(collector.pid) - cpu_before
        collector.send_signal(signal.SIGTERM)
        collector.wait(timeout=60)
        landed = sum(
            1 for path in (data_dir / "events").rglob("*.jsonl") for line in path.open("rb") if line.strip()
        )
        rate = stats["accepted"] / stats["elapsed"]
        print(
            json.dumps(
                {
                    "client": args.client,
                    "collector_workers": args.workers,
                    "seconds": round(stats["elapsed"], 1),
                    "events_accepted": stats["accepted"],
                    "events_landed": landed,
                    "events_per_second": round(rate),
                    "request_statuses": stats["statuses"],
                    "batch_latency_p50_ms": stats["p50_ms"] and round(stats["p50_ms"], 1),
                    "batch_latency_p99_ms": stats["p99_ms"] and round(stats["p99_ms"], 1),
                    "collector_cpu_seconds": round(cpu_used, 1),
                    "cpus": os.cpu_count(),
                },
                indent=2,
            )
        )
        if landed != stats["accepted"]:
            raise SystemExit(f"landed {landed} events but {stats['accepted']} were acknowledged")


def _cpu_seconds(pid: int) -> float:
    """CPU time of the collector and its worker processes (utime + stime from /proc)."""
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    pids = [pid]
    children = Path(f"/proc/{pid}/task/{pid}/children")
    if children.exists():
        pids += [int(p) for p in children.read_text().split()]
    for p in pids:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
        except (OSError, IndexError, ValueError):
            continue
    return total


if __name__ == "__main__":
    main()
