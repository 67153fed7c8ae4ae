"""Stable person ids across runs.

Rules (see docs/identity.md):
- a new person is named 'p_' + 16 hex digits of md5('<type>:<value>') of its strongest, oldest identifier;
- each previous person id goes to the component holding most of its identifiers (ties: the component with
  the strongest/oldest identifier), so a person keeps their id when identifiers join or leave;
- a component that receives several previous ids keeps the oldest one; the others are recorded as `merged`
  into it;
- a component that receives no previous id but holds identifiers of previous persons is a part split off
  them: it gets a new id and a `split` event per person it came from;
- a previous person none of whose identifiers remain is recorded as `removed`;
- an id is never reused: a new id that equals any id in the map or the history is salted.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

CREATED = "created"
MERGED = "merged"
SPLIT = "split"
REMOVED = "removed"


@dataclass
class PersonAssignment:
    person_ids: pa.Array  # string: previous ids, then new ones (a dictionary)
    person_index: np.ndarray  # int64 per component label: its id's position in person_ids
    events: pa.Table  # person_id, event, related_person_id (all but `created`)
    created: pa.Array  # ids of persons created in this run
    counts: dict[str, int] = field(default_factory=dict)  # events per kind


def _events_table(person_ids: list[str] | pa.Array, event: str, related: list[str | None] | None) -> pa.Table:
    n = len(person_ids)
    return pa.table(
        {
            "person_id": pa.array(person_ids, pa.string()),
            "event": pa.repeat(pa.scalar(event, pa.string()), n),
            "related_person_id": pa.nulls(n, pa.string())
            if related is None
            else pa.array(related, pa.string()),
        }
    )


def canonical_nodes(labels: np.ndarray, node_key: np.ndarray, n_components: int) -> np.ndarray:
    """For each component, the node with the smallest node key (strongest type, oldest, then first registered)."""
    valid = labels >= 0
    best = np.full(n_components, np.iinfo(np.int64).max, dtype=np.int64)
    if valid.all():  # no node left out: no copies of the 10M-node arrays
        np.minimum.at(best, labels, node_key)
        is_canonical = node_key == best[labels]
    else:
        np.minimum.at(best, labels[valid], node_key[valid])
        is_canonical = valid & (node_key == best[np.where(valid, labels, 0)])
    canonical = np.full(n_components, -1, dtype=np.int64)
    positions = np.flatnonzero(is_canonical)
    canonical[labels[positions]] = positions
    return canonical


def _shared_counts(
    person: np.ndarray, label: np.ndarray, n_persons: int, n_labels: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The distinct (person, label) pairs among the nodes and how many nodes each has, ordered by person then
    label. Most persons lie in one component that holds no other person (all of them on a rerun of unchanged
    input): their pairs come from two scatters and a count; only the nodes of the others are sorted (a sort of
    all 10M pairs took 0.7 s)."""
    label_of = np.full(n_persons, -1, dtype=np.int64)
    label_of[person] = label  # any one of the person's labels
    person_of = np.full(n_labels, -1, dtype=np.int64)
    person_of[label] = person
    mixed_person = np.zeros(n_persons, dtype=bool)
    mixed_person[person[label_of[person] != label]] = True  # in two components or more
    mixed_label = np.zeros(n_labels, dtype=bool)
    mixed_label[label[person_of[label] != person]] = True  # holding two persons or more
    mixed = mixed_person[person] | mixed_label[label]
    plain_nodes = person[~mixed] if mixed.any() else person
    counts = np.bincount(plain_nodes, minlength=n_persons)
    plain = np.flatnonzero(counts)
    pair_person, pair_label, pair_count = plain, label_of[plain], counts[plain]
    if mixed.any():
        keys, mixed_count = np.unique(person[mixed] * n_labels + label[mixed], return_counts=True)
        pair_person = np.concatenate([pair_person, keys // n_labels])
        pair_label = np.concatenate([pair_label, keys % n_labels])
        pair_count = np.concatenate([pair_count, mixed_count])
        order = np.lexsort((pair_label, pair_person))
        pair_person, pair_label, pair_count = pair_person[order], pair_label[order], pair_count[order]
    return pair_person, pair_label, pair_count


def _salted_id(identifier_type: str, value: str, salt: int) -> str:
    return "p_" + hashlib.md5(f"{identifier_type}:{value}#{salt}".encode()).hexdigest()[:16]


def _ids_in_history(conn: duckdb.DuckDBPyConnection, history_table: str | None, ids: pa.Array) -> np.ndarray:
    if history_table is None or len(ids) == 0:
        return np.zeros(len(ids), dtype=bool)
    conn.register("_sen_new_ids", pa.table({"person_id": ids}))
    try:
        taken = conn.sql(
            f"select person_id from _sen_new_ids where person_id in (select person_id from {history_table})"
        ).to_arrow_table()
    finally:
        conn.unregister("_sen_new_ids")
    return pc.is_in(ids, value_set=taken.column("person_id").combine_chunks()).to_numpy(zero_copy_only=False)


def _previous_age(
    conn: duckdb.DuckDBPyConnection,
    history_table: str | None,
    person_ids: list[str],
) -> dict[str, object]:
    """When each previous person was first created (None when the history does not say)."""
    if history_table is None or not person_ids:
        return {}
    conn.register("_sen_candidates", pa.table({"person_id": pa.array(person_ids, pa.string())}))
    try:
        rows = conn.sql(
            f"""
            select person_id, min(occurred_at) from {history_table}
            where event in ('{CREATED}', '{SPLIT}') and person_id in (select person_id from _sen_candidates)
            group by person_id
            """
        ).fetchall()
    finally:
        conn.unregister("_sen_candidates")
    return dict(rows)


def assign_person_ids(
    conn: duckdb.DuckDBPyConnection,
    *,
    labels: np.ndarray,
    n_components: int,
    node_key: np.ndarray,
    node_first_seen: Callable[[np.ndarray], np.ndarray],
    identifiers: Callable[[np.ndarray], pa.Table],
    prev_person: np.ndarray,
    prev_person_ids: pa.Array,
    history_table: str | None,
    canonical: np.ndarray | None = None,
    prev_orphan_person: np.ndarray | None = None,
) -> PersonAssignment:
    """Name every component. `labels` is -1 for nodes outside the map (blocklisted); `identifiers` returns
    identifier_type, identifier_value, person_hash ('p_' + 16 hex of md5('type:value')) and position of node
    positions, in any order. `canonical`, if given, is canonical_nodes() of these labels, computed earlier.
    `prev_orphan_person`: the previous person of each previous row whose identifier is no longer a node."""
    n_prev = len(prev_person_ids)
    if canonical is None:
        canonical = canonical_nodes(labels, node_key, n_components)
    comp_key = node_key[canonical]

    # (previous person, component) pairs with how many identifiers they share.
    has_prev = (prev_person >= 0) & (labels >= 0)
    pair_person, pair_comp, pair_count = _shared_counts(
        prev_person[has_prev].astype(np.int64), labels[has_prev], n_prev, n_components
    )

    # Each previous person's home: the component with most of its identifiers, then the strongest/oldest.
    # Pairs are ordered by person; only persons in several components need a sort.
    several = np.zeros(len(pair_person), dtype=bool)
    if len(pair_person) > 1:
        repeated = pair_person[1:] == pair_person[:-1]
        several[1:] |= repeated
        several[:-1] |= repeated
    if several.any():
        at = np.flatnonzero(several)
        order = at[np.lexsort((comp_key[pair_comp[at]], -pair_count[at], pair_person[at]))]
        first = np.ones(len(order), dtype=bool)
        first[1:] = pair_person[order][1:] != pair_person[order][:-1]
        home = np.concatenate([np.flatnonzero(~several), order[first]])
    else:
        home = slice(None)
    home_person = pair_person[home]
    home_comp = pair_comp[home]

    owner = np.full(n_components, -1, dtype=np.int64)
    merges: list[tuple[str, str]] = []  # (merged person, surviving person)

    def prev_ids(persons: np.ndarray) -> list[str]:
        # Only the few ids an event names become Python strings (all 2.5M of a rerun took 0.4 s).
        return prev_person_ids.take(pa.array(persons, pa.int64())).to_pylist()

    candidates_per_comp = np.bincount(home_comp, minlength=n_components)
    single = candidates_per_comp[home_comp] == 1
    owner[home_comp[single]] = home_person[single]
    contested = np.flatnonzero(candidates_per_comp > 1)
    if len(contested):
        contested_mask = candidates_per_comp[home_comp] > 1
        persons = home_person[contested_mask]
        comps = home_comp[contested_mask]
        name = dict(zip(persons.tolist(), prev_ids(persons), strict=True))
        created = _previous_age(conn, history_table, list(name.values()))
        # Fallback age: the earliest first-seen of the person's current identifiers.
        earliest = np.full(n_prev, np.iinfo(np.int64).max, dtype=np.int64)
        np.minimum.at(earliest, prev_person[has_prev], node_first_seen(np.flatnonzero(has_prev)))
        by_comp: dict[int, list[int]] = {}
        for p, c in zip(persons.tolist(), comps.tolist(), strict=True):
            by_comp.setdefault(c, []).append(p)

        def age(p: int) -> tuple[bool, object, int, str]:
            # Oldest first: creation time in the history, else earliest identifier, then the id itself.
            when = created.get(name[p])
            return (when is None, when or 0, int(earliest[p]), name[p])

        for c, group in by_comp.items():
            group.sort(key=age)
            owner[c] = group[0]
            merges.extend((name[p], name[group[0]]) for p in group[1:])

    # Person ids are a dictionary (previous ids, then new ones) and an index into it per component, so
    # no string is copied per component or per identifier.
    kept = owner >= 0
    person_index = np.where(kept, owner, -1)
    tables = [_events_table([m[0] for m in merges], MERGED, [m[1] for m in merges])]

    fresh = np.flatnonzero(~kept)
    new_ids = pa.array([], pa.string())
    created = new_ids
    if len(fresh):
        named_by = identifiers(canonical[fresh])  # any order, with a `position` column
        fresh_comp = labels[named_by.column("position").to_numpy()]
        new_ids = named_by.column("person_hash").combine_chunks()
        taken = pc.is_in(new_ids, value_set=prev_person_ids).to_numpy(zero_copy_only=False)
        taken |= _ids_in_history(conn, history_table, new_ids)
        if taken.any():
            types, values = named_by.column("identifier_type"), named_by.column("identifier_value")
            new_list = new_ids.to_numpy(zero_copy_only=False).copy()
            used = set(prev_person_ids.to_pylist()) | set(new_list.tolist())
            for i in np.flatnonzero(taken):
                salt = 1
                while (candidate := _salted_id(types[i].as_py(), values[i].as_py(), salt)) in used:
                    salt += 1
                new_list[i] = candidate
                used.add(candidate)
            new_ids = pa.array(new_list, pa.string())
        person_index[fresh_comp] = n_prev + np.arange(len(fresh_comp))

        # Split-off parts of previous persons, and brand-new persons.
        is_fresh = np.zeros(n_components, dtype=bool)
        is_fresh[fresh] = True
        split_pairs = np.flatnonzero(is_fresh[pair_comp])
        if len(split_pairs):
            split_rows = person_index[pair_comp[split_pairs]] - n_prev
            tables.append(
                _events_table(new_ids.take(pa.array(split_rows)), SPLIT, prev_ids(pair_person[split_pairs]))
            )
        is_fresh[pair_comp[split_pairs]] = False  # what is left was never seen before
        created = new_ids.filter(pa.array(is_fresh[fresh_comp]))

    if n_prev:
        still_present = np.zeros(n_prev, dtype=bool)
        still_present[pair_person] = True
        gone = np.flatnonzero(~still_present)
        if len(gone):
            # Removed: held by an identifier in the previous map (one erased, or now out of the map), and by
            # none now. A person no identifier held before was reported already (a persons row an older
            # version left behind): it leaves without an event.
            held_before = [prev_person[(prev_person >= 0) & (labels < 0)]]
            if prev_orphan_person is not None:
                held_before.append(prev_orphan_person)
            gone = gone[np.isin(gone, np.concatenate(held_before))]
        tables.append(_events_table(prev_ids(gone), REMOVED, None))
    events_table = pa.concat_tables(tables)
    counts = {k["values"]: k["counts"] for k in pc.value_counts(events_table.column("event")).to_pylist()}
    counts[CREATED] = len(created)
    return PersonAssignment(
        person_ids=pa.concat_arrays([prev_person_ids, new_ids]) if n_prev else new_ids,
        person_index=person_index,
        events=events_table,
        created=created,
        counts=counts,
    )
