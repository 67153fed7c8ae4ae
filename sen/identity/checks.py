"""The cluster-size alarm: block downstream syncs when identity resolution suddenly merges far more."""

from __future__ import annotations

from typing import Any

import duckdb

from sen.identity.graph import relation_exists


def cluster_alarm(
    conn: duckdb.DuckDBPyConnection,
    max_largest: int = 200,
    max_jump_ratio: float = 2.0,
    *,
    max_merged_share: float | None = None,
    min_share_increase: float = 0.01,
    min_largest_for_jump: int = 10,
    schema: str = "identity",
) -> tuple[bool, dict[str, Any]]:
    """Check the latest identity run against absolute bounds and against the run before it.

    Fails when the largest person holds more than `max_largest` identifiers; when it grew more than
    `max_jump_ratio` times since the previous run (ignored while it stays under `min_largest_for_jump`, so
    tiny graphs do not alarm); when the share of persons holding 2+ person-defining identifiers of one type
    grew more than `max_jump_ratio` times and by at least `min_share_increase`; or when that share exceeds
    `max_merged_share`. Returns (passed, details) with the figures and the reasons of a failure.
    """
    table = f"{schema}.identity_runs"
    if not relation_exists(conn, table):
        reason = f"{table} does not exist: identity resolution has not run"
        return False, {"reasons": [reason], "message": reason}
    rows = conn.sql(
        f"select run_id, largest_component, merged_share, components from {table} order by run_at desc, "
        "rowid desc limit 2"
    ).fetchall()
    if not rows:
        reason = f"{table} is empty: identity resolution has not run"
        return False, {"reasons": [reason], "message": reason}
    run_id, largest, share, components = rows[0]
    details: dict[str, Any] = {
        "run_id": run_id,
        "largest_component": largest,
        "merged_share": share,
        "components": components,
        "max_largest": max_largest,
        "max_jump_ratio": max_jump_ratio,
    }
    reasons: list[str] = []
    if largest > max_largest:
        reasons.append(f"largest person holds {largest} identifiers (bound {max_largest})")
    if max_merged_share is not None and share > max_merged_share:
        reasons.append(f"merged share {share:.4f} is above {max_merged_share:.4f}")
    if len(rows) == 2:
        prev_run, prev_largest, prev_share, _ = rows[1]
        details.update(
            previous_run_id=prev_run, previous_largest=prev_largest, previous_merged_share=prev_share
        )
        largest_ratio = largest / max(prev_largest, 1)
        details["largest_ratio"] = round(largest_ratio, 4)
        if largest >= min_largest_for_jump and largest_ratio > max_jump_ratio:
            reasons.append(
                f"largest person grew {largest_ratio:.1f}x since run {prev_run} ({prev_largest} -> {largest})"
            )
        share_ratio = share / prev_share if prev_share > 0 else (float("inf") if share > 0 else 1.0)
        details["merged_share_ratio"] = round(share_ratio, 4) if share_ratio != float("inf") else None
        if share_ratio > max_jump_ratio and share - prev_share >= min_share_increase:
            reasons.append(f"merged share jumped from {prev_share:.4f} to {share:.4f} since run {prev_run}")
    details["reasons"] = reasons
    details["message"] = "; ".join(reasons) if reasons else "cluster sizes within bounds"
    return not reasons, details
