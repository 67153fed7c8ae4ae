"""A build pointed at the wrong data must not report success: a misspelled data folder ends non-zero, naming
the folder and the setting to fix. (The other loud cases, an empty folder, a misspelled source folder, an
unreadable file and a source whose every row is quarantined, are in tests/ingest/test_input_variants.py.)"""

from __future__ import annotations

import pytest
from conftest import Build, run_build
from datasets import write_cdnow_orders

pytestmark = pytest.mark.field


@pytest.fixture(scope="module")
def misspelled(tmp_path_factory) -> tuple[Build, str]:
    workdir = tmp_path_factory.mktemp("misspelled")
    write_cdnow_orders(workdir / "data")
    wrong = workdir / "dta"  # the user typed CDP_DATA_DIR=.../dta
    # Only the raw assets: whatever runs after them is skipped anyway once they fail.
    return run_build(workdir, wrong, "2026-07-01", select='key:"raw/orders" or key:"raw/crm_contacts"'), str(
        wrong
    )


def test_misspelled_data_folder_fails_the_build(misspelled) -> None:
    build, _ = misspelled
    assert build.returncode != 0
    assert "Built warehouse" not in build.output
    assert "FAILED" in build.output


def test_the_message_names_the_folder_and_the_setting(misspelled) -> None:
    build, wrong = misspelled
    assert f"data folder {wrong} does not exist; set CDP_DATA_DIR" in build.output
