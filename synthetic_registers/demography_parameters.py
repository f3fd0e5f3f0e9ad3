"""National demographic magnitudes the population generator reproduces (Statistics Denmark).

Counts are national; a chunk scales them by its sampling fraction. Figures for 2022-2023 and the
1 January 2024 population are from the project reference (FOLK1A, Befolkningens udvikling 2023);
earlier years are Statistics Denmark's published yearly totals, rounded (approximate), and years
outside the table repeat the nearest known year.
"""

from __future__ import annotations

import numpy as np

REFERENCE_YEAR = 2024  # the population margins below are for 1 January of this year
NATIONAL_POPULATION = 5_961_249

# FOLK1A 1 January 2024 by 5-year band (lower bounds 0, 5, ..., 85+): men, women.
BAND_LOWER = np.arange(0, 90, 5)
MEN_2024 = np.array(
    [
        157540,
        159866,
        164296,
        179755,
        190874,
        208974,
        205737,
        182255,
        170871,
        188230,
        195215,
        209042,
        182558,
        159785,
        141463,
        135370,
        79671,
        52189,
    ]
)
WOMEN_2024 = np.array(
    [
        149098,
        151243,
        156225,
        171158,
        184804,
        200741,
        198145,
        175657,
        169443,
        189003,
        195716,
        207816,
        185533,
        167229,
        154475,
        153258,
        99931,
        88083,
    ]
)

# Regional populations 1 January 2024 (Statistics Denmark)
REGION_2024 = {1081: 593_135, 1082: 1_365_688, 1083: 1_238_406, 1084: 1_911_067, 1085: 852_953}

LIVE_BIRTHS = {
    1995: 69771,
    2000: 67084,
    2005: 64282,
    2006: 64984,
    2007: 64082,
    2008: 65038,
    2009: 62818,
    2010: 63411,
    2011: 58998,
    2012: 57916,
    2013: 55873,
    2014: 56870,
    2015: 58205,
    2016: 61614,
    2017: 61397,
    2018: 61476,
    2019: 61167,
    2020: 60937,
    2021: 63473,
    2022: 58430,
    2023: 57469,
    2024: 57000,
}
DEATHS = {
    1995: 63127,
    2000: 57998,
    2005: 54962,
    2006: 55477,
    2007: 55604,
    2008: 54591,
    2009: 54872,
    2010: 54368,
    2011: 52516,
    2012: 52325,
    2013: 52471,
    2014: 51340,
    2015: 52555,
    2016: 52824,
    2017: 53261,
    2018: 55232,
    2019: 53958,
    2020: 54645,
    2021: 57152,
    2022: 59435,
    2023: 58384,
    2024: 57800,
}
IMMIGRATIONS = {
    1995: 44000,
    2000: 45000,
    2005: 52000,
    2006: 57000,
    2007: 65000,
    2008: 57000,
    2009: 51000,
    2010: 52000,
    2011: 52000,
    2012: 54000,
    2013: 60000,
    2014: 68000,
    2015: 78000,
    2016: 74000,
    2017: 68000,
    2018: 64000,
    2019: 62000,
    2020: 53000,
    2021: 67000,
    2022: 122000,
    2023: 98344,
    2024: 92000,
}
EMIGRATIONS = {
    1995: 34000,
    2000: 43000,
    2005: 40000,
    2006: 41000,
    2007: 41000,
    2008: 45000,
    2009: 45000,
    2010: 43000,
    2011: 43000,
    2012: 44000,
    2013: 45000,
    2014: 46000,
    2015: 50000,
    2016: 53000,
    2017: 53000,
    2018: 55000,
    2019: 58000,
    2020: 50000,
    2021: 52000,
    2022: 62000,
    2023: 68172,
    2024: 68000,
}

SHARE_BOYS_AT_BIRTH = 0.513
INFANT_MORTALITY = 0.0031  # deaths in the first year per live birth
CHILD_EMIGRATION_PER_YEAR = 0.0015  # children leaving with their families
IMMIGRANT_LEAVE_PROBABILITY = 0.55  # share of immigrants who leave again ...
IMMIGRANT_MEAN_STAY_YEARS = 2.5  # ... after an exponential stay with this mean
IMMIGRANT_SHARE_MEN = 0.52


def national_count(series: dict[int, int], year: int) -> float:
    """A yearly national count, interpolated between listed years and held flat outside them."""
    years = np.array(sorted(series))
    values = np.array([series[y] for y in years], dtype=float)
    return float(np.interp(year, years, values))


def single_year_population(sex: int) -> np.ndarray:
    """1 January 2024 population by single year of age 0..105, spreading each band evenly."""
    bands = MEN_2024 if sex == 1 else WOMEN_2024
    ages = np.arange(106)
    out = np.zeros(106)
    for i, lower in enumerate(BAND_LOWER):
        if lower < 85:
            out[lower : lower + 5] = bands[i] / 5
        else:
            decay = np.exp(-(ages[85:] - 85) / 4.5)
            out[85:] = bands[i] * decay / decay.sum()
    return out


def mortality_rate(age: np.ndarray, sex: np.ndarray) -> np.ndarray:
    """Yearly death rate by age and sex: a Gompertz curve fitted to Danish life tables (approximate)."""
    age = np.asarray(age, dtype=float)
    base = np.exp(-10.4 + 0.0925 * age)
    base = np.where(age < 1, 0.0031, np.maximum(base, 0.0001))
    return base * np.where(np.asarray(sex) == 1, 1.25, 0.80)


def age_at_death_distribution(sex: int) -> np.ndarray:
    """Probability of each age 0..105 at death: population times mortality."""
    ages = np.arange(106)
    weights = single_year_population(sex) * mortality_rate(ages, np.full(106, sex))
    return weights / weights.sum()


def immigration_age_distribution() -> np.ndarray:
    """Age at arrival 0..90: young adults dominate, some children, few old (approximate)."""
    ages = np.arange(91)
    adults = np.exp(-0.5 * ((ages - 27) / 7.0) ** 2)
    children = 0.30 * np.exp(-ages / 9.0)
    older = 0.04 * np.exp(-(((ages - 45) / 15.0) ** 2))
    weights = adults + children + older
    return weights / weights.sum()


def emigration_age_distribution() -> np.ndarray:
    """Age at emigration 0..90 for persons born in Denmark (approximate)."""
    ages = np.arange(91)
    weights = np.exp(-0.5 * ((ages - 28) / 8.0) ** 2) + 0.05 * np.exp(-(((ages - 65) / 6.0) ** 2))
    return weights / weights.sum()


def fertility_age_shape() -> np.ndarray:
    """Relative age-specific fertility of women aged 0..55; mean maternal age about 31."""
    ages = np.arange(56)
    shape = np.exp(-0.5 * ((ages - 31.0) / 5.3) ** 2)
    shape[(ages < 15) | (ages > 49)] = 0.0
    return shape
