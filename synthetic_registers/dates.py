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


def _calendar_year(days: np.ndarray) -> np.ndarray:
    return np.asarray(days).astype("datetime64[D]").astype("datetime64[Y]").astype(np.int32) + 1970


# numpy's calendar conversion costs about as much as the rest of a chunk's date arithmetic; the
# days every person lives through come from a table instead (about 0.5 MB)
_TABLE_FIRST_DAY = (dt.date(1850, 1, 1) - _EPOCH).days
_YEAR_BY_DAY = _calendar_year(np.arange(_TABLE_FIRST_DAY, (dt.date(2200, 1, 1) - _EPOCH).days))


def year_of(days: np.ndarray) -> np.ndarray:
    """Calendar year of each day number (NEVER maps to a far future year)."""
    offset = np.asarray(days, dtype=np.int64) - _TABLE_FIRST_DAY
    inside = (offset >= 0) & (offset < len(_YEAR_BY_DAY))
    if inside.all():
        return _YEAR_BY_DAY[offset]
    years = np.empty(offset.shape, np.int32)
    years[inside] = _YEAR_BY_DAY[offset[inside]]
    years[~inside] = _calendar_year(np.asarray(days)[~inside])
    return years


def age_years(birth: np.ndarray, at: np.ndarray | int) -> np.ndarray:
    """Age in (fractional) years at a day number."""
    return (np.asarray(at, dtype=np.float64) - birth) / DAYS_PER_YEAR


def years_to_days(years: np.ndarray | float) -> np.ndarray:
    return np.round(np.asarray(years, dtype=np.float64) * DAYS_PER_YEAR).astype(np.int64)
