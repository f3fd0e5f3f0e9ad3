"""Dates as int32 day numbers since 1970-01-01, the representation every generator step uses.

Day numbers vectorise (arithmetic, comparisons, sorting) and convert to Arrow ``date32`` without
copying. ``NEVER`` marks an event that does not happen (no death, no emigration).
"""

from __future__ import annotations

import datetime as dt

import numpy as np

NEVER = np.int32(2**31 - 1)
DAYS_PER_YEAR = 365.25
_EPOCH = dt.date(1970, 1, 1)


def day(year: int, month: int = 1, day_of_month: int = 1) -> int:
    """Day number of a calendar date."""
    return (dt.date(year, month, day_of_month) - _EPOCH).days


def to_date(day_number: int) -> dt.date:
    return _EPOCH + dt.timedelta(days=int(day_number))


def year_of(days: np.ndarray) -> np.ndarray:
    """Calendar year of each day number (NEVER maps to a far future year)."""
    return days.astype("datetime64[D]").astype("datetime64[Y]").astype(np.int32) + 1970


def age_years(birth: np.ndarray, at: np.ndarray | int) -> np.ndarray:
    """Age in (fractional) years at a day number."""
    return (np.asarray(at, dtype=np.float64) - birth) / DAYS_PER_YEAR


def years_to_days(years: np.ndarray | float) -> np.ndarray:
    return np.round(np.asarray(years, dtype=np.float64) * DAYS_PER_YEAR).astype(np.int64)
