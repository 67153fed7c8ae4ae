"""The identifier rules live once (sen/normalize/rules.py); everyone else reads them from there."""

from __future__ import annotations

import re

import yaml

from reverse_etl import identifiers as destination_rules
from sen.config import DBT_PROJECT_DIR
from sen.identity import IdentityConfig, load_identity_config
from sen.normalize import rules
from sen.normalize.emails import gmail_canonical
from sen.normalize.identifiers import IDENTIFIER_TYPES
from sen.normalize.phones import DEFAULT_REGION
from sen.quality.suites import EMAIL_REGEX


def test_generated_dbt_macros_match_the_rules() -> None:
    # Fails when rules.py changed without `python -m sen.normalize.rules`.
    assert rules.MACRO_FILE.read_text(encoding="utf-8") == rules.render_dbt_macros()


def test_dbt_project_does_not_restate_the_default_region() -> None:
    project = yaml.safe_load((DBT_PROJECT_DIR / "dbt_project.yml").read_text(encoding="utf-8"))
    assert "default_phone_region" not in project.get("vars", {})


def test_every_user_reads_the_same_rules() -> None:
    assert DEFAULT_REGION == destination_rules.DEFAULT_REGION == rules.DEFAULT_PHONE_REGION
    assert set(IDENTIFIER_TYPES) == set(rules.TYPE_PRIORITY)
    config = IdentityConfig()
    assert config.type_priority == list(rules.TYPE_PRIORITY)
    assert config.person_defining_types == list(rules.PERSON_DEFINING_TYPES)
    packaged = load_identity_config()
    assert packaged.type_priority == list(rules.TYPE_PRIORITY)  # the YAML does not restate them
    assert packaged.weak_types == list(rules.WEAK_TYPES)
    assert f"^{rules.EMAIL_SHAPE}$" == EMAIL_REGEX


def test_gmail_rule_is_the_same_for_staging_and_destinations() -> None:
    for raw in ["A.B+x@googlemail.com", "a.b@gmail.com", "a.b+c@shop.vn"]:
        normalized = raw.lower()
        expected = gmail_canonical(normalized)
        google = destination_rules.google_email(raw)
        local, _, domain = normalized.rpartition("@")
        if domain in rules.GMAIL_DOMAINS:
            assert google.split("@")[0] == expected.split("@")[0] == rules.gmail_local_part(local)
        else:
            assert google == expected == normalized


def test_email_shape_in_python_and_sql_agree() -> None:
    import duckdb

    conn = duckdb.connect()
    for value in ["a@b.vn", "a b@c.vn", "no-at.vn", "x@y", "x@@y.vn", "ü@ß.de"]:
        in_sql = conn.execute("select regexp_full_match(?, ?)", [value, rules.SQL_EMAIL_SHAPE]).fetchone()[0]
        assert in_sql == rules.is_email_shaped(value) == bool(re.fullmatch(EMAIL_REGEX, value)), value
