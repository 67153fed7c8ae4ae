"""Identifier rules, in one place: the identifier types and their strength order, which types define a person,
the default phone region, the email shape check and Gmail's address rule.

Everything that needs one of these rules imports it from here: sen.normalize (staging), sen.identity (its
config defaults), reverse_etl.identifiers (destination hashing), data_samples (the generator) and dbt, which
receives them through a generated macro file (`python -m sen.normalize.rules` writes
dbt_project/macros/normalize/identifier_rules.sql; a test fails when it drifts from this module).
"""

from __future__ import annotations

import re
from pathlib import Path

# Every identifier type, strongest first. The order decides which identifier names a new person, which
# links win when a person would exceed a cap, and which person a record belongs to in dbt.
TYPE_PRIORITY: tuple[str, ...] = (
    "customer_id", "loyalty_card", "email", "phone", "platform_user_id", "push_token", "device_id",
    "anonymous_id",
)  # fmt: skip
# Identifiers that define a person (a person is someone holding one of these), and the ones that only link
# records to a person.
PERSON_DEFINING_TYPES: tuple[str, ...] = ("customer_id", "email", "phone", "loyalty_card")
LINKING_TYPES: tuple[str, ...] = ("anonymous_id", "device_id", "push_token", "platform_user_id")
# Linking identifiers a household or a shop shares (a browser cookie, a laptop, an app install): one that
# would join two persons is cut (sen.identity, docs/identity.md "Weak identifiers").
WEAK_TYPES: tuple[str, ...] = ("anonymous_id", "device_id", "push_token")
IDENTIFIER_TYPES: tuple[str, ...] = (*PERSON_DEFINING_TYPES, *LINKING_TYPES)
# Opaque ids keep their case (SDK tokens, UUIDs); ids typed by people or printed on cards do not.
OPAQUE_TYPES: tuple[str, ...] = LINKING_TYPES
UPPER_CASE_TYPES: tuple[str, ...] = ("customer_id", "loyalty_card")

# Region used to read phone numbers written without a country code (ISO 3166 alpha-2).
DEFAULT_PHONE_REGION = "VN"

# A cheap email shape check (something@something.tld, no whitespace): for addresses that were validated
# upstream (sen.normalize uses email-validator) and only need a sanity check before hashing or counting.
EMAIL_SHAPE = r"[^@\s]+@[^@\s]+\.[^@\s]+"
EMAIL_SHAPE_RE = re.compile(EMAIL_SHAPE)
# The same check in RE2 (DuckDB regexp_full_match), with Python's str.isspace() whitespace spelled out.
SQL_NOT_WS_OR_AT = r"[^@\s\x{0B}\x{1C}-\x{1F}\x{85}\pZ]"
SQL_EMAIL_SHAPE = f"{SQL_NOT_WS_OR_AT}+@{SQL_NOT_WS_OR_AT}+\\.{SQL_NOT_WS_OR_AT}+"

# Gmail ignores dots and '+tags' in the local part, and googlemail.com is gmail.com.
GMAIL_DOMAINS: tuple[str, ...] = ("gmail.com", "googlemail.com")
GMAIL_CANONICAL_DOMAIN = "gmail.com"


def is_email_shaped(value: str) -> bool:
    return EMAIL_SHAPE_RE.fullmatch(value) is not None


def gmail_local_part(local: str) -> str:
    """The local part Gmail delivers to: '+tag' dropped, dots removed."""
    return local.split("+", 1)[0].replace(".", "")


def type_rank(identifier_type: str) -> int:
    """1 for the strongest type; len(TYPE_PRIORITY) + 1 for an unknown one."""
    try:
        return TYPE_PRIORITY.index(identifier_type) + 1
    except ValueError:
        return len(TYPE_PRIORITY) + 1


# ---------------------------------------------------------------- the dbt side

MACRO_FILE = (
    Path(__file__).resolve().parents[2] / "dbt_project" / "macros" / "normalize" / "identifier_rules.sql"
)


def _sql_list(values: tuple[str, ...]) -> str:
    return "[" + ", ".join(f"'{v}'" for v in values) + "]"


def render_dbt_macros() -> str:
    """The dbt macros that carry these rules (identifier types, their rank, default region, gmail domains)."""
    ranks = "\n".join(f"        when '{t}' then {type_rank(t)}" for t in TYPE_PRIORITY)
    rows = "\n    union all\n".join(f"    select '{t}' as identifier_type" for t in IDENTIFIER_TYPES).lstrip()
    return f"""{{#- Generated from sen/normalize/rules.py by `python -m sen.normalize.rules`; do not edit. -#}}

{{#- Every identifier type, strongest first. -#}}
{{% macro identifier_types() -%}}
    {{{{ return({_sql_list(TYPE_PRIORITY)}) }}}}
{{%- endmacro %}}

{{#- Types that define a person. -#}}
{{% macro person_defining_identifier_types() -%}}
    {{{{ return({_sql_list(PERSON_DEFINING_TYPES)}) }}}}
{{%- endmacro %}}

{{#- Region used to read phones written without a country code; var('default_phone_region') overrides it. -#}}
{{% macro default_phone_region() -%}}
    {{{{ return(var('default_phone_region', '{DEFAULT_PHONE_REGION}')) }}}}
{{%- endmacro %}}

{{#- Domains where Gmail's rule applies (dots and '+tag' in the local part ignored). -#}}
{{% macro gmail_domains() -%}}
    {{{{ return({_sql_list(GMAIL_DOMAINS)}) }}}}
{{%- endmacro %}}

{{#- One row per identifier type (column identifier_type), as the body of a CTE. -#}}
{{% macro identifier_type_rows() -%}}
{rows}
{{%- endmacro %}}

{{#- Strength of an identifier type (1 = strongest), used to pick the person and the survivor of a record. -#}}
{{% macro identifier_type_rank(column) -%}}
    case {{{{ column }}}}
{ranks}
        else {len(TYPE_PRIORITY) + 1}
    end
{{%- endmacro %}}
"""


def main() -> None:
    MACRO_FILE.write_text(render_dbt_macros(), encoding="utf-8")
    print(f"wrote {MACRO_FILE}")


if __name__ == "__main__":
    main()
