"""The input contract, the dbt sources files and the contract docs stay one truth."""

from sen.contracts import load_contract
from sen.contracts.render import (
    DOCS_FILE,
    STAGING_DIR,
    render_dbt_sources,
    render_docs,
    rendered_files_on_disk,
    sources_file,
)


def test_dbt_sources_and_docs_match_the_contract():
    rendered = render_dbt_sources()
    for path, text in rendered.items():
        assert path.exists() and path.read_text(encoding="utf-8") == text, (
            f"{path} differs: run python -m sen.contracts.render"
        )
    assert rendered_files_on_disk() == set(rendered), (
        "left-over sources files: run python -m sen.contracts.render"
    )
    assert DOCS_FILE.read_text(encoding="utf-8") == render_docs(), "run python -m sen.contracts.render"


def test_each_system_is_one_staging_folder_holding_its_sources_and_models():
    systems = {s.system for s in load_contract().sources.values()}
    assert set(render_dbt_sources()) == {sources_file(s) for s in systems}
    for system in systems:
        folder = STAGING_DIR / system
        assert sources_file(system).parent == folder
        assert (folder / f"_{system}__models.yml").exists(), system
        assert sorted(folder.glob(f"stg_{system}__*.sql")), f"no staging model in {folder}"


def test_every_source_declares_a_key_and_required_columns():
    for name, source in load_contract().sources.items():
        assert source.key, name
        assert all(c.required for c in source.columns if c.name in source.key), name


def test_row_rules_must_fit_the_column_type():
    import pytest
    from pydantic import ValidationError

    from sen.contracts import Column

    with pytest.raises(ValidationError, match="column name: `max` applies to integer and decimal"):
        Column(name="name", type="string", max=5)
    with pytest.raises(ValidationError, match="a date `min` applies to date and timestamp"):
        Column.model_validate({"name": "n", "type": "integer", "min": "1900-01-01"})
    amount = Column(name="total", type="decimal")
    assert amount.bounds == (
        0.0,
        1e10,
    )  # amounts are non-negative VND below 10 billion unless the contract says
    assert Column(name="q", type="integer", min=-5, max=5).bounds == (-5, 5)
    assert str(Column(name="b", type="date").earliest) == "1900-01-01"
    assert str(Column(name="t", type="timestamp").earliest) == "1990-01-01"
