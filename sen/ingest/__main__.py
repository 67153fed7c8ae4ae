"""``python -m sen.ingest quarantined|release``: see what the loader quarantined, and release fixed rows.

    python -m sen.ingest quarantined [--source orders]
    python -m sen.ingest release --source crm_contacts --line 12 --set birthday= --reason "typo, cleared"
    python -m sen.ingest release --source orders --match "field total" --reason "credit notes, checked" --dry-run

``release`` re-checks the chosen rows against the current contract after the ``--set`` corrections; rows that
pass go to raw (the next build carries them through), the others stay quarantined with their reason. Every
release is recorded in raw._quarantine_releases (docs/input_contract.md, "Releasing quarantined rows").
Exit status: 0 when every chosen row was released (or would be, with --dry-run), 1 when some still break a
rule, 2 when nothing matched.
"""

from __future__ import annotations

import argparse
import sys

import duckdb

from sen import config
from sen.contracts import load_contract
from sen.ingest.release import parse_assignments, release


def _quarantined(conn: duckdb.DuckDBPyConnection, source: str | None) -> int:
    exists = conn.execute(
        "select count(*) from information_schema.tables where table_schema = 'raw' and table_name = '_quarantine'"
    ).fetchall()[0][0]
    if not exists:
        print("nothing quarantined (no raw._quarantine table yet)")
        return 0
    rows = conn.execute(
        """select source, split_part(reason, ':', 1) as reason, count(*), min(file_path), min(line)
           from raw._quarantine where (? is null or source = ?) group by 1, 2 order by 1, 3 desc""",
        [source, source],
    ).fetchall()
    if not rows:
        print("nothing quarantined")
    for name, reason, n, path, line in rows:
        where = f"{path}:{line}" if line is not None else path
        print(f"{name:<22} {n:>8,}  {reason}  (first: {where})")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sen.ingest", description=__doc__.split("\n")[0])
    parser.add_argument("--warehouse", default=None, help="DuckDB file (default: CDP_WAREHOUSE)")
    sub = parser.add_subparsers(dest="command", required=True)
    listing = sub.add_parser("quarantined", help="count quarantined rows per source and reason")
    listing.add_argument("--source")
    rel = sub.add_parser(
        "release", help="re-check quarantined rows (after --set fixes) and load those that pass"
    )
    rel.add_argument("--source", required=True)
    rel.add_argument("--reason", required=True, help="why the rows are released (kept in the audit trail)")
    rel.add_argument("--file", help="only rows of this file (its path, or the end of it)")
    rel.add_argument("--line", type=int, action="append", help="only this line (repeatable)")
    rel.add_argument("--match", help="only rows whose quarantine reason contains this text")
    rel.add_argument("--set", action="append", default=[], metavar="COLUMN=VALUE", help="correct a field")
    rel.add_argument("--by", help="who releases (default: the OS user)")
    rel.add_argument("--dry-run", action="store_true", help="check only; change nothing")
    args = parser.parse_args(argv)
    contract = load_contract()
    if getattr(args, "source", None) and args.source not in contract.sources:
        parser.error(f"unknown source {args.source!r}; one of {', '.join(contract.sources)}")
    path = args.warehouse or str(config.warehouse_path())
    conn = duckdb.connect(path, read_only=args.command == "quarantined")
    try:
        if args.command == "quarantined":
            return _quarantined(conn, args.source)
        source = contract.sources[args.source]
        try:
            changes = parse_assignments(args.set, source)
        except ValueError as exc:
            parser.error(str(exc))
        result = release(
            conn,
            source,
            why=args.reason,
            file_path=args.file,
            lines=args.line,
            reason_contains=args.match,
            changes=changes,
            released_by=args.by,
            dry_run=args.dry_run,
        )
    finally:
        conn.close()
    verb = "would release" if args.dry_run else "released"
    print(
        f"{verb} {result.released} of {result.selected} row(s) of {args.source} (release {result.release_id})"
    )
    for file_path, line, reason in result.still_failing:
        print(f"  still quarantined: {file_path}:{line}: {reason}")
    if result.not_releasable:
        print(
            f"  {result.not_releasable} line(s) could not be parsed at all and hold no record: "
            "fix the file and deliver it again"
        )
    if not result.selected:
        return 2
    return 1 if result.still_failing else 0


if __name__ == "__main__":
    sys.exit(main())
