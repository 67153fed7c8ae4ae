"""Checks on the per-customer summary columns shared by fitting and scoring.

Errors name the first offending row (position in the input) and the field, so a bad mart row can be found.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


def as_float_column(values: npt.ArrayLike, name: str) -> FloatArray:
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}")
    bad = ~np.isfinite(arr)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise ValueError(f"row {row}: field {name!r} is not a finite number ({arr[row]!r})")
    return arr


def _first_bad(mask: npt.NDArray[np.bool_], message: str, *columns: tuple[str, FloatArray]) -> None:
    if mask.any():
        row = int(np.flatnonzero(mask)[0])
        shown = ", ".join(f"{name}={col[row]:g}" for name, col in columns)
        raise ValueError(f"row {row}: {message} ({shown})")


def check_rft(
    frequency: npt.ArrayLike, recency: npt.ArrayLike, age: npt.ArrayLike
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Validate frequency x (repeat occasions), recency t_x and age T; return them as float arrays."""
    x = as_float_column(frequency, "frequency")
    t_x = as_float_column(recency, "recency")
    T = as_float_column(age, "T")
    if not (len(x) == len(t_x) == len(T)):
        raise ValueError(f"column lengths differ: frequency {len(x)}, recency {len(t_x)}, T {len(T)}")
    cols = (("frequency", x), ("recency", t_x), ("T", T))
    _first_bad((x < 0) | (x != np.floor(x)), "frequency must be a non-negative whole number", *cols)
    _first_bad(t_x < 0, "recency must be >= 0", *cols)
    _first_bad(t_x > T, "recency (time of last purchase) must not exceed T (age)", *cols)
    _first_bad((x == 0) & (t_x != 0), "recency must be 0 when frequency is 0", *cols)
    return x, t_x, T


def check_monetary(monetary: npt.ArrayLike, n: int, name: str = "monetary") -> FloatArray:
    m = as_float_column(monetary, name)
    if len(m) != n:
        raise ValueError(f"{name} has {len(m)} rows, expected {n}")
    _first_bad(m < 0, f"{name} must be >= 0 (negative spend is clipped when building the summary)", (name, m))
    return m
