"""The input contract, the dbt sources file and the contract docs stay one truth."""

from sen.contracts import load_contract
from sen.contracts.render import DOCS_FILE, SOURCES_FILE, render_dbt_sources, render_docs


def test_dbt_sources_and_docs_match_the_contract():
    assert SOURCES_FILE.read_text(encoding="utf-8") == render_dbt_sources(), (
        "run python -m sen.contracts.render"
    )
    assert DOCS_FILE.read_text(encoding="utf-8") == render_docs(), "run python -m sen.contracts.render"


def test_every_source_declares_a_key_and_required_columns():
    for name, source in load_contract().sources.items():
        assert source.key, name
        assert all(c.required for c in source.columns if c.name in source.key), name
