"""Generate the multi-source sample data set and its ground truth.

    python -m data_samples.generate --people 2000 --out data_samples/sample --truth data_samples/ground_truth \\
        --seed 7 --end-date 2026-11-20 --days-of-events 90 --years-of-orders 2

Same arguments -> byte-identical files. People are simulated in fixed-size chunks so memory stays bounded.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import yaml
from tqdm import tqdm

from data_samples import catalog as catalog_mod
from data_samples import dirt, engagement, events, population, purchases
from data_samples import textops as t
from data_samples.catalog import DAY, Window
from data_samples.context import Chunk, Counters, Truth
from data_samples.sinks import DailyEventSink, JsonlSink, TableSink

CONTRACT = Path(__file__).resolve().parents[1] / "sen" / "contracts" / "sources.yml"
JSON_SOURCES = ("events", "chat_conversations")
TRUTH_FILES = ("identifiers.csv", "traps.csv", "planted_errors.csv", "manifest.json")
# The data folder's own as-of (read by orchestration/run_clock.py), so a generated folder builds as of the end
# of its data, as the committed sample does, rather than as of "now" with empty "last N days" windows.
DATASET_FILE = "dataset.yml"
DEFAULT_CHUNK = 10_000
N_KIOSKS = 3


def contract_columns(path: Path = CONTRACT) -> dict[str, list[str]]:
    spec = yaml.safe_load(path.read_text(encoding="utf-8"))
    return {name: [c["name"] for c in src["columns"]] for name, src in spec["sources"].items()}


def make_window(end_date: str, days_of_events: int, years_of_orders: float) -> Window:
    # The end date is the last day with data: everything happens before the next midnight (UTC).
    end = int(dt.datetime.fromisoformat(end_date).replace(tzinfo=dt.UTC).timestamp()) + DAY
    return Window(
        end=end, orders_start=end - int(years_of_orders * 365) * DAY, events_start=end - days_of_events * DAY
    )


def _clean(out: Path, truth: Path, sources: list[str]) -> None:
    """Remove what a previous run wrote (only the generator's own folders and files)."""
    for name in sources:
        if (out / name).is_dir():
            shutil.rmtree(out / name)
    for name in TRUTH_FILES:
        (truth / name).unlink(missing_ok=True)


def _json_lines(table: pa.Table) -> list[str]:
    for name in ("customer_messages", "agent_messages"):
        i = table.column_names.index(name)
        table = table.set_column(i, name, table[name].cast(pa.int64()))
    return [json.dumps({k: v for k, v in row.items() if v is not None}, ensure_ascii=False, separators=(",", ":"))
            for row in table.to_pylist()]  # fmt: skip


def generate(
    people: int,
    out: Path,
    truth_dir: Path,
    seed: int = 7,
    end_date: str = "2026-11-20",
    days_of_events: int = 90,
    years_of_orders: float = 2.0,
    fmt: str = "csv",
    chunk_size: int = DEFAULT_CHUNK,
    progress: bool | None = None,
    household_options: population.Households | None = None,
) -> dict:
    if not 1 <= people <= population.MAX_PEOPLE:
        raise ValueError(f"--people must be between 1 and {population.MAX_PEOPLE:,}, got {people}")
    if not 1 <= days_of_events <= years_of_orders * 365:
        raise ValueError("--days-of-events must be >= 1 and within the order history")
    if fmt not in ("csv", "parquet"):
        raise ValueError(f"--format must be csv or parquet, got {fmt!r}")
    columns = contract_columns()
    window = make_window(end_date, days_of_events, years_of_orders)
    out.mkdir(parents=True, exist_ok=True)
    truth_dir.mkdir(parents=True, exist_ok=True)
    _clean(out, truth_dir, list(columns))

    root = np.random.default_rng([seed, 0])
    n_products = int(np.clip(people // 5, 300, 1000))
    cat = catalog_mod.build_catalog(root, n_products, window)
    stores = catalog_mod.build_stores(root)
    campaigns = catalog_mod.build_campaigns(root, window)
    kiosk_anon = t.uuid4(root, N_KIOSKS)
    kiosk_device = t.hex_ids(root, N_KIOSKS, 16)
    counters = Counters()
    planted = dirt.Planted()

    table_sources = [s for s in columns if s not in JSON_SOURCES]
    sinks = {s: TableSink(out, s, columns[s], fmt) for s in table_sources}
    ev_sink = DailyEventSink(out, level=6 if people < 50_000 else 1)  # big runs: speed over file size
    chat_sink = JsonlSink(out, "chat_conversations")
    for day in range(window.events_start // DAY, window.end // DAY):  # every day has a file, even if empty
        ev_sink.write_lines(_day(day), [])
    sinks["products"].write(cat.table)
    sinks["product_price_changes"].write(cat.changes)
    sinks["stores"].write(stores.table)

    ident_path = truth_dir / "identifiers.csv"
    ident_writer = None
    n_late = n_dup_events = 0
    erased: list[str] = []
    households: list[str] = []
    show = people >= 50_000 if progress is None else progress
    bar = tqdm(total=people, unit="people", disable=not show, file=sys.stderr)
    for chunk_no, start in enumerate(range(0, people, chunk_size)):
        rng = np.random.default_rng([seed, 1, chunk_no])
        n = min(chunk_size, people - start)
        ppl = population.build_people(rng, start, n, people, window)
        devs = population.build_devices(rng, ppl, household_options)
        ch = Chunk(rng, window, cat, stores, campaigns, counters, ppl, devs, Truth(ppl.key), chunk_no == 0,
                   kiosk_anon, kiosk_device)  # fmt: skip
        first = chunk_no == 0

        pur = purchases.simulate(ch)
        com = purchases.build_commerce(ch, pur)
        ev = events.build_events(ch, pur, com)
        email = engagement.build_email_events(ch)
        consent = engagement.build_consent(ch, email)
        tables = {
            "crm_contacts": engagement.build_crm(ch, consent.final),
            "orders": com.orders,
            "order_lines": com.order_lines,
            "pos_transactions": com.pos,
            "returns": com.returns,
            "email_events": email.table,
            "consent_changes": consent.table,
            "ad_touchpoints": engagement.build_ads(ch, ev),
        }
        tickets = engagement.build_tickets(ch, pur, com)
        tables["support_tickets"] = tickets.table
        tables["survey_responses"] = engagement.build_surveys(ch, pur, com, tickets)
        chats = engagement.build_chats(ch)
        if first:
            erasure, erased = engagement.build_erasures(ch, min(10, max(3, people // 500)))
            tables["erasure_requests"] = erasure
            tables["crm_contacts"] = pa.concat_tables([dirt.test_accounts(window), tables["crm_contacts"]])
            t_orders, t_lines = dirt.test_orders(rng, window, cat, counters.take("order", 8, 10_000_001))
            tables["orders"] = pa.concat_tables([t_orders, tables["orders"]])
            tables["order_lines"] = pa.concat_tables([t_lines, tables["order_lines"]])

        for source, p in (("crm_contacts", 0.003), ("orders", 0.003), ("pos_transactions", 0.003),
                          ("email_events", 0.004)):  # fmt: skip
            tables[source], k = dirt.duplicate_rows(rng, tables[source], p)
            planted.count_duplicates(source, k)
        if first:
            dirt.plant_table_errors(
                tables,
                {s: sinks[s].relpath for s in sinks},
                order_id=f"SO{counters.take('order', 1, 10_000_001)[0]:08d}",
                pos_seq=int(counters.take("pos", 1, 1)[0]),
                header_lines=0 if fmt == "parquet" else 1,
                planted=planted,
            )

        for source, table in tables.items():
            sinks[source].write(table)
        chat_sink.write_lines(_json_lines(chats))
        _write_events(ev_sink, ev, planted if first else None)
        n_late += ev.n_late
        n_dup_events += ev.n_duplicates
        households += pc.unique(devs.anonymous_id.filter(pa.array(devs.shared))).to_pylist()

        ident = ch.truth.table()
        if ident_writer is None:
            ident_writer = _csv_writer(ident_path, ident.schema)
        ident_writer.write_table(ident)
        bar.update(n)
    bar.close()

    for sink in sinks.values():
        sink.close()
    chat_sink.close()
    ev_sink.close()
    if ident_writer is not None:
        ident_writer.close()

    _write_traps(truth_dir, kiosk_anon, kiosk_device, stores, households)
    with open(truth_dir / "planted_errors.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["source", "file", "line", "reason"])
        w.writerows(sorted(planted.errors))
    files = {s.relpath: s.rows for s in sinks.values()} | {chat_sink.relpath: chat_sink.rows} | ev_sink.rows
    manifest = {
        "generator": "data_samples.generate",
        "args": {"people": people, "seed": seed, "end_date": end_date, "days_of_events": days_of_events,
                 "years_of_orders": years_of_orders, "format": fmt, "chunk_size": chunk_size,
                 **({"household_rate": household_options.rate, "household_guests": household_options.guests}
                    if household_options is not None else {})},
        "end_date": end_date,
        "as_of": _iso(window.end),
        "orders_start": _iso(window.orders_start),
        "events_start": _iso(window.events_start),
        "files": dict(sorted(files.items())),
        "rows_per_source": _per_source(files),
        "planted": {
            "duplicate_rows": dict(sorted(planted.duplicates.items())),
            "duplicate_events": n_dup_events,
            "late_events": n_late,
            "malformed_rows": len(planted.errors),
            "erasure_person_keys": erased,
        },
    }  # fmt: skip
    (truth_dir / "manifest.json").write_text(
        json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", "utf-8"
    )
    (out / DATASET_FILE).write_text(dataset_yml(manifest["as_of"]), "utf-8")
    return manifest


def dataset_yml(as_of: str) -> str:
    """The data folder's dataset.yml: the instant its data ends (the next midnight UTC after the end date)."""
    return (
        "# Written by data_samples.generate: the data ends just before this instant, so builds on this folder run\n"
        "# as of it (orchestration/run_clock.py; CDP_AS_OF overrides it). It equals `as_of` in the ground truth's\n"
        "# manifest.json (a test keeps them in step).\n"
        f'as_of: "{as_of}"\n'
    )


def _day(day_index: int) -> str:
    return str(np.datetime64(int(day_index), "D"))


def _iso(seconds: int) -> str:
    return dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _per_source(files: dict[str, int]) -> dict[str, int]:
    totals: dict[str, int] = {}
    for path, rows in files.items():
        source = path.split("/", 1)[0]
        totals[source] = totals.get(source, 0) + rows
    return dict(sorted(totals.items()))


def _csv_writer(path: Path, schema: pa.Schema):
    import pyarrow.csv as pacsv

    return pacsv.CSVWriter(path, schema, write_options=pacsv.WriteOptions(quoting_style="needed"))


def _write_events(sink: DailyEventSink, ev: events.EventsOut, planted: dirt.Planted | None) -> None:
    days = ev.day
    if days.size == 0:
        return
    bounds = np.flatnonzero(np.r_[True, days[1:] != days[:-1], True])
    busiest = int(np.argmax(np.diff(bounds)))
    for g in range(bounds.size - 1):
        lo, hi = bounds[g], bounds[g + 1]
        day = _day(int(days[lo]))
        part = ev.lines.slice(lo, hi - lo)
        if planted is not None and g == busiest:
            sink.write_lines(day, dirt.plant_event_errors(part.to_pylist(), sink.relpath(day), planted))
        else:
            sink.write_array(day, part)


def _write_traps(
    truth_dir: Path, kiosk_anon: pa.Array, kiosk_device: pa.Array, stores, households: list[str]
) -> None:
    rows: list[tuple[str, str, str]] = []
    for i in range(len(kiosk_anon)):
        store = stores.store_id[stores.kiosk_store[i]]
        note = f"in-store kiosk tablet at {store}: many shoppers log in on it"
        rows.append(("kiosk_anonymous_id", kiosk_anon[i].as_py(), note))
        rows.append(("kiosk_device_id", kiosk_device[i].as_py(), note))
    rows += [
        ("household_anonymous_id", a, "laptop shared by two people; each identifies on it")
        for a in households
    ]
    rows += [("junk_email", v, note) for v, note in dirt.JUNK_EMAILS]
    rows += [("junk_phone", v, note) for v, note in dirt.JUNK_PHONES]
    rows += [
        ("test_account", a[0], "QA test account; its orders are flagged is_test") for a in dirt.TEST_ACCOUNTS
    ]
    with open(truth_dir / "traps.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["type", "value", "note"])
        w.writerows(sorted(rows))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m data_samples.generate", description=__doc__.split("\n\n")[0])
    ap.add_argument("--people", type=int, default=2000, help="number of true humans simulated (scale)")
    ap.add_argument("--out", type=Path, default=Path("data_samples/sample"), help="source folders go here")
    ap.add_argument(
        "--truth", type=Path, default=Path("data_samples/ground_truth"), help="ground truth folder"
    )
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument(
        "--end-date",
        default="2026-11-20",
        help="last day with data; everything happens before the next midnight UTC (the as-of instant)",
    )
    ap.add_argument("--days-of-events", type=int, default=90)
    ap.add_argument("--years-of-orders", type=float, default=2.0)
    ap.add_argument(
        "--format", choices=["csv", "parquet"], default="csv", help="format of non-nested sources"
    )
    ap.add_argument("--chunk-size", type=int, default=DEFAULT_CHUNK, help="people simulated per batch")
    ap.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None)
    ap.add_argument(
        "--household-rate",
        type=float,
        help="share of people who share a laptop browser with another household member (opt-in; without it "
        "1.5%% of the account holders with a browser pair up, as in the committed sample)",
    )
    ap.add_argument(
        "--household-guests",
        action="store_true",
        help="household members need not hold an account: guests check out and anonymous members browse on "
        "the shared laptop (needs --household-rate)",
    )
    a = ap.parse_args(argv)
    if a.household_guests and a.household_rate is None:
        ap.error("--household-guests needs --household-rate")
    households = (
        population.Households(a.household_rate, a.household_guests) if a.household_rate is not None else None
    )
    manifest = generate(a.people, a.out, a.truth, a.seed, a.end_date, a.days_of_events, a.years_of_orders,
                        a.format, a.chunk_size, a.progress, households)  # fmt: skip
    print(json.dumps(manifest["rows_per_source"], indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
