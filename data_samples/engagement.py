"""CRM, consent, email, ads, support, chat, surveys and erasure requests for one chunk of people."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from data_samples import textops as t
from data_samples import vocab
from data_samples.catalog import AD_PLATFORMS, DAY, HOUR, SITE
from data_samples.context import Chunk
from data_samples.events import EventsOut
from data_samples.identity import VN_LANDLINE, scrambled
from data_samples.population import APP, CHANNELS
from data_samples.purchases import Commerce, Purchases, crm_email_spelling


def _naive_utc(seconds: np.ndarray) -> pa.Array:
    return pc.replace_substring(pc.utf8_slice_codeunits(t.iso_utc(seconds), 0, 19), "T", " ")


def _utc_mixed(rng: np.random.Generator, seconds: np.ndarray, p_naive: float) -> pa.Array:
    """Sources in UTC: mostly ISO with Z, some naive UTC (read as the source timezone)."""
    return t.where(rng.random(len(seconds)) < p_naive, _naive_utc(seconds), t.iso_utc(seconds))


@dataclass
class EmailOut:
    table: pa.Table
    unsub_person: np.ndarray
    unsub_time: np.ndarray
    unsub_email: pa.Array


def build_email_events(ch: Chunk) -> EmailOut:
    rng, people, camp, w = ch.rng, ch.people, ch.campaigns, ch.window
    recv = np.flatnonzero(people.has_crm & people.has_email & people.consent[:, 0])
    n_c = camp.email_id.size
    gets = rng.random((recv.size, n_c)) < 0.7
    opens_p = people.open_propensity[recv][:, None]
    delivered = rng.random((recv.size, n_c)) >= 0.035
    hard = rng.random(recv.size) < 0.01  # a dead mailbox bounces every time
    delivered &= ~hard[:, None]
    opened = delivered & (rng.random((recv.size, n_c)) < opens_p)
    unsub = opened & (rng.random((recv.size, n_c)) < 0.01)
    first_unsub = np.where(unsub.any(axis=1), unsub.argmax(axis=1), n_c)
    after = np.arange(n_c)[None, :] > first_unsub[:, None]
    gets &= ~after
    unsub &= gets & (np.arange(n_c)[None, :] == first_unsub[:, None])
    clicked = opened & (rng.random((recv.size, n_c)) < 0.18)

    pr, pc_ = np.nonzero(gets)
    sent = camp.email_sent_at[pc_] + rng.integers(0, 40 * 60, pr.size)
    dlv = sent + rng.integers(2, 120, pr.size)
    opn = dlv + rng.exponential(5 * HOUR, pr.size).astype(np.int64)
    clk = opn + rng.integers(5, 600, pr.size)
    uns = opn + rng.integers(10, 300, pr.size)
    is_dlv, is_opn, is_clk, is_uns = delivered[pr, pc_], opened[pr, pc_], clicked[pr, pc_], unsub[pr, pc_]
    kinds = [("sent", np.ones(pr.size, bool), sent), ("delivered", is_dlv, dlv), ("bounced", ~is_dlv, dlv),
             ("opened", is_opn, opn), ("clicked", is_clk, clk), ("unsubscribed", is_uns, uns)]  # fmt: skip
    rows, types, times = [], [], []
    for name, mask, when in kinds:
        sel = np.flatnonzero(mask)
        rows.append(sel)
        types.append(np.full(sel.size, name))
        times.append(when[sel])
    row, etype, when = np.concatenate(rows), np.concatenate(types), np.concatenate(times)
    ok = when < w.end
    row, etype, when = row[ok], etype[ok], when[ok]
    order = np.lexsort((when, pr[row]))
    row, etype, when = row[order], etype[order], when[order]
    person = recv[pr[row]]

    # The ESP list was synced from the CRM: same spelling, some lower-cased on import.
    crm = crm_email_spelling(ch)
    p_take = pa.array(person)
    per_person = rng.random((people.n, 2))
    lower_import = per_person[person, 0] < 0.5
    email = t.where(lower_import, people.email.take(p_take), crm.take(p_take))
    # some subscribed with their other address (e.g. a work email)
    other = people.has_email2[person] & (per_person[person, 1] < 0.4)
    email = t.where(other, people.email2.take(p_take), email)
    camp_id = camp.email_id[pc_[row]]
    url = t.where(
        etype == "clicked",
        t.cat(SITE + "/khuyen-mai?utm_source=newsletter&utm_medium=email&utm_campaign=", t.arr(camp_id)),
    )
    table = pa.table(
        {
            "event_id": t.cat("ee_", t.hex_ids(rng, row.size, 24)),
            "email": email,
            "campaign_id": t.arr(camp_id),
            "event_type": t.arr(etype),
            "url": url,
            "occurred_at": _utc_mixed(rng, when, 0.15),
        }
    )
    ch.truth.add(person, "email", email)
    u_sel = np.flatnonzero(etype == "unsubscribed")
    return EmailOut(table, person[u_sel], when[u_sel], email.take(pa.array(u_sel)))


@dataclass
class ConsentOut:
    table: pa.Table
    final: np.ndarray  # (n, 5) bool: consent per channel in the CRM snapshot


def build_consent(ch: Chunk, email: EmailOut) -> ConsentOut:
    rng, people, w = ch.rng, ch.people, ch.window
    crm = people.has_crm
    final = people.consent.copy() & crm[:, None]
    parts: list[dict[str, object]] = []

    # Sign-up choices that were recorded (not every old system kept them).
    pi, ci = np.nonzero(final & (rng.random(final.shape) < 0.6))
    store_form = rng.random(pi.size) < 0.35
    parts.append(dict(person=pi, channel=ci, status=np.full(pi.size, "granted"),
                      source=np.where(store_form, "store_form", "signup_form"), when=people.crm_created[pi],
                      by_email=np.zeros(pi.size, bool), by_phone=store_form))  # fmt: skip
    # Unsubscribe links in emails: identified by the email address only.
    up = email.unsub_person
    final[up, 0] = False
    parts.append(dict(person=up, channel=np.zeros(up.size, np.int64), status=np.full(up.size, "withdrawn"),
                      source=np.full(up.size, "unsubscribe_link"), when=email.unsub_time,
                      by_email=np.ones(up.size, bool), by_phone=np.zeros(up.size, bool), raw_email=email.unsub_email))  # fmt: skip
    # Later changes in the preference centre / app settings / Zalo OA follow.
    toggle = crm[:, None] & (rng.random(final.shape) < 0.05)
    toggle[:, 0] = False
    ti, tc = np.nonzero(toggle)
    when = people.crm_created[ti] + (rng.random(ti.size) * (w.end - people.crm_created[ti])).astype(np.int64)
    status = np.where(final[ti, tc], "withdrawn", "granted")
    final[ti, tc] = ~final[ti, tc]
    source = np.select([tc == 3, tc == 2], ["app_settings", "zalo_oa"], "preference_center")
    parts.append(dict(person=ti, channel=tc, status=status, source=source, when=when,
                      by_email=np.zeros(ti.size, bool), by_phone=(tc == 1) & (rng.random(ti.size) < 0.5)))  # fmt: skip

    person = np.concatenate([p["person"] for p in parts])
    channel = np.concatenate([p["channel"] for p in parts])
    by_email = np.concatenate([p["by_email"] for p in parts])
    by_phone = np.concatenate([p["by_phone"] for p in parts])
    p_take = pa.array(person)
    raw_email = pa.concat_arrays(
        [
            pa.nulls(parts[0]["person"].size, pa.string()),
            parts[1]["raw_email"],
            pa.nulls(ti.size, pa.string()),
        ]
    )
    phone = t.where(by_phone & people.has_phone[person], people.phone_raw(rng, person))
    when_all = np.concatenate([p["when"] for p in parts])
    order = np.lexsort((channel, when_all))
    table = pa.table(
        {
            "change_id": t.cat("CC", t.digits(ch.counters.take("consent", person.size, 1), 9)),
            "customer_id": t.where(~by_email, people.customer_id.take(p_take)).take(pa.array(order)),
            "email": raw_email.take(pa.array(order)),
            "phone": phone.take(pa.array(order)),
            "channel": t.take(CHANNELS, channel[order]),
            "status": t.arr(np.concatenate([p["status"] for p in parts])[order]),
            "source": t.arr(np.concatenate([p["source"] for p in parts])[order]),
            "changed_at": t.iso_utc(when_all[order]),
        }
    )
    ch.truth.add(person[order], "customer_id", table["customer_id"].combine_chunks())
    ch.truth.add(person[order], "phone", table["phone"].combine_chunks())
    return ConsentOut(table, final)


def build_crm(ch: Chunk, consent_final: np.ndarray) -> pa.Table:
    rng, people, w = ch.rng, ch.people, ch.window
    rows = np.flatnonzero(people.has_crm)
    n = rows.size
    r = pa.array(rows)
    email = t.where(people.has_email[rows], crm_email_spelling(ch).take(r))
    style = np.where(rng.random(n) < 0.5, 0, rng.integers(0, 7, n))
    landline = people.phone2_kind[rows] == VN_LANDLINE  # older accounts often hold the home number
    use2 = people.has_phone2[rows] & (rng.random(n) < np.where(landline, 0.6, 0.2))
    phone = t.where(
        people.has_phone[rows],
        t.where(use2, people.phone2_raw(rng, rows), people.phone_raw(rng, rows, style)),
    )
    gender_style = rng.integers(0, 3, n)
    female = people.female[rows]
    gender = t.pick(gender_style, [t.take(["male", "female"], female.astype(int)), t.take(["M", "F"], female.astype(int)),
                                   t.const(None, n)])  # fmt: skip
    birthday = t.where(people.birthday[rows] >= 0, t.local_date(np.maximum(people.birthday[rows], 0)))
    created = people.crm_created[rows]
    updated = created + (rng.random(n) * (w.end - created)).astype(np.int64)
    # Referrals: someone who joined earlier in the same chunk.
    by_created = np.argsort(created, kind="stable")
    rank = np.empty(n, np.int64)
    rank[by_created] = np.arange(n)
    referred = (rng.random(n) < 0.06) & (rank > 0)
    referrer = by_created[(rng.random(n) * np.maximum(rank, 1)).astype(np.int64)]
    loyal = people.loyalty[rows]
    cons = consent_final[rows]
    table = pa.table(
        {
            "customer_id": people.customer_id.take(r),
            "email": email,
            "phone": phone,
            "first_name": people.names.first_name.take(r),
            "last_name": people.names.last_name.take(r),
            "gender": gender,
            "birthday": birthday,
            "city": people.city.take(r),
            "country": people.country.take(r),
            "created_at": t.mixed_local_ts(rng, created, p_offset=0.1, p_utc=0.05),
            "updated_at": t.mixed_local_ts(rng, updated, p_offset=0.1, p_utc=0.05),
            "loyalty_member": t.take(["false", "true"], loyal.astype(int)),
            "loyalty_card_id": t.where(loyal, people.loyalty_card.take(r)),
            "loyalty_joined_at": t.where(loyal, t.local_date(people.loyalty_joined[rows])),
            "referred_by_customer_id": t.where(referred, people.customer_id.take(pa.array(rows[referrer]))),
            **{
                f"consent_{c}": t.take(["false", "true"], cons[:, i].astype(int))
                for i, c in enumerate(CHANNELS)
            },
        }
    )
    ch.truth.add(rows, "customer_id", table["customer_id"].combine_chunks())
    ch.truth.add(rows, "email", email)
    ch.truth.add(rows, "phone", phone)
    ch.truth.add(rows, "loyalty_card", table["loyalty_card_id"].combine_chunks())
    return table


def build_ads(ch: Chunk, ev: EventsOut) -> pa.Table:
    rng, w, camp = ch.rng, ch.window, ch.campaigns
    n_match = len(ev.click_id)
    n_extra = int(n_match * 0.6) + int(rng.integers(0, 3))
    extra_camp = rng.integers(0, camp.ad_campaign_id.size, n_extra)
    extra_time = w.events_start + (rng.random(n_extra) * (w.end - w.events_start - 60)).astype(np.int64)
    extra_plat = camp.ad_platform[extra_camp]
    prefix = np.array(["IwAR", "Cj0KCQiA", "E.C.P.", "zl_"])[extra_plat]
    extra_id = t.cat(t.arr(prefix), t.random_tokens(rng, n_extra, 48, t.URLSAFE))
    n_imp = 4 * (n_match + n_extra)
    imp_camp = rng.integers(0, camp.ad_campaign_id.size, n_imp)
    imp_time = w.events_start + (rng.random(n_imp) * (w.end - w.events_start)).astype(np.int64)
    n_click = n_match + n_extra
    platform = np.concatenate([ev.click_platform, extra_plat, camp.ad_platform[imp_camp]])
    campaign = np.concatenate(
        [ev.click_campaign, camp.ad_campaign_id[extra_camp], camp.ad_campaign_id[imp_camp]]
    )
    when = np.concatenate([ev.click_time, extra_time, imp_time])
    click_cost = rng.integers(1_500, 12_000, n_click)
    imp_cost_tenths = rng.integers(150, 700, n_imp)  # CPM 15,000-70,000 VND
    cost = pa.concat_arrays(
        [t.ints(click_cost), t.cat(t.ints(imp_cost_tenths // 10), ".", t.ints(imp_cost_tenths % 10))]
    )
    order = np.argsort(when, kind="stable")
    o = pa.array(order)
    n = when.size
    return pa.table(
        {
            "touchpoint_id": t.cat("tp_", t.hex_ids(rng, n, 20)),
            "platform": t.take([p[0] for p in AD_PLATFORMS], platform[order]),
            "campaign_id": t.arr(campaign[order]),
            "touch_type": t.arr(np.where(order < n_click, "click", "impression")),
            "click_id": pa.concat_arrays([ev.click_id, extra_id, pa.nulls(n_imp, pa.string())]).take(o),
            "cost": cost.take(o),
            "currency": t.const("VND", n),
            "occurred_at": t.iso_utc(when[order]),
        }
    )


@dataclass
class TicketsOut:
    table: pa.Table
    person: np.ndarray
    closed: np.ndarray
    ticket_id: pa.Array
    order_id: pa.Array
    when: np.ndarray


def build_tickets(ch: Chunk, pur: Purchases, com: Commerce) -> TicketsOut:
    rng, people, w = ch.rng, ch.people, ch.window
    sel = np.flatnonzero((rng.random(com.order_rows.size) < 0.04) & (com.order_status != "pending"))
    person_o = pur.person[com.order_rows[sel]]
    created_o = pur.time[com.order_rows[sel]] + rng.integers(1 * DAY, 10 * DAY, sel.size)
    general = np.flatnonzero(people.has_email & (rng.random(people.n) < 0.01))
    created_g = w.orders_start + (rng.random(general.size) * (w.end - w.orders_start)).astype(np.int64)
    person = np.concatenate([person_o, general])
    created = np.minimum(np.concatenate([created_o, created_g]), w.end - HOUR)
    n = person.size
    n_o = sel.size
    is_order = np.arange(n) < n_o
    cat_p = [0.45, 0.2, 0.15, 0.1, 0.1]
    category = np.where(is_order, rng.choice(5, n, p=cat_p), rng.choice([3, 4], n))
    recent = created >= w.end - 7 * DAY
    status = np.where(
        recent, np.array(["open", "pending", "solved"])[rng.integers(0, 3, n)],
        np.where(rng.random(n) < 0.97, np.where(rng.random(n) < 0.5, "solved", "closed"), "open"),
    )  # fmt: skip
    closed = (status == "solved") | (status == "closed")
    resolved = np.minimum(created + rng.integers(2 * HOUR, 5 * DAY, n), w.end - 60)
    p_take = pa.array(person)
    o_take = pa.array(np.concatenate([sel, np.zeros(general.size, np.int64)]))
    order_id = t.where(is_order, com.order_id.take(o_take))
    email = t.where(is_order, com.order_email.take(o_take), crm_email_spelling(ch).take(p_take))
    phone = t.where(is_order, com.order_phone.take(o_take))
    cust = t.where(people.has_crm[person] & (rng.random(n) < 0.7), people.customer_id.take(p_take))
    ticket_id = t.cat("TK", t.digits(ch.counters.take("ticket", n, 1), 7))
    table = pa.table(
        {
            "ticket_id": ticket_id,
            "customer_id": cust,
            "email": email,
            "phone": phone,
            "order_id": order_id,
            "channel": t.take(["email", "phone", "web", "chat"], rng.integers(0, 4, n)),
            "category": t.take(["delivery", "product_quality", "refund", "account", "other"], category),
            "status": t.arr(status),
            "priority": t.take(
                ["low", "normal", "high", "urgent"], rng.choice(4, n, p=[0.2, 0.55, 0.2, 0.05])
            ),
            "created_at": t.mixed_local_ts(rng, created, p_offset=0.1, p_utc=0.0),
            "resolved_at": t.where(closed, t.mixed_local_ts(rng, resolved, p_offset=0.1, p_utc=0.0)),
        }
    )
    not_junk = np.asarray(
        pc.not_equal(email, "test@test.com").fill_null(True).to_numpy(zero_copy_only=False), bool
    )
    ch.truth.add(person, "email", email, mask=not_junk)
    ch.truth.add(person, "phone", phone)
    ch.truth.add(person, "customer_id", cust)
    return TicketsOut(table, person, closed, ticket_id, order_id, created)


def build_chats(ch: Chunk) -> pa.Table:
    rng, people, w, dev = ch.rng, ch.people, ch.window, ch.devices
    talk = np.flatnonzero(rng.random(people.n) < 0.06)
    person = np.repeat(talk, 1 + (rng.random(talk.size) < 0.3))
    n = person.size
    # A usable browser for web chat: the person's own (not a shared household) web device.
    web_rows = np.flatnonzero((dev.kind != APP) & ~dev.shared)
    pos = np.searchsorted(dev.person[web_rows], person)
    has_web = (pos < web_rows.size) & (dev.person[web_rows[np.minimum(pos, web_rows.size - 1)]] == person)
    u = rng.random(n)
    platform = np.where(u < 0.45, 1, np.where(u < 0.8, 2, 0))  # 0 web_chat, 1 zalo, 2 facebook
    platform = np.where((platform == 0) & ~has_web, 1, platform)
    gid = people.gidx[person]
    zalo_id = t.cat("4", t.digits(scrambled(gid, 10**9, 4), 9), t.digits(rng.integers(0, 10**9, n), 9))
    fb_id = t.cat("2", t.digits(scrambled(gid, 10**9, 5), 9), t.digits(rng.integers(0, 10**6, n), 6))
    # the random tail must be stable per person: reuse the first conversation's id for the second
    first_of = np.searchsorted(person, person)
    zalo_id = zalo_id.take(pa.array(first_of))
    fb_id = fb_id.take(pa.array(first_of))
    platform_user = t.pick(platform, [t.const(None, n), zalo_id, fb_id])
    anon = (
        t.where(
            platform == 0,
            dev.anonymous_id.take(pa.array(web_rows[np.minimum(pos, max(web_rows.size - 1, 0))])),
        )
        if web_rows.size
        else t.const(None, n)
    )
    p_take = pa.array(person)
    email_ok = people.has_email[person] & (rng.random(n) < np.where(platform == 0, 0.5, 0.1))
    email = t.where(email_ok, crm_email_spelling(ch).take(p_take))
    phone_ok = people.has_phone[person] & (rng.random(n) < np.choose(platform, [0.1, 0.6, 0.2]))
    phone = t.where(phone_ok, people.phone_raw(rng, person))
    started = w.end - (rng.random(n) * 365 * DAY).astype(np.int64) - HOUR
    last = started + rng.integers(60, 2 * HOUR, n)
    cust_msgs = 1 + rng.poisson(4, n)
    table = pa.table(
        {
            "conversation_id": t.cat("cv_", t.hex_ids(rng, n, 16)),
            "platform": t.take(["web_chat", "zalo", "facebook"], platform),
            "platform_user_id": platform_user,
            "anonymous_id": anon,
            "email": email,
            "phone": phone,
            "started_at": t.iso_utc(started),
            "last_message_at": t.iso_utc(last),
            "customer_messages": t.ints(cust_msgs),
            "agent_messages": t.ints(np.maximum(0, cust_msgs + rng.integers(-2, 3, n))),
            "topic": t.take(vocab.CHAT_TOPICS, rng.integers(0, len(vocab.CHAT_TOPICS), n)),
        }
    )
    ch.truth.add(person, "platform_user_id", platform_user)
    ch.truth.add(person, "anonymous_id", anon)
    ch.truth.add(person, "email", email)
    ch.truth.add(person, "phone", phone)
    return table


def build_surveys(ch: Chunk, pur: Purchases, com: Commerce, tickets: TicketsOut) -> pa.Table:
    rng, people, w = ch.rng, ch.people, ch.window
    sel = np.flatnonzero((com.order_status == "completed") & (rng.random(com.order_rows.size) < 0.05))
    person_n = pur.person[com.order_rows[sel]]
    when_n = pur.time[com.order_rows[sel]] + rng.integers(1 * DAY, 7 * DAY, sel.size)
    happy = rng.beta(5, 2, people.n)  # latent satisfaction per person
    nps = np.clip(np.round(happy[person_n] * 10 + rng.normal(0, 1.2, sel.size)), 0, 10).astype(np.int64)
    t_sel = np.flatnonzero(tickets.closed & (rng.random(tickets.person.size) < 0.4))
    person_c = tickets.person[t_sel]
    when_c = tickets.when[t_sel] + rng.integers(1 * HOUR, 3 * DAY, t_sel.size)
    csat = np.clip(np.round(happy[person_c] * 4 + 1 + rng.normal(0, 0.7, t_sel.size)), 1, 5).astype(np.int64)
    person = np.concatenate([person_n, person_c])
    when = np.concatenate([when_n, when_c])
    score = np.concatenate([nps, csat])
    keep = when < w.end
    n = person.size
    is_nps = np.arange(n) < sel.size
    p_take = pa.array(person)
    order_id = pa.concat_arrays([com.order_id.take(pa.array(sel)), tickets.order_id.take(pa.array(t_sel))])
    cust = t.where(people.has_crm[person], people.customer_id.take(p_take))
    email = t.where(people.has_email[person] & (~people.has_crm[person] | (rng.random(n) < 0.5)),
                    crm_email_spelling(ch).take(p_take))  # fmt: skip
    low = score <= np.where(is_nps, 6, 2)
    comment = t.where(
        rng.random(n) < 0.3,
        t.where(
            low,
            t.take(vocab.TICKET_COMMENTS["nps_low"], rng.integers(0, 5, n)),
            t.take(vocab.TICKET_COMMENTS["nps_high"], rng.integers(0, 4, n)),
        ),
    )
    k = pa.array(np.flatnonzero(keep))
    table = pa.table(
        {
            "response_id": t.cat("SR", t.digits(ch.counters.take("survey", n, 1), 8)).take(k),
            "customer_id": cust.take(k),
            "email": email.take(k),
            "survey_type": t.arr(np.where(is_nps, "nps", "csat")).take(k),
            "score": t.ints(score).take(k),
            "comment": comment.take(k),
            "order_id": order_id.take(k),
            "responded_at": _utc_mixed(rng, when, 0.0).take(k),
        }
    )
    ch.truth.add(person, "customer_id", cust, mask=keep)
    ch.truth.add(person, "email", email, mask=keep)
    return table


def build_erasures(ch: Chunk, how_many: int) -> tuple[pa.Table, list[str]]:
    rng, people, w = ch.rng, ch.people, ch.window
    cand = np.flatnonzero(people.has_crm & people.has_email)
    person = np.sort(rng.choice(cand, min(how_many, cand.size), replace=False))
    n = person.size
    p_take = pa.array(person)
    by_id = rng.random(n) < 0.7
    email = t.where(~by_id | (rng.random(n) < 0.5), crm_email_spelling(ch).take(p_take))
    phone = t.where(people.has_phone[person] & (rng.random(n) < 0.3), people.phone_raw(rng, person))
    cust = t.where(by_id, people.customer_id.take(p_take))
    table = pa.table(
        {
            "request_id": t.cat("ER", t.digits(np.arange(1, n + 1), 5)),
            "customer_id": cust,
            "email": email,
            "phone": phone,
            "requested_at": t.iso_utc(w.end - rng.integers(1 * DAY, 30 * DAY, n)),
        }
    )
    ch.truth.add(person, "customer_id", cust)
    ch.truth.add(person, "email", email)
    ch.truth.add(person, "phone", phone)
    return table, people.key.take(p_take).to_pylist()
