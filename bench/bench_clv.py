"""Benchmark the CLV library on synthetic customers simulated from BG/NBD + Gamma-Gamma with known parameters.

Stages (each timed; peak RSS of the process reported after each):
  1. simulate N customer summaries (days, ages uniform over two years), seeded;
  2. fit BG/NBD + Gamma-Gamma (``fit_clv_model``) and compare the estimates with the simulated parameters;
  3. score: 12-month discounted CLV, P(alive), expected spend, churn bands and CLV tiers;
  4. (unless --skip-pipeline) end to end from an orders table: simulate the order rows for the same customers
     and run ``sen.clv.pipeline.fit_and_score`` (validation + summary + fit + score).

Target: stages 2 + 3 under 60 s for 1,000,000 customers on a 2-core machine.

    .venv/bin/python bench/bench_clv.py                 # 1,000,000 customers
    .venv/bin/python bench/bench_clv.py --customers 100000 --json /tmp/clv/bench.json
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from pathlib import Path

import numpy as np

from sen.clv import pipeline
from sen.clv.bands import churn_risk, clv_tier
from sen.clv.bgnbd import BgNbdParams
from sen.clv.gamma_gamma import GammaGammaParams
from sen.clv.model import fit_clv_model
from sen.clv.scoring import score
from sen.clv.simulate import simulate_orders, simulate_summary

TRUE_BG = BgNbdParams(r=0.25, alpha=30.0, a=0.8, b=2.5, time_unit="days")
TRUE_GG = GammaGammaParams(p=6.0, q=4.0, gamma=15.0)
MAX_AGE_DAYS = 730
AS_OF = "2025-12-31 23:59:59"


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument("--skip-pipeline", action="store_true", help="skip the end-to-end orders stage")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    args = parser.parse_args()
    figures: dict[str, object] = {"customers": args.customers, "seed": args.seed}

    started = time.perf_counter()
    data = simulate_summary(args.customers, TRUE_BG, TRUE_GG, max_age=MAX_AGE_DAYS, seed=args.seed)
    figures["simulate_seconds"] = round(time.perf_counter() - started, 2)
    figures["repeat_buyers"] = int((data["frequency"] > 0).sum())
    figures["peak_rss_mb_after_simulate"] = round(peak_rss_mb())
    cols = {
        c: data[c].to_numpy(dtype=np.float64)
        for c in ("frequency", "recency", "T", "monetary", "first_value")
    }

    started = time.perf_counter()
    model = fit_clv_model(
        cols["frequency"], cols["recency"], cols["T"], cols["monetary"], cols["first_value"]
    )
    figures["fit_seconds"] = round(time.perf_counter() - started, 2)
    figures["fit_status"] = model.fit_status

    started = time.perf_counter()
    scores = score(
        model, cols["frequency"], cols["recency"], cols["T"], cols["monetary"], cols["first_value"]
    )
    bands = churn_risk(scores["p_alive"], cols["frequency"], cols["T"] - cols["recency"])
    tiers = clv_tier(scores["clv"], data["person_id"].to_numpy())
    figures["score_seconds"] = round(time.perf_counter() - started, 2)
    figures["fit_plus_score_seconds"] = round(figures["fit_seconds"] + figures["score_seconds"], 2)
    figures["peak_rss_mb_after_fit_and_score"] = round(peak_rss_mb())
    figures["nan_outputs"] = int(
        sum(np.isnan(scores[k]).sum() for k in ("clv", "p_alive", "expected_avg_value"))
    )
    figures["churn_bands"] = {
        str(k): int(v) for k, v in zip(*np.unique(bands, return_counts=True), strict=True)
    }
    figures["clv_tiers"] = {
        str(k): int(v) for k, v in zip(*np.unique(tiers, return_counts=True), strict=True)
    }

    recovery = {}
    for name in ("r", "alpha", "a", "b"):
        recovery[f"bgnbd_{name}"] = (getattr(TRUE_BG, name), getattr(model.bgnbd, name))
    for name in ("p", "q", "gamma"):
        recovery[f"gg_{name}"] = (getattr(TRUE_GG, name), getattr(model.gamma_gamma, name))
    recovery["gg_population_mean"] = (TRUE_GG.population_mean, model.gamma_gamma.population_mean)
    figures["recovery"] = {
        k: {"true": t, "fitted": round(f, 4), "rel_error_pct": round(100 * (f - t) / t, 2)}
        for k, (t, f) in recovery.items()
    }

    if not args.skip_pipeline:
        orders = simulate_orders(data, AS_OF, TRUE_GG, seed=args.seed + 1)
        figures["orders"] = len(orders)
        del data, scores, bands, tiers
        started = time.perf_counter()
        result, record = pipeline.fit_and_score(orders, AS_OF)
        figures["pipeline_seconds"] = round(time.perf_counter() - started, 2)
        figures["pipeline_fit_seconds"] = record["fit_seconds"]  # includes validation and summary
        figures["pipeline_score_seconds"] = record["score_seconds"]
        figures["pipeline_fit_status"] = record["fit_status"]
        figures["peak_rss_mb_after_pipeline"] = round(peak_rss_mb())

    print(json.dumps(figures, indent=2))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
