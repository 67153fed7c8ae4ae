"""Privacy: right-to-be-forgotten requests carried out in every layer (docs/privacy.md).

`process_erasures` runs once per build, after the syncs; `filter_load` keeps erased persons out of every
new load; `erasure_salt` decides the salt of the suppression list's hashes.
"""

from __future__ import annotations

from sen.privacy.erasure import ErasureError, ErasureReport, filter_load, pending_requests, process_erasures
from sen.privacy.suppression import has_suppressions
from sen.settings import Settings

# Used when CDP_ERASURE_SALT is unset outside production (a laptop, CI, the demo): public, so hashes made
# with it can be reversed by hashing a list of emails; a warning says so on every run that uses it.
DEVELOPMENT_SALT = "sen-development-salt-public-set-CDP_ERASURE_SALT"


def erasure_salt(settings: Settings) -> tuple[str, str | None]:
    """(salt, warning). Production (CDP_AUTOMATION on: schedules and sensors run the builds) without
    CDP_ERASURE_SALT raises ErasureError: an unsalted or public-salted suppression list is reversible."""
    if settings.erasure_salt:
        return settings.erasure_salt, None
    if settings.automation:
        raise ErasureError(
            "CDP_ERASURE_SALT is not set while CDP_AUTOMATION is on: erasure requests need a secret salt for "
            "the suppression list (set it once and keep it, like a key; docs/privacy.md)"
        )
    return DEVELOPMENT_SALT, (
        "CDP_ERASURE_SALT is not set: the suppression list of erased persons is hashed with Sen's public "
        "development salt; set a secret salt in production (docs/privacy.md)"
    )


__all__ = [
    "DEVELOPMENT_SALT",
    "ErasureError",
    "ErasureReport",
    "erasure_salt",
    "filter_load",
    "has_suppressions",
    "pending_requests",
    "process_erasures",
]
