"""Identity rules that look at who an identifier joins, not only how many identifiers it touches.

Weak identifiers (a browser cookie, a laptop's device id, a push token): a household laptop seen with an account
holder and a guest who typed an email at checkout, or with two guests, must not make them one person. The
persons are the components of the graph without weak identifiers ("anchors": components holding a
person-defining identifier); a weak identifier seen with two or more anchors is cut from all but the one it
was seen with most recently (or from all, by configuration, and always when it is seen with many: a kiosk).
Weak identifiers seen with no anchor take the anchor of the weak identifiers they are linked to, when that is
one anchor only.

Junk by behaviour: an email or phone held by several accounts that nothing else relates (no other email,
phone, card or customer id in common) is a value typed to get past a form ('khongco@gmail.com') or a shop's
number, whatever the blocklist says; its links are cut.

Both rules only do work on the few components where they can apply; the checks that find those components are
vectorized over the whole graph.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from sen.identity.components import connected_components, connected_components_in_phases, distinct_pairs
from sen.identity.config import IdentityConfig

WEAK_SHARED = "weak_identifier_shared"
WEAK_NOT_LINKED = "weak_pair_not_linked"
JUNK_BY_BEHAVIOUR = "junk_by_behaviour"


def weak_code_mask(config: IdentityConfig) -> np.ndarray:
    """bool per type code: the type is weak."""
    mask = np.zeros(len(config.all_types), dtype=bool)
    for t in config.weak_types:
        mask[config.all_types.index(t)] = True
    return mask


def not_linked_mask(
    config: IdentityConfig, node_type: np.ndarray, ta: np.ndarray, tb: np.ndarray
) -> np.ndarray | None:
    """bool per link (ta, tb: the type codes of its ends): it joins a pair of weak_identifiers.not_linked. None
    when no such pair is configured or no node of a pair's types exists (the common case costs two scans of
    the node types, not of the links)."""
    found = None
    for a, b in config.weak_identifiers.not_linked:
        ca, cb = config.all_types.index(a), config.all_types.index(b)
        if not ((node_type == ca).any() and (node_type == cb).any()):
            continue
        pair = ((ta == ca) & (tb == cb)) | ((ta == cb) & (tb == ca))
        found = pair if found is None else found | pair
    return found


# ---------------------------------------------------------------- junk by behaviour


@dataclass
class JunkCuts:
    nodes: np.ndarray  # int64 node positions judged junk
    holders: np.ndarray  # int64 unrelated holders (of config.behaviour_junk.of_type) each one joins
    limit: int


def junk_by_behaviour(
    config: IdentityConfig,
    node_type: np.ndarray,
    src: np.ndarray,
    dst: np.ndarray,
    ts: np.ndarray,
    td: np.ndarray,
    labels: np.ndarray,
    per_type: np.ndarray,
    cut: np.ndarray,
) -> JunkCuts:
    """Values of behaviour_junk.types linked to `limit` or more holders of behaviour_junk.of_type that no other
    non-weak identifier relates. `labels`: components over every link; `cut`: nodes whose links are cut already."""
    rule = config.behaviour_junk
    none = JunkCuts(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), 0)
    if rule is None or not len(src):
        return none
    limit = rule.unrelated_holders
    of_code = config.all_types.index(rule.of_type)
    # Only components holding `limit` holders or more can hold such a value (per_type: per label and type).
    in_comp = per_type[:, of_code] >= limit
    if not in_comp.any():
        return none
    inside = in_comp[labels[src]]
    src, dst, ts, td = src[inside], dst[inside], ts[inside], td[inside]
    junk_type = np.zeros(len(config.all_types), dtype=bool)
    junk_type[[config.all_types.index(t) for t in rule.types]] = True
    # Holders per value, counting repeated rows (an upper bound); exact counts only for the few above the limit.
    ends = np.concatenate([dst[(ts == of_code) & junk_type[td]], src[(td == of_code) & junk_type[ts]]])
    if not len(ends):
        return none
    n = len(node_type)
    rough = np.bincount(ends, minlength=n)
    candidates = np.flatnonzero(rough >= limit)
    candidates = candidates[~cut[candidates]]
    if not len(candidates):
        return none
    # Exact distinct holders of the candidates.
    is_candidate = np.zeros(n, dtype=bool)
    is_candidate[candidates] = True
    value, holder = _pairs_of(is_candidate, of_code, node_type, src, dst, n)
    holders = np.bincount(value, minlength=n)
    candidates = candidates[holders[candidates] >= limit]
    if not len(candidates):
        return none
    is_candidate[:] = False
    is_candidate[candidates] = True
    keep = is_candidate[value]
    value, holder = value[keep], holder[keep]
    # Holders related without the value: components of the non-weak links of its component that avoid it
    # (and every node already cut). One small graph per candidate; candidates are rare.
    in_comp[:] = False
    in_comp[labels[candidates]] = True
    inside = in_comp[labels[src]]
    a, b = distinct_pairs(src[inside], dst[inside], n)
    not_weak = ~weak_code_mask(config)
    usable = not_weak[node_type[a]] & not_weak[node_type[b]] & ~cut[a] & ~cut[b]
    a, b = a[usable].astype(np.int64), b[usable].astype(np.int64)
    link_label = labels[a]
    found, counts = [], []
    for x in candidates.tolist():
        mine = (link_label == labels[x]) & (a != x) & (b != x)
        la, lb = a[mine], b[mine]
        local = np.unique(np.concatenate([la, lb, holder[value == x]]))
        _, group = connected_components(len(local), np.searchsorted(local, la), np.searchsorted(local, lb))
        unrelated = len(np.unique(group[np.searchsorted(local, holder[value == x])]))
        if unrelated >= limit:
            found.append(x)
            counts.append(unrelated)
    found_nodes = np.array(found, dtype=np.int64)
    counts_arr = np.array(counts, dtype=np.int64)
    return JunkCuts(found_nodes, counts_arr, limit)


def _pairs_of(
    is_value: np.ndarray, of_code: int, node_type: np.ndarray, src: np.ndarray, dst: np.ndarray, n: int
) -> tuple[np.ndarray, np.ndarray]:
    """Distinct (value, holder) pairs: links from a marked value to an identifier of type `of_code`."""
    fwd = is_value[src] & (node_type[dst] == of_code)
    back = is_value[dst] & (node_type[src] == of_code)
    values = np.concatenate([src[fwd], dst[back]]).astype(np.int64)
    holders = np.concatenate([dst[fwd], src[back]]).astype(np.int64)
    packed = np.unique(values * n + holders)
    return packed // n, packed % n


# ---------------------------------------------------------------- weak identifiers


def weak_limit_array(config: IdentityConfig) -> np.ndarray:
    """int64 per type code: how many identifiers of the type a person joined through weak identifiers may hold."""
    limits = np.full(len(config.all_types), np.iinfo(np.int64).max, dtype=np.int64)
    for t, limit in config.weak_identifiers.limits.items():
        limits[config.all_types.index(t)] = limit
    return limits


def weak_candidates(config: IdentityConfig, per_type: np.ndarray) -> np.ndarray:
    """Labels of components holding more identifiers of some type than weak_identifiers.limits allows (per_type:
    identifiers per label and type): only there can weak identifiers have joined persons that may not join."""
    # Column by column: four strided comparisons cost a fraction of one over the whole (labels x types) table.
    found = [
        np.flatnonzero(per_type[:, config.all_types.index(t)] > limit)
        for t, limit in config.weak_identifiers.limits.items()
    ]
    return np.unique(np.concatenate(found)) if found else np.zeros(0, dtype=np.int64)


def guest_account_candidates(
    config: IdentityConfig,
    node_type: np.ndarray,
    src: np.ndarray,
    dst: np.ndarray,
    labels: np.ndarray,
    n_labels: int,
    isolated: np.ndarray,
    anchor_roots: np.ndarray,
    redo: np.ndarray | None,
) -> np.ndarray:
    """Labels of components where weak identifiers join an account (an anchor holding an account_type
    identifier) and a guest (an anchor holding none): only looked for when guests_join_accounts is off.

    anchor_roots: every node's root over the non-weak links, from the first phase of the components (no
    extra pass); redo (bool per node): the components where a guard cut links since, whose anchors are
    computed again here without them."""
    n = len(node_type)
    anchor = anchor_roots.astype(np.int64)
    if redo is not None and redo.any():
        not_weak = ~weak_code_mask(config)
        strong = (
            redo[src] & not_weak[node_type[src]] & not_weak[node_type[dst]] & ~isolated[src] & ~isolated[dst]
        )
        _, local = connected_components(n, src[strong], dst[strong])
        anchor = np.where(redo, n + local, anchor)
    person = np.flatnonzero((node_type < len(config.person_defining_types)) & ~isolated)
    account_code = config.all_types.index(config.weak_identifiers.account_type)
    is_account = np.zeros(2 * n, dtype=bool)
    is_account[anchor[person[node_type[person] == account_code]]] = True
    in_account = is_account[anchor[person]]
    has_account = np.zeros(n_labels, dtype=bool)
    has_account[labels[person[in_account]]] = True
    has_guest = np.zeros(n_labels, dtype=bool)
    has_guest[labels[person[~in_account]]] = True
    return np.flatnonzero(has_account & has_guest)


@dataclass
class WeakResolution:
    nodes: np.ndarray  # node positions re-resolved (every node of the conflicting components)
    labels: np.ndarray  # their new labels, numbered from the given offset
    n_labels: int  # labels used from the offset on
    shared: np.ndarray  # weak identifiers seen with 2+ persons it may not join (node positions)
    persons: np.ndarray  # how many persons each was seen with
    attributed_to: np.ndarray  # node position of an identifier of the person it stays with, -1: none
    cut_low: np.ndarray  # every link not used (distinct pairs of node positions, low < high)
    cut_high: np.ndarray
    between_low: np.ndarray  # of those, links between two weak identifiers of persons that may not join
    between_high: np.ndarray


class _Persons:
    """Union-find over anchors, with the identifiers of each limited type every union would hold."""

    def __init__(self, counts: dict[int, np.ndarray], limits: np.ndarray, account: int | None = None) -> None:
        self.parent = {a: a for a in counts}
        self.counts = counts
        self.limits = limits
        self.account = account  # type code of accounts when guests may not join them, else None

    def find(self, a: int) -> int:
        while self.parent[a] != a:
            self.parent[a] = self.parent[self.parent[a]]
            a = self.parent[a]
        return a

    def fits(self, roots: set[int]) -> bool:
        """The persons may join: no type that two of them hold would exceed its limit. A person that already
        holds two emails (joined by a strong identifier) may still take a phone through a cookie."""
        counts = np.array([self.counts[r] for r in roots])
        if self.account is not None:
            accounts = counts[:, self.account] > 0
            if accounts.any() and not accounts.all():  # an account and a guest
                return False
        holding = (counts > 0).sum(axis=0)
        return not bool(((holding >= 2) & (counts.sum(axis=0) > self.limits)).any())

    def join(self, roots: set[int]) -> int:
        keep = min(roots)
        for r in roots:
            if r != keep:
                self.parent[r] = keep
                self.counts[keep] = self.counts[keep] + self.counts[r]
        return keep


def resolve_weak_conflicts(
    config: IdentityConfig,
    node_type: np.ndarray,
    nodes: np.ndarray,
    low: np.ndarray,
    high: np.ndarray,
    last_seen: np.ndarray,
    label_offset: int,
) -> WeakResolution:
    """Re-resolve the components made of `nodes` (their usable distinct links: low, high, last seen in
    seconds). Python, on the few components where weak identifiers join persons they may not join.

    An anchor is a component of the non-weak links holding a person-defining identifier; the other nodes
    ("floating": weak identifiers, and linking ones with no person) join anchors through their links, as long
    as the person they make holds no more identifiers of a type than weak_identifiers.limits (one customer
    id, one email, one phone by default: a cookie seen with an account and later with its owner's email
    still joins them). A floating node whose anchors may not all join is shared: it stays with the person it
    was seen with most recently, its links to the others cut (or with none, by configuration and when seen
    with shared_by_persons or more). Floating nodes seeing no anchor take the person of their floating
    neighbours, nearest first; a link between two floating nodes of persons that may not join is cut.
    """
    n_person = len(config.person_defining_types)
    rule = config.weak_identifiers
    limits = weak_limit_array(config)
    n_types = len(config.all_types)
    slot = np.full(int(nodes.max()) + 1 if len(nodes) else 0, -1, dtype=np.int64)
    slot[nodes] = np.arange(len(nodes))
    # The components of the non-weak links: their root (smallest node) per node, from a first phase.
    not_weak = ~weak_code_mask(config)
    first = not_weak[node_type[low]] & not_weak[node_type[high]]
    _, _, local_root = connected_components_in_phases(len(nodes), slot[low], slot[high], first)
    assert local_root is not None
    strong_root = nodes[local_root]
    anchor: dict[int, int] = {}
    counts: dict[int, np.ndarray] = {}
    anchored = {int(strong_root[i]) for i, v in enumerate(nodes.tolist()) if node_type[v] < n_person}
    for i, v in enumerate(nodes.tolist()):
        r = int(strong_root[i])
        if r in anchored:
            anchor[v] = r
            if r not in counts:
                counts[r] = np.zeros(n_types, dtype=np.int64)
            counts[r][node_type[v]] += 1
    account = None if rule.guests_join_accounts else config.all_types.index(rule.account_type)
    persons = _Persons(counts, limits, account)
    ends = list(zip(low.tolist(), high.tolist(), last_seen.tolist(), strict=True))
    direct: dict[int, dict[int, int]] = defaultdict(dict)  # floating node -> anchor -> last seen together
    floating_links: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for u, v, t in ends:
        au, av = anchor.get(u), anchor.get(v)
        if au is not None and av is not None:
            continue
        if au is not None:
            direct[v][au] = max(direct[v].get(au, t), t)
        elif av is not None:
            direct[u][av] = max(direct[u].get(av, t), t)
        else:
            floating_links[u].append((v, t))
            floating_links[v].append((u, t))
    person: dict[int, int | None] = {}  # floating node -> an anchor of its person (None: belongs to no one)
    shared: dict[int, tuple[int, int | None]] = {}

    def settle(w: int, seen: dict[int, int]) -> None:
        roots = {persons.find(a) for a in seen}
        if len(roots) == 1 or persons.fits(roots):
            person[w] = persons.join(roots) if len(roots) > 1 else roots.pop()
            return
        winner = None
        if rule.attribute_to == "most_recent" and len(roots) < rule.shared_by_persons:
            winner = max(seen, key=lambda a: (seen[a], -a))  # most recent; a tie goes to the first anchor
        person[w] = winner
        shared[w] = (len(roots), winner)

    # Nodes seen with fewer persons first: what one-person cookies show joins before shared devices decide.
    for w in sorted(direct, key=lambda w: (len(direct[w]), w)):
        settle(w, direct[w])
    # Floating nodes seeing no anchor, round by round from the settled ones.
    frontier = [w for w in sorted(person) if person[w] is not None]
    while frontier:
        reached: dict[int, dict[int, int]] = defaultdict(dict)
        for w in frontier:
            a = person[w]
            for x, t in floating_links.get(w, ()):
                if x not in person and a is not None:
                    reached[x][a] = max(reached[x].get(a, t), t)
        frontier = []
        for x in sorted(reached):
            settle(x, reached[x])
            if person[x] is not None:
                frontier.append(x)
    # Links between floating nodes of different persons: join the persons if they may, else cut.
    between = np.zeros(len(ends), dtype=bool)
    for i, (u, v, _) in enumerate(ends):
        pu, pv = person.get(u), person.get(v)
        if u in shared or v in shared or pu is None or pv is None:
            continue
        if u in anchor or v in anchor:
            continue
        ru, rv = persons.find(pu), persons.find(pv)
        if ru != rv:
            if persons.fits({ru, rv}):
                persons.join({ru, rv})
            else:
                between[i] = True

    def side(v: int) -> int | None:
        a = anchor.get(v)
        if a is None:
            a = person.get(v)
        return None if a is None else persons.find(a)

    # Kept: links within one person, and links between floating nodes no person reached (side None on both
    # ends; a shared node that belongs to no one loses every link).
    keep = np.array(
        [
            side(u) == side(v)
            and not ((u in shared and person[u] is None) or (v in shared and person[v] is None))
            for u, v, _ in ends
        ],
        dtype=bool,
    )
    n_parts, parts = connected_components(len(nodes), slot[low[keep]], slot[high[keep]])
    shared_nodes = np.array(sorted(shared), dtype=np.int64)
    return WeakResolution(
        nodes=nodes,
        labels=parts + label_offset,
        n_labels=n_parts,
        shared=shared_nodes,
        persons=np.array([shared[w][0] for w in shared_nodes.tolist()], dtype=np.int64),
        attributed_to=np.array(
            [-1 if shared[w][1] is None else shared[w][1] for w in shared_nodes.tolist()], dtype=np.int64
        ),
        cut_low=low[~keep].astype(np.int64),
        cut_high=high[~keep].astype(np.int64),
        between_low=low[between & ~keep].astype(np.int64),
        between_high=high[between & ~keep].astype(np.int64),
    )
