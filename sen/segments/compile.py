"""Compile the segment and campaign YAML into dbt models and seeds.

python -m sen.segments.compile          # write what changed, delete left-over generated files
python -m sen.segments.compile --check  # exit 1 listing stale files (CI; tests/segments runs it too)
"""

from __future__ import annotations

import argparse
import sys

from sen.segments.generate import build_outputs, stale_files, write_outputs
from sen.segments.loader import SegmentDefinitionError, display_path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m sen.segments.compile", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--check", action="store_true", help="only report stale generated files")
    args = parser.parse_args(argv)
    try:
        outputs = build_outputs()
    except SegmentDefinitionError as exc:
        print(exc, file=sys.stderr)
        return 2
    if args.check:
        stale = stale_files(outputs)
        for line in stale:
            print(line, file=sys.stderr)
        if stale:
            print("run `python -m sen.segments.compile` and commit the result", file=sys.stderr)
            return 1
        print(
            f"{len(outputs.segments)} segments, {len(outputs.campaigns.campaigns)} campaigns: generated files are current"
        )
        return 0
    touched = write_outputs(outputs)
    for path in touched:
        print(f"wrote {display_path(path)}" if path.exists() else f"deleted {display_path(path)}")
    print(
        f"{len(outputs.segments)} segments, {len(outputs.campaigns.campaigns)} campaigns; {len(touched)} file(s) changed"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
