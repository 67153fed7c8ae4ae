"""Identity resolution as Dagster assets: the identifier graph built by dbt in, stable person ids out.

The step is Python (scipy connected components, see sen/identity) with a warehouse-in, warehouse-out
interface; dbt marts read its tables back as the `identity` source, so lineage stays one graph.
"""

from datetime import UTC, datetime

import dagster as dg

from orchestration.engine_support import SPARK_CHECK_TAG
from orchestration.resources import Warehouse
from sen.engines.spark_steps import StepError, cluster_alarm_step, identity_step, in_child
from sen.identity.checks import cluster_alarm
from sen.identity.config import load_identity_config
from sen.identity.resolve import resolve_identities
from sen.settings import Settings

IDENTITY_TABLES = ["identifier_person_map", "person_id_history", "identity_cuts", "identity_runs"]
UPSTREAM = [
    dg.AssetKey(["intermediate", "int_identifier_keys"]),  # the person map view reads identifier strings here
    dg.AssetKey(["intermediate", "int_identity_nodes"]),
    dg.AssetKey(["intermediate", "int_identity_edges"]),
]


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            key=["identity", table],
            deps=UPSTREAM,
            group_name="identity",
            kinds={"python", "duckdb", "spark"},  # both engines (orchestration/engine_support.py)
            description=description,
        )
        for table, description in [
            (
                "identifier_person_map",
                "Every identifier and its stable person id: a view over identity.identifier_persons (by "
                "identifier key), identity.persons and the key registry.",
            ),
            ("person_id_history", "Person ids created, merged into an older id, or split, per run."),
            ("identity_cuts", "Audit of the links the over-merge guards did not use, with the reason."),
            ("identity_runs", "Graph and cluster statistics of every identity run."),
        ]
    ],
    name="identity_resolution",
)
def identity_resolution(context: dg.AssetExecutionContext, warehouse: Warehouse):
    if Settings.from_env().engine == "spark":  # the graph stays on the cluster (sen/identity/spark.py)
        try:
            summary = in_child(identity_step, datetime.now(UTC))
        except StepError as exc:
            raise dg.Failure(description=str(exc)) from exc
    else:
        config = load_identity_config()
        with warehouse.connect() as conn:
            stats = resolve_identities(conn, config, run_at=datetime.now(UTC))
        summary = stats.as_metadata()
    context.log.info(f"identity run: {summary}")
    for table in IDENTITY_TABLES:
        yield dg.MaterializeResult(
            asset_key=["identity", table],
            metadata={k: v for k, v in summary.items() if isinstance(v, int | float | str | bool)},
        )


@dg.asset_check(
    asset=dg.AssetKey(["identity", "identifier_person_map"]),  # what every mart reads
    name="cluster_size_alarm",
    blocking=True,
    op_tags={
        SPARK_CHECK_TAG: "true"
    },  # judged from Spark's identity_runs too (orchestration/engine_support.py)
    description=(
        "Blocks everything downstream (marts, audiences, syncs) when the largest cluster or the share of merged "
        "clusters jumps beyond the configured bounds: the usual sign of a junk id or a shared device merging "
        "strangers."
    ),
)
def cluster_size_alarm(warehouse: Warehouse) -> dg.AssetCheckResult:
    if Settings.from_env().engine == "spark":
        passed, details = in_child(cluster_alarm_step)
    else:
        with warehouse.connect(read_only=True) as conn:
            passed, details = cluster_alarm(conn)
    return dg.AssetCheckResult(
        passed=bool(passed),
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={k: v for k, v in details.items() if isinstance(v, int | float | str | bool)},
        description=details.get("message") if isinstance(details, dict) else None,
    )


identity_assets = [identity_resolution]
identity_checks = [cluster_size_alarm]
