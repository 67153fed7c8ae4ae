"""Data the generator did not make, written the way shops export it; big files are written by DuckDB (COPY ...
TO from range()), not by Python loops, so a million rows take about a second."""

from __future__ import annotations

import unicodedata
from pathlib import Path

import duckdb

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
CDNOW_LOG = FIXTURES / "cdnow" / "CDNOW_sample.txt"

ORDER_COLUMNS = (
    "order_id",
    "customer_id",
    "email",
    "phone",
    "anonymous_id",
    "channel",
    "status",
    "currency",
    "subtotal",
    "discount",
    "shipping_fee",
    "total",
    "coupon_code",
    "shipping_city",
    "is_test",
    "created_at",
)


def write_cdnow_orders(data_dir: Path) -> int:
    """The CDNOW 1/10 transaction log as a shop's order export with the contract's minimum: one amount per
    order (`total`), no subtotal, no lines. One order per log row; the order's naive date is read in the
    orders source's time zone. Returns the number of orders."""
    folder = data_dir / "orders"
    folder.mkdir(parents=True, exist_ok=True)
    conn = duckdb.connect()
    try:
        conn.execute(
            f"""copy (
                with log as (
                    select row_number() over () as n, string_split_regex(trim(line), '\\s+') as f
                    from read_csv('{CDNOW_LOG}', header = false, delim = '\t', columns = {{'line': 'varchar'}})
                )
                select 'CD' || lpad(cast(n as varchar), 6, '0') as order_id,
                       'cust-' || cast(cast(f[2] as integer) as varchar) as customer_id,
                       'web' as channel, 'completed' as status, 'USD' as currency,
                       cast(f[5] as decimal(10, 2)) as total,
                       strftime(strptime(f[3], '%Y%m%d'), '%Y-%m-%d') as created_at
                from log order by n
            ) to '{folder / "orders.csv"}' (header, delimiter ',')"""
        )
        return conn.execute(f"select count(*) from read_csv('{folder / 'orders.csv'}')").fetchone()[0]
    finally:
        conn.close()


# Cities as a Vietnamese shop writes them; in Windows-1258 most need a base letter plus a combining tone mark.
CITIES = ("Hà Nội", "TP. Hồ Chí Minh", "Đà Nẵng", "Cần Thơ", "Hải Phòng", "Huế", "Buôn Ma Thuột", "Quy Nhơn")


def cp1258_table(text: str) -> dict[int, str]:
    """str.translate table turning each character that Windows-1258 lacks precomposed into the code page's
    spelling: a precomposed base (ô, ă, ơ, ư...) followed by a combining tone mark."""
    table: dict[int, str] = {}
    for ch in set(unicodedata.normalize("NFC", text)):
        try:
            ch.encode("cp1258")
            continue
        except UnicodeEncodeError:
            pass
        decomposed = unicodedata.normalize("NFD", ch)
        base, marks = decomposed[0], decomposed[1:]
        for i, mark in enumerate(marks):
            candidate = unicodedata.normalize("NFC", base + mark) + marks[:i] + marks[i + 1 :]
            try:
                candidate.encode("cp1258")
            except UnicodeEncodeError:
                continue
            table[ord(ch)] = candidate
            break
        else:
            table[ord(ch)] = decomposed
    return table


def transcode_to_cp1258(source: Path, target: Path, block: int = 1 << 22) -> None:
    """Re-encode a UTF-8 file as Windows-1258, streaming (C-speed translate, no per-character Python loop)."""
    table = cp1258_table("".join(CITIES))
    with open(source, encoding="utf-8", newline="") as src, open(target, "wb") as dst:
        for chunk in iter(lambda: src.read(block), ""):
            dst.write(chunk.translate(table).encode("cp1258"))


def write_phone_only_shop(data_dir: Path, n_orders: int, n_customers: int) -> None:
    """A shop whose customers give a phone and no email: a CRM export (Excel "CSV UTF-8": BOM, commas,
    no email column) and an order export as Excel writes it on a Vietnamese Windows (semicolons,
    Windows-1258) with one amount per order (`total`). Orders fall between 2024-07-01 and 2026-06-30; each
    customer buys within an active window of its own, so some lapse (what BG/NBD needs to see)."""
    (data_dir / "crm_contacts").mkdir(parents=True, exist_ok=True)
    (data_dir / "orders").mkdir(parents=True, exist_ok=True)
    cities = "[" + ", ".join("'" + c + "'" for c in CITIES) + "]"
    conn = duckdb.connect()
    conn.execute("create macro h(a, b, n) as cast(hash(a, b) % n as bigint)")
    try:
        utf8_orders = data_dir / "orders" / "_orders_utf8.csv.tmp"
        conn.execute(
            f"""copy (
                with o as (
                    select i, 1 + h(i, 'customer', {n_customers}) as c from range({n_orders}) t(i)
                ),
                windows as (
                    select c, h(c, 'first', 600) as first_day, 30 + h(c, 'span', 400) as span from o
                    group by c
                )
                select 'DH' || lpad(cast(i as varchar), 8, '0') as order_id,
                       'KH' || lpad(cast(c as varchar), 6, '0') as customer_id,
                       '091' || lpad(cast(c as varchar), 7, '0') as phone,
                       case when i % 3 = 0 then 'app' else 'web' end as channel,
                       'completed' as status,
                       cast(50000 + h(i, 'total', 2000) * 1000 as varchar) as total,
                       strftime(date '2024-07-01' + cast(least(first_day + h(i, 'day', span), 729) as integer)
                                + interval (h(i, 'sec', 86400)) second, '%Y-%m-%d %H:%M:%S') as created_at,
                       {cities}[1 + h(c, 'city', {len(CITIES)})] as shipping_city
                from o join windows using (c)
                order by i
            ) to '{utf8_orders}' (header, delimiter ';')"""
        )
        transcode_to_cp1258(utf8_orders, data_dir / "orders" / "don_hang.csv")
        utf8_orders.unlink()
        crm = data_dir / "crm_contacts" / "khach_hang.csv"
        conn.execute(
            f"""copy (
                select 'KH' || lpad(cast(c as varchar), 6, '0') as customer_id,
                       '091' || lpad(cast(c as varchar), 7, '0') as phone,
                       (['Nguyễn', 'Trần', 'Lê', 'Phạm'])[1 + c % 4] as last_name,
                       (['An', 'Bình', 'Chi', 'Dũng', 'Hương'])[1 + c % 5] as first_name,
                       {cities}[1 + h(c, 'city', {len(CITIES)})] as city,
                       'VN' as country,
                       '2024-01-01 09:00:00' as created_at,
                       'true' as consent_sms,
                       'true' as consent_ads
                from range(1, {n_customers} + 1) t(c)
            ) to '{crm}' (header, delimiter ',')"""
        )
        crm.write_bytes(b"\xef\xbb\xbf" + crm.read_bytes())  # Excel's "CSV UTF-8" starts with a BOM
        # A second channel's export that states each amount in full; one order's total disagrees with its
        # subtotal - discount + shipping_fee.
        (data_dir / "orders" / "web_shop.csv").write_text(
            "order_id,customer_id,phone,channel,status,subtotal,discount,shipping_fee,total,created_at\n"
            "WS-1,KH000001,0910000001,web,completed,100000,10000,20000,110000,2026-06-20 10:00:00\n"
            "WS-2,KH000002,0910000002,web,completed,100000,0,0,150000,2026-06-21 10:00:00\n"
            "WS-3,KH000003,0910000003,web,completed,,,,70000,2026-06-22 10:00:00\n",
            encoding="utf-8",
        )
    finally:
        conn.close()


ORDERS_ONLY_HEADER = "order_id;customer_id;email;channel;status;total;created_at"
CONSENT_HEADER = "customer_id,email,created_at,consent_email,consent_ads"


def write_orders_only_shop(data_dir: Path, n_orders: int, n_customers: int, as_of: str) -> None:
    """The README's "your own data" walkthrough: a shop whose only export is its orders, one file as Excel
    writes it with a semicolon ("CSV UTF-8": a BOM), one amount per order (`total`, VND, no decimals), a
    customer id and an email, naive local times; its customer list with the consent an audience needs; and
    the folder's dataset.yml naming the export's end.

    Orders fall between 2024-07-01 and 2026-06-30 (Vietnam time); each customer buys within an active window
    of their own, so some lapse and some bought in the last 30 days."""
    (data_dir / "orders").mkdir(parents=True, exist_ok=True)
    conn = duckdb.connect()
    conn.execute("create macro h(a, b, n) as cast(hash(a, b) % n as bigint)")
    try:
        rows = conn.execute(
            f"""with o as (
                    select i, 1 + h(i, 'customer', {n_customers}) as c from range({n_orders}) t(i)
                ),
                windows as (
                    select c, h(c, 'first', 600) as first_day, 30 + h(c, 'span', 400) as span from o
                    group by c
                )
                select concat_ws(';',
                       'DH' || lpad(cast(i as varchar), 6, '0'),
                       'KH' || lpad(cast(c as varchar), 5, '0'),
                       'khach' || cast(c as varchar) || '@gmail.com',
                       case when i % 3 = 0 then 'app' else 'web' end,
                       case when i % 29 = 0 then 'cancelled' else 'completed' end,
                       cast(50000 + h(i, 'total', 2000) * 1000 as varchar),
                       strftime(date '2024-07-01' + cast(least(first_day + h(i, 'day', span), 729) as integer)
                                + interval (h(i, 'sec', 86400)) second, '%Y-%m-%d %H:%M:%S'))
                from o join windows using (c)
                order by i"""
        ).fetchall()
    finally:
        conn.close()
    text = "\n".join([ORDERS_ONLY_HEADER, *(r[0] for r in rows)]) + "\n"
    (data_dir / "orders" / "orders.csv").write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    # Orders carry no consent, and Sen sends nobody without it: the customer list states it, one row per
    # customer (2 in 3 accept email, 1 in 2 ads).
    (data_dir / "crm_contacts").mkdir(parents=True, exist_ok=True)
    contacts = [CONSENT_HEADER] + [
        f"KH{c:05d},khach{c}@gmail.com,2024-06-01 09:00:00,{str(c % 3 != 0).lower()},{str(c % 2 == 0).lower()}"
        for c in range(1, n_customers + 1)
    ]
    (data_dir / "crm_contacts" / "customers.csv").write_text("\n".join(contacts) + "\n", encoding="utf-8")
    (data_dir / "dataset.yml").write_text(f'as_of: "{as_of}"\n', encoding="utf-8")
