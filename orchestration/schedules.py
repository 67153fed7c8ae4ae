"""Jobs and the daily schedule.

`sen_all` materializes every asset (ingestion, raw checks, dbt, identity, CLV, serving...). Its runs carry
the tag ``sen/warehouse=write``: DuckDB allows one writer per file, so the Dagster instance should run one
such run at a time (dagster.yaml: ``run_queue: {tag_concurrency_limits: [{key: sen/warehouse, limit: 1}]}``,
see docs/serving.md). Schedules and sensors start STOPPED unless ``CDP_AUTOMATION=on``, so `dagster dev`
on a laptop does not start builds by itself; in production set it, or switch them on in the UI.
"""

from collections.abc import Iterable
from datetime import UTC, datetime

import dagster as dg

from orchestration.dbt.partitions import main_run_day
from orchestration.run_clock import as_of_tag
from sen.settings import Settings

WAREHOUSE_TAG = {"sen/warehouse": "write"}
DAILY_CRON = "0 2 * * *"
# The business time zone (CDP_TIMEZONE): 02:00 is night time where the shop is.
TIMEZONE = Settings.from_env().timezone


def automation_default_status() -> dg.DefaultScheduleStatus:
    on = Settings.from_env().automation
    return dg.DefaultScheduleStatus.RUNNING if on else dg.DefaultScheduleStatus.STOPPED


sen_all_job = dg.define_asset_job(
    name="sen_all",
    selection=dg.AssetSelection.all(),
    description="Every asset and check: files -> raw (+ quality checks) -> dbt -> identity -> marts -> serving.",
    tags=WAREHOUSE_TAG,
)


def run_partition_key(
    repository: dg.RepositoryDefinition, keys: Iterable[dg.AssetKey], reference: datetime | None
) -> str | None:
    """The daily partition a run of these assets processes, or None when none of them is partitioned.

    None for Sen's own assets: none is partitioned, so a run needs no partition key and "Materialize all" in the
    UI starts a run at once (the event-sized dbt models take their window from the run clock,
    orchestration/dbt/partitions.py). A daily-partitioned asset added to the graph gets the last complete UTC
    day before the reference time; a fixed CDP_AS_OF wins over the reference (a demo, a replay).
    """
    graph = repository.asset_graph
    if not any(graph.get(k).partitions_def is not None for k in keys if graph.has(k)):
        return None
    operator = Settings.from_env().as_of
    return main_run_day(operator or reference or datetime.now(UTC)).isoformat()


@dg.schedule(
    name="sen_daily",
    job=sen_all_job,
    cron_schedule=DAILY_CRON,
    execution_timezone=TIMEZONE,
    default_status=automation_default_status(),
    description="Full build every night at 02:00 in the business time zone (after the nightly exports land).",
)
def daily_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    repository = context.repository_def
    keys = repository.asset_graph.get_all_asset_keys()
    return dg.RunRequest(
        partition_key=run_partition_key(repository, keys, context.scheduled_execution_time),
        tags={**WAREHOUSE_TAG, **as_of_tag(context.scheduled_execution_time), "sen/trigger": "sen_daily"},
    )


jobs = [sen_all_job]
schedules = [daily_schedule]
