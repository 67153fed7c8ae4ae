"""Text from segment and campaign YAML (description, owner, tags) is data, never a template.

dbt renders the properties files the generator writes as Jinja, so a description holding
`{{ env_var('META_ACCESS_TOKEN') }}` would put the token's value in the manifest, the dbt logs and (through
persist_docs) the warehouse's table comments. Free text holding Jinja delimiters is wrapped in a raw block,
so dbt shows it literally; text without them is written unchanged. A tag is a name, not prose: one holding
a delimiter is refused, as is text that would end the raw block early.
"""

from __future__ import annotations

import re

from sen.segments.loader import SegmentDefinitionError

_DELIMITERS = re.compile(r"\{\{|\{%|\{#|\}\}|%\}|#\}")
_END_RAW = re.compile(r"\{%-?\s*endraw\b")


def literal(text: str, where: str) -> str:
    """`text` as dbt will show it verbatim; `where` names the file and field for an error."""
    if not _DELIMITERS.search(text):
        return text
    if _END_RAW.search(text):
        raise SegmentDefinitionError([f"{where}: text may not contain a Jinja 'endraw' tag"])
    return "{% raw %}" + text + "{% endraw %}"


def tag(text: str, where: str) -> str:
    if _DELIMITERS.search(text) or "{" in text or "}" in text:
        raise SegmentDefinitionError([f"{where}: tag {text!r} may not contain '{{' or '}}' (tags are names)"])
    return text
