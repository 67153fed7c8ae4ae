"""Benchmark: build every segment, program and audience model on a large synthetic warehouse.

    .venv/bin/python bench/bench_segments.py --people 1000000 --events 50000000 --workdir /tmp/bench_segments

The data generator (data_samples.generate) makes ~11 events per person and the full pipeline (ingestion, JSON
parsing in staging, identity resolution) is not what this measures, so the tables the segment models read
(staging.*, intermediate.int_record_persons / int_erased_persons, identity.identifier_person_map, marts.customers,
orders, order_items, customer_value, customer_segments_value, loyalty_status, sync.*) are filled directly with
DuckDB SQL from a seeded hash: skewed activity per person, carts abandoned in the last hours, price drops,
consent rates, contact-ledger history. Then `dbt seed` + `dbt run` + `dbt test` of the segment folders are timed.

Prints one line per phase and a JSON summary; --fill-only fills without building (then --skip-fill builds).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import duckdb

REPO = Path(__file__).resolve().parent.parent
DBT_PROJECT = REPO / "dbt_project"
AS_OF = "2026-11-21 00:00:00"
SELECT = ["path:models/marts/segments", "path:models/marts/programs", "path:models/audiences"]
CATEGORIES = ["shoes", "apparel", "electronics", "beauty", "groceries", "baby", "home"]


def _fill_sql(people: int, events: int, products: int) -> list[tuple[str, str]]:
    """(label, SQL) steps creating every upstream relation the segment models read."""
    cats = "[" + ", ".join(f"'{c}'" for c in CATEGORIES) + "]"
    # u(x, k): a reproducible uniform number in [0, 1) from row number x and stream k.
    u = "((hash({x}, {k}) % 1000000) / 1000000.0)"

    def rnd(x: str, k: int) -> str:
        return u.format(x=x, k=k)

    as_of = f"timestamp '{AS_OF}'"
    return [
        (
            "schemas",
            "create schema if not exists staging; create schema if not exists intermediate; "
            "create schema if not exists identity; create schema if not exists marts; create schema if not exists sync",
        ),
        (
            "products",
            f"""create or replace table staging.stg_catalog__products as
            select 'SKU' || lpad(cast(i as varchar), 6, '0') as sku, 'Product ' || i as product_name,
                   {cats}[1 + (i % 7)] as category, null::varchar as subcategory, null::varchar as brand,
                   cast(round(50000 + {rnd("i", 1)} * 2950000, -3) as decimal(18, 2)) as price, 'VND' as currency,
                   case when {rnd("i", 2)} < 0.03 then 1 + cast({rnd("i", 3)} * 5 as integer)
                        when {rnd("i", 2)} < 0.04 then 0 else 10 + cast({rnd("i", 3)} * 200 as integer) end as stock_level,
                   {rnd("i", 4)} < 0.2 as is_consumable,
                   case when {rnd("i", 4)} < 0.2 then 20 + cast({rnd("i", 5)} * 70 as integer) end as replenishment_days,
                   {as_of} - interval 1 day as updated_at
            from range({products}) as t(i)""",
        ),
        (
            "price changes",
            f"""create or replace table staging.stg_catalog__product_price_changes as
            select sku || '-1' as price_change_id, sku, price * 1.2 as old_price, price as new_price,
                   {as_of} - interval 2 hour as changed_at
            from staging.stg_catalog__products where hash(sku) % 10 = 0""",
        ),
        (
            "customers",
            f"""create or replace table marts.customers as
            select 'P' || i as person_id, {rnd("i", 10)} < 0.6 as is_identified,
                   case when {rnd("i", 10)} < 0.6 then 'C' || i end as customer_id,
                   case when {rnd("i", 10)} < 0.55 then 'p' || i || '@mail.vn' end as email,
                   case when {rnd("i", 10)} < 0.5 then '+8490' || lpad(cast(i as varchar), 7, '0') end as phone,
                   'An' as first_name, 'Nguyen' as last_name, 'Nguyen An' as full_name, 'f' as gender,
                   case when {rnd("i", 10)} < 0.45 then date '1970-01-01' + cast({rnd("i", 11)} * 15000 as integer) end
                       as birthday,
                   'Ha Noi' as city, 'VN' as country, {as_of} - interval 400 day as created_at,
                   {rnd("i", 12)} < 0.3 and {rnd("i", 10)} < 0.6 as is_loyalty_member,
                   null::varchar as loyalty_card_id,
                   case when {rnd("i", 12)} < 0.3 then date '2022-01-01' + cast({rnd("i", 13)} * 1500 as integer) end
                       as loyalty_joined_at,
                   null::varchar as referred_by_person_id, {as_of} - interval 300 day as first_seen_at,
                   {as_of} - interval 1 day as last_seen_at, 1 as n_devices, 1 as n_browsers,
                   0 as web_push_tokens, 1 as app_push_tokens, {rnd("i", 14)} < 0.4 as has_valid_push_token,
                   {rnd("i", 15)} < 0.5 as consent_email, {rnd("i", 16)} < 0.4 as consent_sms,
                   {rnd("i", 17)} < 0.4 as consent_zalo, {rnd("i", 18)} < 0.35 as consent_push,
                   {rnd("i", 19)} < 0.45 as consent_ads
            from range({people}) as t(i)""",
        ),
        (
            "erased persons",
            f"""create or replace table intermediate.int_erased_persons as
            select 'E' || i as person_id, {as_of} - interval 3 day as requested_at from range(100) as t(i)""",
        ),
        (
            "events",
            # Activity is skewed: person = people * r^2 puts most events on a minority of people. Each event is a
            # page view, a product view, a cart action, a push open or an order; cart events of one person and day
            # share a cart id; 0.3% of people get a cart in the last 12 hours.
            f"""create or replace table staging.stg_tracking__events as
            with base as (
                select i, 'P' || cast(floor({people} * {rnd("i", 20)} * {rnd("i", 21)}) as bigint) as person_id,
                       {rnd("i", 22)} as kind_r, {rnd("i", 23)} as time_r, cast({rnd("i", 24)} * {products} as bigint) as p
                from range({events}) as t(i)
            )
            select 'ev' || i as event_id,
                   case when kind_r < 0.30 then 'page' when kind_r < 0.40 then 'screen' else 'track' end as event_type,
                   case when kind_r < 0.30 then 'page' when kind_r < 0.40 then 'screen'
                        when kind_r < 0.78 then 'product_viewed' when kind_r < 0.86 then 'product_added'
                        when kind_r < 0.87 then 'product_removed' when kind_r < 0.91 then 'cart_viewed'
                        when kind_r < 0.93 then 'checkout_started' when kind_r < 0.94 then 'order_completed'
                        when kind_r < 0.96 then 'push_notification_opened' else 'products_searched' end as event_name,
                   {as_of} - to_seconds(cast(time_r * 90 * 86400 as bigint)) as occurred_at,
                   case when kind_r < 0.30 then 'web' else 'android' end as platform,
                   case when kind_r < 0.30 then 'https://www.senmart.vn/p' end as page_url,
                   case when kind_r < 0.30 and i % 3 = 0 then 'https://www.google.com/' end as referrer,
                   case when kind_r < 0.30 and i % 10 = 0 then 'facebook' end as utm_source,
                   case when kind_r < 0.30 and i % 10 = 0 then 'paid_social' end as utm_medium,
                   null::varchar as utm_campaign,
                   case when kind_r < 0.30 and i % 20 = 0 then 'clk' || i end as click_id,
                   case when kind_r < 0.30 and i % 20 = 0 then 'fbclid' end as click_id_type,
                   case when kind_r between 0.40 and 0.91 then 'SKU' || lpad(cast(p as varchar), 6, '0') end as sku,
                   case when kind_r between 0.40 and 0.91 then {cats}[1 + (p % 7)] end as category,
                   case when kind_r between 0.40 and 0.91 then cast(100000 + (p % 50) * 20000 as decimal(18, 2)) end as price,
                   case when kind_r between 0.40 and 0.91 then 1 end as quantity,
                   case when kind_r between 0.78 and 0.93
                        then 'cart_' || person_id || '_' || cast(floor(time_r * 90) as bigint) end as cart_id,
                   null::varchar as order_id, null::decimal(18, 2) as revenue, null::varchar as campaign_id,
                   null::varchar as push_token, person_id
            from base
            union all
            select 'evc' || i, 'track', 'product_added',
                   {as_of} - to_seconds(cast(3600 + {rnd("i", 25)} * 11 * 3600 as bigint)),
                   'web', null, null, null, null, null, null, null,
                   'SKU' || lpad(cast(cast({rnd("i", 26)} * {products} as bigint) as varchar), 6, '0'),
                   {cats}[1 + (i % 7)], 300000, 1, 'cartlate_' || i, null, null, null, null,
                   'P' || cast(floor({people} * {rnd("i", 27)}) as bigint)
            from range({max(people // 300, 1)}) as t(i)""",
        ),
        (
            "record persons",
            """create or replace table intermediate.int_record_persons as
            select 'events' as record_source, event_id as record_id, person_id from staging.stg_tracking__events""",
        ),
        (
            "email events",
            f"""create or replace table staging.stg_esp__email_events as
            with base as (
                select i, cast(floor({people} * {rnd("i", 30)}) as bigint) as pi, {rnd("i", 31)} as r
                from range({people * 4}) as t(i)
            )
            select 'em' || i as event_id, 'p' || pi || '@mail.vn' as email, 'cmp' || (i % 40) as campaign_id,
                   case when r < 0.6 then 'delivered' when r < 0.85 then 'opened' when r < 0.95 then 'clicked'
                        when r < 0.99 then 'sent' else 'bounced' end as event_type,
                   null::varchar as url, {as_of} - to_seconds(cast({rnd("i", 32)} * 120 * 86400 as bigint)) as occurred_at,
                   'P' || pi as person_id
            from base""",
        ),
        (
            "email record persons",
            """insert into intermediate.int_record_persons
            select 'email_events', event_id, person_id from staging.stg_esp__email_events""",
        ),
        (
            "push tokens",
            f"""create or replace table staging.stg_tracking__push_tokens as
            select 'tok' || i as push_token, case when i % 3 = 0 then 'ios' else 'android' end as platform,
                   null::varchar as anonymous_id, null::varchar as customer_id, null::varchar as device_id,
                   {as_of} - interval 200 day as first_registered_at,
                   {as_of} - to_seconds(cast({rnd("i", 40)} * 60 * 86400 as bigint)) as registered_at,
                   1 as n_sightings, null::varchar as last_event_id
            from range({people}) as t(i) where {rnd("i", 14)} < 0.4""",
        ),
        (
            "identifier map",
            """create or replace table identity.identifier_person_map as
            select 'push_token' as identifier_type, push_token as identifier_value,
                   'P' || substr(push_token, 4) as person_id, first_registered_at as first_seen_at,
                   registered_at as last_seen_at
            from staging.stg_tracking__push_tokens""",
        ),
        (
            "orders",
            f"""create or replace table marts.orders as
            with base as (
                select i, cast(floor({people} * {rnd("i", 50)} * {rnd("i", 51)}) as bigint) as pi from range({people * 3}) as t(i)
            )
            select 'O' || i as order_id, 'P' || pi as person_id,
                   case when i % 3 = 0 then 'store' when i % 3 = 1 then 'web' else 'app' end as channel,
                   null::varchar as store_id, 'completed' as status, 'VND' as currency,
                   cast(200000 + (i % 40) * 50000 as decimal(18, 2)) as gross_amount, cast(0 as decimal(18, 2)) as discount,
                   cast(0 as decimal(18, 2)) as shipping_fee, cast(200000 + (i % 40) * 50000 as decimal(18, 2)) as paid_amount,
                   cast(0 as decimal(18, 2)) as refunded_amount, cast(200000 + (i % 40) * 50000 as decimal(18, 2)) as net_amount,
                   false as is_fully_refunded, 0 as n_returns, 2 as n_items, null::varchar as coupon_code,
                   {as_of} - to_seconds(cast({rnd("i", 52)} * 730 * 86400 as bigint)) as ordered_at
            from base""",
        ),
        (
            "order dates",
            "alter table marts.orders add column ordered_date date; update marts.orders set ordered_date = cast(ordered_at as date)",
        ),
        (
            "order items",
            f"""create or replace table marts.order_items as
            select o.order_id || '-' || l.n as order_item_id, o.order_id, l.n as line_number, o.person_id, o.channel,
                   p.sku, p.product_name, p.category, null::varchar as subcategory, null::varchar as brand,
                   1 + cast(hash(o.order_id, l.n) % 2 as integer) as quantity, p.price as unit_price, p.price as line_amount,
                   0 as returned_quantity, cast(0 as decimal(18, 2)) as refunded_amount, 'VND' as currency,
                   o.ordered_at, o.ordered_date
            from marts.orders as o
            cross join (select unnest([1, 2]) as n) as l
            inner join staging.stg_catalog__products as p
                on p.sku = 'SKU' || lpad(cast(hash(o.order_id, l.n) % {products} as varchar), 6, '0')""",
        ),
        (
            "customer value",
            f"""create or replace table marts.customer_value as
            select person_id, min(ordered_at) as first_order_at, max(ordered_at) as last_order_at,
                   count(*) as orders, count(distinct ordered_date) as purchase_occasions,
                   0 as web_orders, 0 as app_orders, 0 as store_orders, 0 as fully_refunded_orders,
                   sum(net_amount) as total_net_amount, avg(net_amount) as avg_order_value,
                   date_diff('day', min(ordered_at), {as_of}) as tenure_days,
                   date_diff('day', max(ordered_at), {as_of}) as recency_days,
                   ntile(5) over (order by date_diff('day', max(ordered_at), {as_of}) desc) as rfm_recency_score,
                   ntile(5) over (order by count(*)) as rfm_frequency_score,
                   ntile(5) over (order by sum(net_amount)) as rfm_monetary_score,
                   '555' as rfm_score, 'Loyal' as rfm_segment
            from marts.orders group by person_id""",
        ),
        (
            "customer segments value",
            f"""create or replace table marts.customer_segments_value as
            select person_id, orders, purchase_occasions, total_net_amount, recency_days, rfm_score, rfm_segment,
                   cast(total_net_amount * 0.8 as double) as clv, {rnd("hash(person_id)", 60)} as p_alive,
                   1.5 as expected_purchases_horizon, orders - 1 as clv_frequency,
                   case when {rnd("hash(person_id)", 61)} < 0.01 then 'top_1pct' when {rnd("hash(person_id)", 61)} < 0.1
                        then 'top_10pct' when {rnd("hash(person_id)", 61)} < 0.5 then 'top_50pct' else 'rest' end as clv_tier,
                   null::varchar as clv_fallback_reason,
                   case when recency_days > 180 then 'high' when recency_days > 90 then 'medium' else 'low' end as churn_risk,
                   'p_alive' as churn_risk_basis,
                   {rnd("hash(person_id)", 61)} < 0.1 and purchase_occasions >= 2 and recency_days <= 90 as is_high_value_loyal
            from marts.customer_value""",
        ),
        (
            "loyalty status",
            """create or replace table marts.loyalty_status as
            select c.person_id, null::varchar as loyalty_card_id, c.loyalty_joined_at, 'silver' as tier, 2 as tier_rank,
                   100 as points, coalesce(v.total_net_amount, 0) as net_spend_365d, coalesce(v.orders, 0) as purchases_365d,
                   'gold' as next_tier, 50 as missing_points, cast(400000 as decimal(18, 2)) as missing_amount,
                   1 as missing_purchases, null::decimal(18, 2) as next_tier_spend_in_window,
                   null::integer as next_tier_purchases_in_window, (hash(c.person_id) % 100) / 100.0 as progress
            from marts.customers as c left join marts.customer_value as v on c.person_id = v.person_id
            where c.is_loyalty_member""",
        ),
        (
            "service sources",
            f"""create or replace table staging.stg_support__tickets as
            select 'T' || i as ticket_id, null::varchar as customer_id, null::varchar as email, null::varchar as phone,
                   null::varchar as order_id, 'web' as channel,
                   case when i % 4 = 0 then 'delivery' else 'other' end as category,
                   case when i % 10 = 0 then 'open' else 'solved' end as status, 'normal' as priority,
                   {as_of} - to_seconds(cast({rnd("i", 70)} * 200 * 86400 as bigint)) as created_at, null::timestamp as resolved_at
            from range({people // 20}) as t(i);
            insert into intermediate.int_record_persons
            select 'support', 'T' || i, 'P' || cast(floor({people} * {rnd("i", 71)}) as bigint) from range({people // 20}) as t(i);
            create or replace table staging.stg_surveys__responses as
            select 'R' || i as response_id, null::varchar as customer_id, null::varchar as email, 'nps' as survey_type,
                   cast({rnd("i", 72)} * 11 as integer) as score, null::varchar as comment, null::varchar as order_id,
                   {as_of} - to_seconds(cast({rnd("i", 73)} * 300 * 86400 as bigint)) as responded_at
            from range({people // 10}) as t(i);
            insert into intermediate.int_record_persons
            select 'surveys', 'R' || i, 'P' || cast(floor({people} * {rnd("i", 74)}) as bigint) from range({people // 10}) as t(i);
            create or replace table staging.stg_shop__returns as
            select 'RT' || i as return_id, 'O' || cast(floor({people * 3} * {rnd("i", 75)}) as bigint) as order_id,
                   null::varchar as sku, 1 as quantity, cast(100000 as decimal(18, 2)) as refund_amount, 'VND' as currency,
                   'size' as reason, {as_of} - to_seconds(cast({rnd("i", 76)} * 200 * 86400 as bigint)) as returned_at
            from range({people // 10}) as t(i);
            create or replace table staging.stg_chat__conversations as
            select 'CH' || i as conversation_id, case when i % 2 = 0 then 'zalo' else 'facebook' end as platform,
                   null::varchar as platform_user_id, null::varchar as anonymous_id, null::varchar as email,
                   null::varchar as phone, {as_of} - to_seconds(cast({rnd("i", 77)} * 150 * 86400 as bigint)) as started_at,
                   null::timestamp as last_message_at, 3 as customer_messages, 2 as agent_messages, 'order' as topic
            from range({people // 5}) as t(i);
            insert into intermediate.int_record_persons
            select 'chat', 'CH' || i, 'P' || cast(floor({people} * {rnd("i", 78)}) as bigint) from range({people // 5}) as t(i)""",
        ),
        (
            "ad touchpoints",
            """create or replace table staging.stg_ads__touchpoints as
            select 'AT' || substr(click_id, 4) as touchpoint_id, 'meta' as platform, 'cmp_meta' as campaign_id,
                   'click' as touch_type, click_id, 'fbclid' as click_id_type, cast(1000 as decimal(18, 2)) as cost,
                   'VND' as currency, occurred_at - interval 10 second as occurred_at
            from staging.stg_tracking__events where click_id is not null""",
        ),
        (
            "sync state",
            f"""create or replace table sync.contact_ledger as
            select 'P' || cast(floor({people} * {rnd("i", 80)}) as bigint) as person_id,
                   ['email', 'push', 'zalo'][1 + (i % 3)] as channel,
                   ['winback', 'birthday', 'cart_abandoners', 'loyalty_next_tier'][1 + (i % 4)] as campaign,
                   ['email', 'push', 'zalo'][1 + (i % 3)] as destination, 'bench' as sync_name,
                   {as_of} - to_seconds(cast({rnd("i", 81)} * 30 * 86400 as bigint)) as sent_at,
                   null::varchar as run_id, null::varchar as message_key, null::varchar as delivery
            from range({people // 2}) as t(i);
            create or replace table sync.dead_push_tokens as
            select push_token as token, {as_of} - interval 1 day as detected_at, 'bench' as sync_name
            from staging.stg_tracking__push_tokens where hash(push_token) % 100 = 0""",
        ),
    ]


def fill(path: Path, people: int, events: int, products: int) -> dict[str, float]:
    timings: dict[str, float] = {}
    conn = duckdb.connect(str(path))
    try:
        for label, sql in _fill_sql(people, events, products):
            started = time.perf_counter()
            conn.execute(sql)
            timings[label] = round(time.perf_counter() - started, 1)
            print(f"  fill {label:<24} {timings[label]:>7.1f} s", flush=True)
        counts = {
            "people": conn.execute("select count(*) from marts.customers").fetchone()[0],
            "events": conn.execute("select count(*) from staging.stg_tracking__events").fetchone()[0],
            "orders": conn.execute("select count(*) from marts.orders").fetchone()[0],
            "order_items": conn.execute("select count(*) from marts.order_items").fetchone()[0],
        }
        print(f"  filled: {counts}", flush=True)
    finally:
        conn.close()
    return timings


def dbt(args: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    command = [str(Path(sys.executable).parent / "dbt"), *args]
    completed = subprocess.run(command, cwd=DBT_PROJECT, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if completed.returncode != 0:
        print(completed.stdout[-8000:], completed.stderr[-4000:], sep="\n")
        raise SystemExit(f"dbt {' '.join(args[:1])} failed")
    return elapsed


def slowest_models(run_results: Path, top: int = 12) -> dict[str, float]:
    """Execution time of the slowest models of the last dbt run (dbt test overwrites run_results.json)."""
    results = json.loads(run_results.read_text(encoding="utf-8"))["results"]
    ranked = sorted(results, key=lambda result: result["execution_time"], reverse=True)[:top]
    return {result["unique_id"].split(".")[-1]: round(result["execution_time"], 1) for result in ranked}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--people", type=int, default=1_000_000)
    parser.add_argument("--events", type=int, default=50_000_000)
    parser.add_argument("--products", type=int, default=5_000)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/bench_segments"))
    parser.add_argument("--skip-fill", action="store_true", help="reuse the warehouse of a previous run")
    parser.add_argument("--fill-only", action="store_true", help="fill the warehouse, build nothing")
    parser.add_argument("--skip-tests", action="store_true", help="time the models only")
    parser.add_argument(
        "--memory-limit",
        default="10GB",
        help="DuckDB memory_limit of the dbt runs (spill to disk rather than be killed on a shared machine)",
    )
    args = parser.parse_args(argv)

    args.workdir.mkdir(parents=True, exist_ok=True)
    warehouse = args.workdir / "bench.duckdb"
    summary: dict[str, object] = {
        "people": args.people,
        "events": args.events,
        "products": args.products,
        "memory_limit": args.memory_limit,
    }
    if not args.skip_fill:
        for suffix in ("", ".wal"):
            Path(str(warehouse) + suffix).unlink(missing_ok=True)
        started = time.perf_counter()
        summary["fill_steps_s"] = fill(warehouse, args.people, args.events, args.products)
        summary["fill_s"] = round(time.perf_counter() - started, 1)
    if args.fill_only:
        print(json.dumps(summary, indent=2))
        return 0

    profiles = args.workdir / "profiles"
    profiles.mkdir(exist_ok=True)
    # The project's profile plus a memory limit, so the benchmark degrades instead of exhausting a shared host.
    (profiles / "profiles.yml").write_text(
        (DBT_PROJECT / "profiles.yml")
        .read_text(encoding="utf-8")
        .replace(
            "        TimeZone: UTC", f"        TimeZone: UTC\n        memory_limit: {args.memory_limit}"
        ),
        encoding="utf-8",
    )
    env = {
        **os.environ,
        "DBT_PROFILES_DIR": str(profiles),
        "CDP_WAREHOUSE": str(warehouse),
        "CDP_AS_OF": AS_OF,
        "DBT_TARGET_PATH": str(args.workdir / "target"),
        "DBT_LOG_PATH": str(args.workdir / "logs"),
    }
    vars_arg = json.dumps({"as_of": AS_OF})
    summary["dbt_parse_s"] = round(dbt(["parse", "--quiet"], env), 1)
    summary["dbt_seed_s"] = round(dbt(["seed", "--quiet", "--select", "path:seeds/segments"], env), 1)
    run_s = dbt(["run", "--quiet", "--vars", vars_arg, "--select", *SELECT], env)
    summary["dbt_run_models_s"] = round(run_s, 1)
    print(f"  dbt run (every segment, program and audience model): {run_s:.1f} s", flush=True)
    summary["slowest_models_s"] = slowest_models(args.workdir / "target" / "run_results.json")
    if not args.skip_tests:
        test_s = dbt(["test", "--quiet", "--vars", vars_arg, "--select", *SELECT], env)
        summary["dbt_test_s"] = round(test_s, 1)
        print(f"  dbt test (data, unit and singular tests of those models): {test_s:.1f} s", flush=True)

    conn = duckdb.connect(str(warehouse), read_only=True)
    try:
        summary["segment_sizes"] = dict(
            conn.execute(
                "select segment, count(*) from marts.segment_members_current group by 1 order by 1"
            ).fetchall()
        )
        summary["audience_rows"] = dict(
            conn.execute(
                "select table_name, estimated_size from duckdb_tables() where schema_name = 'audiences' order by 1"
            ).fetchall()
        )
        summary["holdbacks"] = conn.execute("select count(*) from marts.frequency_cap_holdbacks").fetchone()[
            0
        ]
        summary["attribution_credits"] = conn.execute(
            "select count(*) from marts.attribution_credits"
        ).fetchone()[0]
    finally:
        conn.close()
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
