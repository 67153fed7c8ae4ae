"""Time units of the CLV models.

The product works in days: summaries, fitted parameters and horizons are in days unless a caller says otherwise.
Only alpha (BG/NBD) carries a time dimension; r, a and b are unit-free, so converting a fit is one multiplication.
"""

from __future__ import annotations

from typing import Literal

TimeUnit = Literal["days", "weeks"]

DAYS_PER_UNIT: dict[str, float] = {"days": 1.0, "weeks": 7.0}
# An average Gregorian month; CLV horizons are whole months of this length.
DAYS_PER_MONTH = 365.25 / 12


def check_unit(unit: str) -> TimeUnit:
    if unit not in DAYS_PER_UNIT:
        raise ValueError(f"time unit {unit!r} is not supported; use one of {sorted(DAYS_PER_UNIT)}")
    return unit  # type: ignore[return-value]


def unit_factor(from_unit: str, to_unit: str) -> float:
    """Multiply a duration in ``from_unit`` by this to express it in ``to_unit``."""
    return DAYS_PER_UNIT[check_unit(from_unit)] / DAYS_PER_UNIT[check_unit(to_unit)]


def months_to_unit(months: float, unit: str) -> float:
    return months * DAYS_PER_MONTH / DAYS_PER_UNIT[check_unit(unit)]
