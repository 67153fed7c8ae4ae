"""Segment-spec tracking events (page, screen, track, identify) built session by session, vectorized."""

from __future__ import annotations

from dataclasses import dataclass, fields
from urllib.parse import quote_plus

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from data_samples import identity as idn
from data_samples import textops as t
from data_samples import vocab
from data_samples.catalog import AD_PLATFORM_P, AD_PLATFORMS, CATEGORY_NAMES, DAY, HOUR, SITE
from data_samples.context import Chunk
from data_samples.population import APP
from data_samples.purchases import JUNK_EMAIL, ONLINE_HOURS, STORE_HOURS, Commerce, Purchases, at_local_hours

BROWSE, ORDER, ABANDON, KIOSK = 0, 1, 2, 3
(K_PUSH_OPEN, K_TOKEN, K_LAND, K_STORE, K_IDENT, K_SEARCH, K_VIEW, K_ADD, K_REMOVE, K_CART, K_CHECKOUT,
 K_GUEST_IDENT, K_ORDER) = range(13)  # fmt: skip
N_KINDS = 13
TRACK_NAMES = {K_PUSH_OPEN: "push_notification_opened", K_TOKEN: "push_token_registered", K_STORE: "store_visited",
               K_SEARCH: "products_searched", K_VIEW: "product_viewed", K_ADD: "product_added",
               K_REMOVE: "product_removed", K_CART: "cart_viewed", K_CHECKOUT: "checkout_started",
               K_ORDER: "order_completed"}  # fmt: skip
WEB_PATH_FOR_KIND = {K_TOKEN: "/", K_STORE: "/cua-hang", K_IDENT: "/dang-nhap", K_SEARCH: "/tim-kiem",
                     K_CART: "/gio-hang", K_CHECKOUT: "/thanh-toan", K_GUEST_IDENT: "/thanh-toan",
                     K_ORDER: "/dat-hang-thanh-cong", K_PUSH_OPEN: "/"}  # fmt: skip
PAGE_TITLES = ["Trang chủ", "Khuyến mãi", "Giày", "Thời trang", "Điện tử", "Làm đẹp", "Bách hóa", "Mẹ và bé",
               "Nhà cửa", "Mẹo chọn giày"]  # fmt: skip
CLICK_ID_SHAPES = {"fbclid": ("IwAR", 56), "gclid": ("Cj0KCQiA", 72), "ttclid": ("E.C.P.", 40)}
AD_CONTENT = ["video_15s", "carousel_a", "static_b", "story_c"]


@dataclass
class EventsOut:
    lines: pa.Array  # one JSON document per event
    day: np.ndarray  # file day index (days since epoch) = receivedAt date, UTC
    n_late: int
    n_duplicates: int
    click_id: pa.Array  # paid landings that carried a click id (for ad_touchpoints)
    click_platform: np.ndarray
    click_campaign: np.ndarray
    click_time: np.ndarray


@dataclass
class Sessions:
    person: np.ndarray
    device: np.ndarray  # device row, -1 for kiosk sessions
    kiosk: np.ndarray  # kiosk index or -1
    kind: np.ndarray  # WEB / APP
    start: np.ndarray  # epoch seconds
    stype: np.ndarray
    order: np.ndarray  # index into commerce online orders, or -1


def _sessions(ch: Chunk, pur: Purchases, com: Commerce) -> Sessions:
    rng, w, dev, people = ch.rng, ch.window, ch.devices, ch.people
    # (a) sessions that ended in a tracked web/app order
    rows = com.order_rows
    when = pur.time[rows]
    tracked = np.flatnonzero((when >= w.events_start) & (rng.random(rows.size) < 0.92))
    o_dev = pur.device[rows[tracked]]
    # (b) browsing sessions, more for frequent buyers who are still active
    person = dev.person
    active = pur.alive_at_end[person] | (pur.last_purchase[person] >= w.events_start)
    rate = np.where(people.buyer[person], 0.01 + 2.0 * people.rate_per_day[person], 0.02)
    rate = rate * np.where(active, 1.0, 0.3) * np.where(dev.kind == APP, 1.3, 1.0)
    n_browse = rng.poisson(rate * w.event_days)
    n_browse = np.where(dev.shared, np.maximum(n_browse, 1), n_browse)  # both household members log in on it
    b_dev = np.repeat(np.arange(dev.n), n_browse)
    b_start = w.events_start + (rng.random(b_dev.size) * (w.end - w.events_start)).astype(np.int64)
    b_start = at_local_hours(rng, b_start, ONLINE_HOURS)
    # (c) abandoned carts in the last 12 hours, from people who did not buy afterwards
    late_buyer = np.zeros(people.n, dtype=bool)
    late_buyer[pur.person[pur.time >= w.end - 12 * HOUR]] = True
    a_dev = np.flatnonzero((rng.random(dev.n) < 0.03) & ~late_buyer[person] & ~dev.shared)
    a_dev = a_dev[np.unique(person[a_dev], return_index=True)[1]]  # one per person
    a_start = w.end - rng.integers(7 * HOUR, 12 * HOUR, a_dev.size)
    # (d) account holders logging in on a shared in-store kiosk tablet
    k_person = np.flatnonzero(people.has_crm & people.store_shopper & (rng.random(people.n) < 0.015))
    if ch.first and k_person.size < 4:
        k_person = np.flatnonzero(people.has_crm & people.store_shopper)[:4]
    k_start = w.events_start + (rng.random(k_person.size) * (w.end - w.events_start - DAY)).astype(np.int64)
    k_start = at_local_hours(rng, k_start, STORE_HOURS)

    n_o, n_b, n_a, n_k = tracked.size, b_dev.size, a_dev.size, k_person.size
    device = np.concatenate([o_dev, b_dev, a_dev, np.full(n_k, -1)])
    s = Sessions(
        person=np.concatenate([person[o_dev], person[b_dev], person[a_dev], k_person]),
        device=device,
        kiosk=np.concatenate([np.full(n_o + n_b + n_a, -1), rng.integers(0, len(ch.kiosk_anon), n_k)]),
        kind=np.concatenate([dev.kind[device[: n_o + n_b + n_a]], np.full(n_k, APP, dtype=np.int8)]),
        start=np.concatenate([when[tracked], b_start, a_start, k_start]),
        stype=np.concatenate(
            [np.full(n_o, ORDER), np.full(n_b, BROWSE), np.full(n_a, ABANDON), np.full(n_k, KIOSK)]
        ),
        order=np.concatenate([tracked, np.full(n_b + n_a + n_k, -1)]),
    )
    return s


def build_events(ch: Chunk, pur: Purchases, com: Commerce) -> EventsOut:
    rng, w, dev, people, cat_ = ch.rng, ch.window, ch.devices, ch.people, ch.catalog
    s = _sessions(ch, pur, com)
    web_first = np.argsort(s.kind == APP, kind="stable")
    s = Sessions(**{f.name: getattr(s, f.name)[web_first] for f in fields(Sessions)})
    S = s.person.size
    is_order, is_abandon, is_kiosk = s.stype == ORDER, s.stype == ABANDON, s.stype == KIOSK
    app = s.kind == APP
    has_dev = s.device >= 0
    dv = np.maximum(s.device, 0)

    # First session of each device inside the window: where an in-window login (identify) happens.
    first = np.zeros(S, dtype=bool)
    order_key = np.lexsort((s.start, s.device))
    d_sorted = s.device[order_key]
    first_pos = np.flatnonzero(np.r_[True, d_sorted[1:] != d_sorted[:-1]])
    first[order_key[first_pos]] = True
    first &= has_dev
    login_here = first & dev.login_in_window[dv] & has_dev
    logged_in_dev = dev.logged_in[dv] & has_dev

    o = np.maximum(s.order, 0)
    o_rows = com.order_rows[o]
    n_lines = np.where(is_order, pur.n_lines[o_rows], 0)
    guest_order = is_order & ~com.order_customer[o]
    order_email_ok = np.asarray(com.order_email.is_valid().to_numpy(zero_copy_only=False), dtype=bool)[o]

    u = rng.random((S, 8))
    counts = np.zeros((S, N_KINDS), dtype=np.int64)
    counts[:, K_PUSH_OPEN] = app & (s.stype == BROWSE) & (u[:, 0] < 0.1)
    counts[:, K_TOKEN] = first & dev.has_token[dv] & (u[:, 1] < 0.5)
    counts[:, K_LAND] = 1
    counts[:, K_STORE] = app & ~is_kiosk & (u[:, 2] < 0.04)
    counts[:, K_IDENT] = login_here | is_kiosk
    counts[:, K_SEARCH] = u[:, 3] < 0.3
    counts[:, K_VIEW] = np.where(is_order, n_lines + rng.poisson(1.0, S), 1 + rng.poisson(1.5, S))
    adds = np.select([is_order, is_abandon, is_kiosk], [n_lines, 1 + (u[:, 4] < 0.35), 0], (u[:, 4] < 0.12))
    counts[:, K_ADD] = adds
    counts[:, K_REMOVE] = ~is_order & (adds >= 1) & (u[:, 5] < np.where(is_abandon, 0.25, 0.12))
    counts[:, K_CART] = adds > 0
    counts[:, K_CHECKOUT] = is_order | ((s.stype == BROWSE) & (adds > 0) & (u[:, 6] < 0.25))
    counts[:, K_GUEST_IDENT] = guest_order & order_email_ok & (u[:, 7] < 0.8)
    counts[:, K_ORDER] = is_order

    per_cell = counts.ravel()
    sess = np.repeat(np.repeat(np.arange(S), N_KINDS), per_cell)
    kind = np.repeat(np.tile(np.arange(N_KINDS), S), per_cell)
    k = np.arange(per_cell.sum()) - np.repeat(np.cumsum(per_cell) - per_cell, per_cell)
    E = sess.size
    sess_first = np.cumsum(counts.sum(1)) - counts.sum(1)

    gaps = rng.exponential(35_000, E).astype(np.int64) + 500
    gaps[sess_first[counts.sum(1) > 0]] = 0
    cs = np.cumsum(gaps)
    offset = cs - cs[sess_first[sess]]
    last_offset = np.zeros(S, dtype=np.int64)
    last_offset[sess] = offset  # the last write per session wins: its last event
    start_ms = s.start * 1000 + rng.integers(0, 1000, S)
    start_ms = np.where(is_order, s.start * 1000 - last_offset, start_ms)  # order_completed at the order time
    ts = start_ms[sess] + offset

    keep = (ts >= w.events_start * 1000) & (ts < w.end * 1000)
    sess, kind, k, ts = sess[keep], kind[keep], k[keep], ts[keep]
    E = sess.size

    # Products per event.
    slot = np.stack(
        [_slot_products(rng, ch, s.person, is_abandon), _slot_products(rng, ch, s.person, is_abandon)], axis=1
    )
    line_prod = np.full(E, -1, dtype=np.int64)
    ev_order = is_order[sess]
    in_lines = ev_order & (k < n_lines[sess]) & ((kind == K_VIEW) | (kind == K_ADD))
    line_idx = pur.line_start[o_rows[sess]] + k
    line_prod[in_lines] = pur.line_product[line_idx[in_lines]]
    random_prod = cat_.pick_near_price(rng, people.fav_category[s.person[sess]], np.full(E, 400_000.0))
    product_kind = (kind == K_VIEW) | (kind == K_ADD) | (kind == K_REMOVE)
    prod = np.where(in_lines, line_prod, np.where(k < 2, slot[sess, np.minimum(k, 1)], random_prod))
    last_added = np.clip(adds[sess] - 1, 0, 1)
    prod = np.where(kind == K_REMOVE, slot[sess, last_added], prod)  # the item added last
    prod = np.where(product_kind, prod, 0)
    qty = np.where(in_lines & (kind == K_ADD), pur.line_qty[np.where(in_lines, line_idx, 0)], 1)
    price = cat_.price_at(prod, ts // 1000)

    # Who: anonymousId, device, userId.
    ev_dev = dv[sess]
    ev_kiosk = s.kiosk[sess]
    kiosk_ev = ev_kiosk >= 0
    anon = t.where(
        kiosk_ev,
        ch.kiosk_anon.take(pa.array(np.maximum(ev_kiosk, 0))),
        dev.anonymous_id.take(pa.array(ev_dev)),
    )
    after_login = np.where(login_here[sess] | kiosk_ev, kind >= K_IDENT, True)
    user = (logged_in_dev[sess] | kiosk_ev) & after_login & (kind != K_GUEST_IDENT)
    person = s.person[sess]
    p_take = pa.array(person)
    user_id = t.where(user, people.customer_id.take(p_take))

    ev_app = app[sess]
    ios = np.where(kiosk_ev, False, dev.ios[ev_dev])
    token = t.where(~kiosk_ev, dev.push_token.take(pa.array(ev_dev)))
    device_id = t.where(
        kiosk_ev,
        ch.kiosk_device.take(pa.array(np.maximum(ev_kiosk, 0))),
        dev.device_id.take(pa.array(ev_dev)),
    )

    # Campaign attribution of web landings.
    web_land = (kind == K_LAND) & ~ev_app
    ss = rng.random(S)
    paid = ss < 0.22
    plat = rng.choice(len(AD_PLATFORMS), S, p=AD_PLATFORM_P)
    plat_start = np.searchsorted(ch.campaigns.ad_platform, plat, side="left")
    plat_count = np.searchsorted(ch.campaigns.ad_platform, plat, side="right") - plat_start
    ad_camp = plat_start + (rng.random(S) * plat_count).astype(np.int64)
    email_camp = np.searchsorted(ch.campaigns.email_sent_at, s.start, side="right") - 1
    via_email = (ss >= 0.22) & (ss < 0.30) & (email_camp >= 0)
    via_zalo_oa = (ss >= 0.30) & (ss < 0.35)
    param = np.array([p[3] or "" for p in AD_PLATFORMS])[plat]
    has_click = paid & (param != "")
    click_tok = _click_ids(rng, param)
    utm_source = np.select(
        [paid, via_email, via_zalo_oa],
        [np.array([p[1] for p in AD_PLATFORMS])[plat], "newsletter", "zalo"],
        "",
    )
    utm_medium = np.select(
        [paid, via_email, via_zalo_oa],
        [np.array([p[2] for p in AD_PLATFORMS])[plat], "email", "oa_message"],
        "",
    )
    utm_name = np.select(
        [paid, via_email, via_zalo_oa],
        [
            ch.campaigns.ad_campaign_id[ad_camp],
            ch.campaigns.email_id[np.maximum(email_camp, 0)],
            "zalo_oa_weekly",
        ],
        "",
    )
    utm_content = np.where(paid & (rng.random(S) < 0.6), np.array(AD_CONTENT)[rng.integers(0, 4, S)], "")
    term_i = rng.integers(0, len(vocab.SEARCH_TERMS), S)
    google = paid & (plat == 1)
    utm_term = np.where(google, np.array(vocab.SEARCH_TERMS)[term_i], "")
    utm_term_q = np.where(google, np.array([quote_plus(x) for x in vocab.SEARCH_TERMS])[term_i], "")
    has_utm = paid | via_email | via_zalo_oa
    query = np.where(
        has_utm,
        np.char.add(
            np.char.add(np.char.add("?utm_source=", utm_source), np.char.add("&utm_medium=", utm_medium)),
            np.char.add("&utm_campaign=", utm_name),
        ),
        "",
    )
    query = np.where(utm_content != "", np.char.add(np.char.add(query, "&utm_content="), utm_content), query)
    query = np.where(utm_term != "", np.char.add(np.char.add(query, "&utm_term="), utm_term_q), query)
    query = np.where(
        has_click,
        np.char.add(np.char.add(np.char.add(query, "&"), param), np.char.add("=", click_tok)),
        query,
    )
    land_path_i = rng.integers(0, len(vocab.WEB_PATHS), S)
    referrer_i = rng.integers(0, len(vocab.REFERRERS), S)

    # Context. Sessions are ordered web first, so events [0, nw) are web and [nw, E) app: each kind of
    # context is built only for its own rows.
    nw = int(np.searchsorted(ev_app, True))
    sku_arr = t.arr(cat_.sku)
    prod_sku = sku_arr.take(pa.array(prod))
    web_ctx, page = _web_context(ch, kind[:nw], sess[:nw], prod_sku.slice(0, nw), product_kind[:nw], ev_dev[:nw],
                                 has_utm, paid, query, utm_source, utm_medium, utm_name, utm_content, utm_term,
                                 land_path_i, referrer_i)  # fmt: skip
    app_ctx = _app_context(ch, kiosk_ev[nw:], ios[nw:], ev_dev[nw:], device_id.slice(nw), token.slice(nw))
    context = pa.concat_arrays([web_ctx, app_ctx])
    path, referrer, title, url = (pa.concat_arrays([x, pa.nulls(E - nw, pa.string())]) for x in page)

    # Properties.
    cart_id = t.cat("cart_", t.hex_ids(rng, S, 20)).take(pa.array(sess))
    carted = (kind == K_ADD) | (kind == K_REMOVE) | (kind == K_CART) | (kind == K_CHECKOUT)
    order_id = com.order_id.take(pa.array(o[sess]))
    revenue = com.order_total[o[sess]]
    push_camp = np.searchsorted(ch.campaigns.push_sent_at, ts // 1000, side="right") - 1
    store_i = rng.integers(0, len(ch.stores.store_id), E)
    token_platform = np.where(ev_app, np.where(ios, "ios", "android"), "web")
    cat_name = t.take(CATEGORY_NAMES, cat_.category[prod])
    prod_name = t.arr(ch.catalog.table["name"].combine_chunks()).take(pa.array(prod))
    properties = t.jobj(
        [
            (
                "campaign_id",
                t.jstr(
                    t.where(
                        (kind == K_PUSH_OPEN) & (push_camp >= 0),
                        ch.campaigns.push_id[np.maximum(push_camp, 0)],
                    )
                ),
            ),
            ("cart_id", t.jstr(t.where(carted, cart_id))),
            ("category", t.jstr(t.where(product_kind, cat_name))),
            (
                "currency",
                t.jstr(t.where(product_kind | (kind == K_ORDER) | (kind == K_CHECKOUT), t.const("VND", E))),
            ),
            (
                "name",
                t.jstr(
                    t.where(
                        product_kind | ((kind == K_LAND) & ev_app),
                        t.where(product_kind, prod_name, t.take(vocab.SCREEN_NAMES, land_path_i[sess] % 6)),
                    )
                ),
            ),
            ("order_id", t.jstr(t.where(kind == K_ORDER, order_id))),
            ("path", t.jstr(t.where(web_land, path))),
            ("platform", t.jstr(t.where(kind == K_TOKEN, token_platform))),
            ("price", t.jint(price, product_kind)),
            ("quantity", t.jint(qty, product_kind)),
            (
                "query",
                t.jstr(
                    t.where(
                        kind == K_SEARCH,
                        t.take(vocab.SEARCH_TERMS, rng.integers(0, len(vocab.SEARCH_TERMS), E)),
                    )
                ),
            ),
            ("referrer", t.jstr(t.where(web_land, referrer))),
            ("revenue", t.jint(revenue, kind == K_ORDER)),
            ("sku", t.jstr(t.where(product_kind, prod_sku))),
            ("store_id", t.jstr(t.where(kind == K_STORE, t.arr(ch.stores.store_id[store_i])))),
            ("title", t.jstr(t.where(web_land, title))),
            ("token", t.jstr(t.where(kind == K_TOKEN, token))),
            ("url", t.jstr(t.where(web_land, url))),
            ("value", t.jint(revenue, (kind == K_CHECKOUT) & ev_order)),
        ],
        empty_as_null=True,
    )

    # Identify traits (login: the account's details; guest checkout: what was typed at checkout).
    ident = (kind == K_IDENT) | (kind == K_GUEST_IDENT)
    typed = idn.messy_emails(rng, people.email.take(p_take), 0.45)
    email2 = people.has_email2[person] & (rng.random(E) < 0.3)
    junk = rng.random(E) < 0.015
    trait_email = t.where(email2, people.email2.take(p_take), typed)
    trait_email = t.where(junk, t.take(["undefined", "null"], rng.integers(0, 2, E)), trait_email)
    trait_email = t.where(kind == K_GUEST_IDENT, com.order_email.take(pa.array(o[sess])), trait_email)
    email_ok = ident & ((people.has_email[person] | junk) | (kind == K_GUEST_IDENT))
    trait_email = t.where(email_ok, trait_email)
    phone_ok = ident & people.has_phone[person] & (rng.random(E) < 0.45)
    trait_phone = t.where(phone_ok, people.phone_raw(rng, person))
    traits = t.where(
        ident,
        t.jobj(
            [
                ("email", t.jstr(trait_email)),
                ("first_name", t.jstr(t.where(kind == K_IDENT, people.names.first_name.take(p_take)))),
                ("phone", t.jstr(trait_phone)),
            ]
        ),
    )

    # Envelope.
    etype = np.select(
        [ident, (kind == K_LAND) & ev_app, kind == K_LAND],
        ["identify", "screen", "page"],
        "track",
    )
    event_name = np.array([TRACK_NAMES.get(i, "") for i in range(N_KINDS)])[kind]
    sent_ms = ts + rng.integers(50, 4000, E)
    received_ms = sent_ms + rng.integers(20, 900, E)
    s_late = rng.random(S) < np.where(app, 0.06, 0.01)
    late_ms = received_ms + rng.integers(1, 4, S)[sess] * DAY * 1000 + rng.integers(0, 6 * HOUR * 1000, E)
    day_ms = DAY * 1000
    late_ms = np.minimum(late_ms, (ts // day_ms + 4) * day_ms - 1)  # filed at most 3 days after its timestamp
    late = s_late[sess] & (late_ms < w.end * 1000)
    received_ms = np.where(late, late_ms, received_ms)
    offset_ts = ev_app & ios & (rng.random(E) < 0.5)  # the iOS SDK here sends local time with an offset
    ts_s = t.where(offset_ts, t.iso_local_ms(ts), t.iso_utc_ms(ts))
    message_id = t.where(ev_app, t.uuid4(rng, E), t.cat("ajs-next-", t.hex_ids(rng, E, 32)))
    land_name = t.where(
        etype == "page", title, t.where(etype == "screen", t.take(vocab.SCREEN_NAMES, land_path_i[sess] % 6))
    )
    lines = t.jobj(
        [
            ("messageId", t.jsafe(message_id)),
            ("type", t.jsafe(etype)),
            ("anonymousId", t.jsafe(anon)),
            ("timestamp", t.jsafe(ts_s)),
            ("sentAt", t.jsafe(t.iso_utc_ms(sent_ms))),
            ("receivedAt", t.jsafe(t.iso_utc_ms(received_ms))),
            ("context", context),
            ("event", t.jsafe(t.where(etype == "track", event_name))),
            ("name", t.jstr(land_name)),
            ("userId", t.jsafe(user_id)),
            ("properties", properties),
            ("traits", traits),
        ],
        required=("messageId", "type", "anonymousId", "timestamp", "sentAt", "receivedAt", "context"),
    )

    # Ground truth: what each true person's events reveal (never the kiosk or a household laptop).
    mine = ~kiosk_ev & ~dev.shared[ev_dev]
    ch.truth.add(person, "anonymous_id", anon, mask=mine)
    ch.truth.add(person, "device_id", device_id, mask=~kiosk_ev)
    ch.truth.add(person, "push_token", token, mask=~kiosk_ev & (ev_app | (kind == K_TOKEN)))
    ch.truth.add(person, "customer_id", user_id)
    not_junk = ~junk & np.asarray(
        pc.not_equal(trait_email, JUNK_EMAIL).fill_null(True).to_numpy(zero_copy_only=False), dtype=bool
    )
    ch.truth.add(person, "email", trait_email, mask=not_junk)
    ch.truth.add(person, "phone", trait_phone)

    # Exact duplicates (client retries) and the order rows are written in.
    day = received_ms // (DAY * 1000)
    dup = np.flatnonzero(rng.random(E) < 0.005)
    idx = np.concatenate([np.arange(E), dup])
    order = np.lexsort((np.concatenate([received_ms, received_ms[dup]]),))
    idx = idx[order]
    click_sess = np.flatnonzero(has_click & (np.bincount(sess[web_land], minlength=S) > 0))
    return EventsOut(
        lines=lines.take(pa.array(idx)),
        day=day[idx],
        n_late=int(late.sum()),
        n_duplicates=int(dup.size),
        click_id=t.arr(click_tok[click_sess]),
        click_platform=plat[click_sess],
        click_campaign=ch.campaigns.ad_campaign_id[ad_camp[click_sess]],
        click_time=(start_ms[click_sess] // 1000) - rng.integers(2, 30, click_sess.size),
    )


def _slot_products(
    rng: np.random.Generator, ch: Chunk, person: np.ndarray, abandon: np.ndarray
) -> np.ndarray:
    """Products a session focuses on; abandoned carts lean to flash-sale and low-stock items."""
    cat_ = ch.catalog
    n = person.size
    fav = ch.people.fav_category[person]
    base = cat_.pick_near_price(rng, fav, np.exp(rng.uniform(np.log(50_000), np.log(3_000_000), n)))
    u = rng.random(n)
    flash = cat_.flash_sale[rng.integers(0, cat_.flash_sale.size, n)]
    low = cat_.low_stock[rng.integers(0, max(cat_.low_stock.size, 1), n)] if cat_.low_stock.size else base
    return np.where(abandon & (u < 0.45), flash, np.where(abandon & (u < 0.65), low, base))


def _click_ids(rng: np.random.Generator, param: np.ndarray) -> np.ndarray:
    n = param.size
    out = np.full(n, "", dtype=object)
    for name, (prefix, width) in CLICK_ID_SHAPES.items():
        rows = np.flatnonzero(param == name)
        if rows.size:
            toks = t.cat(prefix, t.random_tokens(rng, rows.size, width, t.URLSAFE))
            out[rows] = np.asarray(toks.to_numpy(zero_copy_only=False), dtype=object)
    return out.astype(str)


def _web_context(ch: Chunk, kind: np.ndarray, sess: np.ndarray, prod_sku: pa.Array, product_kind: np.ndarray,
                 ev_dev: np.ndarray, has_utm: np.ndarray, paid: np.ndarray, query: np.ndarray, utm_source: np.ndarray,
                 utm_medium: np.ndarray, utm_name: np.ndarray, utm_content: np.ndarray, utm_term: np.ndarray,
                 land_path_i: np.ndarray, referrer_i: np.ndarray) -> tuple[pa.Array, tuple[pa.Array, ...]]:  # fmt: skip
    """context for analytics.js events: page, campaign (utm landings), userAgent."""
    n = kind.size
    land = kind == K_LAND
    path_by_kind = [WEB_PATH_FOR_KIND.get(i, "/") for i in range(N_KINDS)]
    path = t.pick(
        np.select([land, product_kind], [0, 1], 2),
        [
            t.take(vocab.WEB_PATHS, land_path_i[sess]),
            t.cat("/san-pham/", t.lower(prod_sku)),
            t.take(path_by_kind, kind),
        ],
    )
    utm_land = land & has_utm[sess]
    search = t.where(utm_land, query[sess])
    url = t.cat_skip_nulls(t.const(SITE, n), path, search)
    landing_ref = t.take(vocab.REFERRERS, referrer_i[sess])
    landing_ref = t.where(utm_land & ~paid[sess], t.const("", n), landing_ref)
    referrer = t.where(land, landing_ref, t.const(SITE + "/", n))
    title = t.where(land, t.take(PAGE_TITLES, land_path_i[sess]), t.const("Sen Mart", n))
    page = t.jobj(
        [("path", t.jstr(path)), ("referrer", t.jstr(referrer)), ("search", t.jstr(search)),
         ("title", t.jstr(title)), ("url", t.jstr(url))],
        required=("path", "referrer", "title", "url"),
    )  # fmt: skip
    campaign = t.where(
        utm_land,
        t.jobj(
            [
                ("source", t.jstr(utm_source[sess])),
                ("medium", t.jstr(utm_medium[sess])),
                ("name", t.jstr(utm_name[sess])),
                ("content", t.jstr(t.where(utm_content[sess] != "", utm_content[sess]))),
                ("term", t.jstr(t.where(utm_term[sess] != "", utm_term[sess]))),
            ],
            required=("source", "medium", "name"),
        ),
    )
    dev = ch.devices
    ctx = t.jobj(
        [
            ("ip", t.jstr(dev.ip.take(pa.array(ev_dev)))),
            ("library", pa.scalar('{"name":"analytics.js","version":"next-1.72.0"}')),
            ("locale", pa.scalar('"vi-VN"')),
            ("timezone", pa.scalar('"Asia/Ho_Chi_Minh"')),
            ("page", page),
            ("userAgent", t.jstr(t.take(vocab.WEB_USER_AGENTS, dev.ua[ev_dev]))),
            ("campaign", campaign),
        ],
        required=("ip", "library", "locale", "timezone", "page", "userAgent"),
    )
    return ctx, (path, referrer, title, url)


def _app_context(ch: Chunk, kiosk: np.ndarray, ios: np.ndarray, ev_dev: np.ndarray, device_id: pa.Array,
                 token: pa.Array) -> pa.Array:  # fmt: skip
    """context for analytics-ios / analytics-android events: app, device (with push token), os."""
    n = kiosk.size
    dev = ch.devices
    ua_i = dev.ua[ev_dev] % 5
    a_models = [m for _, m in vocab.ANDROID_MODELS]
    a_makers = [m for m, _ in vocab.ANDROID_MODELS]
    model = t.where(
        kiosk, t.const("SM-X200", n), t.where(ios, t.take(vocab.IOS_MODELS, ua_i), t.take(a_models, ua_i))
    )
    maker = t.where(kiosk, t.const("samsung", n), t.where(ios, t.const("Apple", n), t.take(a_makers, ua_i)))
    device = t.jobj(
        [
            ("id", t.jstr(device_id)),
            ("manufacturer", t.jstr(maker)),
            ("model", t.jstr(model)),
            ("type", t.where(ios, t.const('"ios"', n), t.const('"android"', n))),
            ("token", t.jstr(token)),
        ],
        required=("id", "manufacturer", "model", "type"),
    )
    ip = t.where(kiosk, t.const("113.161.72.10", n), dev.ip.take(pa.array(ev_dev)))
    return t.jobj(
        [
            ("ip", t.jstr(ip)),
            ("library", t.where(ios, t.const('{"name":"analytics-ios","version":"4.1.8"}', n),
                                t.const('{"name":"analytics-android","version":"4.11.3"}', n))),
            ("locale", pa.scalar('"vi-VN"')),
            ("timezone", pa.scalar('"Asia/Ho_Chi_Minh"')),
            ("app", pa.scalar('{"build":"520","name":"Sen Mart","namespace":"vn.senmart.app","version":"5.2.0"}')),
            ("device", device),
            ("network", pa.scalar('{"wifi":true}')),
            ("os", t.where(ios, t.const('{"name":"iOS","version":"18.0"}', n),
                           t.const('{"name":"Android","version":"14"}', n))),
            ("userAgent", t.where(ios, t.const('"SenMart/5.2.0 (iPhone; iOS 18.0; Scale/3.00)"', n),
                                  t.const('"SenMart/5.2.0 (Linux; Android 14) okhttp/4.12.0"', n))),
        ],
        required=("ip", "library", "locale", "timezone", "app", "device", "network", "os", "userAgent"),
    )  # fmt: skip
