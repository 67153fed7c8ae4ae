"""Customer lifetime value: BG/NBD purchases, Gamma-Gamma spend, discounted CLV, backtests, bands.

Pure Python on numpy/scipy/pandas. Fit (``fit_clv_model`` on a per-customer summary) is separate from scoring
(``score``, a pure function of the fitted model and summary columns). Times are in days unless stated.
See docs/clv.md.
"""

from sen.clv.bands import ChurnRules, ClvTiers, churn_risk, clv_tier
from sen.clv.bgnbd import BgNbdParams, fit_bgnbd
from sen.clv.gamma_gamma import GammaGammaParams, fit_gamma_gamma
from sen.clv.model import ClvModel, fit_clv_model
from sen.clv.scoring import FALLBACK_REASONS, score
from sen.clv.summary import build_summary

__all__ = [
    "FALLBACK_REASONS",
    "BgNbdParams",
    "ChurnRules",
    "ClvModel",
    "ClvTiers",
    "GammaGammaParams",
    "build_summary",
    "churn_risk",
    "clv_tier",
    "fit_bgnbd",
    "fit_clv_model",
    "fit_gamma_gamma",
    "score",
]
