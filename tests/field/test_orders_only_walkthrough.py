"""The README's "Your own data" walkthrough, followed literally: a shop whose only export is its orders (one
semicolon-separated "CSV UTF-8" file, one `total` per order, an email per customer) in `myshop/orders/`, its
customer list with consent in `myshop/crm_contacts/`, the folder's `dataset.yml` naming the end of the
export, the settings the README exports, and the command it runs.

What the user must see: the build succeeds as of the export's end (not "now", no stale as-of warning), every
order is loaded and valued from its total, every customer has a non-zero CLV in the reporting currency, and
an audience has members with the customers' emails. The same folder also builds from a fresh Dagster
instance with the README's UI-equivalent command, without choosing a partition or writing run config.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import Build, require_success
from datasets import write_orders_only_shop

from sen.config import REPO_ROOT

pytestmark = pytest.mark.field

N_ORDERS = 4_000
N_CUSTOMERS = 800
AS_OF = "2026-07-01T00:00:00+07:00"  # the export ends at midnight, Vietnam time


def readme_env(workdir: Path, **extra: str) -> dict[str, str]:
    """The variables the README exports, and nothing of the test runner's own Sen settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CDP_") and k != "DAGSTER_HOME"}
    return {
        **env,
        "CDP_DATA_DIR": str(workdir / "myshop"),
        "CDP_WAREHOUSE": str(workdir / "myshop.duckdb"),
        "CDP_CURRENCY": "VND",
        "CDP_TIMEZONE": "Asia/Ho_Chi_Minh",
        **extra,
    }


@pytest.fixture(scope="module")
def shop(tmp_path_factory) -> Build:
    workdir = tmp_path_factory.mktemp("walkthrough")
    write_orders_only_shop(workdir / "myshop", N_ORDERS, N_CUSTOMERS, AS_OF)
    completed = subprocess.run(
        # The README's command: .venv/bin/python -m orchestration.cli build
        [sys.executable, "-m", "orchestration.cli", "build"],
        cwd=REPO_ROOT,
        env=readme_env(workdir),
        capture_output=True,
        text=True,
        timeout=900,
    )
    return require_success(
        Build(completed.returncode, completed.stdout + completed.stderr, workdir / "myshop.duckdb")
    )


def test_the_build_runs_as_of_the_end_of_the_export(shop: Build) -> None:
    assert shop.returncode == 0
    assert "Building as of 2026-06-30T17:00:00+00:00 (the data folder's own as-of" in shop.output
    assert "Built warehouse" in shop.output
    assert "WARNING: the as-of" not in shop.output  # the as-of is the export's end, not weeks after it
    assert "FAILED" not in shop.output


def test_every_order_is_loaded_and_valued_from_its_total(shop: Build) -> None:
    with shop.connect() as conn:
        loaded, quarantined = conn.execute(
            "select sum(rows_loaded), sum(rows_quarantined) from raw._loaded_files where source = 'orders'"
        ).fetchone()
        orders, basis, completed, valued = conn.execute(
            """select count(*), list(distinct amount_basis), count(*) filter (where status = 'completed'),
                      count(*) filter (where status = 'completed' and net_amount > 0)
               from intermediate.int_orders_unioned"""
        ).fetchone()
    assert (loaded, quarantined) == (N_ORDERS, 0)
    assert orders == N_ORDERS and basis == ["total"]
    assert completed > 0.9 * N_ORDERS and valued == completed  # CLV 0 for everyone was the old failure
    assert "raw.orders" in shop.output and "quarantined in total: 0 row(s)" in shop.output


def test_every_buyer_has_a_clv(shop: Build) -> None:
    with shop.connect() as conn:
        buyers = conn.execute(
            "select count(distinct customer_id) from raw.orders where status = 'completed'"
        ).fetchone()[0]
        customers = conn.execute("select count(*) from marts.customers").fetchone()[0]
        positive = conn.execute("select count(*) from marts.customer_clv where clv > 0").fetchone()[0]
    assert buyers > 0.95 * N_CUSTOMERS
    assert customers >= buyers  # one person per customer id (and no merging of distinct emails)
    assert positive == buyers


def test_an_audience_has_the_recent_buyers_with_their_emails(shop: Build) -> None:
    with shop.connect() as conn:
        members, with_email = conn.execute(
            "select count(*), count(email) from audiences.audience_recent_buyers_suppression_google"
        ).fetchone()
        recent = conn.execute(
            """select count(distinct customer_id) from raw.orders
               where cast(created_at as timestamp) >= timestamp '2026-07-01 00:00:00' - interval 30 day"""
        ).fetchone()[0]
        consented = conn.execute("select count(*) from marts.customers where consent_ads").fetchone()[0]
    assert recent > 0 and consented > 0
    # Recent buyers who accepted ads (every other customer): not all of them, and never without consent.
    assert 0 < members < recent and with_email == members


def test_materialize_all_from_a_fresh_dagster_instance_needs_no_partition(
    shop: Build, tmp_path: Path
) -> None:
    # The README's UI-equivalent command from a plain shell, with a Dagster home of its own: one run of every
    # asset, no --partition and no run config, as the UI's "Materialize all" launches it.
    workdir = shop.warehouse.parent
    home = tmp_path / "dagster_home"
    home.mkdir()
    completed = subprocess.run(
        [str(Path(sys.executable).parent / "dagster"), "asset", "materialize",
         "-m", "orchestration.definitions", "--select", "*"],
        cwd=REPO_ROOT,
        env=readme_env(workdir, CDP_WAREHOUSE=str(tmp_path / "ui.duckdb"), DAGSTER_HOME=str(home)),
        capture_output=True,
        text=True,
        timeout=900,
    )  # fmt: skip
    output = completed.stdout + completed.stderr
    assert completed.returncode == 0, output[-8000:]
    assert "RUN_SUCCESS" in output
    build = Build(0, output, tmp_path / "ui.duckdb")
    with build.connect() as conn, shop.connect() as cli:
        ui = conn.execute("select count(*) from marts.customer_clv where clv > 0").fetchone()[0]
        members = conn.execute("select count(*) from audiences.audience_recent_buyers_suppression_google")
        assert members.fetchone()[0] > 0
        assert ui == cli.execute("select count(*) from marts.customer_clv where clv > 0").fetchone()[0] > 0


def test_a_segment_materialized_alone_brings_its_parameters_and_shows_its_members(
    shop: Build, tmp_path: Path
) -> None:
    # The UI's "Materialize" on one segment asset: its parameters seed is loaded with it (a segment YAML edited
    # since the last build is in the seed, not yet in the warehouse), and the asset shows its member count.
    import dagster as dg

    home = tmp_path / "dagster_home"
    home.mkdir()
    completed = subprocess.run(
        [str(Path(sys.executable).parent / "dagster"), "asset", "materialize",
         "-m", "orchestration.definitions", "--select", "marts/seg_recent_buyers"],
        cwd=REPO_ROOT,
        env=readme_env(shop.warehouse.parent, DAGSTER_HOME=str(home)),
        capture_output=True,
        text=True,
        timeout=900,
    )  # fmt: skip
    output = completed.stdout + completed.stderr
    assert completed.returncode == 0, output[-8000:]
    assert "loading seed segment_parameters with the segments it parameterizes" in output
    with shop.connect() as conn:
        members = conn.execute("select count(*) from marts.seg_recent_buyers").fetchone()[0]
    assert members > 0
    with dg.DagsterInstance.from_config(str(home)) as instance:
        event = instance.get_latest_materialization_event(dg.AssetKey(["marts", "seg_recent_buyers"]))
        seed = instance.get_latest_materialization_event(dg.AssetKey(["reference", "segment_parameters"]))
    assert event.asset_materialization.metadata["members"].value == members
    assert seed is not None  # recorded as loaded with the segment
