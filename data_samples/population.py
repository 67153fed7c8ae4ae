"""People (the true humans behind the data) and their browsers / app installs, one chunk at a time."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from data_samples import identity as idn
from data_samples import textops as t
from data_samples import vocab
from data_samples.catalog import CATEGORY_NAMES, DAY, Window

CITY_P = np.array([w for _, w, _ in vocab.CITIES]) / sum(w for _, w, _ in vocab.CITIES)
CHANNELS = ["email", "sms", "zalo", "push", "ads"]
MAX_PEOPLE = 5_000_000  # phone numbers use 7 scrambled digits, two per person


def key_width(total_people: int) -> int:
    return max(6, len(str(total_people)))


@dataclass
class People:
    n: int
    gidx: np.ndarray
    key: pa.Array
    female: np.ndarray
    foreign: np.ndarray
    city: pa.Array
    country: pa.Array
    names: idn.Names
    birthday: np.ndarray  # epoch seconds (midnight), or -1
    has_crm: np.ndarray
    customer_id: pa.Array
    crm_created: np.ndarray
    loyalty: np.ndarray
    loyalty_card: pa.Array
    loyalty_joined: np.ndarray
    has_email: np.ndarray
    email: pa.Array  # canonical lower-case
    has_email2: np.ndarray
    email2: pa.Array
    has_phone: np.ndarray
    phone_kind: np.ndarray
    phone_nsn: np.ndarray
    has_phone2: np.ndarray
    phone2_kind: np.ndarray
    phone2_nsn: np.ndarray
    has_web: np.ndarray
    has_app: np.ndarray
    store_shopper: np.ndarray
    buyer: np.ndarray
    rate_per_day: np.ndarray  # BG/NBD purchase rate while alive
    p_drop: np.ndarray  # BG/NBD dropout probability after each purchase
    spend_rate: np.ndarray  # gamma-gamma: order values ~ Gamma(SPEND_SHAPE, 1 / spend_rate)
    fav_category: np.ndarray
    consent: np.ndarray  # (n, 5) bool, initial consent per CHANNELS
    open_propensity: np.ndarray

    def phone_raw(
        self, rng: np.random.Generator, rows: np.ndarray, styles: np.ndarray | None = None
    ) -> pa.Array:
        """Primary phone of people[rows], spelled in a random local format (or the given style codes)."""
        style = rng.integers(0, 7, len(rows)) if styles is None else styles
        return idn.phone_spellings(self.phone_kind[rows], self.phone_nsn[rows], style)

    def phone2_raw(self, rng: np.random.Generator, rows: np.ndarray) -> pa.Array:
        return idn.phone_spellings(
            self.phone2_kind[rows], self.phone2_nsn[rows], rng.integers(0, 7, len(rows))
        )


def build_people(rng: np.random.Generator, start: int, n: int, total: int, window: Window) -> People:
    gidx = np.arange(start, start + n, dtype=np.int64)
    female = rng.random(n) < 0.56
    foreign = rng.random(n) < 0.015
    city_idx = rng.choice(len(vocab.CITIES), n, p=CITY_P)
    foreign_city = rng.integers(0, len(vocab.FOREIGN_CITIES), n)
    expat = foreign & (rng.random(n) < 0.6)  # most foreigners here live in Vietnam
    city = t.where(
        foreign & ~expat,
        t.take([c for c, _ in vocab.FOREIGN_CITIES], foreign_city),
        t.take([c for c, _, _ in vocab.CITIES], city_idx),
    )
    country = t.where(
        foreign & ~expat,
        t.take([c for _, c in vocab.FOREIGN_CITIES], foreign_city),
        t.take(vocab.COUNTRY_SPELLINGS, rng.integers(0, len(vocab.COUNTRY_SPELLINGS), n)),
    )
    names = idn.Names(rng, female, foreign)
    age_days = rng.integers(18 * 365, 65 * 365, n)
    birthday = np.where(rng.random(n) < 0.7, (window.end // DAY - age_days) * DAY, -1)

    has_crm = rng.random(n) < 0.68
    customer_id = t.cat("C1", t.digits(idn.scrambled(gidx, 10**7, 0), 7))
    crm_created = window.end - (rng.random(n) * 4 * 365 * DAY).astype(np.int64)
    loyalty = has_crm & (rng.random(n) < 0.4)
    loyalty_card = t.cat("88", t.digits(idn.scrambled(gidx, 10**10, 1), 10))
    loyalty_joined = crm_created + (rng.random(n) * (window.end - crm_created) * 0.5).astype(np.int64)

    width = len(str(2 * total - 1))
    has_email = rng.random(n) < np.where(has_crm, 0.9, 0.7)
    email = idn.emails(rng, names, idn.scrambled(gidx, 10**width, 2), width)
    has_email2 = has_email & (rng.random(n) < 0.1)
    email2 = idn.emails(rng, names, idn.scrambled(gidx + total, 10**width, 2), width)

    has_phone = rng.random(n) < 0.93
    phone_kind = np.where(foreign, np.where(rng.random(n) < 0.6, idn.SG_MOBILE, idn.US_MOBILE), idn.VN_MOBILE)
    phone_nsn = idn.phone_numbers(rng, phone_kind, idn.scrambled(gidx, 10**7, 3))
    has_phone2 = has_phone & ~foreign & (rng.random(n) < 0.08)
    phone2_kind = np.where(rng.random(n) < 0.4, idn.VN_LANDLINE, idn.VN_MOBILE)
    phone2_nsn = idn.phone_numbers(rng, phone2_kind, idn.scrambled(gidx + MAX_PEOPLE, 10**7, 3))

    u = rng.random((n, 3))
    has_web = u[:, 0] < 0.55
    has_app = u[:, 1] < 0.32
    store_shopper = (u[:, 2] < 0.55) | ~(has_web | has_app)
    buyer = rng.random(n) < 0.8
    rate_per_day = rng.gamma(0.8, 4.0, n) / 365.0  # mean ~3.2 orders a year while alive, long tail
    p_drop = rng.beta(1.0, 4.0, n)
    spend_rate = rng.gamma(3.0, 1.0 / 300_000.0, n)  # mean order value ~ 4 / spend_rate
    fav_category = rng.integers(0, len(CATEGORY_NAMES), n)
    consent = rng.random((n, 5)) < np.array([0.7, 0.45, 0.5, 0.55, 0.6])
    open_propensity = rng.beta(1.3, 4.0, n)
    return People(
        n=n, gidx=gidx, key=t.cat("P", t.digits(gidx + 1, key_width(total))), female=female, foreign=foreign,
        city=city, country=country, names=names, birthday=birthday, has_crm=has_crm, customer_id=customer_id,
        crm_created=crm_created, loyalty=loyalty, loyalty_card=loyalty_card, loyalty_joined=loyalty_joined,
        has_email=has_email, email=email, has_email2=has_email2, email2=email2, has_phone=has_phone,
        phone_kind=phone_kind, phone_nsn=phone_nsn, has_phone2=has_phone2, phone2_kind=phone2_kind,
        phone2_nsn=phone2_nsn, has_web=has_web, has_app=has_app, store_shopper=store_shopper, buyer=buyer,
        rate_per_day=rate_per_day, p_drop=p_drop, spend_rate=spend_rate, fav_category=fav_category,
        consent=consent, open_propensity=open_propensity,
    )  # fmt: skip


WEB, APP = 0, 1


@dataclass
class Devices:
    """One row per (person, browser or app install). A household laptop is two rows sharing anonymous_id."""

    person: np.ndarray
    kind: np.ndarray  # WEB or APP
    anonymous_id: pa.Array
    device_id: pa.Array  # null for web
    ios: np.ndarray
    push_token: pa.Array  # null when none
    has_token: np.ndarray
    ua: np.ndarray  # index into vocab.WEB_USER_AGENTS (web) or model (app)
    ip: pa.Array
    logged_in: np.ndarray  # the person logs in on this device (a CRM account is needed)
    login_in_window: np.ndarray  # the login (identify) happens inside the events window
    shared: np.ndarray  # household laptop rows: the anonymous_id is not one person's

    @property
    def n(self) -> int:
        return len(self.person)


@dataclass(frozen=True)
class Households:
    """Opt-in households (generate --household-rate / --household-guests); None keeps the default pairs of
    account holders (1.5% of the account holders with a browser), so the committed sample does not change."""

    rate: float  # share of all people who share one laptop browser with another household member
    guests: bool  # members need not hold an account: they check out as guests, or only browse, on the laptop


def build_devices(rng: np.random.Generator, people: People, households: Households | None = None) -> Devices:
    n_web = np.where(people.has_web, 1 + (rng.random(people.n) < 0.3) + (rng.random(people.n) < 0.08), 0)
    n_app = np.where(people.has_app, 1 + (rng.random(people.n) < 0.15), 0)
    person = np.concatenate([np.repeat(np.arange(people.n), n_web), np.repeat(np.arange(people.n), n_app)])
    kind = np.concatenate([np.zeros(n_web.sum(), np.int8), np.ones(n_app.sum(), np.int8)])
    shared = np.zeros(len(person), dtype=bool)
    anon = t.uuid4(rng, len(person))

    # Households: pairs of account holders with a browser share one laptop (one anonymousId, two logins).
    # With Households(guests=True), any two people with a browser: an account holder and someone who checks
    # out as a guest (typing an email and phone), two guests, or a member who only browses anonymously.
    if households is None:
        candidates = np.flatnonzero(people.has_web & people.has_crm)
        n_pairs = max(1, int(len(candidates) * 0.015)) if len(candidates) >= 2 else 0
    else:
        candidates = np.flatnonzero(people.has_web & (people.has_crm | households.guests))
        n_pairs = min(int(round(people.n * households.rate / 2)), len(candidates) // 2)
    pair_members = rng.choice(candidates, 2 * n_pairs, replace=False) if n_pairs else np.zeros(0, np.int64)
    if n_pairs:
        shared_anon = t.uuid4(rng, n_pairs)
        person = np.concatenate([person, pair_members])
        kind = np.concatenate([kind, np.zeros(2 * n_pairs, np.int8)])
        shared = np.concatenate([shared, np.ones(2 * n_pairs, dtype=bool)])
        anon = pa.concat_arrays([anon, shared_anon.take(pa.array(np.repeat(np.arange(n_pairs), 2)))])

    n = len(person)
    order = np.argsort(person, kind="stable")
    person, kind, shared = person[order], kind[order], shared[order]
    anon = anon.take(pa.array(order))
    app = kind == APP
    ios = app & (rng.random(n) < 0.45)
    android_id = t.hex_ids(rng, n, 16)
    idfv = t.upper(t.uuid4(rng, n))
    device_id = t.where(app, t.where(ios, idfv, android_id))
    has_token = np.where(app, rng.random(n) < 0.75, rng.random(n) < 0.08)
    apns = t.hex_ids(rng, n, 64)
    fcm = t.cat(t.random_tokens(rng, n, 22, t.URLSAFE), ":APA91b", t.random_tokens(rng, n, 134, t.URLSAFE))
    push_token = t.where(has_token, t.where(ios, apns, fcm))
    ua = np.where(app, rng.integers(0, 5, n), rng.integers(0, len(vocab.WEB_USER_AGENTS), n))
    prefix = t.take(vocab.IP_PREFIXES, rng.integers(0, len(vocab.IP_PREFIXES), n))
    ip = t.cat(prefix, ".", t.ints(rng.integers(0, 256, n)), ".", t.ints(rng.integers(1, 255, n)))
    crm = people.has_crm[person]
    logged_in = crm & ((rng.random(n) < 0.8) | shared)
    login_in_window = logged_in & ((rng.random(n) < 0.5) | shared)
    return Devices(person, kind, anon, device_id, ios, push_token, has_token, ua, ip, logged_in,
                   login_in_window, shared)  # fmt: skip
