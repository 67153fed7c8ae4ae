"""The README's "Your own data" walkthrough, followed literally: a shop whose only export is its orders (one
semicolon-separated "CSV UTF-8" file, one `total` per order, an email per customer) in `myshop/orders/`, the
folder's `dataset.yml` naming the end of the export, the settings the README exports, and the command it runs.

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
        orders, valued, basis = conn.execute(
            """select count(*), count(*) filter (where net_amount > 0), list(distinct amount_basis)
               from intermediate.int_orders_unioned"""
        ).fetchone()
    assert (loaded, quarantined) == (N_ORDERS, 0)
    assert orders == N_ORDERS and valued == N_ORDERS and basis == ["total"]
    assert "raw.orders" in shop.output and "quarantined in total: 0 row(s)" in shop.output


def test_every_customer_has_a_clv(shop: Build) -> None:
    with shop.connect() as conn:
        customers = conn.execute("select count(*) from marts.customers").fetchone()[0]
        scored, positive = conn.execute(
            "select count(*), count(*) filter (where clv > 0) from marts.customer_clv"
        ).fetchone()
    assert customers == N_CUSTOMERS
    assert scored == N_CUSTOMERS and positive == N_CUSTOMERS


def test_an_audience_has_the_recent_buyers_with_their_emails(shop: Build) -> None:
    with shop.connect() as conn:
        members, with_email = conn.execute(
            "select count(*), count(email) from audiences.audience_recent_buyers_suppression_google"
        ).fetchone()
        recent = conn.execute(
            """select count(distinct person_id) from marts.orders
               where ordered_at >= timestamp '2026-06-30 17:00:00' - interval 30 day and status = 'completed'"""
        ).fetchone()[0]
    assert members > 0 and with_email == members
    assert members == recent


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
    with build.connect() as conn:
        scored = conn.execute("select count(*) from marts.customer_clv where clv > 0").fetchone()[0]
    assert scored == N_CUSTOMERS
