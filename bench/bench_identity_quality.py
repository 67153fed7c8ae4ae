"""Identity quality against the generator's ground truth: pairwise precision and recall, persons holding two
true people, and how many of those a shared laptop, cookie or kiosk formed.

    flock /tmp/sen-heavy.lock .venv/bin/python bench/bench_identity_quality.py --people 100000 \\
        --household-rate 0.01 --household-guests --workdir /tmp/sen-quality-1pct

Generates the data set (data_samples.generate, with the given household options) into --workdir, builds the
identity inputs and the person map with the main job restricted to what identity needs
(`python -m orchestration.cli build --select +key:intermediate/int_identity_edges`), then resolves the graph
again in-process with each identity config of --configs and scores every result. "default" is the packaged
default_config.yml; "before" is the same without the weak-identifier and behaviour-junk rules and with the
degree limits of weak identifiers at their earlier values (email 2, phone 2): the guards as they were;
"guests_apart" is the default with weak_identifiers.guests_join_accounts off.
Results: Markdown on stdout and <workdir>/quality.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from sen.identity import IdentityConfig, load_identity_config, resolve_identities  # noqa: E402
from sen.normalize import normalize_arrow  # noqa: E402

TRAP_TYPES = {
    "household_anonymous_id": "anonymous_id",
    "kiosk_anonymous_id": "anonymous_id",
    "kiosk_device_id": "device_id",
}


def before_config() -> IdentityConfig:
    """The default config without the rules of issue 19: the guards as they were."""
    config = load_identity_config().model_copy(deep=True)
    config.weak_types = []
    config.weak_identifiers.not_linked = []
    config.behaviour_junk = None
    for weak in ("anonymous_id", "device_id", "push_token"):
        config.degree_limits[weak].update({"email": 2, "phone": 2})
    return config


def guests_apart_config() -> IdentityConfig:
    """The default config with weak_identifiers.guests_join_accounts off."""
    config = load_identity_config().model_copy(deep=True)
    config.weak_identifiers.guests_join_accounts = False
    return config


def generate(args: argparse.Namespace) -> None:
    command = [
        sys.executable, "-m", "data_samples.generate", "--people", str(args.people),
        "--out", str(args.workdir / "sample"), "--truth", str(args.workdir / "truth"), "--no-progress",
    ]  # fmt: skip
    if args.household_rate is not None:
        command += ["--household-rate", str(args.household_rate)]
    if args.household_guests:
        command.append("--household-guests")
    started = time.perf_counter()
    subprocess.run(command, cwd=REPO, check=True, stdout=subprocess.DEVNULL)
    print(f"generated {args.people} people in {time.perf_counter() - started:.0f} s", file=sys.stderr)


def build(args: argparse.Namespace) -> Path:
    warehouse = args.workdir / "sen.duckdb"
    warehouse.unlink(missing_ok=True)
    manifest = json.loads((args.truth / "manifest.json").read_text())
    env = {
        **os.environ,
        "CDP_DATA_DIR": str(args.sample),
        "CDP_WAREHOUSE": str(warehouse),
        "CDP_AS_OF": manifest["as_of"],
        "CDP_SERVING": str(args.workdir / "serving.duckdb"),
    }
    env.pop("DAGSTER_HOME", None)
    started = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "orchestration.cli",
            "build",
            "--select",
            "+key:intermediate/int_identity_edges",
        ],
        cwd=REPO,
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    print(f"built the identity inputs in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    return warehouse


def pairs(sizes: pd.Series) -> int:
    return int((sizes * (sizes - 1) // 2).sum())


def truth_table(truth_dir: Path) -> pd.DataFrame:
    truth = pd.read_csv(truth_dir / "identifiers.csv", dtype=str, keep_default_na=False)
    truth["value"] = None
    for kind, rows in truth.groupby("identifier_type").groups.items():
        truth.loc[rows, "value"] = (
            normalize_arrow(truth.loc[rows, "identifier_value"], kind).to_pandas().values
        )
    return truth.dropna(subset=["value"]).drop_duplicates(["person_key", "identifier_type", "value"])


def score(
    conn: duckdb.DuckDBPyConnection, truth: pd.DataFrame, traps: set[tuple[str, str]]
) -> dict[str, Any]:
    person_map = conn.execute(
        "select identifier_type, identifier_value, person_id from identity.identifier_person_map"
    ).df()
    chat = person_map.identifier_type == "platform_user_id"
    person_map.loc[chat, "identifier_value"] = (
        person_map.loc[chat, "identifier_value"].str.split(":", n=1).str[1]
    )
    matched = truth.merge(
        person_map,
        left_on=["identifier_type", "value"],
        right_on=["identifier_type", "identifier_value"],
        how="inner",
    ).drop_duplicates(["identifier_type", "value"])
    edges = conn.execute("select id_a_type, id_a, id_b_type, id_b from intermediate.int_identity_edges").df()
    for side in ("a", "b"):
        is_chat = edges[f"id_{side}_type"] == "platform_user_id"
        edges.loc[is_chat, f"id_{side}"] = edges.loc[is_chat, f"id_{side}"].str.split(":", n=1).str[1]
    matched = matched.reset_index(drop=True)
    matched["linkable"] = _linkable(matched, edges)
    predicted = pairs(matched.groupby("person_id").size())
    correct = pairs(matched.groupby(["person_key", "person_id"]).size())
    true_people = matched.groupby("person_id").person_key.nunique()
    wrong = set(true_people[true_people > 1].index)
    # A wrong person formed through a shared identifier: it holds a trap (household laptop, kiosk) value.
    trap_persons = set(
        person_map[
            [
                (t, v) in traps
                for t, v in zip(person_map.identifier_type, person_map.identifier_value, strict=True)
            ]
        ].person_id
    )
    return {
        "identifiers_matched": len(matched),
        "precision": round(correct / predicted, 5) if predicted else 1.0,
        "recall_linkable": round(
            pairs(matched.groupby(["linkable", "person_id"]).size())
            / pairs(matched.groupby("linkable").size()),
            5,
        ),
        "recall_all": round(correct / pairs(matched.groupby("person_key").size()), 5),
        "persons_holding_2plus_true_people": len(wrong),
        "of_which_hold_a_shared_device_or_cookie": len(wrong & trap_persons),
        "wrong_pairs": predicted - correct,
    }


def list_merged(conn: duckdb.DuckDBPyConnection, truth: pd.DataFrame, limit: int) -> str:
    """The persons holding two true people (up to `limit`): each identifier with its true person, and the links
    between identifiers of different true people or none (what joined them; explain-person tells the records)."""
    person_map = conn.execute(
        "select identifier_type, identifier_value, person_id from identity.identifier_person_map"
    ).df()
    owner = {(t, v): k for t, v, k in zip(truth.identifier_type, truth.value, truth.person_key, strict=True)}
    person_map["person_key"] = [
        owner.get((t, v.split(":", 1)[1] if t == "platform_user_id" else v), "(no truth)")
        for t, v in zip(person_map.identifier_type, person_map.identifier_value, strict=True)
    ]
    known = person_map[person_map.person_key != "(no truth)"]
    true_people = known.groupby("person_id").person_key.nunique()
    wrong = sorted(true_people[true_people > 1].index)[:limit]
    lines = []
    for person in wrong:
        held = person_map[person_map.person_id == person]
        lines.append(f"person {person}:")
        lines += [f"  {k:<10} {t:<14} {v}" for t, v, k in held[["identifier_type", "identifier_value", "person_key"]].itertuples(index=False)]  # fmt: skip
        key = {(t, v): k for t, v, k in held[["identifier_type", "identifier_value", "person_key"]].itertuples(index=False)}  # fmt: skip
        links = conn.execute(
            f"""select id_a_type, id_a, id_b_type, id_b, source, first_seen_at from {load_identity_config().edges_table}
                where id_a in (select unnest($1)) and id_b in (select unnest($1))""",
            [list(held.identifier_value)],
        ).fetchall()
        for a_type, a, b_type, b, source, seen in links:
            ka, kb = key.get((a_type, a)), key.get((b_type, b))
            if ka != kb:
                lines.append(f"  link {a_type}:{a} -- {b_type}:{b} ({source}, {seen})")
    return "\n".join(lines)


def _linkable(identifiers: pd.DataFrame, edges: pd.DataFrame) -> np.ndarray:
    position = {
        (t, v): i for i, (t, v) in enumerate(zip(identifiers.identifier_type, identifiers.value, strict=True))
    }
    keys = identifiers.person_key.to_numpy()
    rows, cols = [], []
    for a_type, a, b_type, b in edges.itertuples(index=False):
        i, j = position.get((a_type, a)), position.get((b_type, b))
        if i is not None and j is not None and keys[i] == keys[j]:
            rows.append(i)
            cols.append(j)
    n = len(identifiers)
    return connected_components(coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(n, n)), directed=False)[
        1
    ]


def explain_all(conn: duckdb.DuckDBPyConnection) -> int:
    """explain-person on every person of the last resolution; any error stops the bench."""
    from sen.identity.explain import explain_person, format_explanation

    persons = [
        r[0] for r in conn.execute("select distinct person_id from identity.identifier_person_map").fetchall()
    ]
    for person in persons:
        format_explanation(explain_person(conn, person))
    return len(persons)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--household-rate", type=float)
    parser.add_argument("--household-guests", action="store_true")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/sen-identity-quality"))
    parser.add_argument(
        "--reuse", action="store_true", help="keep the generated data and warehouse if present"
    )
    parser.add_argument("--configs", default="before,default")
    parser.add_argument(
        "--sample", type=Path, help="use this data set (e.g. data_samples/sample) instead of generating"
    )
    parser.add_argument("--truth", type=Path, help="its ground truth (e.g. data_samples/ground_truth)")
    parser.add_argument("--explain-all", action="store_true", help="also run explain-person on every person")
    parser.add_argument(
        "--list-merged", type=int, default=0, metavar="N",
        help="print up to N persons of the last config holding two true people, with the links that joined them",
    )  # fmt: skip
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    warehouse = args.workdir / "sen.duckdb"
    given = args.sample is not None
    args.sample = args.sample or args.workdir / "sample"
    args.truth = args.truth or args.workdir / "truth"
    if not given and not (args.reuse and (args.truth / "manifest.json").exists()):
        generate(args)
    if not (args.reuse and warehouse.exists()):
        warehouse = build(args)
    truth = truth_table(args.truth)
    traps_csv = pd.read_csv(args.truth / "traps.csv", dtype=str, keep_default_na=False)
    traps = {
        (TRAP_TYPES[t], v) for t, v in zip(traps_csv.type, traps_csv.value, strict=True) if t in TRAP_TYPES
    }
    configs = {"before": before_config, "default": load_identity_config, "guests_apart": guests_apart_config}
    results: dict[str, Any] = {"people": args.people, "household_rate": args.household_rate,
                               "household_guests": args.household_guests}  # fmt: skip
    conn = duckdb.connect(str(warehouse))
    try:
        for name in args.configs.split(","):
            conn.execute("drop schema if exists identity cascade")
            stats = resolve_identities(conn, configs[name]())
            results[name] = {**score(conn, truth, traps), "resolve_s": stats.duration_s,
                             "weak_shared": stats.nodes_weak_shared, "junk_by_behaviour": stats.nodes_junk_cut}  # fmt: skip
        if args.explain_all:
            results["explained_persons"] = explain_all(conn)
        if args.list_merged:
            print(list_merged(conn, truth, args.list_merged), file=sys.stderr)
    finally:
        conn.close()
    (args.workdir / "quality.json").write_text(json.dumps(results, indent=2))
    names = [n for n in args.configs.split(",")]
    metrics = list(results[names[0]])
    if "explained_persons" in results:
        print(f"explain-person answered for all {results['explained_persons']} persons")
    print(f"people {args.people}, household rate {args.household_rate}, guests {args.household_guests}\n")
    print("| metric | " + " | ".join(names) + " |\n|---|" + "---|" * len(names))
    for m in metrics:
        print(f"| {m} | " + " | ".join(str(results[n][m]) for n in names) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
