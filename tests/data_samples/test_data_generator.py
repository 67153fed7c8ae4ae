"""The sample-data generator: deterministic, on contract, with ground truth that matches what was written."""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import json
import re
from collections import Counter, defaultdict
from pathlib import Path

import pytest
import yaml

from data_samples.generate import CONTRACT, main

PEOPLE = 240
ARGS = ["--people", str(PEOPLE), "--seed", "11", "--end-date", "2026-11-20", "--days-of-events", "30",
        "--years-of-orders", "2", "--chunk-size", "150", "--no-progress"]  # fmt: skip
SPEC = yaml.safe_load(CONTRACT.read_text(encoding="utf-8"))["sources"]
COMMITTED = Path(__file__).resolve().parents[2] / "data_samples"


def _run(root: Path, *extra: str) -> tuple[Path, Path]:
    out, truth = root / "sample", root / "truth"
    assert main([*ARGS, "--out", str(out), "--truth", str(truth), *extra]) == 0
    return out, truth


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return _run(tmp_path_factory.mktemp("gen_a"))


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _jsonl(path: Path) -> list[tuple[int, str, dict | None]]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as fh:
        out = []
        for n, line in enumerate(fh, start=1):
            try:
                out.append((n, line, json.loads(line)))
            except json.JSONDecodeError:
                out.append((n, line, None))
        return out


def _dig(obj: dict, path: str):
    for part in path.split("."):
        if not isinstance(obj, dict) or part not in obj:
            return None
        obj = obj[part]
    return obj


def _planted(truth: Path) -> set[tuple[str, int]]:
    return {(r["file"], int(r["line"])) for r in _csv(truth / "planted_errors.csv")}


def _rows(out: Path, source: str) -> list[tuple[str, int, dict]]:
    """(file, line, row) for every parsed row of a source, column names as in the contract."""
    rows = []
    for path in sorted((out / source).iterdir()):
        rel = f"{source}/{path.name}"
        if path.name.endswith(".csv"):
            rows += [(rel, i + 2, r) for i, r in enumerate(_csv(path))]
        else:
            for n, _line, obj in _jsonl(path):
                if obj is not None:
                    cols = {c["name"]: _dig(obj, c.get("path", c["name"])) for c in SPEC[source]["columns"]}
                    rows.append((rel, n, cols))
    return rows


def _ts_ok(value: str) -> bool:
    try:
        dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        return True
    except ValueError:
        return False


def test_same_arguments_give_byte_identical_files(generated: tuple[Path, Path], tmp_path: Path) -> None:
    out_a, truth_a = generated
    out_b, truth_b = _run(tmp_path)
    assert _files(out_a) == _files(out_b)
    assert _files(truth_a) == _files(truth_b)
    other_out, _ = _run(tmp_path / "other_seed", "--seed", "12")
    assert _files(other_out) != _files(out_a)


def test_a_generated_folder_declares_its_own_as_of(generated: tuple[Path, Path]) -> None:
    # A build on a generated folder runs as of the end of its data (dataset.yml), not as of "now" with empty
    # "last N days" windows; a later end date moves it.
    from orchestration.run_clock import dataset_as_of

    out, truth = generated
    manifest = json.loads((truth / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["as_of"] == "2026-11-21T00:00:00Z"
    assert dataset_as_of(out) == dt.datetime(2026, 11, 21, tzinfo=dt.UTC)
    later, _ = _run(Path(str(out.parent) + "_later"), "--end-date", "2027-01-31")
    assert dataset_as_of(later) == dt.datetime(2027, 2, 1, tzinfo=dt.UTC)


def test_the_committed_sample_declares_what_the_generator_writes() -> None:
    from data_samples.generate import dataset_yml

    manifest = json.loads((COMMITTED / "ground_truth" / "manifest.json").read_text(encoding="utf-8"))
    assert (COMMITTED / "sample" / "dataset.yml").read_text(encoding="utf-8") == dataset_yml(
        manifest["as_of"]
    )


def test_every_source_is_written_with_the_contract_columns(generated: tuple[Path, Path]) -> None:
    out, _ = generated
    for source, spec in SPEC.items():
        files = sorted((out / source).iterdir())
        assert files, f"no files for {source}"
        names = [c["name"] for c in spec["columns"]]
        for path in files:
            if path.name.endswith(".csv"):
                with open(path, newline="", encoding="utf-8") as fh:
                    assert next(csv.reader(fh)) == names, path
            else:
                assert spec["format_hint"] == "jsonl" and re.search(r"\.jsonl(\.gz)?$", path.name), path


def test_only_the_planted_rows_break_required_fields_types_or_accepted_values(
    generated: tuple[Path, Path],
) -> None:
    out, truth = generated
    planted = _planted(truth)
    seen_bad: set[tuple[str, int]] = set()
    for source, spec in SPEC.items():
        for rel, line, row in _rows(out, source):
            problems = []
            for col in spec["columns"]:
                v = row.get(col["name"])
                if v is None or v == "":
                    if col.get("required"):
                        problems.append(f"{col['name']} missing")
                    continue
                if col["type"] == "timestamp" and not _ts_ok(str(v)):
                    problems.append(f"{col['name']} not a timestamp")
                if col["type"] in ("decimal", "integer") and not re.fullmatch(r"-?\d+(\.\d+)?", str(v)):
                    problems.append(f"{col['name']} not numeric")
                if "accepted" in col and v not in col["accepted"]:
                    problems.append(f"{col['name']}={v!r} not accepted")
            if problems:
                assert (rel, line) in planted, (rel, line, problems)
                seen_bad.add((rel, line))
    for source in ("events",):
        for path in sorted((out / source).iterdir()):
            for n, _line, obj in _jsonl(path):
                if obj is None:
                    seen_bad.add((f"{source}/{path.name}", n))
    assert seen_bad == planted


def test_planted_errors_are_where_the_ground_truth_says(generated: tuple[Path, Path]) -> None:
    out, truth = generated
    errors = _csv(truth / "planted_errors.csv")
    assert {e["source"] for e in errors} == {"events", "orders", "crm_contacts", "pos_transactions", "order_lines",
                                             "email_events"}  # fmt: skip
    for e in errors:
        path = out / e["file"]
        line = int(e["line"])
        if path.name.endswith(".gz"):
            text = gzip.decompress(path.read_bytes()).decode("utf-8").split("\n")[line - 1]
            if "broken JSON" in e["reason"]:
                with pytest.raises(json.JSONDecodeError):
                    json.loads(text)
            else:
                assert not _ts_ok(json.loads(text)["timestamp"])
        else:
            row = next(csv.reader([path.read_text(encoding="utf-8").split("\n")[line - 1]]))
            header = next(csv.reader([path.read_text(encoding="utf-8").split("\n")[0]]))
            field = re.search(r"(?:field|amount|timestamp): (\w+)", e["reason"]).group(1)
            value = dict(zip(header, row, strict=True))[field]
            if "missing" in e["reason"]:
                assert value == ""
            elif "non-numeric" in e["reason"]:
                assert not re.fullmatch(r"\d+", value)
            else:
                assert not _ts_ok(value)


def test_manifest_counts_match_the_files(generated: tuple[Path, Path]) -> None:
    out, truth = generated
    manifest = json.loads((truth / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["as_of"] == "2026-11-21T00:00:00Z"  # the end date is the last day with data
    for rel, rows in manifest["files"].items():
        path = out / rel
        if rel.endswith(".csv"):
            assert len(_csv(path)) == rows, rel
        else:
            assert len(_jsonl(path)) == rows, rel
    days = sorted(p.name for p in (out / "events").iterdir())
    assert len(days) == 30 and days[-1] == "2026-11-20.jsonl.gz"  # one file per day, through the end date


def _source_identifiers(out: Path) -> list[tuple[str, str, str, int, str]]:
    """(type, value, file, line, column) for every identifier written anywhere."""
    columns = {
        "crm_contacts": {"customer_id": "customer_id", "email": "email", "phone": "phone",
                         "loyalty_card_id": "loyalty_card", "referred_by_customer_id": "customer_id"},
        "orders": {"customer_id": "customer_id", "email": "email", "phone": "phone", "anonymous_id": "anonymous_id"},
        "pos_transactions": {"phone": "phone", "loyalty_card_id": "loyalty_card", "customer_id": "customer_id"},
        "email_events": {"email": "email"},
        "support_tickets": {"customer_id": "customer_id", "email": "email", "phone": "phone"},
        "survey_responses": {"customer_id": "customer_id", "email": "email"},
        "consent_changes": {"customer_id": "customer_id", "email": "email", "phone": "phone"},
        "erasure_requests": {"customer_id": "customer_id", "email": "email", "phone": "phone"},
        "chat_conversations": {"platform_user_id": "platform_user_id", "anonymous_id": "anonymous_id",
                               "email": "email", "phone": "phone"},
    }  # fmt: skip
    found = []
    for source, cols in columns.items():
        for rel, line, row in _rows(out, source):
            found += [(t, row[c], rel, line, c) for c, t in cols.items() if row.get(c)]
    event_paths = {"anonymousId": "anonymous_id", "userId": "customer_id", "context.device.id": "device_id",
                   "context.device.token": "push_token", "properties.token": "push_token",
                   "traits.email": "email", "traits.phone": "phone"}  # fmt: skip
    for path in sorted((out / "events").iterdir()):
        for n, _line, obj in _jsonl(path):
            if obj is not None:
                found += [
                    (t, v, f"events/{path.name}", n, p) for p, t in event_paths.items() if (v := _dig(obj, p))
                ]
    return found


def test_ground_truth_covers_every_identifier_written(generated: tuple[Path, Path]) -> None:
    out, truth = generated
    known = {(r["identifier_type"], r["identifier_value"]) for r in _csv(truth / "identifiers.csv")}
    traps = {r["value"] for r in _csv(truth / "traps.csv")}
    planted = _planted(truth)
    found = _source_identifiers(out)
    assert len(found) > 3000
    missing = [
        f for f in found if (f[0], f[1]) not in known and f[1] not in traps and (f[2], f[3]) not in planted
    ]
    assert not missing, missing[:10]
    # and nothing in the truth is invented
    written = {(f[0], f[1]) for f in found}
    assert known <= written, sorted(known - written)[:10]


def test_no_identifier_belongs_to_two_people_even_after_normalizing(generated: tuple[Path, Path]) -> None:
    _, truth = generated
    owners: dict[tuple[str, str], set[str]] = defaultdict(set)
    for r in _csv(truth / "identifiers.csv"):
        value = r["identifier_value"].strip().lower()
        if r["identifier_type"] == "phone":
            value = re.sub(r"\D", "", value)
            value = value[2:] if value.startswith("84") and len(value) == 11 else value.lstrip("0")
        owners[(r["identifier_type"], value)].add(r["person_key"])
    shared = {k: v for k, v in owners.items() if len(v) > 1}
    assert not shared, list(shared.items())[:5]


def test_kiosk_and_household_ids_are_shared_and_kept_out_of_identifiers(generated: tuple[Path, Path]) -> None:
    out, truth = generated
    traps = _csv(truth / "traps.csv")
    known_values = {r["identifier_value"] for r in _csv(truth / "identifiers.csv")}
    users_on: dict[str, set[str]] = defaultdict(set)
    for path in (out / "events").iterdir():
        for _n, _line, obj in _jsonl(path):
            if obj and obj["type"] == "identify" and obj.get("userId"):
                users_on[obj["anonymousId"]].add(obj["userId"])
    kiosks = [r["value"] for r in traps if r["type"] == "kiosk_anonymous_id"]
    households = [r["value"] for r in traps if r["type"] == "household_anonymous_id"]
    assert kiosks and households
    assert max(len(users_on[k]) for k in kiosks) >= 2
    assert any(len(users_on[h]) == 2 for h in households)
    assert not ({r["value"] for r in traps} & known_values)


def test_events_tie_to_orders_ads_and_carry_dirt(generated: tuple[Path, Path]) -> None:
    out, truth = generated
    manifest = json.loads((truth / "manifest.json").read_text(encoding="utf-8"))
    orders = {r["order_id"] for r in _csv(out / "orders/orders.csv")}
    clicks = {r["click_id"] for r in _csv(out / "ad_touchpoints/ad_touchpoints.csv") if r["click_id"]}
    message_ids: Counter[str] = Counter()
    late = events = 0
    names: set[str] = set()
    libraries: set[str] = set()
    for path in sorted((out / "events").iterdir()):
        file_day = dt.date.fromisoformat(path.name[:10])
        for _n, _line, obj in _jsonl(path):
            if obj is None or not _ts_ok(obj["timestamp"]):
                continue
            events += 1
            message_ids[obj["messageId"]] += 1
            names.add(obj.get("event", obj["type"]))
            libraries.add(obj["context"]["library"]["name"])
            ts_day = (
                dt.datetime.fromisoformat(obj["timestamp"].replace("Z", "+00:00")).astimezone(dt.UTC).date()
            )
            assert 0 <= (file_day - ts_day).days <= 3
            late += (file_day - ts_day).days >= 1
            if obj.get("event") == "order_completed":
                assert obj["properties"]["order_id"] in orders
            url = _dig(obj, "context.page.url") or ""
            for click in re.findall(r"(?:gclid|fbclid|ttclid)=([^&]+)", url):
                assert click in clicks
    assert events - len(message_ids) == manifest["planted"]["duplicate_events"] > 0
    assert late >= manifest["planted"]["late_events"] > 0
    assert {"product_viewed", "product_added", "cart_viewed", "checkout_started", "order_completed",
            "products_searched", "push_token_registered", "page", "screen", "identify"} <= names  # fmt: skip
    assert libraries == {"analytics.js", "analytics-ios", "analytics-android"}


def test_orders_add_up(generated: tuple[Path, Path]) -> None:
    out, truth = generated
    planted = _planted(truth)
    lines: dict[str, int] = defaultdict(int)
    for i, r in enumerate(_csv(out / "order_lines/order_lines.csv")):
        if ("order_lines/order_lines.csv", i + 2) not in planted:
            assert int(r["line_total"]) == int(r["quantity"]) * int(r["unit_price"])
            assert 20_000 <= int(r["unit_price"]) <= 30_000_000
            lines[r["order_id"]] += int(r["line_total"])
    seen = set()
    for i, o in enumerate(_csv(out / "orders/orders.csv")):
        if ("orders/orders.csv", i + 2) in planted or o["order_id"] in seen:  # exact duplicate rows
            continue
        seen.add(o["order_id"])
        assert int(o["subtotal"]) == lines[o["order_id"]]
        assert int(o["total"]) == int(o["subtotal"]) - int(o["discount"]) + int(o["shipping_fee"])


def test_abandoned_carts_in_the_last_hours_meet_price_drops(generated: tuple[Path, Path]) -> None:
    out, _ = generated
    end = dt.datetime(2026, 11, 21, tzinfo=dt.UTC)
    added: list[tuple[dt.datetime, str, str]] = []
    buyers = set()
    for path in sorted((out / "events").iterdir())[-2:]:
        for _n, _line, obj in _jsonl(path):
            if not obj or not _ts_ok(obj["timestamp"]):
                continue
            when = dt.datetime.fromisoformat(obj["timestamp"].replace("Z", "+00:00"))
            if when >= end - dt.timedelta(hours=12):
                if obj.get("event") == "product_added":
                    added.append((when, obj["anonymousId"], obj["properties"]["sku"]))
                if obj.get("event") == "order_completed":
                    buyers.add(obj["anonymousId"])
    abandoned = [a for a in added if a[1] not in buyers]
    assert abandoned
    drops = {(r["sku"]) for r in _csv(out / "product_price_changes/product_price_changes.csv")
             if int(r["new_price"]) < int(r["old_price"]) and r["changed_at"] >= "2026-11-20T12"}  # fmt: skip
    low = {r["sku"] for r in _csv(out / "products/products.csv") if 0 < int(r["stock_level"]) <= 5}
    assert any(sku in drops or sku in low for _w, _a, sku in abandoned)


def test_phones_and_emails_are_spelled_many_ways(generated: tuple[Path, Path]) -> None:
    _, truth = generated
    rows = _csv(truth / "identifiers.csv")
    phones = [r["identifier_value"] for r in rows if r["identifier_type"] == "phone"]
    shapes = {
        "0912 345 678": r"0\d{3} \d{3} \d{3}", "0912345678": r"0\d{9}", "+84 912-345-678": r"\+84 \d{3}-\d{3}-\d{3}",
        "84912345678": r"84\d{9}", "(+84) 912.345.678": r"\(\+84\) \d{3}\.\d{3}\.\d{3}",
        "foreign": r"\+(65|1)[ -(]?.*", "landline": r"\(02\d\) \d{4} \d{4}|02\d \d{4} \d{4}|02\d{9}|\+84 2\d .*",
    }  # fmt: skip
    for name, pattern in shapes.items():
        assert any(re.fullmatch(pattern, p) for p in phones), name
    emails = [r["identifier_value"] for r in rows if r["identifier_type"] == "email"]
    assert any(e != e.strip() for e in emails) and any(e != e.lower() for e in emails)
    distinct: dict[tuple[str, str], set[str]] = defaultdict(set)
    for r in rows:
        value = r["identifier_value"].strip().lower()
        if r["identifier_type"] == "phone":
            value = re.sub(r"\D", "", value)[-9:]
        distinct[(r["person_key"], r["identifier_type"])].add(value)
    for kind in ("email", "phone", "anonymous_id"):
        assert any(len(v) >= 2 for (_p, t), v in distinct.items() if t == kind), kind


def test_purchase_histories_look_like_clv_data(generated: tuple[Path, Path]) -> None:
    """Heterogeneous frequency: many one-off buyers, some frequent ones; some stopped buying long ago."""
    out, _ = generated
    per_person: dict[str, list[str]] = defaultdict(list)
    for o in _csv(out / "orders/orders.csv"):
        if o["customer_id"] and o["is_test"] == "false":
            per_person[o["customer_id"]].append(o["created_at"][:10])
    freq = Counter(len(set(v)) for v in per_person.values())
    assert freq[1] >= 0.2 * len(per_person)
    assert max(freq) >= 5
    last = [max(v) for v in per_person.values()]
    assert sum(d < "2026-05-20" for d in last) >= 0.15 * len(last)


def test_committed_sample_matches_its_manifest_and_contract() -> None:
    out, truth = COMMITTED / "sample", COMMITTED / "ground_truth"
    manifest = json.loads((truth / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["args"]["people"] == 2000 and manifest["args"]["seed"] == 7
    for rel, rows in manifest["files"].items():
        path = out / rel
        assert path.exists(), rel
        if rel.endswith(".csv"):
            with open(path, newline="", encoding="utf-8") as fh:
                header = next(csv.reader(fh))
                assert header == [c["name"] for c in SPEC[rel.split("/")[0]]["columns"]]
                assert sum(1 for _ in fh) == rows, rel
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    assert size < 15 * 1024 * 1024


def test_parquet_format_keeps_contract_columns_and_planted_rows(tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    out, truth = _run(tmp_path, "--format", "parquet", "--people", "120")
    for source, spec in SPEC.items():
        files = sorted((out / source).iterdir())
        if spec["format_hint"] == "jsonl":
            assert all(".jsonl" in p.name for p in files)
        else:
            assert [p.name for p in files] == [f"{source}.parquet"]
            assert pq.read_schema(files[0]).names == [c["name"] for c in spec["columns"]]
    manifest = json.loads((truth / "manifest.json").read_text(encoding="utf-8"))
    for e in _csv(truth / "planted_errors.csv"):
        if e["file"].endswith(".parquet"):
            table = pq.read_table(out / e["file"])
            row = table.slice(int(e["line"]) - 1, 1).to_pylist()[0]  # parquet: line = 1-based row
            field = re.search(r"(?:field|amount|timestamp): (\w+)", e["reason"]).group(1)
            if "missing" in e["reason"]:
                assert row[field] is None
            elif "non-numeric" in e["reason"]:
                assert not re.fullmatch(r"\d+", row[field])
            else:
                assert not _ts_ok(row[field])
            assert table.num_rows == manifest["files"][e["file"]]
