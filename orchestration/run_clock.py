"""One reference time per Dagster run (CDP_AS_OF), whoever launched it.

Every time-relative computation reads `sen.config.as_of()`, which falls back to "now" when CDP_AS_OF is unset.
In a run launched from the UI, a schedule or a sensor that fallback would give each step its own "now": the
steps would disagree near a day boundary, and each dbt step would parse the project again because its --vars
changed. So the run's resources pin CDP_AS_OF in the run's process when they are set up:

- CDP_AS_OF set by the operator (a backtest, the CLI, a deployment) always wins;
- else the run tag `sen/as_of` (the schedule and the file sensor set it to the time they decided on);
- else the time the run was created (a run launched from the UI).
"""

from __future__ import annotations

import os
from datetime import UTC, datetime

import dagster as dg

from sen.config import parse_as_of

AS_OF_TAG = "sen/as_of"
# The run whose reference time this process pinned: a later run in the same process pins its own.
PINNED_FOR_RUN_ENV = "CDP_AS_OF_PINNED_FOR_RUN"


def as_of_tag(moment: datetime) -> dict[str, str]:
    """The tag a schedule or sensor puts on its run request (UTC, seconds)."""
    return {AS_OF_TAG: moment.astimezone(UTC).replace(microsecond=0).isoformat()}


def run_reference_time(run: dg.DagsterRun, instance: dg.DagsterInstance | None) -> datetime:
    tag = run.tags.get(AS_OF_TAG)
    if tag:
        return parse_as_of(tag)
    record = instance.get_run_record_by_id(run.run_id) if instance is not None else None
    created = record.create_timestamp if record is not None else datetime.now(UTC)
    return created.astimezone(UTC).replace(microsecond=0)


def pin_run_as_of(context: dg.InitResourceContext) -> None:
    """Set CDP_AS_OF for this run's steps unless the operator set it (see the module docstring)."""
    run = context.run
    if run is None:  # a resource built outside a run (tests, `dagster dev` loading definitions)
        return
    pinned_for = os.environ.get(PINNED_FOR_RUN_ENV)
    if os.environ.get("CDP_AS_OF", "").strip() and pinned_for is None:
        return
    if pinned_for == run.run_id:
        return
    os.environ["CDP_AS_OF"] = run_reference_time(run, context.instance).isoformat()
    os.environ[PINNED_FOR_RUN_ENV] = run.run_id
