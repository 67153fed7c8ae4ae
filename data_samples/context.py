"""What every source builder of one chunk needs: seeded streams, reference data, id counters, ground truth."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from data_samples.catalog import Campaigns, Catalog, Stores, Window
from data_samples.population import Devices, People

IDENTIFIER_TYPES = ("email", "phone", "customer_id", "anonymous_id", "device_id", "loyalty_card",
                    "platform_user_id", "push_token")  # fmt: skip


class Counters:
    """Sequential ids that continue across chunks (same arguments -> same ids)."""

    def __init__(self) -> None:
        self._next: dict[str, int] = {}

    def take(self, name: str, n: int, first: int = 1) -> np.ndarray:
        start = self._next.get(name, first)
        self._next[name] = start + n
        return np.arange(start, start + n, dtype=np.int64)


@dataclass
class Truth:
    """Raw identifier spellings per true person, collected as the sources are written."""

    person_key: pa.Array
    rows: list[pa.Table] = field(default_factory=list)

    def add(self, person: np.ndarray, id_type: str, values: pa.Array, mask: np.ndarray | None = None) -> None:
        assert id_type in IDENTIFIER_TYPES, id_type
        keep = pc.and_kleene(
            pc.is_valid(values), pc.greater(pc.utf8_length(pc.utf8_trim_whitespace(values)), 0)
        )
        keep = keep.to_numpy(zero_copy_only=False).astype(bool)
        if mask is not None:
            keep &= mask
        rows = np.flatnonzero(keep)
        if rows.size == 0:
            return
        self.rows.append(
            pa.table(
                {
                    "person_key": self.person_key.take(pa.array(person[rows])),
                    "identifier_type": pa.array(np.full(rows.size, id_type, dtype=object), pa.string()),
                    "identifier_value": values.take(pa.array(rows)),
                }
            )
        )

    def table(self) -> pa.Table:
        if not self.rows:
            return pa.table({"person_key": [], "identifier_type": [], "identifier_value": []})
        table = (
            pa.concat_tables(self.rows)
            .group_by(["person_key", "identifier_type", "identifier_value"])
            .aggregate([])
        )
        return table.sort_by([("person_key", "ascending"), ("identifier_type", "ascending"),
                              ("identifier_value", "ascending")])  # fmt: skip


@dataclass
class Chunk:
    rng: np.random.Generator
    window: Window
    catalog: Catalog
    stores: Stores
    campaigns: Campaigns
    counters: Counters
    people: People
    devices: Devices
    truth: Truth
    first: bool  # the first chunk carries the handful of planted test accounts and erasure requests
    kiosk_anon: pa.Array
    kiosk_device: pa.Array
    crm_email: pa.Array | None = None  # the CRM's spelling of each person's email, set on first use
