"""Child processes that hold a warehouse the way another writer or a BI reader does (shared by the lock tests)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

# argv: warehouse, run id, seconds to hold, the command it names as the holder
HOLDER = """
import sys, time
from pathlib import Path
from sen.warehouse_lock import warehouse_lock
with warehouse_lock(Path(sys.argv[1]), run_id=sys.argv[2], command=sys.argv[4]):
    print("holding", flush=True)
    time.sleep(float(sys.argv[3]))
"""

# argv: warehouse, seconds to hold it open read-only
READER = """
import sys, time, duckdb
conn = duckdb.connect(sys.argv[1], read_only=True)
print("reading", flush=True)
time.sleep(float(sys.argv[2]))
conn.close()
"""


def start(script: str, *args: str) -> subprocess.Popen:
    child = subprocess.Popen(
        [sys.executable, "-c", script, *args], cwd=REPO, stdout=subprocess.PIPE, text=True
    )
    assert child.stdout is not None
    child.stdout.readline()  # "holding" / "reading": the child has it
    return child


def stop(child: subprocess.Popen) -> None:
    if child.poll() is None:
        child.kill()
    child.wait(timeout=30)
