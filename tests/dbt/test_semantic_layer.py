"""The semantic layer: MetricFlow answers metric queries on the warehouse the main job built, and the answers
match the marts they are defined on."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from sen.config import DBT_PROJECT_DIR
from tests.conftest import SAMPLE_AS_OF

pytestmark = pytest.mark.e2e

BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def metricflow(built_warehouse, tmp_path_factory):
    """Run `mf query` against the built warehouse; returns a function giving the result rows.

    mf reads target/semantic_manifest.json of the project it runs in, and the manifest names the database
    after the warehouse file, so the project is parsed in a private copy with this warehouse.
    """
    project = tmp_path_factory.mktemp("semantic") / "dbt_project"
    shutil.copytree(DBT_PROJECT_DIR, project, ignore=shutil.ignore_patterns("target", "logs", "dbt_packages"))
    # mf knows only target/ (a test worker's own DBT_TARGET_PATH would put the manifest elsewhere).
    env = {
        **os.environ,
        "CDP_WAREHOUSE": str(built_warehouse),
        "DBT_PROFILES_DIR": str(project),
        "DBT_TARGET_PATH": "target",
    }
    as_of = json.dumps({"as_of": SAMPLE_AS_OF.replace("T", " ")})
    subprocess.run([str(BIN / "dbt"), "parse", "--quiet", "--vars", as_of], cwd=project, env=env, check=True)

    def query(*args: str) -> list[dict[str, str]]:
        out = project / "result.csv"
        out.unlink(missing_ok=True)
        completed = subprocess.run(
            [str(BIN / "mf"), "query", *args, "--csv", str(out)],
            cwd=project,
            env=env,
            capture_output=True,
            text=True,
        )
        assert completed.returncode == 0 and out.exists(), completed.stdout[-3000:] + completed.stderr[-2000:]
        with open(out, encoding="utf-8") as handle:
            return list(csv.DictReader(handle))

    return query


def sql(warehouse: Path, query: str) -> list[tuple]:
    """Read the warehouse after MetricFlow is done with it (mf opens it read-write, one process at a time)."""
    with duckdb.connect(str(warehouse), read_only=True) as conn:
        return conn.execute(query).fetchall()


def close(a: str | float | Decimal, b: float | Decimal) -> bool:
    return abs(float(a) - float(b)) <= 1e-6 * max(1.0, abs(float(b)))


def test_revenue_orders_and_aov_by_month_match_the_orders_mart(metricflow, built_warehouse):
    rows = metricflow(
        "--metrics",
        "revenue,orders,average_order_value",
        "--group-by",
        "metric_time__month",
        "--order",
        "metric_time__month",
    )
    expected = {
        str(month)[:10]: (revenue, orders, aov)
        for month, revenue, orders, aov in sql(
            built_warehouse,
            """select date_trunc('month', ordered_date), sum(net_amount), count(*),
                      sum(net_amount) filter (where not is_fully_refunded)
                      / count(*) filter (where not is_fully_refunded)
               from marts.orders group by 1""",
        )
    }
    assert len(rows) == len(expected) > 1
    for row in rows:
        revenue, orders, aov = expected[row["metric_time__month"][:10]]
        assert close(row["revenue"], revenue) and int(row["orders"]) == orders
        assert close(row["average_order_value"], aov)


def test_identified_share_matches_the_customers_mart(metricflow, built_warehouse):
    (row,) = metricflow("--metrics", "customers,identified_share")
    ((customers, share),) = sql(
        built_warehouse,
        "select count(*), avg(case when is_identified then 1 else 0 end) from marts.customers",
    )
    assert int(row["customers"]) == customers > 0
    assert close(row["identified_share"], share) and 0 < float(row["identified_share"]) < 1


def test_predicted_clv_and_segment_sizes_group_by_their_dimensions(metricflow, built_warehouse):
    by_tier = {
        r["person__clv_tier"]: float(r["predicted_clv"])
        for r in metricflow("--metrics", "predicted_clv", "--group-by", "person__clv_tier")
    }
    ((total,),) = sql(built_warehouse, "select sum(clv) from marts.customer_clv")
    assert "top_1pct" in by_tier and close(sum(by_tier.values()), total)
    sizes = {
        r["membership__segment"]: int(r["segment_size"])
        for r in metricflow("--metrics", "segment_size", "--group-by", "membership__segment")
    }
    current = dict(
        sql(
            built_warehouse,
            "select segment, count(*) from marts.segment_memberships where exited_at is null group by 1",
        )
    )
    assert sizes == current and sizes


def test_sync_runs_table_is_created_with_the_engine_columns(built_warehouse):
    from reverse_etl.state_schema import ensure_schema

    engine = duckdb.connect(":memory:")
    ensure_schema(engine)
    columns = (
        "select column_name, data_type from information_schema.columns where table_schema = 'sync' "
        "and table_name = 'sync_runs' order by ordinal_position"
    )
    assert sql(built_warehouse, columns) == engine.execute(columns).fetchall()
