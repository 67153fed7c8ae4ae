def test_a_degenerate_fit_without_dropout_falls_back_to_the_heuristic():
    """Customers who never drop out push BG/NBD to the boundary; scores must stay finite."""
    import numpy as np
    import pandas as pd

    from sen.clv.pipeline import fit_and_score

    rng = np.random.default_rng(1)
    rows = []
    for p in range(2000):
        start = pd.Timestamp("2024-01-01") + pd.Timedelta(days=int(rng.integers(0, 600)))
        for _ in range(rng.poisson(3) + 1):
            ordered_at = start + pd.Timedelta(days=int(rng.integers(0, 700)))
            rows.append((f"p{p:05d}", ordered_at, float(rng.gamma(3, 200000))))
    orders = pd.DataFrame(rows, columns=["person_id", "ordered_at", "net_amount"])
    scores, record = fit_and_score(orders, "2026-01-01")
    assert record["fit_status"] == "heuristic"
    assert np.isfinite(scores["clv"]).all()
