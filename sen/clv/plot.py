"""PNG chart of a backtest: mean predicted vs actual holdout purchases by calibration frequency."""

from __future__ import annotations

import io

import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure


def backtest_png(
    by_frequency: pd.DataFrame, title: str = "Holdout purchases by calibration frequency"
) -> bytes:
    """Render ``by_frequency`` (from ``sen.clv.backtest``) as PNG bytes with the Agg backend.

    A Figure is built directly, not through pyplot, so no global state or display is involved (safe in
    Dagster workers and threads).
    """
    fig = Figure(figsize=(7.0, 4.2), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    labels = by_frequency["calibration_frequency"].astype(str).tolist()
    positions = range(len(labels))
    ax.plot(positions, by_frequency["actual_purchases_mean"], marker="o", label="actual")
    ax.plot(
        positions, by_frequency["predicted_purchases_mean"], marker="s", linestyle="--", label="predicted"
    )
    ax.set_xticks(list(positions), labels)
    ax.set_xlabel("repeat purchases in calibration period")
    ax.set_ylabel("mean purchases in holdout period")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()
