"""Jobs and the daily schedule.

`sen_all` materializes every asset (ingestion, raw checks, dbt, identity, CLV, serving...). Its runs carry
the tag ``sen/warehouse=write``: DuckDB allows one writer per file, so the Dagster instance should run one
such run at a time (dagster.yaml: ``run_queue: {tag_concurrency_limits: [{key: sen/warehouse, limit: 1}]}``,
see docs/serving.md). Schedules and sensors start STOPPED unless ``CDP_AUTOMATION=on``, so `dagster dev`
on a laptop does not start builds by itself; in production set it, or switch them on in the UI.
"""

import os

import dagster as dg

WAREHOUSE_TAG = {"sen/warehouse": "write"}
DAILY_CRON = "0 2 * * *"
TIMEZONE = "Asia/Ho_Chi_Minh"


def automation_default_status() -> dg.DefaultScheduleStatus:
    on = os.environ.get("CDP_AUTOMATION", "").strip().lower() in ("1", "on", "true", "yes")
    return dg.DefaultScheduleStatus.RUNNING if on else dg.DefaultScheduleStatus.STOPPED


sen_all_job = dg.define_asset_job(
    name="sen_all",
    selection=dg.AssetSelection.all(),
    description="Every asset and check: files -> raw (+ quality checks) -> dbt -> identity -> marts -> serving.",
    tags=WAREHOUSE_TAG,
)

daily_schedule = dg.ScheduleDefinition(
    name="sen_daily",
    job=sen_all_job,
    cron_schedule=DAILY_CRON,
    execution_timezone=TIMEZONE,
    default_status=automation_default_status(),
    description="Full build every night at 02:00 Vietnam time (after the nightly exports land).",
)

jobs = [sen_all_job]
schedules = [daily_schedule]
