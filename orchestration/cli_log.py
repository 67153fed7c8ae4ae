"""The command line's console: a short INFO log of the build and a final summary, not Dagster's DEBUG stream.

`python -m orchestration.cli build` used to print ~2,900 lines (every Dagster event at DEBUG and every dbt
line). Now the console gets one line per step that starts, fails or warns, and the messages of Sen's own assets;
dbt's output goes to a log file in the run's dbt folder (its path is printed), and each step's `dbt.log` stays
where it was.
"""

from __future__ import annotations

import logging
import sys

import dagster as dg

# dagster-dbt's own INFO lines repeat the dbt command and the whole model selection, several times per step.
NOISE = (
    "A dbt subsetted execution is being performed",
    "Running dbt command",
    "Finished dbt command",
    "dbt build ",
)
SHOWN_EVENTS = {"STEP_START", "STEP_FAILURE", "RUN_FAILURE"}


class ConciseFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        meta = getattr(record, "dagster_meta", None) or {}
        event = meta.get("dagster_event")
        if event is not None:
            return record.levelno >= logging.WARNING or event.event_type_value in SHOWN_EVENTS
        message = meta.get("orig_message", record.getMessage())
        return not message.startswith(NOISE)


class ConciseFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        meta = getattr(record, "dagster_meta", None) or {}
        step = meta.get("step_key") or ""
        event = meta.get("dagster_event")
        message = meta.get("orig_message", record.getMessage())
        if event is not None and event.event_type_value == "STEP_START":
            message = "started"
        level = "" if record.levelno == logging.INFO else f"{record.levelname} "
        clock = self.formatTime(record, "%H:%M:%S")
        return f"{clock} {level}{step + ': ' if step else ''}{message}"


@dg.logger(description="One line per step and Sen's own messages, at INFO (the command line's console).")
def concise_console(init_context: dg.InitLoggerContext) -> logging.Logger:
    logger = logging.Logger("sen_build", level=logging.INFO)
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(ConciseFilter())
    handler.setFormatter(ConciseFormatter())
    logger.addHandler(handler)
    return logger
