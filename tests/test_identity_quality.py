"""Identity quality on the committed sample, measured against the generator's ground truth.

The ground truth (data_samples/ground_truth) is never read by the pipeline: it names the true human behind
every raw identifier spelling, and the traps (kiosk devices, household laptops, junk values) that must not
merge anyone.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from sen.normalize import normalize_identifier
from tests.conftest import GROUND_TRUTH_DIR

pytestmark = pytest.mark.e2e


def pairs(sizes: pd.Series) -> int:
    return int((sizes * (sizes - 1) // 2).sum())


@pytest.fixture
def matched(built_warehouse, warehouse_conn) -> pd.DataFrame:
    truth = pd.read_csv(GROUND_TRUTH_DIR / "identifiers.csv", dtype=str, keep_default_na=False)
    truth["value"] = [
        normalize_identifier(v, t) for v, t in zip(truth.identifier_value, truth.identifier_type, strict=True)
    ]
    truth = truth.dropna(subset=["value"]).drop_duplicates(["person_key", "identifier_type", "value"])
    person_map = warehouse_conn.execute(
        "select identifier_type, identifier_value, person_id from identity.identifier_person_map"
    ).df()
    # Chat ids are qualified by platform in the warehouse (zalo:123); the ground truth holds the bare id.
    is_platform = person_map.identifier_type == "platform_user_id"
    person_map.loc[is_platform, "identifier_value"] = (
        person_map.loc[is_platform, "identifier_value"].str.split(":", n=1).str[1]
    )
    return truth.merge(
        person_map,
        left_on=["identifier_type", "value"],
        right_on=["identifier_type", "identifier_value"],
        how="inner",
    )


def test_ground_truth_identifiers_are_found(matched):
    truth = pd.read_csv(GROUND_TRUTH_DIR / "identifiers.csv", dtype=str)
    assert matched.person_key.nunique() >= 0.95 * truth.person_key.nunique()


def linkable_groups(identifiers: pd.DataFrame, edges: pd.DataFrame) -> np.ndarray:
    """Components of the graph of records that tie two identifiers of the SAME true person.

    The ground truth also names identifiers that no record ever ties to the rest of the person (an app
    install that never logs in, a chat id without a phone): no resolver can merge those, so recall is measured
    against what the data can show. Both figures are printed.
    """
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
    graph = coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(n, n))
    return connected_components(graph, directed=False)[1]


def test_pairwise_precision_and_recall(matched, warehouse_conn):
    identifiers = matched.drop_duplicates(["identifier_type", "value"]).reset_index(drop=True)
    edges = warehouse_conn.execute(
        "select id_a_type, id_a, id_b_type, id_b from intermediate.int_identity_edges"
    ).df()
    for side in ("a", "b"):
        chat = edges[f"id_{side}_type"] == "platform_user_id"
        edges.loc[chat, f"id_{side}"] = edges.loc[chat, f"id_{side}"].str.split(":", n=1).str[1]
    identifiers["linkable"] = linkable_groups(identifiers, edges)

    predicted_pairs = pairs(identifiers.groupby("person_id").size())
    correct_pairs = pairs(identifiers.groupby(["person_key", "person_id"]).size())
    precision = correct_pairs / predicted_pairs
    recall_all = correct_pairs / pairs(identifiers.groupby("person_key").size())
    recall = pairs(identifiers.groupby(["linkable", "person_id"]).size()) / pairs(
        identifiers.groupby("linkable").size()
    )
    print(
        f"pairwise precision {precision:.4f}, recall {recall:.4f} of linkable pairs "
        f"({recall_all:.4f} of all ground-truth pairs) over {len(identifiers)} identifiers"
    )
    assert precision >= 0.995
    assert recall >= 0.98


def test_no_person_is_formed_through_a_trap(warehouse_conn, matched):
    traps = pd.read_csv(GROUND_TRUTH_DIR / "traps.csv", dtype=str, keep_default_na=False)
    type_of = {
        "household_anonymous_id": "anonymous_id",
        "kiosk_anonymous_id": "anonymous_id",
        "kiosk_device_id": "device_id",
        "junk_email": "email",
        "junk_phone": "phone",
    }
    true_people_per_person = matched.groupby("person_id").person_key.nunique()
    for trap in traps.itertuples():
        identifier_type = type_of.get(trap.type)
        if identifier_type is None:
            continue
        value = normalize_identifier(trap.value, identifier_type)
        if value is None:
            continue  # dropped as junk by normalization: it links nothing
        row = warehouse_conn.execute(
            "select person_id from identity.identifier_person_map where identifier_type = ? and identifier_value = ?",
            [identifier_type, value],
        ).fetchone()
        if row is None:
            continue
        assert true_people_per_person.get(row[0], 0) <= 1, f"{trap.type} {trap.value} merged several people"


def test_no_person_holds_two_true_people(matched):
    # Household laptops, kiosks, guests on a shared cookie, junk values: none may merge two real people.
    true_people_per_person = (
        matched.drop_duplicates(["identifier_type", "value"]).groupby("person_id").person_key
    )
    merged = true_people_per_person.nunique()
    assert list(merged[merged > 1].index) == []


def test_junk_identifiers_never_become_links(warehouse_conn):
    junk = warehouse_conn.execute(
        """select identifier_value from identity.identifier_person_map
           where identifier_value in ('test@test.com', 'null', 'undefined', '+840000000000')"""
    ).fetchall()
    assert junk == []
