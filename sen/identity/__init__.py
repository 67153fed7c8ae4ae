"""Identity resolution: identifier graph -> persons with stable ids, guarded against over-merging.

Entry points: `resolve_identities(conn, config, run_at)` and `python -m sen.identity --warehouse path`;
`python -m sen.identity.explain <person_id>` (also `python -m orchestration.cli explain-person`) explains a person.
"""

from sen.identity.checks import cluster_alarm
from sen.identity.config import IdentityConfig, IdentityConfigError, load_identity_config
from sen.identity.graph import IdentityInputError
from sen.identity.resolve import IdentityRunStats, resolve_identities

__all__ = [
    "IdentityConfig",
    "IdentityConfigError",
    "IdentityInputError",
    "IdentityRunStats",
    "cluster_alarm",
    "load_identity_config",
    "resolve_identities",
]
