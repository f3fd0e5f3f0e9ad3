"""Which drugs each condition brings, when, for how long, and how prescribing changed over time.

Each condition has treatment lines (first drug, add-ons). A line starts some months after onset
(or at once for persons already ill when the period starts), lasts until exit or a mean duration,
and is split into periods after which the drug is chosen again from calendar-year weights: that
gives switches (warfarin to DOAC after 2011-2014, liraglutide to semaglutide after 2018, the
GLP-1 surge of 2022-23) while market dates (atc.csv) stop any drug before it existed.
Approximate shapes from registers.md sections 3 and 4; not fitted to Danish sales figures.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DrugLine:
    options: tuple[tuple[str, dict[int, float]], ...]  # ATC and relative weight by calendar year
    probability: float = 1.0
    start_lag_years: float = 0.1  # mean delay from onset (exponential)
    duration_years: float | None = None  # mean length; None = until death, emigration or the end
    episode_gap_years: float | None = None  # recurrent treatment episodes separated by this mean gap
    period_years: float = 4.0  # mean time between re-choices of the drug
    stickiness: float = 0.75  # chance to keep the current drug at a re-choice
    indication: str | None = None  # indication code written on most dispensings


ALWAYS = {1990: 1.0}
_SU = {2005: 3.0, 2012: 1.0, 2020: 0.2}
_ADD_ON_T2D = (
    ("A10BB09", _SU),
    ("A10BB12", _SU),
    ("A10BH01", {2007: 0.0, 2009: 2.0, 2014: 3.0, 2019: 2.0, 2023: 0.8}),
    ("A10BD07", {2008: 0.0, 2010: 0.5, 2015: 1.0, 2023: 0.3}),
    ("A10BJ01", {2007: 0.0, 2008: 0.3, 2012: 0.2, 2016: 0.0}),
    ("A10BJ02", {2009: 0.0, 2011: 1.0, 2014: 2.0, 2018: 1.5, 2020: 0.4, 2023: 0.2}),
    ("A10BJ05", {2015: 0.0, 2016: 1.0, 2019: 2.0, 2023: 1.0}),
    ("A10BJ06", {2018: 0.0, 2019: 5.0, 2021: 11.0, 2022: 19.0, 2023: 24.0}),
    ("A10BK01", {2013: 0.0, 2015: 1.0, 2018: 2.5, 2023: 3.5}),
    ("A10BK03", {2014: 0.0, 2016: 1.0, 2018: 3.0, 2023: 4.0}),
    ("A10AE04", {2005: 2.0, 2015: 1.0, 2023: 0.5}),
    ("A10AE06", {2013: 0.0, 2015: 0.5, 2018: 1.0}),
)
_RAS = (
    ("C09AA05", {2005: 3.0, 2023: 2.0}),
    ("C09AA02", {2005: 1.0, 2023: 0.3}),
    ("C09CA01", {2005: 1.0, 2023: 3.0}),
    ("C09CA06", {2005: 0.5, 2023: 0.8}),
    ("C09DA01", {2005: 1.0, 2023: 0.5}),
)
_STATINS = (
    ("C10AA01", {2005: 4.0, 2012: 2.0, 2023: 0.5}),
    ("C10AA05", {2005: 0.5, 2012: 2.0, 2023: 4.0}),
    ("C10AA07", {2005: 0.1, 2023: 0.5}),
)
_DOAC = {2010: 0.0, 2012: 1.0, 2014: 4.0, 2018: 9.0}
_ANTICOAGULANTS = (
    ("B01AA03", {2005: 1.0, 2011: 1.0, 2014: 0.4, 2018: 0.1}),
    ("B01AE07", {2010: 0.0, 2012: 1.0, 2014: 1.0, 2018: 0.3}),
    ("B01AF01", _DOAC),
    ("B01AF02", {2010: 0.0, 2012: 0.5, 2014: 3.0, 2018: 10.0}),
    ("B01AF03", {2015: 0.0, 2017: 0.5, 2023: 0.8}),
)
_ANTIDEPRESSANTS = (
    ("N06AB04", {2005: 4.0, 2015: 2.0, 2023: 1.0}),
    ("N06AB10", {2005: 0.5, 2015: 1.5, 2023: 1.0}),
    ("N06AB06", {2005: 1.0, 2015: 2.0, 2023: 4.0}),
    ("N06AX11", ALWAYS),
    ("N06AX16", {2005: 0.5, 2023: 0.8}),
    ("N06AX21", {2005: 0.1, 2012: 0.5}),
    ("N06AA09", {2005: 0.3}),
    ("N06AX26", {2014: 0.0, 2016: 0.3, 2023: 0.5}),
)
_INHALED = (
    ("R03AK06", {2005: 2.0, 2023: 0.5}),
    ("R03AK07", {2005: 1.0, 2023: 2.0}),
    ("R03BA02", {2005: 1.0}),
    ("R03BA05", {2005: 0.5}),
)

REGIMES: dict[str, tuple[DrugLine, ...]] = {
    "type2_diabetes": (
        DrugLine(
            (("A10BA02", ALWAYS),),
            probability=0.9,
            start_lag_years=0.15,
            duration_years=14.0,
            indication="0000031",
        ),
        DrugLine(_ADD_ON_T2D, probability=0.6, start_lag_years=3.5, period_years=3.5, stickiness=0.6),
        DrugLine(_ADD_ON_T2D, probability=0.32, start_lag_years=6.0, period_years=3.5, stickiness=0.6),
        DrugLine(_STATINS, probability=0.55, start_lag_years=1.0, indication="0000029"),
    ),
    "type1_diabetes": (
        DrugLine(
            (
                ("A10AE04", {2005: 3.0, 2016: 1.0}),
                ("A10AE05", {2005: 1.0, 2016: 0.3}),
                ("A10AE06", {2013: 0.0, 2015: 2.0, 2020: 4.0}),
                ("A10AC01", {2005: 0.5, 2015: 0.1}),
            ),
            start_lag_years=0.02,
            period_years=6.0,
            indication="0000031",
        ),
        DrugLine(
            (("A10AB05", {2005: 2.0}), ("A10AB04", {2005: 1.0})), start_lag_years=0.02, period_years=8.0
        ),
    ),
    "hypertension": (
        DrugLine(
            (*_RAS, ("C08CA01", ALWAYS), ("C03AB01", {2005: 1.0, 2023: 0.3})),
            probability=0.96,
            start_lag_years=0.1,
            duration_years=20.0,
            indication="0000010",
        ),
        DrugLine(
            (*_RAS, ("C08CA01", {2005: 2.0}), ("C07AB02", ALWAYS)), probability=0.5, start_lag_years=3.0
        ),
        DrugLine(_STATINS, probability=0.3, start_lag_years=2.0),
    ),
    "ischaemic_heart_disease": (
        DrugLine(_STATINS, probability=0.85, start_lag_years=0.05, indication="0000029"),
        DrugLine((("B01AC06", ALWAYS),), probability=0.8, start_lag_years=0.02, duration_years=12.0),
        DrugLine(
            (("B01AC04", {2005: 1.0}), ("B01AC24", {2011: 0.0, 2012: 1.5})),
            probability=0.4,
            start_lag_years=0.02,
            duration_years=1.0,
        ),
        DrugLine((("C07AB02", ALWAYS), ("C07AB07", {2005: 0.5})), probability=0.6, start_lag_years=0.05),
        DrugLine((("C01DA02", ALWAYS),), probability=0.3, start_lag_years=0.1, duration_years=3.0),
    ),
    "heart_failure": (
        DrugLine(
            (*_RAS, ("C09DX04", {2016: 0.0, 2017: 1.0, 2023: 2.0})), probability=0.8, start_lag_years=0.05
        ),
        DrugLine((("C07AB07", ALWAYS), ("C07AB02", ALWAYS)), probability=0.75, start_lag_years=0.1),
        DrugLine((("C03CA01", ALWAYS),), probability=0.7, start_lag_years=0.02),
        DrugLine((("C03DA01", ALWAYS), ("C03DA04", {2005: 0.2})), probability=0.4, start_lag_years=0.3),
        DrugLine(
            (("A10BK01", {2020: 0.0, 2021: 1.0}), ("A10BK03", {2020: 0.0, 2021: 1.5})),
            probability=0.35,
            start_lag_years=0.3,
        ),
    ),
    "atrial_fibrillation": (
        DrugLine(
            _ANTICOAGULANTS,
            probability=0.88,
            start_lag_years=0.12,
            period_years=3.0,
            stickiness=0.55,
            indication="0000043",
        ),
        DrugLine((("C07AB02", ALWAYS), ("C07AB07", ALWAYS)), probability=0.6, start_lag_years=0.05),
        DrugLine((("C01AA05", {2005: 1.0, 2023: 0.4}),), probability=0.15, start_lag_years=0.1),
    ),
    "stroke": (
        DrugLine(
            (("B01AC06", {2005: 2.0, 2012: 0.5}), ("B01AC04", {2005: 0.5, 2012: 3.0})),
            probability=0.8,
            start_lag_years=0.02,
        ),
        DrugLine(_STATINS, probability=0.7, start_lag_years=0.05),
    ),
    "copd": (
        DrugLine(
            (
                ("R03BB04", {2005: 1.0, 2014: 1.0, 2018: 0.5}),
                ("R03AL03", {2014: 0.0, 2015: 1.0, 2019: 2.0}),
                ("R03AL04", {2013: 0.0, 2014: 0.5, 2019: 1.0}),
            ),
            probability=0.7,
            start_lag_years=0.2,
        ),
        DrugLine((("R03AC02", ALWAYS),), probability=0.6, start_lag_years=0.1, duration_years=6.0),
        DrugLine(_INHALED, probability=0.35, start_lag_years=1.0, duration_years=5.0),
    ),
    "asthma": (
        DrugLine(
            (("R03AC02", ALWAYS),),
            probability=0.9,
            start_lag_years=0.05,
            duration_years=5.0,
            episode_gap_years=0.7,
        ),
        DrugLine(_INHALED, probability=0.6, start_lag_years=0.3, duration_years=2.0, episode_gap_years=1.5),
        DrugLine((("R03DC03", ALWAYS),), probability=0.08, start_lag_years=0.5, duration_years=1.0),
    ),
    "depression": (
        DrugLine(
            _ANTIDEPRESSANTS,
            probability=0.88,
            start_lag_years=0.05,
            duration_years=2.0,
            episode_gap_years=2.0,
            period_years=0.7,
            stickiness=0.6,
            indication="0000036",
        ),
    ),
    "dementia": (
        DrugLine(
            (
                ("N06DA02", {2005: 3.0}),
                ("N06DA04", {2005: 1.0, 2015: 0.3}),
                ("N06DA03", {2005: 1.0, 2015: 0.4}),
            ),
            probability=0.65,
            start_lag_years=0.1,
            duration_years=3.0,
        ),
        DrugLine((("N06DX01", ALWAYS),), probability=0.3, start_lag_years=1.5),
    ),
    "rheumatoid_arthritis": (
        DrugLine((("L04AX03", ALWAYS),), probability=0.8, start_lag_years=0.1, indication="0000147"),
        DrugLine(
            (("H02AB06", ALWAYS),),
            probability=0.35,
            start_lag_years=0.02,
            duration_years=0.6,
            episode_gap_years=2.0,
        ),
        DrugLine(
            (("L04AB04", {2005: 1.0}), ("L04AB01", {2005: 1.0, 2020: 0.4})),
            probability=0.2,
            start_lag_years=2.0,
        ),
    ),
    "osteoporosis": (
        DrugLine(
            (("M05BA04", {2005: 5.0}), ("M05BA07", {2005: 1.0, 2015: 0.2})),
            probability=0.7,
            start_lag_years=0.1,
            duration_years=5.0,
        ),
        DrugLine((("M05BX04", {2010: 0.0, 2012: 1.0}),), probability=0.2, start_lag_years=3.0),
        DrugLine((("A12AX", ALWAYS),), probability=0.6, start_lag_years=0.05, duration_years=6.0),
    ),
    "chronic_kidney_disease": (
        DrugLine((("C09CA01", ALWAYS), ("C09AA05", ALWAYS)), probability=0.55, start_lag_years=0.1),
        DrugLine((("C03CA01", ALWAYS),), probability=0.3, start_lag_years=0.5),
        DrugLine((("A10BK01", {2020: 0.0, 2021: 1.0}),), probability=0.2, start_lag_years=0.3),
        DrugLine((("V03AE02", ALWAYS),), probability=0.05, start_lag_years=1.0),
    ),
    "breast_cancer": (
        DrugLine((("L02BA01", ALWAYS),), probability=0.4, start_lag_years=0.2, duration_years=5.0),
        DrugLine(
            (("L02BG04", {2005: 2.0}), ("L02BG03", ALWAYS)),
            probability=0.4,
            start_lag_years=0.3,
            duration_years=5.0,
        ),
    ),
    "prostate_cancer": (
        DrugLine((("L02AE02", ALWAYS), ("L02AE03", ALWAYS)), probability=0.4, start_lag_years=0.1),
        DrugLine((("L02BB03", ALWAYS),), probability=0.2, start_lag_years=0.05, duration_years=1.0),
    ),
    "colorectal_cancer": (
        DrugLine((("L01BC06", ALWAYS),), probability=0.3, start_lag_years=0.1, duration_years=0.5),
    ),
}

# Products that share an ATC code but are told apart by package number (VNR): Ozempic and Wegovy
# are both semaglutide A10BJ06, Victoza and Saxenda both liraglutide A10BJ02 [registers.md 1.3].
PRODUCT_VNR = {
    "Ozempic": ("A10BJ06", 580001),
    "Wegovy": ("A10BJ06", 590001),
    "Rybelsus": ("A10BJ06", 595001),
    "Victoza": ("A10BJ02", 570001),
    "Saxenda": ("A10BJ02", 575001),
}
# Share of the diabetes line's semaglutide dispensed as oral Rybelsus (from 2020), rest Ozempic.
RYBELSUS_SHARE = 0.12

# Weight-loss GLP-1 starts per calendar month, national (Saxenda from 2015, Wegovy from Dec 2022),
# shaped so that users reach ~27,800 in 2022 and ~117,500 in 2023 (targets.toml [glp1]).
SAXENDA_STARTS_PER_YEAR = {
    2015: 2500,
    2016: 4500,
    2017: 6500,
    2018: 8500,
    2019: 10500,
    2020: 12500,
    2021: 15000,
    2022: 21000,
    2023: 11000,
    2024: 6000,
}
WEGOVY_STARTS_PER_MONTH = {
    (2022, 12): 7500,
    (2023, 1): 14375,
    (2023, 2): 15000,
    (2023, 3): 15625,
    (2023, 4): 8750,
    (2023, 5): 7500,
    (2023, 6): 6875,
    (2023, 7): 6250,
    (2023, 8): 6250,
    (2023, 9): 6250,
    (2023, 10): 6250,
    (2023, 11): 6250,
    (2023, 12): 6250,
}
WEGOVY_STARTS_PER_MONTH_LATER = 8500
WEIGHT_LOSS_MEAN_YEARS = 0.55
# Off-label semaglutide (Ozempic) without diabetes, starts per year (Mailhac 2024: one third of
# 2022 initiators had no diabetes record, 13 % in 2023).
OFF_LABEL_OZEMPIC_STARTS = {2019: 1500, 2020: 3000, 2021: 6000, 2022: 14000, 2023: 6000, 2024: 4000}
# Metformin for polycystic ovary syndrome: women under 40, per year, with PCOS indication codes.
PCOS_METFORMIN_STARTS_PER_YEAR = 6000
PCOS_INDICATIONS = ("0000092", "0000276", "0000781")

# Background prescribing not tied to a modelled condition: short courses (antibiotics, pain,
# skin) and long-term use (PPI, levothyroxine, contraceptives ...), heavy-tailed per person.
ACUTE_COURSES_PER_YEAR = 2.6  # mean, before age and person propensity
ACUTE_PROPENSITY_SHAPE = 0.4  # gamma shape: small = heavy tail
CHRONIC_BACKGROUND_PER_PERSON = 2.4  # mean long-term background drugs started per 10 resident years
CHRONIC_BACKGROUND_MEAN_YEARS = 5.0
