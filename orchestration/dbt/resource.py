"""The dbt CLI resource: dagster-dbt's, with the run's target folder and indirect selection passed explicitly."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Sequence
from pathlib import Path

import dagster as dg
from dagster_dbt import DbtCliResource
from dagster_dbt.asset_utils import (
    DAGSTER_DBT_EXCLUDE_METADATA_KEY,
    DAGSTER_DBT_SELECT_METADATA_KEY,
    DAGSTER_DBT_SELECTOR_METADATA_KEY,
    get_manifest_and_translator_from_dbt_assets,
    get_subset_selection_for_context,
)
from dagster_dbt.core.dbt_cli_invocation import PARTIAL_PARSE_FILE_NAME
from dagster_dbt.dagster_dbt_translator import DagsterDbtTranslator

from sen.engines.spark_steps import release_worker

# dbt's default (eager) runs a test as soon as one of its parents is selected. The dbt blocks run in several
# steps around the Python assets (identity, CLV), so a relationships test could run before its other parent
# exists; "buildable" runs it in the step where all its parents are built.
INDIRECT_SELECTION = "buildable"
_SELECTION_TAGS = (
    DAGSTER_DBT_SELECT_METADATA_KEY,
    DAGSTER_DBT_EXCLUDE_METADATA_KEY,
    DAGSTER_DBT_SELECTOR_METADATA_KEY,
)


class SenDbtCliResource(DbtCliResource):
    """dagster-dbt's dbt CLI resource, with three changes:

    - no in-process dbt adapter: before each dbt command DbtCliResource loads the dbt project and profile
      inside the Dagster process and registers an adapter, which dagster-dbt uses only for
      ``fetch_column_metadata()`` / ``fetch_row_counts()``. Sen does not call those, and dagster-dbt already runs
      without one when it cannot be created. Sen's dbt steps run dbt as a subprocess either way;
    - each step's folder lies in ``target_dir`` (the run's dbt target folder) and starts from the partial parse
      there, instead of folders under $DBT_TARGET_PATH;
    - ``--indirect-selection buildable`` unless dagster-dbt turns indirect selection off itself (a UI run
      of some checks only selects the tests by name).
    """

    target_dir: str = ""  # the run's dbt target folder; empty = the project's target folder

    def _initialize_dbt_core_adapter(self, args: Sequence[str]) -> None:  # type: ignore[override]
        return None

    def run_target_dir(self) -> Path:
        if self.target_dir:
            return Path(self.target_dir)
        return Path(self.project_dir) / "target"

    def step_target_path(self, context: dg.AssetExecutionContext | dg.OpExecutionContext | None) -> Path:
        """A fresh folder for one dbt step, seeded with the run's partial parse so dbt does not parse again."""
        unique = uuid.uuid4().hex[:7]
        name = unique
        if context is not None:
            name = f"{context.op_execution_context.op.name}-{context.run.run_id[:7]}-{unique}"
        path = self.run_target_dir() / name
        parse = self.run_target_dir() / PARTIAL_PARSE_FILE_NAME
        if parse.exists():
            path.mkdir(parents=True, exist_ok=True)
            shutil.copy(parse, path / PARTIAL_PARSE_FILE_NAME)
        return path

    def cli(self, args: Sequence[str], *, context=None, target_path: Path | None = None, **kwargs):  # type: ignore[override]
        args = list(args)
        # Spark: the Python steps' worker holds the Derby metastore; dbt's session (sen-dbt) needs it.
        release_worker()
        # An operator's DBT_INDIRECT_SELECTION (dbt's own variable) still wins: the flag would override it.
        operator_choice = os.environ.get("DBT_INDIRECT_SELECTION")
        if (
            args
            and args[0] in ("build", "test")
            and not operator_choice
            and not dagster_sets_indirect_selection(context)
        ):
            args += ["--indirect-selection", INDIRECT_SELECTION]
        return super().cli(
            args, context=context, target_path=target_path or self.step_target_path(context), **kwargs
        )


def dagster_sets_indirect_selection(context: dg.AssetExecutionContext | dg.OpExecutionContext | None) -> bool:
    """Whether dagster-dbt picks the step's indirect selection itself (`empty`, to run only the checks chosen).

    Asks dagster-dbt's own rule, so an explicit --indirect-selection never overrides it (a CLI flag wins over
    the DBT_INDIRECT_SELECTION it sets).
    """
    if context is None:
        return False
    try:
        assets_def = context.assets_def
    except dg.DagsterInvalidPropertyError:  # an op, not a @dbt_assets step
        return False
    if assets_def is None:
        return False
    manifest, translator, _ = get_manifest_and_translator_from_dbt_assets([assets_def])
    select, exclude, selector = (context.op.tags.get(tag) for tag in _SELECTION_TAGS)
    _, override = get_subset_selection_for_context(
        context=context,
        manifest=manifest,
        select=select,
        exclude=exclude,
        selector=selector,
        dagster_dbt_translator=translator or DagsterDbtTranslator(),
        current_dbt_indirect_selection_env=None,
    )
    return override is not None
