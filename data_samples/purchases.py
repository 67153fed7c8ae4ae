"""Buying behaviour (BG/NBD-like frequency and dropout, gamma-gamma-like spend) and the commerce sources."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from data_samples import identity as idn
from data_samples import textops as t
from data_samples import vocab
from data_samples.catalog import CATEGORY_NAMES, DAY, HOUR
from data_samples.context import Chunk
from data_samples.population import APP, WEB

STORE = 2
SPEND_SHAPE = 4.0
CATEGORY_SHARE = np.array([v[0] for v in vocab.CATEGORIES.values()])
CATEGORY_SHARE = CATEGORY_SHARE / CATEGORY_SHARE.sum()
JUNK_EMAIL = "test@test.com"
JUNK_PHONE = "0000000000"


def expand(starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Concatenated ranges [start, start + count) for each row, vectorized."""
    counts = np.asarray(counts, dtype=np.int64)
    offsets = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    return np.repeat(np.asarray(starts, dtype=np.int64), counts) + offsets


# Local hour-of-day profiles (weights for hours 0..23): stores open 8-22, online peaks in the evening.
STORE_HOURS = 0
ONLINE_HOURS = 1
_HOUR_WEIGHTS = np.array(
    [
        [0, 0, 0, 0, 0, 0, 0, 0, 2, 4, 6, 7, 7, 6, 5, 5, 6, 8, 10, 11, 10, 7, 3, 0],
        [2, 1, 0.5, 0.3, 0.2, 0.3, 1, 2, 3, 4, 5, 5, 6, 5, 4, 4, 4, 5, 6, 8, 10, 11, 9, 5],
    ]
)
_HOUR_CDF = np.cumsum(_HOUR_WEIGHTS / _HOUR_WEIGHTS.sum(axis=1, keepdims=True), axis=1)


def at_local_hours(rng: np.random.Generator, seconds: np.ndarray, profile: np.ndarray | int) -> np.ndarray:
    """Keep each instant's local (UTC+7) date but redraw its time of day from an hour-of-day profile."""
    seconds = np.asarray(seconds, dtype=np.int64)
    local_day = (seconds + 7 * HOUR) // DAY
    profile = np.broadcast_to(np.asarray(profile), seconds.shape)
    hour = (rng.random(seconds.size)[:, None] > _HOUR_CDF[profile]).sum(axis=1)
    return local_day * DAY - 7 * HOUR + hour * HOUR + rng.integers(0, HOUR, seconds.size)


@dataclass
class Purchases:
    person: np.ndarray
    time: np.ndarray
    channel: np.ndarray  # WEB, APP or STORE
    device: np.ndarray  # device row for web/app, -1 for store
    n_lines: np.ndarray
    line_start: np.ndarray
    line_product: np.ndarray
    line_qty: np.ndarray
    line_price: np.ndarray
    alive_at_end: np.ndarray  # per person: not dropped out (BG/NBD)
    last_purchase: np.ndarray  # per person, -1 if none


def simulate(ch: Chunk) -> Purchases:
    rng, people, w = ch.rng, ch.people, ch.window
    buyers = np.flatnonzero(people.buyer)
    rate = people.rate_per_day[buyers] / DAY
    span = w.end - w.orders_start
    existing = rng.random(buyers.size) < 0.35  # customers acquired before the order history starts
    cur = np.where(
        existing,
        w.orders_start + rng.exponential(1.0 / rate),
        w.orders_start + rng.random(buyers.size) * span,
    ).astype(np.int64)
    alive = cur < w.end
    dropped = np.zeros(buyers.size, dtype=bool)
    persons, times = [], []
    for _ in range(400):  # one vectorized step per purchase number
        idx = np.flatnonzero(alive)
        if idx.size == 0:
            break
        persons.append(buyers[idx])
        times.append(cur[idx].copy())
        drop = rng.random(idx.size) < people.p_drop[buyers[idx]]
        dropped[idx] |= drop
        cur[idx] += rng.exponential(1.0 / rate[idx]).astype(np.int64) + 600
        alive[idx] = ~drop & (cur[idx] < w.end)
    person = np.concatenate(persons) if persons else np.zeros(0, np.int64)
    time = np.concatenate(times) if times else np.zeros(0, np.int64)

    # Same-day repeat orders (forgot something, second basket).
    again = np.flatnonzero(rng.random(person.size) < 0.03)
    again_time = time[again] + rng.integers(1 * HOUR, 8 * HOUR, again.size)
    ok = again_time < w.end
    person = np.concatenate([person, person[again[ok]]])
    time = np.concatenate([time, again_time[ok]])
    order = np.lexsort((time, person))
    person, time = person[order], time[order]

    alive_at_end = np.ones(people.n, dtype=bool)
    alive_at_end[buyers] = ~dropped
    last = np.full(people.n, -1, dtype=np.int64)
    np.maximum.at(last, person, time)

    # An account used on an order must exist before it: sign-up at or just before the first purchase.
    first = np.full(people.n, np.iinfo(np.int64).max)
    np.minimum.at(first, person, time)
    bought = people.has_crm & (first < w.end)
    signup = first - rng.integers(60, 3 * DAY, people.n)
    people.crm_created = np.where(bought, np.minimum(people.crm_created, signup), people.crm_created)
    people.loyalty_joined = np.maximum(people.loyalty_joined, people.crm_created)

    channel = _channels(rng, ch, person)
    time = np.minimum(
        at_local_hours(rng, time, np.where(channel == STORE, STORE_HOURS, ONLINE_HOURS)), w.end - 60
    )
    device = _devices_for(rng, ch, person, channel)
    lines = _lines(rng, ch, person, time)
    return Purchases(person, time, channel, device, *lines, alive_at_end=alive_at_end, last_purchase=last)


def _channels(rng: np.random.Generator, ch: Chunk, person: np.ndarray) -> np.ndarray:
    p = ch.people
    weights = np.stack(
        [p.has_web * (0.3 + rng.random(p.n)), p.has_app * (0.5 + rng.random(p.n)),
         p.store_shopper * (0.4 + rng.random(p.n))], axis=1,
    )  # fmt: skip
    cum = np.cumsum(weights / weights.sum(axis=1, keepdims=True), axis=1)[person]
    u = rng.random(person.size)[:, None]
    return np.minimum((u > cum).sum(axis=1), 2).astype(np.int8)


def _devices_for(rng: np.random.Generator, ch: Chunk, person: np.ndarray, channel: np.ndarray) -> np.ndarray:
    dev = ch.devices
    out = np.full(person.size, -1, dtype=np.int64)
    for kind in (WEB, APP):
        rows = np.flatnonzero(channel == kind)
        idx = np.flatnonzero(dev.kind == kind)
        start = np.searchsorted(dev.person[idx], person[rows], side="left")
        count = np.searchsorted(dev.person[idx], person[rows], side="right") - start
        has = count > 0
        pick = start + (rng.random(rows.size) * np.maximum(count, 1)).astype(np.int64)
        out[rows[has]] = idx[np.minimum(pick[has], idx.size - 1)]
    return out


def _lines(rng: np.random.Generator, ch: Chunk, person: np.ndarray, time: np.ndarray):
    cat_ = ch.catalog
    value = rng.gamma(SPEND_SHAPE, 1.0 / ch.people.spend_rate[person]).clip(20_000, 60_000_000)
    n_lines = np.minimum(1 + rng.poisson(np.clip(value / 500_000, 0, 2.5)), 8)
    line_start = np.concatenate([[0], np.cumsum(n_lines)[:-1]]).astype(np.int64)
    owner = np.repeat(np.arange(person.size), n_lines)
    target = np.repeat(value / n_lines, n_lines)
    fav = ch.people.fav_category[person[owner]]
    category = np.where(
        rng.random(owner.size) < 0.55, fav, rng.choice(len(CATEGORY_NAMES), owner.size, p=CATEGORY_SHARE)
    )
    product = cat_.pick_near_price(rng, category, target)
    price = cat_.price_at(product, time[owner])
    qty = np.where(
        cat_.consumable[product] & (price * 1.5 < target), np.clip(np.round(target / price), 1, 6), 1
    ).astype(np.int64)
    qty = np.where(rng.random(owner.size) < 0.05, qty + 1, qty)
    return n_lines, line_start, product, qty, price


@dataclass
class Commerce:
    orders: pa.Table
    order_lines: pa.Table
    pos: pa.Table
    returns: pa.Table
    order_rows: np.ndarray  # purchase index of each web/app order
    order_id: pa.Array  # per web/app order
    order_total: np.ndarray
    order_status: np.ndarray  # str
    order_customer: np.ndarray  # bool: customer_id filled
    order_email: pa.Array  # raw email written on the order (null if none)
    order_phone: pa.Array
    pos_rows: np.ndarray
    pos_id: pa.Array


def crm_email_spelling(ch: Chunk) -> pa.Array:
    """How the CRM holds each person's email: mostly lower-case, some as typed at sign-up (drawn once per chunk)."""
    if ch.crm_email is None:
        ch.crm_email = idn.messy_emails(ch.rng, ch.people.email, 0.15)
    return ch.crm_email


def build_commerce(ch: Chunk, pur: Purchases) -> Commerce:
    rng, people, dev, w = ch.rng, ch.people, ch.devices, ch.window
    truth = ch.truth
    online = np.flatnonzero((pur.channel != STORE) & (pur.device >= 0))
    store = np.flatnonzero((pur.channel == STORE) | (pur.device < 0))
    n = online.size
    person = pur.person[online]
    when = pur.time[online]
    device = pur.device[online]

    order_id = t.cat("SO", t.digits(ch.counters.take("order", n, 10_000_001), 8))
    in_window = when >= w.events_start
    customer = people.has_crm[person] & np.where(in_window, dev.logged_in[device], rng.random(n) < 0.9)
    crm_email = crm_email_spelling(ch)
    p_idx = pa.array(person)
    account_email = t.where(
        people.has_email2[person] & (rng.random(n) < 0.35), people.email2.take(p_idx), crm_email.take(p_idx)
    )
    typed_email = idn.messy_emails(rng, people.email.take(p_idx), 0.35)
    junk_email = rng.random(n) < 0.004
    email = t.where(customer, account_email, t.where(junk_email, t.const(JUNK_EMAIL, n), typed_email))
    email_ok = people.has_email[person] & (customer | (rng.random(n) < 0.85)) | junk_email
    email = t.where(email_ok, email)
    phone_ok = people.has_phone[person] & (rng.random(n) < 0.92)
    use2 = people.has_phone2[person] & (rng.random(n) < 0.3)
    phone = t.where(phone_ok, t.where(use2, people.phone2_raw(rng, person), people.phone_raw(rng, person)))
    anon = dev.anonymous_id.take(pa.array(device))

    line_n = pur.n_lines[online]
    line_idx = expand(pur.line_start[online], line_n)
    owner = np.repeat(np.arange(n), line_n)
    line_total = pur.line_qty[line_idx] * pur.line_price[line_idx]
    subtotal = np.bincount(owner, weights=line_total, minlength=n).astype(np.int64)
    has_coupon = rng.random(n) < 0.15
    discount = np.where(has_coupon, np.minimum(np.round(subtotal * 0.1, -3), 200_000), 0).astype(np.int64)
    shipping = np.where(subtotal >= 500_000, 0, rng.choice([15_000, 20_000, 25_000, 30_000, 35_000], n))
    total = subtotal - discount + shipping
    u = rng.random(n)
    status = np.where(u < 0.87, "completed", np.where(u < 0.93, "cancelled", "refunded"))
    recent = when >= w.end - 3 * DAY
    status = np.where(recent & (rng.random(n) < 0.5), "pending", status)
    status = np.where(recent & (status == "refunded"), "completed", status)
    ship_city = t.where(
        rng.random(n) < 0.9,
        people.city.take(p_idx),
        t.take(["Hà Nội", "TP. Hồ Chí Minh", "Đà Nẵng"], rng.integers(0, 3, n)),
    )
    channel_name = t.take(["web", "app"], pur.channel[online])

    orders = pa.table(
        {
            "order_id": order_id,
            "customer_id": t.where(customer, people.customer_id.take(p_idx)),
            "email": email,
            "phone": phone,
            "anonymous_id": anon,
            "channel": channel_name,
            "status": t.arr(status),
            "currency": t.const("VND", n),
            "subtotal": t.ints(subtotal),
            "discount": t.ints(discount),
            "shipping_fee": t.ints(shipping),
            "total": t.ints(total),
            "coupon_code": t.where(has_coupon, t.take(vocab.COUPONS, rng.integers(0, len(vocab.COUPONS), n))),
            "shipping_city": ship_city,
            "is_test": t.const("false", n),
            "created_at": t.mixed_local_ts(rng, when, p_offset=0.15, p_utc=0.05),
        }
    )
    truth.add(person, "customer_id", orders["customer_id"].combine_chunks())
    truth.add(person, "email", email, mask=~junk_email)
    truth.add(person, "phone", phone)
    truth.add(person, "anonymous_id", anon, mask=~dev.shared[device])

    line_number = (
        np.arange(line_idx.size) - np.repeat(np.concatenate([[0], np.cumsum(line_n)[:-1]]), line_n) + 1
    )
    order_lines = pa.table(
        {
            "order_id": order_id.take(pa.array(owner)),
            "line_number": t.ints(line_number),
            "sku": t.arr(ch.catalog.sku[pur.line_product[line_idx]]),
            "quantity": t.ints(pur.line_qty[line_idx]),
            "unit_price": t.ints(pur.line_price[line_idx]),
            "line_total": t.ints(line_total),
        }
    )

    pos, pos_id, pos_status = _pos(ch, pur, store)
    returns = _returns(ch, pur, online, order_id, status, total, store, pos_id, pos_status)
    return Commerce(orders, order_lines, pos, returns, online, order_id, total, status, customer, email, phone,
                    store, pos_id)  # fmt: skip


def _home_store(ch: Chunk, person: np.ndarray) -> np.ndarray:
    rng = ch.rng
    cities = np.asarray(ch.people.city.take(pa.array(person)).to_numpy(zero_copy_only=False), dtype=object)
    store_city = ch.stores.city
    out = rng.integers(0, len(store_city), person.size)
    for city in np.unique(store_city):
        local = np.flatnonzero(store_city == city)
        rows = np.flatnonzero((cities == city) & (rng.random(person.size) < 0.8))
        out[rows] = local[((ch.people.gidx[person[rows]] * 7 + rng.integers(0, 2, rows.size)) % local.size)]
    return out


def _pos(ch: Chunk, pur: Purchases, store_rows: np.ndarray) -> tuple[pa.Table, pa.Array, np.ndarray]:
    rng, people, truth = ch.rng, ch.people, ch.truth
    n = store_rows.size
    person = pur.person[store_rows]
    when = pur.time[store_rows]
    store = _home_store(ch, person)
    seq = ch.counters.take("pos", n, 1)
    tx_id = t.cat(t.arr(ch.stores.store_id[store]), "-", t.digits(seq, 8))
    junk = rng.random(n) < 0.03  # cashier typed 0000000000 for a walk-in who gave no number
    phone_ok = people.has_phone[person] & (rng.random(n) < 0.6)
    style = np.where(rng.random(n) < 0.7, 0, rng.integers(0, 7, n))
    phone = t.where(junk, t.const(JUNK_PHONE, n), t.where(phone_ok, people.phone_raw(rng, person, style)))
    card = people.loyalty[person] & (rng.random(n) < 0.75)
    cust = people.has_crm[person] & (rng.random(n) < 0.08)
    status = np.where(rng.random(n) < 0.02, "voided", "completed")
    payment = rng.choice(len(vocab.PAYMENT_METHODS), n, p=[p for _, p in vocab.PAYMENT_METHODS])
    ts = t.mixed_local_ts(rng, when, p_offset=0.05, p_utc=0.0)
    p_idx = pa.array(person)
    card_v = t.where(card, people.loyalty_card.take(p_idx))
    cust_v = t.where(cust, people.customer_id.take(p_idx))
    truth.add(person, "phone", phone, mask=~junk)
    truth.add(person, "loyalty_card", card_v)
    truth.add(person, "customer_id", cust_v)

    line_n = pur.n_lines[store_rows]
    owner = np.repeat(np.arange(n), line_n)
    line_idx = expand(pur.line_start[store_rows], line_n)
    line_number = line_idx - np.repeat(pur.line_start[store_rows], line_n) + 1
    o = pa.array(owner)
    qty = pur.line_qty[line_idx]
    price = pur.line_price[line_idx]
    table = pa.table(
        {
            "transaction_id": tx_id.take(o),
            "line_number": t.ints(line_number),
            "store_id": t.arr(ch.stores.store_id[store[owner]]),
            "transacted_at": ts.take(o),
            "phone": phone.take(o),
            "loyalty_card_id": card_v.take(o),
            "customer_id": cust_v.take(o),
            "sku": t.arr(ch.catalog.sku[pur.line_product[line_idx]]),
            "quantity": t.ints(qty),
            "unit_price": t.ints(price),
            "line_total": t.ints(qty * price),
            "currency": t.const("VND", owner.size),
            "payment_method": t.take([m for m, _ in vocab.PAYMENT_METHODS], payment[owner]),
            "status": t.arr(status[owner]),
        }
    )
    return table, tx_id, status


def _returns(ch: Chunk, pur: Purchases, online: np.ndarray, order_id: pa.Array, status: np.ndarray,
             total: np.ndarray, store: np.ndarray, pos_id: pa.Array, pos_status: np.ndarray) -> pa.Table:  # fmt: skip
    rng, w = ch.rng, ch.window
    # Partial returns: one line of a completed order / transaction, possibly fewer units.
    o_sel = np.flatnonzero((status == "completed") & (rng.random(online.size) < 0.06))
    s_sel = np.flatnonzero((pos_status == "completed") & (rng.random(store.size) < 0.03))
    rows = np.concatenate([online[o_sel], store[s_sel]])
    ids = pa.concat_arrays([order_id.take(pa.array(o_sel)), pos_id.take(pa.array(s_sel))])
    pick = pur.line_start[rows] + (rng.random(rows.size) * pur.n_lines[rows]).astype(np.int64)
    qty = np.maximum(1, (pur.line_qty[pick] * rng.random(rows.size)).round().astype(np.int64))
    qty = np.minimum(qty, pur.line_qty[pick])
    refund = qty * pur.line_price[pick]
    refund = np.where(rng.random(rows.size) < 0.1, np.round(refund * 0.8, -3), refund).astype(np.int64)
    when = pur.time[rows] + rng.integers(1 * DAY, 20 * DAY, rows.size)
    # Full refunds of orders marked refunded.
    f_sel = np.flatnonzero(status == "refunded")
    f_when = pur.time[online[f_sel]] + rng.integers(2 * DAY, 15 * DAY, f_sel.size)
    all_ids = pa.concat_arrays([ids, order_id.take(pa.array(f_sel))])
    sku = pa.concat_arrays([t.arr(ch.catalog.sku[pur.line_product[pick]]), pa.nulls(f_sel.size, pa.string())])
    qty_s = pa.concat_arrays([t.ints(qty), pa.nulls(f_sel.size, pa.string())])
    amount = np.concatenate([refund, total[f_sel]])
    when_all = np.minimum(np.concatenate([when, f_when]), w.end - 60)
    reason_code = np.concatenate(
        [rng.integers(0, len(vocab.RETURN_REASONS), rows.size), np.full(f_sel.size, 4)]
    )
    n = len(amount)
    return pa.table(
        {
            "return_id": t.cat("RT", t.digits(ch.counters.take("return", n, 1), 8)),
            "order_id": all_ids,
            "sku": sku,
            "quantity": qty_s,
            "refund_amount": t.ints(amount),
            "currency": t.const("VND", n),
            "reason": t.take(vocab.RETURN_REASONS, reason_code),
            "returned_at": t.mixed_local_ts(rng, when_all, p_offset=0.2, p_utc=0.1),
        }
    )
