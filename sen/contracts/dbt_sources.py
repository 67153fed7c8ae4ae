"""Render the dbt sources file for the raw schema from the input contract (one truth for both).

Run ``python -m sen.contracts.dbt_sources`` after editing sources.yml; a test fails when they drift apart.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from sen.config import DBT_PROJECT_DIR
from sen.contracts import load_contract

SOURCES_FILE = DBT_PROJECT_DIR / "models" / "staging" / "_raw__sources.yml"
HEADER = "# Generated from sen/contracts/sources.yml by `python -m sen.contracts.dbt_sources`; do not edit.\n"


def render() -> str:
    tables = []
    for name, source in load_contract().sources.items():
        columns = []
        for column in source.columns:
            text = f"{column.type}{', required' if column.required else ''}"
            if column.accepted:
                text += f"; one of {', '.join(column.accepted)}"
            columns.append({"name": column.name, "description": f"Raw text ({text})."})
        for meta in ("_source_file", "_source_line", "_file_sha256", "_load_id", "_loaded_at"):
            columns.append(
                {"name": meta, "description": "Loader metadata: where and when the row was loaded."}
            )
        tables.append(
            {
                "name": name,
                "description": source.description.strip(),
                "config": {"meta": {"dagster": {"asset_key": ["raw", name]}}},
                "columns": columns,
            }
        )
    doc = {
        "version": 2,
        "sources": [
            {
                "name": "raw",
                "schema": "raw",
                "description": "Source files loaded as text by the ingestion assets (see docs/input_contract.md).",
                "config": {"loaded_at_field": "_loaded_at"},
                "tables": tables,
            }
        ],
    }
    return HEADER + yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=110)


def main() -> None:
    Path(SOURCES_FILE).write_text(render(), encoding="utf-8")
    print(f"wrote {SOURCES_FILE}")


if __name__ == "__main__":
    main()
