"""Render the dbt sources files and the input-contract documentation from ``sources.yml`` (one truth).

Run ``python -m sen.contracts.render`` after editing sources.yml; a test fails when they drift apart.
Each system (``system:`` in the contract) is one dbt source in its own staging folder,
``dbt_project/models/staging/<system>/_<system>__sources.yml``, beside the staging models that read it.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from sen.config import DBT_PROJECT_DIR, REPO_ROOT
from sen.contracts import Source, load_contract

STAGING_DIR = DBT_PROJECT_DIR / "models" / "staging"
DOCS_FILE = REPO_ROOT / "docs" / "input_contract.md"
HEADER = "# Generated from sen/contracts/sources.yml by `python -m sen.contracts.render`; do not edit.\n"
LOADER_COLUMNS = ("_source_file", "_source_line", "_file_sha256", "_load_id", "_loaded_at")


def sources_file(system: str) -> Path:
    return STAGING_DIR / system / f"_{system}__sources.yml"


def sources_files() -> list[Path]:
    """The rendered sources file of every system of the contract."""
    return sorted({sources_file(s.system) for s in load_contract().sources.values()})


def _table(name: str, source: Source) -> dict:
    columns = []
    for column in source.columns:
        text = f"{column.type}{', required' if column.required else ''}"
        if column.accepted:
            text += f"; one of {', '.join(column.accepted)}"
        columns.append({"name": column.name, "description": f"Raw text ({text})."})
    for meta in LOADER_COLUMNS:
        columns.append({"name": meta, "description": "Loader metadata: where and when the row was loaded."})
    return {
        "name": name,
        "description": source.description.strip(),
        "config": {
            "freshness": source.freshness.model_dump(),
            # The ingestion asset of the folder, whatever the system: lineage runs file -> raw -> staging.
            "meta": {"dagster": {"asset_key": ["raw", name]}},
        },
        "columns": columns,
    }


def render_dbt_sources() -> dict[Path, str]:
    """One sources file per system: the dbt source ``<system>`` (schema raw) with the tables of its folders."""
    tables: dict[str, list[dict]] = {}
    for name, source in load_contract().sources.items():
        tables.setdefault(source.system, []).append(_table(name, source))
    files = {}
    for system, system_tables in tables.items():
        doc = {
            "version": 2,
            "sources": [
                {
                    "name": system,
                    "schema": "raw",
                    "description": (
                        f"Files exported by the {system} system, loaded as text into the raw schema by the "
                        "ingestion assets (see docs/input_contract.md)."
                    ),
                    "config": {"loaded_at_field": "_loaded_at"},
                    "tables": system_tables,
                }
            ],
        }
        files[sources_file(system)] = HEADER + yaml.safe_dump(
            doc, sort_keys=False, allow_unicode=True, width=110
        )
    return files


def rendered_files_on_disk() -> set[Path]:
    """Sources files a previous render wrote (by their header), so the file of a removed system goes too."""
    return {
        p for p in STAGING_DIR.glob("*/_*__sources.yml") if p.read_text(encoding="utf-8").startswith(HEADER)
    }


def render_docs() -> str:
    contract = load_contract()
    out = [
        "<!-- Generated from sen/contracts/sources.yml by `python -m sen.contracts.render`; do not edit. -->",
        "# Input contract",
        "",
        "Sen reads one folder per source under `CDP_DATA_DIR` (default: `data_samples/sample`). Any number of files",
        "may sit in a source folder; each is loaded once (recognised by its SHA-256), so re-delivering a file or",
        "rerunning a load adds nothing. Accepted formats, chosen by file extension:",
        "",
        "- CSV: `.csv`, `.csv.gz` — a header row; column order is free, extra columns are ignored. The separator",
        "  is detected from the header (comma, semicolon as Excel writes it where the decimal mark is a comma, tab,",
        "  pipe). The encoding is detected: UTF-8 with or without a BOM, UTF-16/32 with a BOM, else the guess of",
        "  charset-normalizer when it is unambiguous (Windows-1258 from a Vietnamese Windows, cp1252...; text is",
        "  recomposed to Unicode NFC, so names equal the same names typed in UTF-8). A file whose encoding cannot",
        '  be told apart is reported unreadable with "save the file as UTF-8". How each non-default file was',
        "  read is shown on the ingestion asset (`files_read_as`).",
        "- JSON lines: `.jsonl`, `.ndjson`, `.json` (one object per line, optionally `.gz`) — nested fields are read",
        "  by the dotted `path` below; objects are kept as JSON text.",
        "- Parquet: `.parquet`.",
        "",
        "Types: `timestamp` is ISO-8601; an offset (`Z`, `+07:00`) is honoured and a naive value is read in the",
        "source's time zone; everything is stored in UTC. `date` is `YYYY-MM-DD`; `decimal` uses a dot and has at",
        'most 16 digits before it (more is quarantined as "out of range"); `boolean` accepts',
        "true/false/1/0/yes/no; `json` must be valid JSON.",
        "",
        "**Order amounts.** `total` is the only amount an order must have. An order is valued from the most",
        "detailed amount the export gives: `subtotal`, else the sum of its `order_lines`, else `total` less",
        "`shipping_fee` plus `discount` (`intermediate.int_orders_unioned.amount_basis` says which). A shop",
        "exporting one amount per order therefore gets real order values and CLV. When an amount is given twice",
        "and the two disagree by more than a cent (subtotal against its lines, or subtotal - discount +",
        "shipping_fee against total), the dbt test `assert_order_amounts_agree` warns, naming each order.",
        "",
        "**Test domains.** Emails at reserved test domains (RFC 2606 / 6761: example.com/.net/.org, `.test`,",
        "`.example`, `.invalid`, `.localhost`; and `.local`) are dropped as junk before identity resolution",
        "(sen/normalize/blocklist.yml, counted as `blocklisted`). Look-alikes such as `example.vn` are ordinary",
        "registrable domains and are kept.",
        "",
        "What happens to bad input:",
        "",
        "- a file without a **required column** stops that source with an error naming the file and the column;",
        "  nothing of that source is loaded until it is fixed;",
        "- a **row** with an empty required field, a value of the wrong type or a value outside the accepted set, a",
        "  broken JSON line or a CSV row with the wrong number of fields goes to `raw._quarantine` (source, file,",
        "  line, reason, the record) while the good rows load; `rows_in = rows_loaded + rows_quarantined` is shown",
        "  on the ingestion asset;",
        "- a **value outside the row rules** quarantines its row the same way, with a reason naming the field:",
        "  a number outside the column's `min` / `max` (notes below; amounts are VND in [0, 10 billion) unless a",
        "  column allows a sign), `NaN` or `Infinity` (`not a finite number`), a timestamp before 1990-01-01 (a",
        "  date before 1900-01-01) or more than a day after the load's real clock (`9999-12-31`, a birthday in",
        "  2099: `outside the plausible window`), a value longer than 4,096 characters (JSON: 65,536);",
        "- **parsing limits** of JSON lines: a line nested more than 64 levels deep, a number of more than 100",
        "  characters (a 5,000-digit integer), `NaN` / `Infinity` / `1e999`, a line over a million characters are",
        "  each quarantined as `JSON beyond a parsing limit` with their line, never a crash or an unreadable file;",
        "  a CSV field of any size is read and judged by the value limit;",
        "- a **conflicting duplicate**: rows of one file with the same key but different values (amounts",
        "  compared to the cent) are all quarantined, with a reason naming the key, their lines and the fields",
        "  that differ (`conflicting duplicate key order_id=O1: lines 2, 4 differ in status, total`). Exact",
        "  duplicates load and are removed in staging; a later file's version of a row replaces it. Sources whose",
        "  duplicates may differ (`duplicates_may_differ: true`: event retries) are not checked;",
        "- an **unreadable file** (bad compression, an encoding that cannot be detected, any error reading it) is",
        "  reported in `raw._quarantine` and on the asset, and is not marked loaded: fix it and rerun.",
        "",
        "**A build never reports success on input it could not use.** The source's ingestion asset fails, so",
        "the build ends non-zero with a message naming the source and the fix, when:",
        "",
        "- the data folder (`CDP_DATA_DIR`) does not exist, is empty, holds its files loose instead of in source",
        '  folders, or has a folder that looks like a misspelled source (`oders/`: "did you mean orders/?");',
        "- a file is unreadable (the good files of the source are loaded first; the file is retried every run);",
        "- every row the source ever delivered was quarantined (nothing of it would reach the marts), or every",
        "  row of a file still in the folder was (a broken new export would leave the marts on old data): fix",
        "  or remove the file.",
        "",
        "A source without a folder is simply absent: a shop need not have every source.",
        "",
        "**Returns and discounts.** A return or refund of a web/app order is a row of `returns/` (a positive",
        "`refund_amount` against the order id or store transaction id), netted into the order's `net_amount`. An",
        "order with a negative `total` is quarantined (`field total: below the minimum 0`): record the refund in",
        "`returns/` or set the order's status to `refunded`, then release it (below) if needed. A `discount` may be",
        "written positive or negative; its size is the reduction. At the till, a store line with a negative",
        "`quantity` and `line_total` is goods brought back (`stg_pos__transaction_lines.kind = 'return'`): it is",
        "netted against the sales of the same transaction (an exchange: `refunded_amount`, `net_amount`), and a",
        "transaction holding only returns is kept out of `marts.orders` as `store_return` (the POS export does not",
        "say which purchase it refunds; export it in `returns/` with the original transaction id to net it).",
        "",
        "**Releasing quarantined rows.** `python -m sen.ingest quarantined` counts the quarantine per source and",
        'reason. `python -m sen.ingest release --source crm_contacts --line 12 --set birthday= --reason "typo"`',
        "re-checks the chosen rows (`--file`, `--line`, `--match` on the reason) against the current contract",
        "after the `--set` corrections: rows that pass are loaded into raw (load id `release-<id>`, their file and",
        "line kept) and leave the quarantine, the others stay with their new reason (exit 1); `--dry-run` changes",
        "nothing. Every released row is recorded in `raw._quarantine_releases`: when, by whom (`--by`), why, the",
        "quarantine reason, the record before and after and the fields changed. A line that could not be parsed",
        "has no record to release: fix the file and deliver it again.",
        "",
        "Every loaded row keeps `_source_file`, `_source_line`, `_file_sha256`, `_load_id` and `_loaded_at`.",
        "",
        "**Freshness.** Each source has a policy (`freshness` in sen/contracts/sources.yml): how long after its",
        "latest load (`max(_loaded_at)`) it is overdue, first with a warning, then with an error. The Dagster asset",
        "check `freshness` on every `raw/<source>` asset applies it (orchestration/checks/freshness.py): with every",
        "run that loads the raw assets, and hourly through the checks-only job `source_freshness` (schedule",
        "`source_freshness_hourly`). It never blocks downstream assets. The same policy is in the dbt sources file,",
        "so `dbt source freshness` (from dbt_project/) gives the same verdicts.",
        "",
    ]
    for name, source in contract.sources.items():
        out += [
            f"## `{name}/`",
            "",
            f"{source.description.strip()} Exported by the `{source.system}` system (dbt source "
            f"`{source.system}.{name}`). Usual format: {source.format_hint}; naive timestamps are read as "
            f"`{source.timezone}`; key: {', '.join(source.key)}. Overdue (freshness of the latest load): a "
            f"warning after {source.freshness.warn_after}, an error after {source.freshness.error_after}.",
            "",
            "| column | type | required | notes |",
            "|---|---|---|---|",
        ]
        for c in source.columns:
            notes = []
            if c.path and c.path != c.name:
                notes.append(f"JSON path `{c.path}`")
            if c.accepted:
                notes.append("one of " + ", ".join(f"`{v}`" for v in c.accepted))
            if c.min is not None or c.max is not None:
                low = f"{c.min:,.0f}" if isinstance(c.min, int | float) else c.min
                bounds = [f"min {low}"] if c.min is not None else []
                bounds += [f"max {c.max:,.0f}"] if c.max is not None else []
                notes.append(", ".join(bounds))
            if c.max_length is not None:
                notes.append(f"at most {c.max_length:,} characters")
            out.append(f"| `{c.name}` | {c.type} | {'yes' if c.required else ''} | {'; '.join(notes)} |")
        out.append("")
    return "\n".join(out)


def main() -> None:
    files = render_dbt_sources()
    for path in sorted(rendered_files_on_disk() - set(files)):
        path.unlink()
        print(f"deleted {path}")
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    DOCS_FILE.parent.mkdir(exist_ok=True)
    DOCS_FILE.write_text(render_docs(), encoding="utf-8")
    print(f"wrote {len(files)} dbt sources files under {STAGING_DIR} and {DOCS_FILE}")


if __name__ == "__main__":
    main()
