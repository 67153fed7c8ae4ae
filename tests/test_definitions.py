"""The Dagster code location loads and forms one connected graph from raw files to marts."""

from __future__ import annotations

import dagster as dg


def test_definitions_load_with_one_connected_graph(dbt_manifest):
    from orchestration.definitions import defs

    graph = defs().resolve_asset_graph()
    keys = graph.get_all_asset_keys()
    assert dg.AssetKey(["raw", "events"]) in keys
    assert dg.AssetKey(["marts", "customers"]) in keys
    upstream: set[dg.AssetKey] = set()
    frontier = [dg.AssetKey(["marts", "customers"])]
    while frontier:
        for parent in graph.get(frontier.pop()).parent_keys:
            if parent not in upstream:
                upstream.add(parent)
                frontier.append(parent)
    assert dg.AssetKey(["identity", "identifier_person_map"]) in upstream
    assert dg.AssetKey(["raw", "crm_contacts"]) in upstream
    # Every raw source feeds the graph: the dbt sources resolve to the ingestion assets.
    for key in keys:
        if key.path[0] == "raw":
            assert graph.get(key).child_keys, f"{key.to_user_string()} has no downstream asset"
