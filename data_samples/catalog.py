"""Global reference data shared by every chunk of people: products, price history, stores, campaigns."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from data_samples import textops as t
from data_samples import vocab

DAY = 86_400
HOUR = 3_600
SITE = "https://www.senmart.vn"
CATEGORY_NAMES = list(vocab.CATEGORIES)
SKU_PREFIX = {"shoes": "SHO", "apparel": "APP", "electronics": "ELE", "beauty": "BEA", "groceries": "GRO",
              "baby": "BAB", "home": "HOM"}  # fmt: skip

# Ad platforms: (platform, utm_source, utm_medium, click id url parameter or None)
AD_PLATFORMS = [("meta", "facebook", "paid_social", "fbclid"), ("google", "google", "cpc", "gclid"),
                ("tiktok", "tiktok", "paid_social", "ttclid"), ("zalo", "zalo", "cpc", None)]  # fmt: skip
AD_PLATFORM_P = np.array([0.45, 0.35, 0.15, 0.05])
AD_CAMPAIGN_THEMES = ["bf2026", "11thang11", "retarget_cart", "new_arrivals", "brand_search", "me_va_be",
                      "flash_sale", "back_to_school", "tet_preorder", "sneaker_week"]  # fmt: skip


@dataclass
class Window:
    end: int  # exclusive end instant, epoch seconds UTC
    orders_start: int
    events_start: int

    @property
    def event_days(self) -> int:
        return (self.end - self.events_start) // DAY


@dataclass
class Catalog:
    sku: np.ndarray  # str
    category: np.ndarray  # int codes into CATEGORY_NAMES
    price: np.ndarray  # current price (int VND)
    base_price: np.ndarray  # price at the start of history
    consumable: np.ndarray
    replenishment_days: np.ndarray
    stock: np.ndarray
    table: pa.Table  # products source rows
    changes: pa.Table  # product_price_changes source rows
    change_key: np.ndarray  # sorted sku_index * 2**34 + changed_at, for price-at-time lookups
    change_price: np.ndarray
    by_category_price: np.ndarray  # product indices sorted by (category, price)
    category_bounds: np.ndarray  # start offsets into by_category_price, len = n_categories + 1
    flash_sale: np.ndarray  # product indices with a price drop in the last hours
    low_stock: np.ndarray  # product indices with stock 1..5

    def price_at(self, product: np.ndarray, when: np.ndarray) -> np.ndarray:
        """The price in effect for each (product, instant)."""
        q = product.astype(np.int64) * (1 << 34) + when.astype(np.int64)
        pos = np.searchsorted(self.change_key, q, side="right") - 1
        valid = pos >= 0
        hit = np.zeros(len(q), dtype=bool)
        hit[valid] = (self.change_key[pos[valid]] >> 34) == product[valid]
        return np.where(hit, self.change_price[np.maximum(pos, 0)], self.base_price[product])

    def pick_near_price(
        self, rng: np.random.Generator, category: np.ndarray, target: np.ndarray
    ) -> np.ndarray:
        """A product of the given category whose price is close to target (log-normal jitter)."""
        starts = self.category_bounds[category]
        ends = self.category_bounds[category + 1]
        key = category.astype(np.int64) * 10**10 + (target * rng.lognormal(0, 0.35, len(target))).astype(
            np.int64
        )
        sorted_keys = self.category[self.by_category_price].astype(np.int64) * 10**10 + self.price[
            self.by_category_price
        ].astype(np.int64)
        pos = np.searchsorted(sorted_keys, key)
        pos = np.clip(pos, starts, ends - 1)
        return self.by_category_price[pos]


def round_price(raw: np.ndarray) -> np.ndarray:
    """Retail-looking VND prices: 249,000 rather than 251,377."""
    raw = np.asarray(raw, dtype=np.float64)
    big = np.round(raw / 10_000) * 10_000 - 1_000
    small = np.round(raw / 1_000) * 1_000
    return np.where(raw >= 100_000, big, small).clip(20_000, 30_000_000).astype(np.int64)


def build_catalog(rng: np.random.Generator, n_products: int, window: Window) -> Catalog:
    shares = np.array([v[0] for v in vocab.CATEGORIES.values()])
    category = np.sort(rng.choice(len(CATEGORY_NAMES), n_products, p=shares / shares.sum()))
    lo = np.array([v[1] for v in vocab.CATEGORIES.values()])[category]
    hi = np.array([v[2] for v in vocab.CATEGORIES.values()])[category]
    current = round_price(np.exp(rng.uniform(np.log(lo), np.log(hi))))
    consumable = rng.random(n_products) < np.array([v[3] for v in vocab.CATEGORIES.values()])[category]
    replenish = np.where(consumable, rng.integers(14, 91, n_products), 0)
    stock = rng.integers(8, 600, n_products)
    low = rng.random(n_products) < 0.08
    stock = np.where(low, rng.integers(1, 6, n_products), stock)
    stock = np.where(rng.random(n_products) < 0.03, 0, stock)

    sku = np.array([f"{SKU_PREFIX[CATEGORY_NAMES[c]]}-{10001 + i}" for i, c in enumerate(category)])
    sub_idx = rng.integers(0, 100, n_products)
    brand_idx = rng.integers(0, 100, n_products)
    suffix = rng.integers(0, len(vocab.NAME_SUFFIXES), n_products)
    subcats, names, brands = [], [], []
    for i, c in enumerate(category):
        _, _, _, _, subs, brs = vocab.CATEGORIES[CATEGORY_NAMES[c]]
        sub, brand = subs[sub_idx[i] % len(subs)], brs[brand_idx[i] % len(brs)]
        subcats.append(sub)
        brands.append(brand)
        names.append(f"{sub} {brand}{vocab.NAME_SUFFIXES[suffix[i]]} #{i % 97 + 1}")

    # Price history: a few changes over the order window, a share of drops in the last three weeks,
    # and "flash sale" drops in the last hours (after the planted abandoned carts).
    span = window.end - window.orders_start
    n_changes = rng.poisson(1.2, n_products)
    ch_product = np.repeat(np.arange(n_products), n_changes)
    ch_time = window.orders_start + (rng.random(len(ch_product)) * (span - 21 * DAY)).astype(np.int64)
    recent = np.flatnonzero(rng.random(n_products) < 0.15)
    flash = rng.choice(n_products, max(5, n_products // 40), replace=False)
    low_stock = np.flatnonzero((stock >= 1) & (stock <= 5))
    ch_product = np.concatenate([ch_product, recent, flash])
    ch_time = np.concatenate(
        [
            ch_time,
            window.end - rng.integers(1 * DAY, 21 * DAY, len(recent)),
            window.end - rng.integers(1 * HOUR, 6 * HOUR, len(flash)),
        ]
    )
    ch_factor = np.concatenate(
        [
            rng.uniform(0.8, 1.15, len(ch_product) - len(recent) - len(flash)),
            rng.uniform(0.6, 0.92, len(recent) + len(flash)),
        ]
    )
    order = np.lexsort((ch_time, ch_product))
    ch_product, ch_time, ch_factor = ch_product[order], ch_time[order], ch_factor[order]
    # Walk back from the current price so the last new_price equals products.price.
    new_price = np.empty(len(ch_product), dtype=np.int64)
    old_price = np.empty(len(ch_product), dtype=np.int64)
    base = current.copy()
    bounds_p = np.searchsorted(ch_product, np.arange(n_products + 1))
    for p in range(n_products):  # catalog-sized loop (<= 1000 SKUs, a few changes each)
        price = current[p]
        for j in range(bounds_p[p + 1] - 1, bounds_p[p] - 1, -1):
            new_price[j] = price
            price = round_price(np.array([price / ch_factor[j]]))[0]
            old_price[j] = price
        base[p] = price

    updated = window.end - rng.integers(1 * HOUR, 30 * DAY, n_products)
    table = pa.table(
        {
            "sku": t.arr(sku),
            "name": t.arr(np.array(names)),
            "category": t.take(CATEGORY_NAMES, category),
            "subcategory": t.arr(np.array(subcats)),
            "brand": t.arr(np.array(brands)),
            "price": t.ints(current),
            "currency": t.const("VND", n_products),
            "stock_level": t.ints(stock),
            "is_consumable": t.take(["false", "true"], consumable.astype(int)),
            "replenishment_days": t.where(consumable, t.ints(replenish)),
            "updated_at": t.iso_utc(updated),
        }
    )
    changes = pa.table(
        {
            "sku": t.arr(sku[ch_product]),
            "old_price": t.ints(old_price),
            "new_price": t.ints(new_price),
            "changed_at": t.iso_utc(ch_time),
        }
    )
    by_cat = np.lexsort((current, category))
    bounds = np.searchsorted(category[by_cat], np.arange(len(CATEGORY_NAMES) + 1))
    return Catalog(
        sku=sku,
        category=category,
        price=current,
        base_price=base,
        consumable=consumable,
        replenishment_days=replenish,
        stock=stock,
        table=table,
        changes=changes,
        change_key=ch_product.astype(np.int64) * (1 << 34) + ch_time,
        change_price=new_price,
        by_category_price=by_cat,
        category_bounds=bounds,
        flash_sale=np.sort(flash),
        low_stock=low_stock,
    )


@dataclass
class Stores:
    store_id: np.ndarray
    city: np.ndarray
    kiosk_store: np.ndarray  # indices of stores with a shared in-store tablet
    table: pa.Table


def build_stores(rng: np.random.Generator) -> Stores:
    ids, names, cities, opened = [], [], [], []
    n = 0
    for city, count in vocab.STORE_CITIES:
        for k in range(count):
            n += 1
            area = vocab.STORE_AREAS[city][k % len(vocab.STORE_AREAS[city])]
            ids.append(f"ST{n:03d}")
            names.append(f"Sen Mart {area}" + ("" if city in area else f", {city}"))
            cities.append(city)
            opened.append(f"{rng.integers(2014, 2026)}-{rng.integers(1, 13):02d}-{rng.integers(1, 29):02d}")
    table = pa.table(
        {
            "store_id": t.arr(np.array(ids)),
            "name": t.arr(np.array(names)),
            "city": t.arr(np.array(cities)),
            "country": t.const("VN", n),
            "opened_at": t.arr(np.array(opened)),
        }
    )
    return Stores(np.array(ids), np.array(cities), np.array([0, 1, 8]), table)


@dataclass
class Campaigns:
    ad_platform: np.ndarray  # int codes into AD_PLATFORMS
    ad_campaign_id: np.ndarray  # str
    email_id: np.ndarray
    email_sent_at: np.ndarray
    push_id: np.ndarray
    push_sent_at: np.ndarray


def build_campaigns(rng: np.random.Generator, window: Window) -> Campaigns:
    ad_platform, ad_ids = [], []
    for p, (platform, *_rest) in enumerate(AD_PLATFORMS):
        for theme in rng.choice(AD_CAMPAIGN_THEMES, 4, replace=False):
            ad_platform.append(p)
            ad_ids.append(f"{platform}_{theme}_{rng.integers(100, 999)}")
    n_weeks = max(1, window.event_days // 7)
    email_sent = window.end - (np.arange(n_weeks, 0, -1) * 7 * DAY) + 2 * HOUR  # 09:00 local
    email_ids = np.array(
        [f"em_{np.datetime64(int(s), 's').astype('datetime64[D]')}_{k % 3}".replace("-", "") for k, s in
         enumerate(email_sent)]
    )  # fmt: skip
    push_sent = np.sort(window.events_start + rng.integers(0, window.end - window.events_start, n_weeks * 2))
    push_ids = np.array(
        [f"push_{i:03d}_{rng.choice(['flash', 'cart', 'new', 'vip'])}" for i in range(len(push_sent))]
    )
    return Campaigns(np.array(ad_platform), np.array(ad_ids), email_ids, email_sent, push_ids, push_sent)
