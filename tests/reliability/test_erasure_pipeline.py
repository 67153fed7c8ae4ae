"""Issue 18, case 2: an erasure request used to leave the person's name, email, phone, loyalty card and whole
order and POS history in clear in raw.*, the identity tables, person_id_history, sync.dry_run_plans, the
previous serving Parquet version and earlier file exports, and the request kept the email.

Here the main job runs three times on a copy of the committed sample (syncs sending, so the file export
writes files, and the serving Parquet versions on):
1. as is; a customer with a CRM contact, orders, POS purchases and a place in the exported high-value seed
   is chosen as the person to erase;
2. after an erasure request for their email lands: every table of the warehouse and of the serving copy,
   and every file the product wrote (serving Parquet versions, file exports, the build's log, the dbt folder
   of the run, the run-failure log) is searched for their email, phone, name and ids; nothing is found, and
   every mart lost exactly that person's rows;
3. after their CRM row is exported again (a full re-export) and a full refresh: they are still gone.
"""

from __future__ import annotations

import csv
import gzip
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from sen.config import DBT_PROJECT_DIR, REPO_ROOT
from tests.conftest import SAMPLE_AS_OF, SAMPLE_DIR

# `unproven`: written in the session of 2026-12-07, not yet green end to end; kept out of `make test` until it
# is (run it with `pytest -m unproven`; see the open issue's note). State on 2026-12-08 00:30: the first three
# tests passed on a full run; the per-person marts check passes on a real pair of builds (replayed on the kept
# warehouses) and fails without its population-relative allowances; the re-export test (third build) has not
# yet been seen to run. Cost: three builds of the sample, about 25 min on the shared 2-core machine.
# Three builds of the whole sample: beyond the suite's 900 s per test on a loaded machine.
pytestmark = [pytest.mark.e2e, pytest.mark.unproven, pytest.mark.timeout(3600)]

SALT = "test-erasure-salt-" + "7" * 24
REQUEST_ID = "ER-TEST-0001"


def _build(env: dict[str, str], log: Path, *extra: str) -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "orchestration.cli", "build", "--send", *extra],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    log.write_text(completed.stdout + completed.stderr, encoding="utf-8")
    if completed.returncode != 0:
        pytest.fail(f"the main job failed:\n{completed.stdout[-6000:]}\n{completed.stderr[-6000:]}")


def _tables(conn: duckdb.DuckDBPyConnection) -> list[tuple[str, str]]:
    return conn.execute(
        "select schema_name, table_name from duckdb_tables() where database_name = current_database() order by 1, 2"
    ).fetchall()


def _person_rows(conn: duckdb.DuckDBPyConnection, schemas: tuple[str, ...]) -> dict[str, tuple[int, int]]:
    """table -> (rows, rows of the erased-person candidate) for tables with a person_id column."""
    out = {}
    for schema, table in _tables(conn):
        if schema not in schemas:
            continue
        columns = [d[0] for d in conn.execute(f'select * from {schema}."{table}" limit 0').description]
        if "person_id" in columns:
            out[f"{schema}.{table}"] = conn.execute(f'select count(*) from {schema}."{table}"').fetchall()[0][
                0
            ]
    return out


class Person:
    """Everything that names the person to erase, as found after the first build."""

    def __init__(self, conn: duckdb.DuckDBPyConnection):
        candidates = conn.execute(
            """
            with crm as (
                select customer_id, email, phone, first_name, last_name, loyalty_card_id
                from raw.crm_contacts
                where email like '%@%' and phone is not null and loyalty_card_id is not null
                  and first_name is not null and last_name is not null
            ),
            unique_names as (
                select first_name, last_name from raw.crm_contacts group by 1, 2 having count(*) = 1
            ),
            persons as (
                select m.person_id, crm.*
                from crm
                inner join unique_names using (first_name, last_name)
                inner join identity.identifier_person_map m
                    on m.identifier_type = 'customer_id' and m.identifier_value = upper(trim(crm.customer_id))
            ),
            seeded as (
                select distinct person_id from audiences.audience_high_value_seed_meta
            )
            select persons.*
            from persons
            inner join seeded using (person_id)
            where person_id not in (select person_id from intermediate.int_erased_persons)
              and exists (select 1 from intermediate.int_record_persons r
                          where r.person_id = persons.person_id and r.record_source = 'pos')
              and exists (select 1 from intermediate.int_record_persons r
                          where r.person_id = persons.person_id and r.record_source = 'orders')
              -- none of their identifiers is also someone else's (a shared family phone would stay there)
              and not exists (
                  select 1 from intermediate.int_identifier_occurrences o
                  inner join identity.identifier_person_map m
                      on m.identifier_type = o.identifier_type and m.identifier_value = o.identifier_value
                  inner join intermediate.int_record_persons r
                      on r.record_source = o.record_source and r.record_id = o.record_id
                  where m.person_id = persons.person_id and r.person_id <> persons.person_id
              )
            order by person_id
            limit 1
            """
        ).fetchall()
        assert candidates, "the sample has no customer with CRM, orders, POS and a place in the exported seed"
        (
            self.person_id,
            self.customer_id,
            self.email,
            self.phone,
            self.first_name,
            self.last_name,
            self.card,
        ) = candidates[0]
        self.identifiers = conn.execute(
            "select identifier_type, identifier_value from identity.identifier_person_map where person_id = ?",
            [self.person_id],
        ).fetchall()
        self.records = conn.execute(
            "select record_source, record_id from intermediate.int_record_persons where person_id = ?",
            [self.person_id],
        ).fetchall()
        # raw rows (every exported version) of their CRM contact and of their orders
        self.raw_crm_rows = conn.execute(
            "select count(*) from raw.crm_contacts where upper(trim(customer_id)) = upper(trim(?))",
            [self.customer_id],
        ).fetchall()[0][0]
        self.raw_order_rows = conn.execute(
            "select count(*) from raw.orders where trim(order_id) in (select unnest(?))",
            [[r for s, r in self.records if s == "orders"]],
        ).fetchall()[0][0]
        self.rows_in_marts = {}
        for schema, table in _tables(conn):
            if schema in ("marts", "audiences"):
                columns = [
                    d[0] for d in conn.execute(f'select * from {schema}."{table}" limit 0').description
                ]
                if "person_id" in columns:
                    self.rows_in_marts[f"{schema}.{table}"] = conn.execute(
                        f'select count(*) from {schema}."{table}" where person_id = ?', [self.person_id]
                    ).fetchall()[0][0]
        digits = re.sub(r"\D", "", self.phone)
        # Substring tokens: distinctive enough that finding one anywhere means the person is still there.
        self.strong = {
            self.email.strip().lower(),
            self.person_id,
            self.customer_id.strip(),
            self.card.strip(),
            digits[-9:],  # the national number, however it was written (0xx, +84xx, spaced)
            f"{self.first_name} {self.last_name}",
            *(v for t, v in self.identifiers if len(v) >= 8),
        }
        # Exact tokens: record ids (an order id is short and may be the prefix of another one).
        self.exact = {r for _, r in self.records if r}

    def search_duckdb(self, path: Path) -> list[str]:
        conn = duckdb.connect(str(path), read_only=True)
        found = []
        strong = "|".join(re.escape(t.lower()) for t in sorted(self.strong))
        try:
            for schema, table in _tables(conn):
                described = conn.execute(f'select * from "{schema}"."{table}" limit 0').description
                columns = [d[0] for d in described]
                if not columns:
                    continue
                text = [f'lower(cast("{c}" as varchar))' for c in columns]
                conditions = [f"regexp_matches({t}, $strong)" for t in text]
                conditions += [f"{t} in (select unnest($exact))" for t in text]
                if {"first_name", "last_name"} <= set(columns):
                    conditions.append("(first_name = $first and last_name = $last)")
                n = conn.execute(
                    f'select count(*) from "{schema}"."{table}" where {" or ".join(conditions)}',
                    {
                        "strong": strong,
                        "exact": sorted(e.lower() for e in self.exact),
                        **(
                            {"first": self.first_name, "last": self.last_name}
                            if {"first_name", "last_name"} <= set(columns)
                            else {}
                        ),
                    },
                ).fetchall()[0][0]
                if n:
                    found.append(f"{path.name}: {schema}.{table} ({n} rows)")
        finally:
            conn.close()
        return found

    def search_file(self, path: Path) -> list[str]:
        if path.suffix == ".parquet":
            conn = duckdb.connect()
            try:
                rows = conn.execute(f"select * from read_parquet('{path}')").fetchall()
            finally:
                conn.close()
            data = "\n".join("\x1f".join("" if v is None else str(v) for v in row) for row in rows).lower()
            cells = {str(v).lower() for row in rows for v in row if v is not None}
        else:
            raw = path.read_bytes()
            if path.suffix == ".gz":
                raw = gzip.decompress(raw)
            data = raw.decode("utf-8", errors="replace").lower()
            cells = set(re.split(r"[\s,;\"'=:\[\]{}()|]+", data))
        hits = [t for t in self.strong if t.lower() in data]
        hits += [t for t in self.exact if t.lower() in cells]
        return [f"{path}: {sorted(hits)}"] if hits else []


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    started = time.time()
    root = tmp_path_factory.mktemp("erasure")
    data, wh, exports = root / "data", root / "warehouse", root / "exports"
    shutil.copytree(SAMPLE_DIR, data)
    wh.mkdir()
    exports.mkdir()
    warehouse = wh / "sen.duckdb"
    env = {
        **os.environ,
        "CDP_DATA_DIR": str(data),
        "CDP_WAREHOUSE": str(warehouse),
        "CDP_AS_OF": SAMPLE_AS_OF,
        "CDP_SERVING": str(wh / "serving.duckdb"),
        "CDP_SERVING_PARQUET": "1",
        "CDP_EXPORT_DIR": str(exports),
        "CDP_ERASURE_SALT": SALT,
    }
    env.pop("DAGSTER_HOME", None)
    _build(env, wh / "build1.log")
    # the warehouse as it was, to compare every other person's rows with after the erasure
    before_copy = root / "before" / "sen.duckdb"
    before_copy.parent.mkdir()
    shutil.copyfile(warehouse, before_copy)
    conn = duckdb.connect(str(warehouse), read_only=True)
    try:
        person = Person(conn)
        before = _person_rows(conn, ("marts", "audiences"))
        raw_before = {
            s: conn.execute(f'select count(*) from raw."{s}"').fetchall()[0][0]
            for s in ("crm_contacts", "orders", "pos_transactions", "events")
        }
    finally:
        conn.close()
    exported_before = [p for p in exports.rglob("*") if p.is_file()]
    assert any(person.search_file(p) for p in exported_before), "the chosen person is not in the file export"
    assert person.search_duckdb(wh / "serving.duckdb"), "the chosen person is not in the serving copy"

    request = data / "erasure_requests" / "erasure_requests_later.csv"
    with open(request, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, quoting=csv.QUOTE_ALL)
        writer.writerow(["request_id", "customer_id", "email", "phone", "requested_at"])
        writer.writerow([REQUEST_ID, "", person.email.upper(), "", "2026-11-20T12:00:00Z"])
    _build(env, wh / "build2.log")
    conn = duckdb.connect(str(warehouse), read_only=True)
    try:
        after = _person_rows(conn, ("marts", "audiences"))
        raw_after = {s: conn.execute(f'select count(*) from raw."{s}"').fetchall()[0][0] for s in raw_before}
    finally:
        conn.close()
    return {
        "root": root,
        "started": started,
        "data": data,
        "wh": wh,
        "warehouse": warehouse,
        "exports": exports,
        "env": env,
        "person": person,
        "before": before,
        "before_copy": before_copy,
        "after": after,
        "raw_before": raw_before,
        "raw_after": raw_after,
    }


def _product_files(runs) -> list[Path]:
    """Every file the product wrote: next to the warehouse (the warehouse and serving files themselves, read as
    bytes: a deleted value must not linger in a freed block; Parquet versions, logs, run state), the exports,
    and the dbt folder of this warehouse's runs."""
    files = []
    for folder in (runs["wh"], runs["exports"], DBT_PROJECT_DIR / "target"):
        for path in folder.rglob("*"):
            if not path.is_file() or path.is_symlink():
                continue
            # the dbt folder is shared with other runs of this checkout: the files this module's builds wrote
            if folder == DBT_PROJECT_DIR / "target" and path.stat().st_mtime < runs["started"]:
                continue
            files.append(path)
    return files


def test_nothing_of_the_erased_person_is_left_in_any_table(runs):
    person = runs["person"]
    assert person.search_duckdb(runs["warehouse"]) == []
    assert person.search_duckdb(runs["wh"] / "serving.duckdb") == []


def test_nothing_of_the_erased_person_is_left_in_any_file(runs):
    files = _product_files(runs)
    assert any(p.suffix == ".parquet" and "serving_parquet" in str(p) for p in files)
    assert any(runs["exports"] in p.parents for p in files)
    found = [hit for path in files for hit in runs["person"].search_file(path)]
    assert found == []


def test_the_request_keeps_no_identifier_and_the_suppression_list_only_hashes(runs):
    conn = duckdb.connect(str(runs["warehouse"]), read_only=True)
    try:
        request = conn.execute(
            "select customer_id, email, phone from raw.erasure_requests where request_id = ?", [REQUEST_ID]
        ).fetchall()
        assert request == [(None, None, None)]
        hashes = conn.execute("select identifier_hash from raw._erased_identifiers").fetchall()
        assert hashes and all(re.fullmatch(r"[0-9a-f]{64}", h) for (h,) in hashes)
        text = repr(conn.execute("select * from raw._erasure_log").fetchall())
        assert SALT not in text and runs["person"].email not in text
    finally:
        conn.close()


# Values that are not facts about one person but a person's place in the population: removing anyone moves
# them for others, by design (docs/privacy.md). RFM scores are quintiles of everyone's recency, frequency and
# amount (ntile(5) in marts.customer_value); the CLV model is fitted on the whole population's purchase
# history and its tiers are ranks (top 1% / 10% by CLV, sen/clv), so every prediction of it (CLV, p_alive,
# expected purchases, the backtest's predictions, the fit id), the churn risk read from p_alive and the tier
# may move when one person leaves.
POPULATION_RELATIVE_COLUMNS = {
    "marts.customer_value": {
        "rfm_recency_score",
        "rfm_frequency_score",
        "rfm_monetary_score",
        "rfm_fm_score",
        "rfm_score",
        "rfm_segment",
    },
    "marts.customer_segments_value": {
        "rfm_score",
        "rfm_segment",
        "clv",
        "expected_purchases_horizon",
        "p_alive",
        "clv_tier",
        "churn_risk",
        "is_high_value_loyal",
    },
    "marts.customer_clv": {
        "clv",
        "expected_purchases_horizon",
        "expected_purchases_12m",
        "expected_avg_value",
        "p_alive",
        "clv_tier",
        "churn_risk",
        "fit_id",
    },
    "marts.clv_backtest": {"predicted_purchases", "predicted_revenue"},
    # Recommendations are the nearest neighbours of what a person bought in item_similarity, a cosine over
    # everyone's co-purchases and co-views: one person's purchases leaving moves the scores and neighbours.
    # Who has recommendations, and how many, is still checked (person_id and rank stay compared).
    "marts.next_best_products": {"sku", "score", "reason", "because_sku", "product_name", "category"},
}
# Rows defined by those values (a person enters or leaves, or their row changes, when their tier, risk or
# quintile moves), as a predicate per table. Checked below: every person whose such rows differ had one of
# the values that segment and campaign rules test move. Segments (dbt_project/segments/lifecycle.yml):
# churn_risk_valuable (CLV tier and churn risk), high_value_loyal (is_high_value_loyal), winback_inactive
# (churn risk high); the campaigns on them (dbt_project/campaigns.yml): high_value_seed (Meta), winback
# (email, whose rows also carry churn_risk, clv_tier and rfm_segment as properties).
RELATIVE_SEGMENTS = "('churn_risk_valuable', 'high_value_loyal', 'winback_inactive')"
RELATIVE_CAMPAIGNS = "('winback', 'high_value_seed')"
POPULATION_RELATIVE_ROWS = {
    "marts.seg_churn_risk_valuable": "true",
    "marts.seg_high_value_loyal": "true",
    "marts.seg_winback_inactive": "true",
    "marts.segment_members_current": f"segment in {RELATIVE_SEGMENTS}",
    "marts.segment_memberships": f"segment in {RELATIVE_SEGMENTS}",
    "marts.campaign_reachable": f"campaign in {RELATIVE_CAMPAIGNS}",
    "marts.campaign_assignments": f"campaign in {RELATIVE_CAMPAIGNS}",
    "marts.campaign_deliveries": f"campaign in {RELATIVE_CAMPAIGNS}",
    "audiences.audience_high_value_seed_meta": "true",
    "audiences.audience_winback_email": "true",
}


def _columns(conn: duckdb.DuckDBPyConnection, table: str) -> list[str]:
    schema, name = table.split(".")
    return [d[0] for d in conn.execute(f'select * from {schema}."{name}" limit 0').description]


def _changed_persons(
    conn: duckdb.DuckDBPyConnection, table: str, columns: list[str], erased: str, where: str = "true"
) -> set[str]:
    """Persons (other than the erased one) whose rows of `table` matching `where`, projected on `columns`,
    differ between the warehouse before the erasure (attached as `b`) and after."""
    schema, name = table.split(".")
    cols = ", ".join(f'"{c}"' for c in columns)
    rows = conn.execute(
        f"""
        select distinct person_id from (
            (select {cols} from b.{schema}."{name}" where person_id <> $p and ({where})
             except all select {cols} from {schema}."{name}" where person_id <> $p and ({where}))
            union all
            (select {cols} from {schema}."{name}" where person_id <> $p and ({where})
             except all select {cols} from b.{schema}."{name}" where person_id <> $p and ({where}))
        )
        """,
        {"p": erased},
    ).fetchall()
    return {r[0] for r in rows}


def test_marts_lose_exactly_the_erased_persons_rows(runs):
    """Every row that is a fact about one person (profile, orders, totals, recency, audience fields) is
    unchanged for every other person; only population-relative values (named above, with why) may move."""
    person, before, after = runs["person"], runs["before"], runs["after"]
    assert person.rows_in_marts["marts.customers"] == 1
    assert set(after) == set(before)
    conn = duckdb.connect(str(runs["warehouse"]), read_only=True)
    try:
        conn.execute(f"attach '{runs['before_copy']}' as b (read_only)")
        # who had a value that segment and campaign rules test move (a tier, a risk band, a group; not
        # the continuous CLV, which moves for nearly everyone when the model is refitted)
        moved_relative = _changed_persons(
            conn,
            "marts.customer_segments_value",
            ["person_id", "clv_tier", "churn_risk", "is_high_value_loyal", "rfm_segment"],
            person.person_id,
        )
        report = {}
        for table, count in sorted(before.items()):
            relative_rows = POPULATION_RELATIVE_ROWS.get(table)
            if relative_rows is not None:
                movers = _changed_persons(conn, table, _columns(conn, table), person.person_id, relative_rows)
                if not movers <= moved_relative:
                    report[table] = (
                        "moved without a population-relative reason",
                        sorted(movers - moved_relative),
                    )
            fact_rows = "true" if relative_rows is None else f"not ({relative_rows})"
            columns = ["person_id"] + [
                c
                for c in _columns(conn, table)
                if c != "person_id" and c not in POPULATION_RELATIVE_COLUMNS.get(table, ())
            ]
            changed = _changed_persons(conn, table, columns, person.person_id, fact_rows)
            if changed:
                diffs = {
                    c: len(_changed_persons(conn, table, ["person_id", c], person.person_id, fact_rows))
                    for c in columns[1:]
                }
                report[f"{table} facts"] = (len(changed), {c: n for c, n in diffs.items() if n})
            if relative_rows is None and after[table] != count - person.rows_in_marts.get(table, 0):
                report[f"{table} rows"] = (after[table], count - person.rows_in_marts.get(table, 0))
        assert report == {}
    finally:
        conn.close()
    assert {"orders", "pos"} <= {s for s, _ in person.records}
    assert person.raw_crm_rows >= 1 and person.raw_order_rows >= 1
    assert runs["raw_after"]["crm_contacts"] == runs["raw_before"]["crm_contacts"] - person.raw_crm_rows
    assert runs["raw_after"]["orders"] == runs["raw_before"]["orders"] - person.raw_order_rows


def test_a_reexport_of_the_erased_person_does_not_bring_them_back(runs):
    person: Person = runs["person"]
    crm = runs["data"] / "crm_contacts"
    with open(SAMPLE_DIR / "crm_contacts" / "crm_contacts.csv", encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    header, body = rows[0], rows[1:]
    again = [r for r in body if r[header.index("customer_id")] == person.customer_id]
    assert again
    with open(crm / "crm_contacts_reexport.csv", "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, quoting=csv.QUOTE_ALL)
        writer.writerow(header)
        writer.writerows(again)
    _build(runs["env"], runs["wh"] / "build3.log", "--full-refresh")
    assert person.search_duckdb(runs["warehouse"]) == []
    assert person.search_duckdb(runs["wh"] / "serving.duckdb") == []
    # not even in the warehouse file's freed blocks: the filtered load rewrote it
    assert person.search_file(runs["warehouse"]) == []
    conn = duckdb.connect(str(runs["warehouse"]), read_only=True)
    try:
        dropped = conn.execute(
            "select sum(rows_deleted) from raw._erasure_log where erasure_id like 'load:%' "
            "and table_name = 'raw.crm_contacts'"
        ).fetchall()[0][0]
        assert dropped == len(again)
        assert _person_rows(conn, ("marts",))["marts.customers"] == runs["after"]["marts.customers"]
    finally:
        conn.close()
