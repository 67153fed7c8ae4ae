"""Identity resolution on Spark: the same input tables, rules and output tables as sen.identity.resolve, with
the graph kept on the cluster.

What runs where:
- distributed (DataFrames): reading nodes and edges, the blocklist, the degree limits, connected components
  (large-star / small-star, sen.engines.spark_graph), identifiers per component and type, the search for the
  components where a finer rule can apply, stable person ids for every component with at most one previous
  person, and every write;
- per component, on the executors (cogroup + applyInPandas): junk by behaviour, the weak-identifier rule and the
  caps, on the few components where they can apply (a component over a limit), by the same functions as the
  DuckDB path (sen.identity.weak, sen.identity.guards) on that component's links alone;
- on the driver: only the small results: audit rows of cut identifiers are joined to strings on the cluster;
  the driver collects the persons that compete for one component (a merge) and ids that collide with an
  earlier one (salted), both rare.

Differences from the DuckDB path, by design: the person map is always rewritten (plain Parquet has no row
delete; Delta/Iceberg would allow an in-place update) and the writes are not one transaction (each table is
replaced or appended on its own; a failed run is rerun). Ties that the DuckDB path breaks by a node's row
position in the node table (the weak-identifier rule, when two persons were seen with a device at the same
second) are broken here by identifier key, which is the same order when the node table is written in key order.
"""

from __future__ import annotations

import logging
import time
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from sen.identity.components import connected_components as local_components
from sen.identity.components import type_counts
from sen.identity.config import IdentityConfig, IdentityConfigError, load_identity_config
from sen.identity.graph import (
    _EPOCH_2000,
    _KEY_BITS,
    _SECONDS_BITS,
    _UNKNOWN_SECONDS,
    EDGE_COLUMNS,
    NODE_COLUMNS,
    IdentityInputError,
    _blocklist_rules,
)
from sen.identity.guards import cap_array, edge_order, limit_matrix, over_cap_components, resolve_capped
from sen.identity.person_ids import CREATED, MERGED, REMOVED, SPLIT, _salted_id
from sen.identity.resolve import BLOCKLISTED, CAP_EXCEEDED, DEGREE_LIMIT, IdentityRunStats, _Phases
from sen.identity.store import CUT_REASONS, person_map_view_sql
from sen.identity.weak import (
    JUNK_BY_BEHAVIOUR,
    WEAK_NOT_LINKED,
    WEAK_SHARED,
    junk_by_behaviour,
    resolve_weak_conflicts,
    weak_candidates,
    weak_limit_array,
)

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

logger = logging.getLogger(__name__)

# Rows the per-component step returns: a node's final label and cut, an audit row, or the component's counts.
_GUARD_SCHEMA = (
    "kind string, k long, final long, cut_code int, reason string, degree long, lim long, related_k long, "
    "related_type string, detail string, edges_cut_junk long, edges_cut_weak long"
)
PERSON_HASH = "concat('p_', substring(md5(concat(identifier_type, ':', identifier_value)), 1, 16))"


def _naive_utc(value: datetime) -> datetime:
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value


def _table_exists(spark: SparkSession, name: str) -> bool:
    return bool(spark.catalog.tableExists(name))


def _require(spark: SparkSession, table: str, columns: list[str]) -> DataFrame:
    if not _table_exists(spark, table):
        raise IdentityInputError(f"identity input table {table} does not exist (run the dbt models first)")
    frame = spark.table(table)
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise IdentityInputError(f"identity input table {table} lacks columns {missing}")
    return frame


# ---------------------------------------------------------------- reading


def blocked_column(
    config: IdentityConfig, type_col: str = "identifier_type", value_col: str = "identifier_value"
):
    """Spark Column: the identifier is junk per the identity blocklist (sen.identity.graph.blocked_sql)."""
    from pyspark.sql import functions as F

    any_values, typed = _blocklist_rules(config)

    def spellings(values: set[str]) -> list[str]:
        return sorted({s for v in values for s in (v, v.upper(), v.capitalize())})

    value, kind = F.col(value_col), F.col(type_col)
    expr = value == F.lit("")
    if any_values:
        expr = expr | value.isin(spellings(any_values))
    for t in sorted(set(typed) | set(config.blocklist.patterns)):
        checks: list[Column] = []
        if typed.get(t):
            checks.append(value.isin(spellings(typed[t])))
        # RE2 patterns (DuckDB) read the same in Java's regex for the constructs the config uses; 'i' as (?i).
        checks += [value.rlike("(?i)" + p) for p in config.blocklist.patterns.get(t, [])]
        if checks:
            one = checks[0]
            for c in checks[1:]:
                one = one | c
            expr = expr | (F.coalesce(kind == F.lit(t), F.lit(False)) & one)
    return F.coalesce(expr, F.lit(False))


def _seconds(column: str) -> Column:
    """Seconds since 2000 as a double (NULL stays NULL), as DuckDB's epoch() - 946684800."""
    from pyspark.sql import functions as F

    return F.unix_micros(F.col(column).cast("timestamp")) / F.lit(1e6) - F.lit(_EPOCH_2000)


def read_graph(spark: SparkSession, config: IdentityConfig) -> tuple[DataFrame, DataFrame]:
    """Nodes (k, identifier_type, identifier_value, first_seen_at, last_seen_at, code, node_key, blocked) and
    edge rows without self-loops (ka, kb, fs, ls, n_records: seconds since 2000, NULL when unknown)."""
    from pyspark.sql import functions as F

    raw_nodes = _require(spark, config.nodes_table, NODE_COLUMNS).select(*NODE_COLUMNS)
    raw_edges = _require(spark, config.edges_table, EDGE_COLUMNS).select(*EDGE_COLUMNS)
    null_keys = raw_nodes.where(F.col("identifier_key").isNull()).count()
    if null_keys:
        raise IdentityInputError(
            f"{config.nodes_table}: {null_keys} rows have no identifier_key "
            "(every identifier needs its key from the key registry; run the dbt models first)"
        )

    def aggregate(frame: DataFrame) -> DataFrame:
        return frame.groupBy("identifier_key").agg(
            F.min("identifier_type").alias("identifier_type"),
            F.min("identifier_value").alias("identifier_value"),
            F.min("first_seen_at").alias("first_seen_at"),
            F.max("last_seen_at").alias("last_seen_at"),
        )

    base = aggregate(raw_nodes)
    ends = raw_edges.select(
        F.col("key_a").alias("identifier_key"),
        F.col("id_a_type").alias("identifier_type"),
        F.col("id_a").alias("identifier_value"),
        "first_seen_at",
        "last_seen_at",
    ).unionByName(
        raw_edges.select(
            F.col("key_b").alias("identifier_key"),
            F.col("id_b_type").alias("identifier_type"),
            F.col("id_b").alias("identifier_value"),
            "first_seen_at",
            "last_seen_at",
        )
    )
    extra = aggregate(ends.join(base.select("identifier_key"), "identifier_key", "left_anti"))
    types = F.array(*[F.lit(t) for t in config.all_types])
    ranks = F.array(*[F.lit(config.type_priority.index(t)) for t in config.all_types])
    nodes = (
        base.unionByName(extra)
        .withColumnRenamed("identifier_key", "k")
        .withColumn("code", (F.array_position(types, F.col("identifier_type")) - 1).cast("int"))
    )
    seconds = F.floor(_seconds("first_seen_at"))
    seconds = F.when(seconds.isNull(), F.lit(_UNKNOWN_SECONDS)).otherwise(
        F.least(F.greatest(seconds, F.lit(0)), F.lit(_UNKNOWN_SECONDS))
    )
    nodes = nodes.withColumn(
        "node_key",
        F.shiftleft(F.element_at(ranks, F.col("code") + 1).cast("long"), _SECONDS_BITS + _KEY_BITS)
        .bitwiseOR(F.shiftleft(seconds.cast("long"), _KEY_BITS))
        .bitwiseOR(F.col("k").bitwiseAND(F.lit((1 << _KEY_BITS) - 1))),
    ).withColumn("blocked", blocked_column(config))
    nodes = nodes.localCheckpoint(eager=True)
    unknown = nodes.where(F.col("code") < 0).groupBy("identifier_type").count().orderBy(F.desc("count"))
    wrong = unknown.limit(10).collect()
    if wrong:
        listed = ", ".join(f"{r['identifier_type']!r} ({r['count']} rows)" for r in wrong)
        raise IdentityInputError(
            f"{config.nodes_table} has identifier types that the identity config does not know: {listed}; "
            "add them to person_defining_types or linking_types"
        )
    edges = raw_edges.where(F.col("key_a") != F.col("key_b")).select(
        F.col("key_a").alias("ka"),
        F.col("key_b").alias("kb"),
        _seconds("first_seen_at").alias("fs"),
        _seconds("last_seen_at").alias("ls"),
        F.col("n_records").cast("long").alias("n_records"),
    )
    return nodes, edges


# ---------------------------------------------------------------- degree limits


def degree_cuts(spark: SparkSession, config: IdentityConfig, typed: DataFrame) -> DataFrame:
    """(k, nt, degree, lim) of identifiers linked to more distinct person-defining identifiers of type nt than
    their limit (typed: edge rows with ta, tb, bla, blb); the type most over its limit is reported."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    n_person = len(config.person_defining_types)
    limits = limit_matrix(config)
    rows = [
        (i, j, int(limits[i, j]))
        for i in range(len(config.all_types))
        for j in range(n_person)
        if limits[i, j] != np.iinfo(np.int64).max
    ]
    if not rows:
        return spark.createDataFrame([], "k long, nt int, degree long, lim long")
    limit_frame = spark.createDataFrame(rows, "xt int, nt int, lim long")
    usable = typed.where(~F.col("bla") & ~F.col("blb"))
    directed = usable.select(
        F.col("ka").alias("x"), F.col("ta").alias("xt"), F.col("kb").alias("nb"), F.col("tb").alias("nt")
    ).unionByName(
        usable.select(
            F.col("kb").alias("x"), F.col("tb").alias("xt"), F.col("ka").alias("nb"), F.col("ta").alias("nt")
        )
    )
    counts = (
        directed.where(F.col("nt") < n_person)
        .distinct()
        .groupBy("x", "xt", "nt")
        .agg(F.count("*").alias("degree"))
        .join(F.broadcast(limit_frame), ["xt", "nt"])
        .where(F.col("degree") > F.col("lim"))
    )
    worst = Window.partitionBy("x").orderBy(F.desc(F.col("degree") / F.col("lim")), F.asc("nt"))
    return (
        counts.withColumn("rn", F.row_number().over(worst))
        .where(F.col("rn") == 1)
        .select(F.col("x").alias("k"), "nt", "degree", "lim")
    )


# ---------------------------------------------------------------- per-component rules


def _guard_component(config: IdentityConfig, nodes: pd.DataFrame, edges: pd.DataFrame) -> pd.DataFrame:
    """Junk by behaviour, the weak-identifier rule and the caps on one component (the DuckDB path's
    _components_with_guards after the degree limits), with local positions in identifier-key order.

    nodes: k, code, node_key of the component's members; edges: every edge row with an end among them
    (ka, kb, ta, tb, iso_a, iso_b, fs, ls, n_records); an end outside is cut already (blocklist or degree).
    """
    n_types = len(config.all_types)
    keys = np.unique(np.concatenate([nodes.k.to_numpy(), edges.ka.to_numpy(), edges.kb.to_numpy()]))
    n = len(keys)
    member = np.zeros(n, dtype=bool)
    member[np.searchsorted(keys, nodes.k.to_numpy())] = True
    node_type = np.zeros(n, dtype=np.int8)
    isolated = np.zeros(n, dtype=bool)
    src = np.searchsorted(keys, edges.ka.to_numpy()).astype(np.int64)
    dst = np.searchsorted(keys, edges.kb.to_numpy()).astype(np.int64)
    node_type[src], node_type[dst] = edges.ta.to_numpy(), edges.tb.to_numpy()
    isolated[src[edges.iso_a.to_numpy()]] = True
    isolated[dst[edges.iso_b.to_numpy()]] = True
    node_type[np.searchsorted(keys, nodes.k.to_numpy())] = nodes.code.to_numpy()
    node_key = np.zeros(n, dtype=np.int64)
    node_key[np.searchsorted(keys, nodes.k.to_numpy())] = nodes.node_key.to_numpy()
    ts, td = node_type[src], node_type[dst]
    out: list[dict[str, object]] = []

    # Junk by behaviour: the component and its cut neighbours form one all-links component, as in DuckDB.
    labels = np.zeros(n, dtype=np.int64)
    junk = junk_by_behaviour(
        config, node_type, src, dst, ts, td, labels, type_counts(labels, node_type, 1, n_types), isolated
    )
    edges_cut_junk = 0
    if len(junk.nodes):
        is_junk = np.zeros(n, dtype=bool)
        is_junk[junk.nodes] = True
        edges_cut_junk = int(((is_junk[src] | is_junk[dst]) & ~isolated[src] & ~isolated[dst]).sum())
        isolated |= is_junk
        of_type = config.behaviour_junk.of_type if config.behaviour_junk else ""
        for node, holders in zip(junk.nodes.tolist(), junk.holders.tolist(), strict=True):
            out.append(
                {
                    "kind": "cut",
                    "k": int(keys[node]),
                    "reason": JUNK_BY_BEHAVIOUR,
                    "degree": holders,
                    "lim": junk.limit,
                    "related_type": of_type,
                    "detail": f"held by {holders} {of_type} that nothing else relates (limit {junk.limit}): "
                    "treated as junk, its links are not used",
                }
            )
    inner = ~isolated[src] & ~isolated[dst]
    n_labels, labels = local_components(n, src[inner], dst[inner])
    per_type = type_counts(labels, node_type, n_labels, n_types)

    # Links as DuckDB's edge_details gives them: per distinct pair, first/last seen seconds and records.
    frame = pd.DataFrame(
        {"ka": src, "kb": dst, "fs": edges.fs.to_numpy(), "ls": edges.ls.to_numpy(), "rec": edges.n_records}
    )
    per_row = frame.groupby(["ka", "kb"], as_index=False).agg(
        fs=("fs", "min"), ls=("ls", "max"), rec=("rec", "sum"), rec_n=("rec", "count"), rows=("rec", "size")
    )
    per_row["first_seen"] = np.rint(per_row.fs.fillna(_UNKNOWN_SECONDS)).astype(np.int64)
    per_row["last_seen"] = np.rint(per_row.ls.fillna(0)).astype(np.int64)
    per_row["records"] = np.where(per_row.rec_n > 0, per_row.rec, per_row.rows).astype(np.int64)
    per_row["low"] = np.minimum(per_row.ka, per_row.kb)
    per_row["high"] = np.maximum(per_row.ka, per_row.kb)
    pairs = per_row.groupby(["low", "high"], as_index=False, sort=True).agg(
        first_seen=("first_seen", "min"), last_seen=("last_seen", "max"), records=("records", "sum")
    )

    def details(of: np.ndarray) -> pd.DataFrame:
        mark = np.zeros(n, dtype=bool)
        mark[of] = True
        low, high = pairs.low.to_numpy(), pairs.high.to_numpy()
        return pairs[(mark[low] | mark[high]) & ~isolated[low] & ~isolated[high]]

    weak = None
    edges_cut_weak = 0
    if config.weak_types:
        candidates = weak_candidates(config, per_type)
        if len(candidates):
            in_candidate = np.zeros(n_labels, dtype=bool)
            in_candidate[candidates] = True
            wnodes = np.flatnonzero(in_candidate[labels] & ~isolated)
            d = details(wnodes)
            weak = resolve_weak_conflicts(
                config,
                node_type,
                wnodes,
                d.low.to_numpy(),
                d.high.to_numpy(),
                d.last_seen.to_numpy(),
                label_offset=n_labels,
            )
            labels[weak.nodes] = weak.labels
            n_labels += weak.n_labels
            per_type = type_counts(labels, node_type, n_labels, n_types)
            edges_cut_weak = len(weak.cut_low)
            for w, persons, to in zip(
                weak.shared.tolist(), weak.persons.tolist(), weak.attributed_to.tolist(), strict=True
            ):
                out.append(
                    {
                        "kind": "cut",
                        "k": int(keys[w]),
                        "reason": WEAK_SHARED,
                        "degree": persons,
                        "lim": 1,
                        "related_k": int(keys[to]) if to >= 0 else None,
                        "detail": f"seen with {persons} persons: "
                        + (
                            "kept with the person it was seen with most recently (related identifier), "
                            "its links to the others are not used"
                            if to >= 0
                            else "belongs to none of them, its links to them are not used"
                        ),
                    }
                )
            for lo, hi in zip(weak.between_low.tolist(), weak.between_high.tolist(), strict=True):
                out.append(
                    {
                        "kind": "cut",
                        "k": int(keys[lo]),
                        "reason": WEAK_SHARED,
                        "degree": 2,
                        "lim": 1,
                        "related_k": int(keys[hi]),
                        "detail": "link not used: the two weak identifiers belong to persons that may not join",
                    }
                )
    over = over_cap_components(config, per_type)
    if len(over):
        in_over = np.zeros(n_labels, dtype=bool)
        in_over[over] = True
        over_nodes = np.flatnonzero(in_over[labels] & member)
        d = details(over_nodes)
        if weak is not None and len(weak.cut_low):
            pair = d.low.to_numpy().astype(np.int64) * n + d.high.to_numpy()
            d = d[~np.isin(pair, weak.cut_low * n + weak.cut_high)]
        low, high = d.low.to_numpy(), d.high.to_numpy()
        order = edge_order(
            config, node_type, node_key, low, high, d.first_seen.to_numpy(), d.records.to_numpy()
        )
        low, high = low[order], high[order]
        capped = resolve_capped(config, node_type, over_nodes, low, high, label_offset=n_labels)
        labels[capped.nodes] = capped.labels
        caps = cap_array(config)
        for e, t, count in zip(
            capped.cut_edges.tolist(), capped.cut_type.tolist(), capped.cut_count.tolist(), strict=True
        ):
            name = config.all_types[t]
            out.append(
                {
                    "kind": "cut",
                    "k": int(keys[low[e]]),
                    "reason": CAP_EXCEEDED,
                    "degree": count,
                    "lim": int(caps[t]),
                    "related_k": int(keys[high[e]]),
                    "detail": f"link not used: the person would hold {count} {name} (cap {int(caps[t])})",
                }
            )
    # Each final component is named by its smallest identifier key (ids outside the component never collide).
    at = np.flatnonzero(member)
    smallest = np.full(int(labels.max()) + 1, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(smallest, labels[at], keys[at])
    cut = np.zeros(n, dtype=np.int32)
    cut[junk.nodes] = 2
    if weak is not None:
        cut[weak.shared[weak.attributed_to < 0]] = 3
    rows = pd.DataFrame(
        {"kind": "node", "k": keys[at], "final": smallest[labels[at]], "cut_code": cut[at].astype(np.int32)}
    )
    stat = pd.DataFrame(
        [{"kind": "stat", "edges_cut_junk": edges_cut_junk, "edges_cut_weak": edges_cut_weak}]
    )
    result = pd.concat([rows, pd.DataFrame(out), stat], ignore_index=True)
    for column in _GUARD_COLUMNS:
        if column not in result:
            result[column] = None
    # Plain Python objects: pandas 3's Arrow-backed strings and NaN-filled integers do not convert back.
    return pd.DataFrame(
        {c: pd.Series(_plain(result[c], c in _GUARD_TEXT), dtype=object) for c in _GUARD_COLUMNS}
    )


def _plain(values: pd.Series, text: bool) -> list[object]:
    return [None if pd.isna(v) else (str(v) if text else int(v)) for v in values.tolist()]


_GUARD_COLUMNS = tuple(part.split()[0] for part in _GUARD_SCHEMA.split(", "))
_GUARD_TEXT = {part.split()[0] for part in _GUARD_SCHEMA.split(", ") if part.split()[1] == "string"}


# ---------------------------------------------------------------- the run


def resolve_identities_spark(
    spark: SparkSession,
    config: IdentityConfig | None = None,
    run_at: datetime | None = None,
    *,
    timings: dict[str, dict[str, float]] | None = None,
) -> IdentityRunStats:
    """resolve_identities() on a Spark session: reads config.nodes_table / edges_table (and the previous person
    map) from its catalog and writes the `identity` tables there. Returns the same run statistics."""
    config = config or load_identity_config()
    if not config.weak_identifiers.guests_join_accounts:
        # Loud, not ignored: the Spark path does not look for guest-account joins yet.
        raise IdentityConfigError(
            "weak_identifiers.guests_join_accounts: false is not supported by the Spark identity path yet; "
            "run identity resolution on DuckDB (python -m sen.identity) or set it to true"
        )
    from pyspark.sql import functions as F

    from sen.engines.spark_graph import connected_components

    started = time.perf_counter()
    run_at = _naive_utc(run_at or datetime.now(UTC))
    run_id = f"{run_at:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"
    phases = _Phases(timings)
    schema = config.output_schema
    n_person = len(config.person_defining_types)
    n_types = len(config.all_types)

    with phases("read graph"):
        nodes, edges = read_graph(spark, config)
        node_counts = nodes.agg(
            F.count("*").alias("n"), F.sum(F.col("blocked").cast("long")).alias("b")
        ).first()
        info = nodes.select("k", "code", "blocked")
        typed = edges.join(info.toDF("ka", "ta", "bla"), "ka").join(info.toDF("kb", "tb", "blb"), "kb")
        # weak_identifiers.not_linked (a browser's push token and its cookie): those links are never used, as
        # in the DuckDB path; they are audited below once the persons are known.
        pairs = [
            (config.all_types.index(a), config.all_types.index(b))
            for a, b in config.weak_identifiers.not_linked
        ]
        unlinked = None
        if pairs:
            ta, tb = F.col("ta"), F.col("tb")
            pair = _any([((ta == a) & (tb == b)) | ((ta == b) & (tb == a)) for a, b in pairs])
            unlinked = typed.where(pair).select("ka", "kb", "ta", "tb").localCheckpoint(eager=True)
            typed = typed.where(~pair)
        typed = typed.localCheckpoint(eager=True)
        edges_cut_not_linked = unlinked.count() if unlinked is not None else 0

    with phases("guards and components"):
        deg = degree_cuts(spark, config, typed).localCheckpoint(eager=True)
        deg_keys = deg.select("k", F.lit(True).alias("degree_cut"))
        nodes = (
            nodes.join(deg_keys, "k", "left")
            .withColumn("degree_cut", F.coalesce("degree_cut", F.lit(False)))
            .withColumn("iso", F.col("blocked") | F.col("degree_cut"))
        )
        iso = nodes.select("k", "degree_cut", "iso")
        typed = (
            typed.join(iso.toDF("ka", "dga", "iso_a"), "ka")
            .join(iso.toDF("kb", "dgb", "iso_b"), "kb")
            .localCheckpoint(eager=True)
        )
        components = connected_components(typed.where(~F.col("iso_a") & ~F.col("iso_b")), "ka", "kb")
        mapped = (
            nodes.where(~F.col("blocked"))
            .join(components.labels.withColumnRenamed("node", "k"), "k", "left")
            .withColumn("label", F.coalesce("component", "k"))
            .drop("component")
            .localCheckpoint(eager=True)
        )
        # Identifiers per component and type: where can junk, the weak rule or a cap apply?
        per_type = mapped.groupBy("label").agg(
            *[F.sum((F.col("code") == i).cast("long")).alias(f"t{i}") for i in range(n_types)]
        )
        special_terms = []
        caps = cap_array(config)
        special_terms += [
            F.col(f"t{i}") > int(caps[i]) for i in range(n_types) if caps[i] < np.iinfo(np.int64).max
        ]
        if config.weak_types:
            weak_limits = weak_limit_array(config)
            special_terms += [
                F.col(f"t{i}") > int(weak_limits[i])
                for i in range(n_types)
                if weak_limits[i] < np.iinfo(np.int64).max
            ]
        special = per_type.where(_any(special_terms)).select("label") if special_terms else None
        rule = config.behaviour_junk
        if rule is not None:
            of_code = config.all_types.index(rule.of_type)
            junk_codes = [config.all_types.index(t) for t in rule.types]
            values = typed.where(F.col("ta").isin(junk_codes) & (F.col("tb") == of_code)).select(
                F.col("ka").alias("k"), F.col("kb").alias("holder")
            )
            values = values.unionByName(
                typed.where(F.col("tb").isin(junk_codes) & (F.col("ta") == of_code)).select(
                    F.col("kb").alias("k"), F.col("ka").alias("holder")
                )
            )
            junk_labels = (
                values.distinct()
                .groupBy("k")
                .count()
                .where(F.col("count") >= rule.unrelated_holders)
                .join(mapped.where(~F.col("iso")).select("k", "label"), "k")
                .select("label")
            )
            special = junk_labels if special is None else special.unionByName(junk_labels)
        final = mapped.select("k", F.col("label").alias("final"), F.lit(0).alias("cut_code"))
        guard_rows = None
        if special is not None:
            special = special.distinct().localCheckpoint(eager=True)
            members = mapped.join(special, "label").select("label", "k", "code", "node_key")
            membership = members.select("label", "k")
            edge_cols = ["ka", "kb", "ta", "tb", "iso_a", "iso_b", "fs", "ls", "n_records"]
            special_edges = (
                typed.join(membership.toDF("label", "ka"), "ka")
                .select("label", *edge_cols)
                .unionByName(
                    typed.join(membership.toDF("label", "kb"), "kb")
                    .where(F.col("iso_a"))  # both ends members: counted once, above
                    .select("label", *edge_cols)
                )
            )
            conf_dump = config.model_dump()

            def guard(group_nodes: pd.DataFrame, group_edges: pd.DataFrame) -> pd.DataFrame:
                return _guard_component(IdentityConfig(**conf_dump), group_nodes, group_edges)

            guard_rows = (
                members.groupBy("label")
                .cogroup(special_edges.groupBy("label"))
                .applyInPandas(guard, _GUARD_SCHEMA)
                .localCheckpoint(eager=True)
            )
            resolved = guard_rows.where(F.col("kind") == "node").select("k", "final", "cut_code")
            final = final.join(resolved.select("k"), "k", "left_anti").unionByName(resolved)
        mapped = (
            mapped.select("k", "identifier_type", "identifier_value", "node_key", "degree_cut")
            .join(final, "k")
            .withColumn("cut_code", F.when(F.col("degree_cut"), F.lit(1)).otherwise(F.col("cut_code")))
            .localCheckpoint(eager=True)
        )

    with phases("person ids"):
        ids = _person_ids(spark, config, mapped)

    with phases("write"):
        counts = typed.agg(
            F.count("*").alias("edges"),
            F.sum((F.col("bla") | F.col("blb")).cast("long")).alias("cut_blocklist"),
            F.sum(((F.col("dga") | F.col("dgb")) & ~(F.col("bla") | F.col("blb"))).cast("long")).alias(
                "cut_degree"
            ),
        ).first()
        comp_stats = mapped.groupBy("final").agg(
            F.count("*").alias("size"),
            *[
                F.sum((F.col("identifier_type") == t).cast("long")).alias(f"p{i}")
                for i, t in enumerate(config.person_defining_types)
            ],
        )
        merged = comp_stats.agg(
            F.count("*").alias("components"),
            F.max("size").alias("largest"),
            F.sum(_any([F.col(f"p{i}") > 0 for i in range(n_person)]).cast("long")).alias("with_any"),
            F.sum(_any([F.col(f"p{i}") > 1 for i in range(n_person)]).cast("long")).alias("with_dup"),
        ).first()
        guard_stats = (
            guard_rows.agg(
                F.coalesce(F.sum("edges_cut_junk"), F.lit(0)).alias("junk_edges"),
                F.coalesce(F.sum("edges_cut_weak"), F.lit(0)).alias("weak_edges"),
                F.sum(((F.col("kind") == "cut") & (F.col("reason") == CAP_EXCEEDED)).cast("long")).alias(
                    "cap"
                ),
                F.sum(((F.col("kind") == "cut") & (F.col("reason") == JUNK_BY_BEHAVIOUR)).cast("long")).alias(
                    "junk_nodes"
                ),
                F.sum(
                    (
                        (F.col("kind") == "cut")
                        & (F.col("reason") == WEAK_SHARED)
                        & (F.col("detail").startswith("seen with"))
                    ).cast("long")
                ).alias("weak_nodes"),
            ).first()
            if guard_rows is not None
            else None
        )
        cuts = _cuts(spark, config, nodes, deg, guard_rows, run_id)
        if edges_cut_not_linked:
            cuts = cuts.unionByName(_not_linked_cuts(config, nodes, mapped, unlinked, run_id))
        history = ids["events"].select(
            "person_id",
            "event",
            "related_person_id",
            F.lit(run_id).alias("run_id"),
            F.lit(run_at).cast("timestamp").alias("occurred_at"),
        )
        spark.sql(f"create database if not exists {schema}")
        _append(spark, f"{schema}.person_id_history", history)
        _append(spark, f"{schema}.identity_cuts", cuts)
        assignments, persons = ids["assignments"], ids["persons"]
        assignments.write.mode("overwrite").format("parquet").saveAsTable(f"{schema}.identifier_persons")
        persons.write.mode("overwrite").format("parquet").saveAsTable(f"{schema}.persons")
        spark.sql(person_map_view_sql(config))
        g = guard_stats
        edges_cut_cap = int(g["cap"] or 0) if g else 0
        edges_cut_junk = int(g["junk_edges"] or 0) if g else 0
        # The not_linked links count as weak cuts, as in the DuckDB path.
        edges_cut_weak = (int(g["weak_edges"] or 0) if g else 0) + edges_cut_not_linked
        event_counts = ids["counts"]
        stats = IdentityRunStats(
            run_id=run_id,
            run_at=run_at,
            config_fingerprint=config.fingerprint(),
            nodes=int(node_counts["n"]),
            nodes_blocklisted=int(node_counts["b"] or 0),
            nodes_degree_cut=deg.count(),
            edges=int(counts["edges"]) + edges_cut_not_linked,
            edges_cut=int(counts["cut_blocklist"] or 0)
            + int(counts["cut_degree"] or 0)
            + edges_cut_cap
            + edges_cut_junk
            + edges_cut_weak,
            edges_cut_blocklist=int(counts["cut_blocklist"] or 0),
            edges_cut_degree=int(counts["cut_degree"] or 0),
            edges_cut_cap=edges_cut_cap,
            components=int(merged["components"]),
            largest_component=int(merged["largest"] or 0),
            merged_share=(int(merged["with_dup"]) / int(merged["with_any"])) if merged["with_any"] else 0.0,
            persons_created=event_counts.get(CREATED, 0),
            persons_merged=event_counts.get(MERGED, 0),
            persons_split=event_counts.get(SPLIT, 0),
            persons_removed=event_counts.get(REMOVED, 0),
            duration_s=round(time.perf_counter() - started, 3),
            nodes_junk_cut=int(g["junk_nodes"] or 0) if g else 0,
            nodes_weak_shared=int(g["weak_nodes"] or 0) if g else 0,
            edges_cut_junk=edges_cut_junk,
            edges_cut_weak=edges_cut_weak,
        )
        _append(spark, f"{schema}.identity_runs", spark.createDataFrame(pd.DataFrame([stats.as_row()])))
    logger.info("identity on spark: %d rounds of connected components", components.rounds)
    if timings is not None:
        timings["components_rounds"] = {"rounds": float(components.rounds)}
    return stats


def _any(terms: list[Column]) -> Column:
    from pyspark.sql import functions as F

    if not terms:
        return F.lit(False)
    out = terms[0]
    for term in terms[1:]:
        out = out | term
    return out


def _append(spark: SparkSession, table: str, frame: DataFrame) -> None:
    frame.write.mode("append").format("parquet").saveAsTable(table)


def _cuts(
    spark: SparkSession,
    config: IdentityConfig,
    nodes: DataFrame,
    deg: DataFrame,
    guard_rows: DataFrame | None,
    run_id: str,
) -> DataFrame:
    """identity_cuts rows: identifiers and links cut, with their strings joined on the cluster."""
    from pyspark.sql import functions as F

    names = nodes.select("k", "identifier_type", "identifier_value")
    related = names.toDF("related_k", "related_identifier_type", "related_identifier_value")
    type_name = F.element_at(F.array(*[F.lit(t) for t in config.all_types]), F.col("nt") + 1)
    blocked = nodes.where(F.col("blocked")).select(
        "identifier_type",
        "identifier_value",
        F.lit(BLOCKLISTED).alias("reason"),
        F.lit(None).cast("long").alias("degree"),
        F.lit(None).cast("long").alias("limit"),
        F.lit(None).cast("string").alias("related_identifier_type"),
        F.lit(None).cast("string").alias("related_identifier_value"),
        F.lit("value is on the blocklist").alias("detail"),
    )
    degree = deg.join(names, "k").select(
        "identifier_type",
        "identifier_value",
        F.lit(DEGREE_LIMIT).alias("reason"),
        F.col("degree").cast("long"),
        F.col("lim").cast("long").alias("limit"),
        type_name.alias("related_identifier_type"),
        F.lit(None).cast("string").alias("related_identifier_value"),
        F.format_string(
            "linked to %d distinct %s (limit %d); its links are not used", "degree", type_name, "lim"
        ).alias("detail"),
    )
    out = blocked.unionByName(degree)
    if guard_rows is not None:
        rows = guard_rows.where(F.col("kind") == "cut").join(names, "k").join(related, "related_k", "left")
        out = out.unionByName(
            rows.select(
                "identifier_type",
                "identifier_value",
                "reason",
                "degree",
                F.col("lim").alias("limit"),
                F.coalesce("related_identifier_type", "related_type").alias("related_identifier_type"),
                "related_identifier_value",
                "detail",
            )
        )
    return out.withColumn("run_id", F.lit(run_id)).select(
        "run_id",
        "identifier_type",
        "identifier_value",
        "reason",
        "degree",
        "limit",
        "related_identifier_type",
        "related_identifier_value",
        "detail",
    )


def _not_linked_cuts(
    config: IdentityConfig, nodes: DataFrame, mapped: DataFrame, unlinked: DataFrame, run_id: str
) -> DataFrame:
    """identity_cuts rows of the weak_identifiers.not_linked links whose two ends ended up in different persons
    (sen.identity.resolve: one row per distinct pair, from the side of the pair's first type, the push token)."""
    from pyspark.sql import functions as F

    first_codes = sorted({config.all_types.index(a) for a, _ in config.weak_identifiers.not_linked})
    # Pairs in key order (the DuckDB path's node order), then turned to start at a first type.
    low = F.least("ka", "kb")
    high = F.greatest("ka", "kb")
    low_type = F.when(F.col("ka") <= F.col("kb"), F.col("ta")).otherwise(F.col("tb"))
    ordered = unlinked.select(low.alias("lo"), high.alias("hi"), low_type.alias("lo_t")).distinct()
    swap = ~F.col("lo_t").isin(first_codes)
    ordered = ordered.select(
        F.when(swap, F.col("hi")).otherwise(F.col("lo")).alias("k"),
        F.when(swap, F.col("lo")).otherwise(F.col("hi")).alias("related_k"),
    )
    # A blocklisted end has no person (-1 in the DuckDB path): apart from any person, together with another.
    persons = mapped.select("k", "final")
    apart = (
        ordered.join(persons, "k", "left")
        .withColumn("fa", F.coalesce("final", F.lit(-1)))
        .drop("final")
        .join(persons.toDF("related_k", "final"), "related_k", "left")
        .withColumn("fb", F.coalesce("final", F.lit(-1)))
        .where(F.col("fa") != F.col("fb"))
    )
    names = nodes.select("k", "identifier_type", "identifier_value")
    related = names.toDF("related_k", "related_identifier_type", "related_identifier_value")
    return (
        apart.join(names, "k")
        .join(related, "related_k")
        .select(
            F.lit(run_id).alias("run_id"),
            "identifier_type",
            "identifier_value",
            F.lit(WEAK_NOT_LINKED).alias("reason"),
            F.lit(None).cast("long").alias("degree"),
            F.lit(None).cast("long").alias("limit"),
            "related_identifier_type",
            "related_identifier_value",
            F.lit(
                "link not used: weak_identifiers.not_linked pairs these types (a browser's push token and "
                "cookie identify the browser, which a household shares)"
            ).alias("detail"),
        )
    )


def _person_ids(spark: SparkSession, config: IdentityConfig, mapped: DataFrame) -> dict[str, object]:
    """Stable person ids (sen.identity.person_ids rules) for the final components of `mapped` (k, identifier
    strings, node_key, final, cut_code), on the cluster; the driver sees only contested components (merges)
    and new ids that collide with an earlier one."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    schema = config.output_schema
    assignments_table, persons_table = f"{schema}.identifier_persons", f"{schema}.persons"
    history_table = f"{schema}.person_id_history"
    has_previous = _table_exists(spark, assignments_table) and _table_exists(spark, persons_table)
    has_history = _table_exists(spark, history_table)
    if has_previous:
        prev_persons = spark.table(persons_table).select(
            F.col("person_key").alias("prev_key"), F.col("person_id").alias("prev_id")
        )
        previous = (
            spark.table(assignments_table)
            .select(F.col("identifier_key").alias("k"), F.col("person_key").alias("prev_key"))
            .join(prev_persons, "prev_key")
            .select("k", "prev_id", "prev_key")
        )
        prev_persons = prev_persons.localCheckpoint(eager=True)
        nodes = mapped.join(previous, "k", "left")
    else:
        prev_persons = spark.createDataFrame([], "prev_key long, prev_id string")
        nodes = mapped.withColumn("prev_id", F.lit(None).cast("string")).withColumn(
            "prev_key", F.lit(None).cast("long")
        )
    nodes = nodes.localCheckpoint(eager=True)
    first = Window.partitionBy("final").orderBy("node_key")
    comps = (
        nodes.withColumn("rn", F.row_number().over(first))
        .where(F.col("rn") == 1)
        .select(
            "final",
            F.col("node_key").alias("comp_key"),
            F.expr(PERSON_HASH).alias("person_hash"),
            "identifier_type",
            "identifier_value",
        )
        .localCheckpoint(eager=True)
    )
    pairs = (
        nodes.where(F.col("prev_id").isNotNull())
        .groupBy("prev_id", "prev_key", "final")
        .agg(F.count("*").alias("n"))
        .join(comps.select("final", "comp_key"), "final")
        .localCheckpoint(eager=True)
    )
    home_order = Window.partitionBy("prev_id").orderBy(F.desc("n"), F.asc("comp_key"))
    home = pairs.withColumn("rn", F.row_number().over(home_order)).where(F.col("rn") == 1).drop("rn")
    per_comp = home.groupBy("final").agg(F.count("*").alias("candidates"))
    home = home.join(per_comp, "final").localCheckpoint(eager=True)
    owners = home.where(F.col("candidates") == 1).select("final", F.col("prev_id").alias("person_id"))
    contested = home.where(F.col("candidates") > 1).select("final", "prev_id").collect()
    merges: list[tuple[str, str]] = []
    if contested:
        names = sorted({r["prev_id"] for r in contested})
        names_frame = spark.createDataFrame([(p,) for p in names], "prev_id string")
        created: dict[str, object] = {}
        if has_history:
            created = {
                r["person_id"]: r["at"]
                for r in spark.table(history_table)
                .where(F.col("event").isin(CREATED, SPLIT))
                .join(names_frame.withColumnRenamed("prev_id", "person_id"), "person_id")
                .groupBy("person_id")
                .agg(F.min("occurred_at").alias("at"))
                .collect()
            }
        seen = F.shiftright(F.col("node_key"), _KEY_BITS).bitwiseAND(F.lit(_UNKNOWN_SECONDS))
        earliest = {
            r["prev_id"]: r["e"]
            for r in nodes.join(names_frame, "prev_id")
            .groupBy("prev_id")
            .agg(F.min(seen).alias("e"))
            .collect()
        }
        by_comp: dict[int, list[str]] = {}
        for r in contested:
            by_comp.setdefault(r["final"], []).append(r["prev_id"])
        winners = []
        for comp, group in by_comp.items():
            group.sort(key=lambda p: (created.get(p) is None, created.get(p) or 0, int(earliest[p]), p))
            winners.append((comp, group[0]))
            merges.extend((p, group[0]) for p in group[1:])
        owners = owners.unionByName(spark.createDataFrame(winners, "final long, person_id string"))
    owners = owners.localCheckpoint(eager=True)
    fresh = comps.join(owners.select("final"), "final", "left_anti")
    # A new id never reuses one in the map or the history: the few that would are salted (on the driver).
    taken_ids = prev_persons.select(F.col("prev_id").alias("person_hash"))
    if has_history:
        taken_ids = taken_ids.unionByName(
            spark.table(history_table).select(F.col("person_id").alias("person_hash"))
        )
    taken = fresh.join(taken_ids.distinct(), "person_hash", "left_semi").collect()
    fresh = fresh.withColumn("person_id", F.col("person_hash"))
    if taken:
        used_new = {r["person_hash"] for r in taken}
        replaced = []
        for r in taken:
            salt = 1
            while True:
                candidate = _salted_id(r["identifier_type"], r["identifier_value"], salt)
                if candidate not in used_new and not _id_exists(spark, prev_persons, fresh, candidate):
                    break
                salt += 1
            used_new.add(candidate)
            replaced.append((r["final"], candidate))
        salted = spark.createDataFrame(replaced, "final long, salted string")
        fresh = (
            fresh.join(salted, "final", "left")
            .withColumn("person_id", F.coalesce("salted", "person_id"))
            .drop("salted")
        )
    fresh = fresh.select("final", "person_id").localCheckpoint(eager=True)
    named = owners.unionByName(fresh)

    split = pairs.join(fresh, "final").select(
        "person_id", F.lit(SPLIT).alias("event"), F.col("prev_id").alias("related_person_id")
    )
    created_ids = fresh.join(pairs.select("final").distinct(), "final", "left_anti").select(
        "person_id", F.lit(CREATED).alias("event"), F.lit(None).cast("string").alias("related_person_id")
    )
    removed = prev_persons.join(pairs.select("prev_id").distinct(), "prev_id", "left_anti").select(
        F.col("prev_id").alias("person_id"),
        F.lit(REMOVED).alias("event"),
        F.lit(None).cast("string").alias("related_person_id"),
    )
    merged = spark.createDataFrame(
        [(m, MERGED, s) for m, s in merges], "person_id string, event string, related_person_id string"
    )
    events = (
        merged.unionByName(split).unionByName(removed).unionByName(created_ids).localCheckpoint(eager=True)
    )
    counts = {r["event"]: int(r["count"]) for r in events.groupBy("event").count().collect()}

    # Person keys 0, 1, 2...: previous persons in their old order, then new ones.
    keyed = (
        named.select("person_id")
        .distinct()
        .join(prev_persons.withColumnRenamed("prev_id", "person_id"), "person_id", "left")
        .orderBy(F.col("prev_key").isNull(), "prev_key", "person_id")
    )
    persons = (
        keyed.rdd.map(lambda r: r["person_id"])
        .zipWithIndex()
        .toDF("person_id string, person_key long")
        .select("person_key", "person_id")
        .localCheckpoint(eager=True)
    )
    reasons = F.element_at(F.array(*[F.lit(r) for r in CUT_REASONS]), F.col("cut_code"))
    assignments = (
        mapped.join(named, "final")
        .join(persons, "person_id")
        .select(
            F.col("k").alias("identifier_key"),
            "person_key",
            F.when(F.col("cut_code") > 0, reasons).otherwise(F.lit(None).cast("string")).alias("cut_reason"),
        )
        .localCheckpoint(eager=True)
    )
    return {
        "events": events.select("person_id", "event", "related_person_id"),
        "counts": counts,
        "assignments": assignments,
        "persons": persons,
    }


def _id_exists(spark: SparkSession, prev_persons: DataFrame, fresh: DataFrame, candidate: str) -> bool:
    from pyspark.sql import functions as F

    return bool(
        prev_persons.where(F.col("prev_id") == candidate).limit(1).count()
        or fresh.where(F.col("person_hash") == candidate).limit(1).count()
    )
