"""dbt models as Dagster assets; dbt sources resolve to the ingestion and Python assets upstream."""

from collections.abc import Mapping
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, dbt_assets

from orchestration.dbt_project import dbt_project
from sen import config


class SenDbtTranslator(DagsterDbtTranslator):
    """Asset keys are [schema, table] (e.g. marts/customers) and groups follow the model folders."""

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        if dbt_resource_props["resource_type"] == "source":
            return None
        fqn = dbt_resource_props.get("fqn", [])
        return fqn[1] if len(fqn) > 2 else "dbt"


def dbt_vars() -> str:
    import json

    return json.dumps({"as_of": config.as_of_sql_literal()})


@dbt_assets(
    manifest=dbt_project.manifest_path,
    dagster_dbt_translator=SenDbtTranslator(),
    name="sen_dbt_models",
)
def sen_dbt_models(context: dg.AssetExecutionContext, dbt: DbtCliResource):
    yield from dbt.cli(["build", "--vars", dbt_vars()], context=context).stream()
