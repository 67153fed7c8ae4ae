"""One reference time per Dagster run, whoever launched it: the `RunClock` resource.

Every asset that needs "now" (dbt's --vars, the raw-data checks, CLV, the syncs, the serving stamp) takes it from
this resource. Without it each step would take its own "now": steps would disagree near a day boundary, and each
dbt step would parse the project again because its --vars changed. The resource decides once per run, when it
is set up:

- CDP_AS_OF set by the operator (a backtest, a replay, a deployment) always wins;
- else the run tag `sen/as_of` (the schedule, the file sensor and the command line set it to the time they
  decided on);
- else the data folder's own as-of, when it declares one in `dataset.yml` (the committed sample: 2026-11-21,
  so the demo and a UI run on it see its carts and 30-day windows, not two weeks of nothing);
- else the time the run was created (a run launched from the UI).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import yaml
from pydantic import PrivateAttr

from sen.settings import Settings, as_of_sql_literal, operator_as_of, parse_as_of

AS_OF_TAG = "sen/as_of"
# A data folder may say when it was exported: `as_of: 2026-11-21T00:00:00Z` in <CDP_DATA_DIR>/dataset.yml.
DATASET_FILE = "dataset.yml"


def dataset_as_of(data_dir: Path) -> datetime | None:
    """The as-of a data folder declares in its dataset.yml, or None (no file, or no `as_of` in it)."""
    path = Path(data_dir) / DATASET_FILE
    if not path.is_file():
        return None
    document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    value = document.get("as_of") if isinstance(document, dict) else None
    if value is None:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return parse_as_of(str(value), f"as_of in {path}")


# An as-of this long after the newest order or event leaves the "last N days" windows mostly empty.
STALE_AFTER = timedelta(days=7)


def newest_data(conn: Any) -> datetime | None:
    """The newest order or event at or before the as-of (marts.orders, marts.person_events), naive UTC."""
    newest = None
    for table, column in (("marts.orders", "ordered_at"), ("marts.person_events", "occurred_at")):
        try:
            value = conn.execute(f"select max({column}) from {table}").fetchone()[0]
        except Exception:  # noqa: BLE001 - a mart a selection did not build
            continue
        if value is not None and (newest is None or value > newest):
            newest = value
    return newest


def stale_as_of_warning(as_of: datetime, newest: datetime | None) -> str | None:
    """The warning for an as-of far past the newest data (both dates and the fix), or None."""
    if newest is None:
        return None
    gap = as_of.astimezone(UTC).replace(tzinfo=None) - newest
    if gap <= STALE_AFTER:
        return None
    return (
        f"the as-of {as_of.isoformat()} is {gap.days} days after the newest order or event "
        f"({newest.isoformat(sep=' ')} UTC): 'last N days' windows, carts and audiences are mostly empty. "
        f"Set CDP_AS_OF to the end of the data (e.g. CDP_AS_OF={(newest + timedelta(days=1)).date()}), or put "
        f"`as_of:` in the data folder's {DATASET_FILE}."
    )


def as_of_tag(moment: datetime) -> dict[str, str]:
    """The tag a schedule, sensor or the command line puts on its run (UTC, seconds)."""
    return {AS_OF_TAG: moment.astimezone(UTC).replace(microsecond=0).isoformat()}


def run_reference_time(run: dg.DagsterRun, instance: dg.DagsterInstance | None) -> datetime:
    tag = run.tags.get(AS_OF_TAG)
    if tag:
        return parse_as_of(tag, AS_OF_TAG)
    declared = dataset_as_of(Settings.from_env().data_dir)
    if declared is not None:
        return declared
    record = instance.get_run_record_by_id(run.run_id) if instance is not None else None
    created = record.create_timestamp if record is not None else datetime.now(UTC)
    return created.astimezone(UTC).replace(microsecond=0)


class RunClock(dg.ConfigurableResource):
    """The run's reference time (see the module docstring); `as_of()` is the same in every step of a run."""

    _as_of: datetime | None = PrivateAttr(default=None)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        operator = operator_as_of()
        if operator is not None:
            self._as_of = operator
        elif context.run is not None:
            self._as_of = run_reference_time(context.run, context.instance)
        else:  # built outside a run (a direct call in a test)
            self._as_of = datetime.now(UTC).replace(microsecond=0)

    def as_of(self) -> datetime:
        """Aware, UTC."""
        if self._as_of is None:
            raise RuntimeError("RunClock.as_of() called before the resource was set up for a run")
        return self._as_of

    def sql_literal(self) -> str:
        """The reference time as dbt receives it in --vars (UTC, no offset)."""
        return as_of_sql_literal(self.as_of())
