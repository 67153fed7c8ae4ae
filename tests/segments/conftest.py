"""Helpers of the segment tests: write segment YAML files into a temporary folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml


def segment(name: str = "test_segment", where: Any = None, **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "description": "A test segment.",
        "owner": "tests@senmart.vn",
        "where": where if where is not None else {"field": "value.orders", "op": ">=", "value": 1},
        **extra,
    }


@pytest.fixture
def write_segments(tmp_path: Path):
    """write_segments({'file.yml': [segment, ...]}) -> list of paths."""

    def write(files: dict[str, Any]) -> list[Path]:
        paths = []
        for name, content in files.items():
            path = tmp_path / name
            if isinstance(content, str):
                path.write_text(content, encoding="utf-8")
            else:
                path.write_text(yaml.safe_dump({"segments": content}, allow_unicode=True), encoding="utf-8")
            paths.append(path)
        return paths

    return write
