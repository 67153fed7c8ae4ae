"""Fitting the CLV model (BG/NBD purchases + Gamma-Gamma spend) with documented fallbacks.

The fit reads only the per-customer summary and returns a small frozen ``ClvModel``; scoring
(``sen.clv.scoring``) is a pure function of that model and summary columns.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np
import numpy.typing as npt

from sen.clv import bgnbd, gamma_gamma, heuristic
from sen.clv.units import TimeUnit, check_unit
from sen.clv.validation import check_monetary, check_rft

# Below this many repeat buyers the MLE is too noisy to trust (and may not exist); heuristics take over.
DEFAULT_MIN_REPEAT_BUYERS = 50

# Shape parameters beyond this sit on the boundary of the parameter space (no heterogeneity or no dropout).
MAX_SHAPE = 1e4
PurchaseModel = Literal["bgnbd", "heuristic"]
SpendModel = Literal["gamma_gamma", "heuristic"]


@dataclass(frozen=True)
class ClvModel:
    time_unit: TimeUnit
    purchase_model: PurchaseModel
    spend_model: SpendModel
    bgnbd: bgnbd.BgNbdParams | None
    gamma_gamma: gamma_gamma.GammaGammaParams | None
    heuristic: heuristic.HeuristicParams
    n_customers: int
    n_repeat_buyers: int
    # Gamma-Gamma assumes spend is independent of purchase frequency; a strong correlation is a warning sign.
    spend_frequency_correlation: float | None = None
    notes: tuple[str, ...] = ()  # why a fallback was taken, for the fit record

    @property
    def fit_status(self) -> Literal["mle", "heuristic"]:
        return "mle" if self.purchase_model == "bgnbd" and self.spend_model == "gamma_gamma" else "heuristic"

    def in_unit(self, unit: str) -> ClvModel:
        check_unit(unit)
        return replace(
            self,
            time_unit=unit,
            bgnbd=self.bgnbd.in_unit(unit) if self.bgnbd is not None else None,
            heuristic=self.heuristic.in_unit(unit),
        )

    def to_record(self) -> dict[str, object]:
        """A flat, JSON-friendly row for a ``clv_model_fits`` table."""
        bg = self.bgnbd
        gg = self.gamma_gamma
        h = self.heuristic
        return {
            "fit_status": self.fit_status,
            "purchase_model": self.purchase_model,
            "spend_model": self.spend_model,
            "time_unit": self.time_unit,
            "n_customers": self.n_customers,
            "n_repeat_buyers": self.n_repeat_buyers,
            "bgnbd_r": bg.r if bg else None,
            "bgnbd_alpha": bg.alpha if bg else None,
            "bgnbd_a": bg.a if bg else None,
            "bgnbd_b": bg.b if bg else None,
            "bgnbd_log_likelihood": bg.log_likelihood if bg else None,
            "bgnbd_converged": bg.converged if bg else None,
            "gg_p": gg.p if gg else None,
            "gg_q": gg.q if gg else None,
            "gg_gamma": gg.gamma if gg else None,
            "gg_log_likelihood": gg.log_likelihood if gg else None,
            "gg_n_customers": gg.n_customers if gg else None,
            "gg_converged": gg.converged if gg else None,
            "gg_population_mean": gg.population_mean if gg and math.isfinite(gg.population_mean) else None,
            "spend_frequency_correlation": self.spend_frequency_correlation,
            "heuristic_pooled_rate": h.pooled_rate,
            "heuristic_fallback_value": h.fallback_value,
            "notes": "; ".join(self.notes) or None,
        }


def fit_clv_model(
    frequency: npt.ArrayLike,
    recency: npt.ArrayLike,
    T: npt.ArrayLike,
    monetary: npt.ArrayLike,
    first_value: npt.ArrayLike | None = None,
    *,
    time_unit: str = "days",
    min_repeat_buyers: int = DEFAULT_MIN_REPEAT_BUYERS,
) -> ClvModel:
    """Fit BG/NBD on all customers and Gamma-Gamma on repeat buyers with positive spend.

    Falls back to ``heuristic`` (and says why in ``notes``) when there are fewer than ``min_repeat_buyers``
    repeat buyers, when an optimiser does not converge, or when Gamma-Gamma gives q <= 1 (infinite mean spend).
    """
    unit = check_unit(time_unit)
    x, t_x, age = check_rft(frequency, recency, T)
    m = check_monetary(monetary, len(x))
    first = check_monetary(first_value, len(x), "first_value") if first_value is not None else None
    heur = heuristic.fit_heuristic(x, age, m, first, unit)
    notes: list[str] = []
    n_repeat = int(np.count_nonzero(x > 0))

    bg: bgnbd.BgNbdParams | None = None
    purchase: PurchaseModel = "heuristic"
    if n_repeat < max(min_repeat_buyers, 1):  # the MLE needs at least one repeat buyer
        notes.append(f"purchases: {n_repeat} repeat buyers < {min_repeat_buyers}, heuristic rate used")
    else:
        bg = bgnbd.fit_bgnbd(x, t_x, age, unit)
        shape = (bg.r, bg.a, bg.b)
        if bg.converged and not all(np.isfinite(v) and 1e-8 < v < MAX_SHAPE for v in shape):
            # A boundary solution (e.g. no dropout in the data: a, b -> infinity) "converges" to parameters
            # whose closed forms overflow; the heuristic is the honest answer there.
            notes.append(
                f"purchases: BG/NBD fit is degenerate (r={bg.r:.3g}, a={bg.a:.3g}, b={bg.b:.3g}), heuristic rate used"
            )
        elif bg.converged:
            purchase = "bgnbd"
        else:
            notes.append("purchases: BG/NBD fit did not converge, heuristic rate used")

    gg: gamma_gamma.GammaGammaParams | None = None
    spend: SpendModel = "heuristic"
    n_spenders = int(np.count_nonzero((x > 0) & (m > 0)))
    if n_spenders < max(min_repeat_buyers, 2):
        notes.append(
            f"spend: {n_spenders} repeat buyers with positive spend < {min_repeat_buyers}, own/mean spend used"
        )
    else:
        gg = gamma_gamma.fit_gamma_gamma(x, m)
        if not gg.converged:
            notes.append("spend: Gamma-Gamma fit did not converge, own/mean spend used")
        elif gg.q <= 1.0:
            notes.append(f"spend: Gamma-Gamma q = {gg.q:.3g} <= 1 (infinite mean), own/mean spend used")
        else:
            spend = "gamma_gamma"

    spenders = (x > 0) & (m > 0)
    correlation = None
    if n_spenders >= 3 and np.ptp(x[spenders]) > 0 and np.ptp(m[spenders]) > 0:
        correlation = float(np.corrcoef(x[spenders], m[spenders])[0, 1])

    return ClvModel(
        time_unit=unit,
        purchase_model=purchase,
        spend_model=spend,
        bgnbd=bg,
        gamma_gamma=gg,
        heuristic=heur,
        n_customers=len(x),
        n_repeat_buyers=n_repeat,
        spend_frequency_correlation=correlation,
        notes=tuple(notes),
    )
