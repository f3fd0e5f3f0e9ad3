"""The modelled conditions: who gets them when, how they show in registers, what kills.

Prevalence curves are shares of the living population on 1 January 2024 by age (knots at the
listed ages, linear in between), from the project reference (registers.md section 3, targets.toml);
cancer curves are yearly incidence per 100,000 (approximate, shaped on Danish cancer statistics).
``loadings`` tie conditions to shared latent risk factors, which makes them cluster:
metabolic (T2D, hypertension, IHD, heart failure, CKD), cardiac rhythm/vascular, smoking/
respiratory (COPD, lung cancer, IHD), mental, and socio-economic position (``ses``; a negative
loading means more common in the less educated).
"""

from __future__ import annotations

from dataclasses import dataclass, field

FACTORS = ("metabolic", "vascular", "smoking", "mental", "ses")


@dataclass(frozen=True)
class CancerSite:
    register_codes: tuple[tuple[str, float], ...]  # Cancer Registry ICD-10 without D (C509)
    morphologies: tuple[tuple[str, float], ...]  # ICD-O-3 morphology with behaviour digit


@dataclass(frozen=True)
class Condition:
    name: str
    lpr_codes: tuple[tuple[str, float], ...]  # LPR form with D prefix, five characters
    ages: tuple[float, ...]
    men: tuple[float, ...]
    women: tuple[float, ...]
    kind: str = "prevalence"  # or "incidence" (per 100,000 per year)
    sex: int = 0  # 0 both, 1 men only, 2 women only
    trend: float = 0.0  # yearly change of the log hazard over calendar time
    loadings: dict[str, float] = field(default_factory=dict)
    decedent_multiplier: float = 1.5  # hazard among those who die in the period (raised mortality)
    hospital_share: float = 1.0  # share ever coded at a hospital contact
    followups_per_year: float = 0.5  # later contacts carrying the code, per year while alive
    frailty: float = 1.0  # mortality multiplier once present
    fatal_share: float = 0.0  # cancers: share of cases that end in death (added for decedents)
    cancer: CancerSite | None = None
    death_codes: tuple[str, ...] = ()  # cause-of-death codes, D prefix
    death_weight: float = 0.0  # share of deaths with this as underlying cause
    death_lag_years: float = 2.0  # mean time from onset to death when it is the cause
    min_onset_age: float = 0.0


_AGES = (0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 105)
_CANCER_AGES = (0, 20, 30, 40, 50, 60, 70, 80, 90, 105)


def _scaled(values: tuple[float, ...], factor: float) -> tuple[float, ...]:
    return tuple(v * factor for v in values)


def _sub(code: str, digits: str = "0123456789", main: str = "9", main_weight: float = 4.0):
    return tuple((code + d, main_weight if d == main else 1.0) for d in digits)


_T2D = (0, 0.0005, 0.0016, 0.005, 0.015, 0.04, 0.09, 0.145, 0.17, 0.16, 0.15)
_IHD = (0, 0, 0, 0.001, 0.008, 0.026, 0.062, 0.105, 0.15, 0.17, 0.17)
_HF = (0, 0, 0, 0.0005, 0.002, 0.006, 0.015, 0.04, 0.085, 0.12, 0.12)
_AF = (0, 0, 0.0003, 0.001, 0.003, 0.012, 0.042, 0.095, 0.17, 0.2, 0.2)
_STROKE = (0, 0, 0.0004, 0.0008, 0.0025, 0.0085, 0.02, 0.041, 0.068, 0.08, 0.08)
_COPD = (0, 0, 0, 0.001, 0.005, 0.022, 0.055, 0.088, 0.1, 0.1, 0.1)
_HTN = (0, 0, 0.002, 0.01, 0.045, 0.14, 0.3, 0.46, 0.55, 0.56, 0.56)
_CKD = (0, 0.0005, 0.001, 0.002, 0.003, 0.006, 0.014, 0.032, 0.058, 0.075, 0.075)
_CANCER_SITES = {
    "breast": CancerSite(_sub("C50"), (("M85003", 8), ("M85203", 2), ("M85223", 1))),
    "prostate": CancerSite((("C61", 1.0),), (("M81403", 10), ("M85003", 0.2))),
    "lung": CancerSite((*_sub("C34"), ("C33", 0.05)), (("M81403", 5), ("M80703", 3), ("M80413", 2))),
    "colorectal": CancerSite((*_sub("C18"), ("C19", 1), ("C209", 4)), (("M81403", 9), ("M84803", 1))),
}

# Cancer patients die sooner of any cause: among persons alive on the reference date only this
# share of the non-fatal incidence applies, while in the last TERMINAL_CANCER_YEARS before any
# death the cancer hazard is TERMINAL_CANCER_MULTIPLIER times higher (calibrated to SDS's 47,514
# new cases in 2022 against 374,000 persons alive after a cancer in 2021).
CANCER_SURVIVOR_SHARE = 0.88
TERMINAL_CANCER_MULTIPLIER = 3.2
TERMINAL_CANCER_YEARS = 5.0
CONDITIONS: tuple[Condition, ...] = (
    Condition(
        "type2_diabetes",
        (*_sub("DE11", main="9", main_weight=8.0), ("DE149", 0.5)),
        _AGES,
        _scaled(_T2D, 1.111),
        _scaled(_T2D, 0.889),
        trend=0.075,
        loadings={"metabolic": 0.9, "ses": -0.35},
        decedent_multiplier=4.0,
        hospital_share=0.45,
        followups_per_year=0.25,
        frailty=1.3,
        death_codes=("DE119", "DE112", "DE149"),
        death_weight=0.02,
        death_lag_years=8.0,
    ),
    Condition(
        "type1_diabetes",
        _sub("DE10", main="9", main_weight=5.0),
        _AGES,
        (
            0,
            0.00258,
            0.006082,
            0.006819,
            0.006819,
            0.006635,
            0.006082,
            0.005345,
            0.004147,
            0.002765,
            0.002765,
        ),
        (
            0,
            0.002212,
            0.00516,
            0.005898,
            0.005898,
            0.005713,
            0.005253,
            0.004607,
            0.003594,
            0.002488,
            0.002488,
        ),
        decedent_multiplier=1.0,
        hospital_share=1.0,
        followups_per_year=1.5,
        frailty=2.2,
        death_codes=("DE109",),
        death_weight=0.003,
        death_lag_years=25.0,
    ),
    Condition(
        "hypertension",
        (("DI109", 10.0), ("DI119", 0.5), ("DI129", 0.3), ("DI150", 0.1)),
        _AGES,
        _scaled(_HTN, 1.05),
        _scaled(_HTN, 0.95),
        trend=0.01,
        loadings={"metabolic": 0.7, "vascular": 0.3, "ses": -0.15},
        decedent_multiplier=1.2,
        hospital_share=0.15,
        followups_per_year=0.1,
        frailty=1.1,
    ),
    Condition(
        "ischaemic_heart_disease",
        (("DI200", 2), ("DI209", 3), ("DI219", 3), ("DI214", 2), ("DI251", 3), ("DI259", 3)),
        _AGES,
        _scaled(_IHD, 1.23),
        _scaled(_IHD, 0.77),
        trend=-0.02,
        loadings={"metabolic": 0.6, "smoking": 0.5, "ses": -0.3},
        decedent_multiplier=2.2,
        hospital_share=0.95,
        followups_per_year=0.35,
        frailty=1.6,
        death_codes=("DI219", "DI259", "DI251"),
        death_weight=0.08,
        death_lag_years=3.0,
    ),
    Condition(
        "heart_failure",
        (("DI500", 5), ("DI501", 2), ("DI509", 4), ("DI110", 0.5), ("DI420", 0.5)),
        _AGES,
        _scaled(_HF, 0.96),
        _scaled(_HF, 0.64),
        loadings={"metabolic": 0.6, "vascular": 0.6},
        decedent_multiplier=3.5,
        hospital_share=0.95,
        followups_per_year=0.8,
        frailty=2.8,
        death_codes=("DI509", "DI500"),
        death_weight=0.035,
        death_lag_years=2.0,
        min_onset_age=18,
    ),
    Condition(
        "atrial_fibrillation",
        (("DI489", 5), ("DI480", 3), ("DI481", 2), ("DI482", 1), ("DI483", 1)),
        _AGES,
        _scaled(_AF, 0.88),
        _scaled(_AF, 0.62),
        trend=0.02,
        loadings={"vascular": 0.9, "metabolic": 0.2},
        decedent_multiplier=1.8,
        hospital_share=0.97,
        followups_per_year=0.45,
        frailty=1.5,
        death_codes=("DI489",),
        death_weight=0.005,
        min_onset_age=18,
    ),
    Condition(
        "stroke",
        (("DI639", 6), ("DI634", 2), ("DI619", 1.5), ("DI64", 0.5)),
        _AGES,
        _scaled(_STROKE, 1.15),
        _scaled(_STROKE, 0.87),
        trend=-0.01,
        loadings={"vascular": 0.7, "metabolic": 0.3, "smoking": 0.3},
        decedent_multiplier=2.2,
        hospital_share=1.0,
        followups_per_year=0.3,
        frailty=1.8,
        death_codes=("DI639", "DI619", "DI64"),
        death_weight=0.05,
        death_lag_years=1.5,
    ),
    Condition(
        "copd",
        (("DJ449", 6), ("DJ441", 3), ("DJ440", 1.5), ("DJ439", 0.5)),
        _AGES,
        _COPD,
        _COPD,
        trend=-0.02,
        loadings={"smoking": 1.0, "ses": -0.45},
        decedent_multiplier=2.5,
        hospital_share=0.37,
        followups_per_year=0.25,
        frailty=2.0,
        death_codes=("DJ449", "DJ441"),
        death_weight=0.055,
        death_lag_years=4.0,
        min_onset_age=30,
    ),
    Condition(
        "asthma",
        (("DJ459", 6), ("DJ450", 2), ("DJ451", 1), ("DJ46", 0.2)),
        _AGES,
        (0, 0.0875, 0.0875, 0.06875, 0.0625, 0.0625, 0.0625, 0.06875, 0.06875, 0.0625, 0.0625),
        (0, 0.0625, 0.0875, 0.09375, 0.0875, 0.0875, 0.0875, 0.0875, 0.08125, 0.075, 0.075),
        loadings={"smoking": 0.2},
        decedent_multiplier=1.1,
        hospital_share=0.4,
        followups_per_year=0.1,
        frailty=1.1,
        min_onset_age=1,
    ),
    Condition(
        "depression",
        (("DF321", 4), ("DF329", 3), ("DF322", 1), ("DF331", 2), ("DF339", 1)),
        _AGES,
        (0, 0.00728, 0.091, 0.1547, 0.182, 0.2093, 0.2275, 0.2548, 0.3094, 0.364, 0.364),
        (0, 0.01456, 0.182, 0.3094, 0.364, 0.4186, 0.455, 0.5096, 0.6188, 0.728, 0.728),
        loadings={"mental": 1.0, "ses": -0.2},
        decedent_multiplier=1.3,
        hospital_share=0.2,
        followups_per_year=0.6,
        frailty=1.2,
        min_onset_age=8,
    ),
    Condition(
        "dementia",
        (("DF009", 3), ("DF039", 4), ("DF019", 1), ("DG309", 3), ("DG311", 0.5)),
        _AGES,
        (0, 0, 0, 0, 0.0001, 0.0005, 0.0025, 0.01, 0.036, 0.075, 0.075),
        (0, 0, 0, 0, 0.0001, 0.0005, 0.0027, 0.011, 0.043, 0.09, 0.09),
        loadings={"mental": 0.4, "vascular": 0.3},
        decedent_multiplier=1.3,
        hospital_share=0.8,
        followups_per_year=0.4,
        frailty=3.0,
        death_codes=("DF039", "DG309", "DF019"),
        death_weight=0.06,
        death_lag_years=3.0,
        min_onset_age=40,
    ),
    Condition(
        "rheumatoid_arthritis",
        (("DM059", 3), ("DM069", 4), ("DM058", 1), ("DM060", 1)),
        _AGES,
        (0, 0.00023, 0.00092, 0.001725, 0.002875, 0.0046, 0.0069, 0.0092, 0.0092, 0.00805, 0.00805),
        (0, 0.00046, 0.0023, 0.004025, 0.0069, 0.0115, 0.01725, 0.02185, 0.02185, 0.01955, 0.01955),
        loadings={"smoking": 0.3},
        decedent_multiplier=1.3,
        hospital_share=0.95,
        followups_per_year=1.2,
        frailty=1.3,
        min_onset_age=16,
    ),
    Condition(
        "osteoporosis",
        (("DM819", 6), ("DM810", 2), ("DM800", 1), ("DM809", 1)),
        _AGES,
        (0, 0, 0, 0, 0.001, 0.005, 0.015, 0.035, 0.06, 0.08, 0.08),
        (0, 0, 0, 0, 0.004, 0.02, 0.06, 0.14, 0.24, 0.3, 0.3),
        loadings={"smoking": 0.2},
        decedent_multiplier=1.4,
        hospital_share=0.45,
        followups_per_year=0.2,
        frailty=1.2,
        min_onset_age=40,
    ),
    Condition(
        "chronic_kidney_disease",
        (("DN189", 5), ("DN183", 2), ("DN184", 1), ("DN185", 0.5)),
        _AGES,
        _scaled(_CKD, 1.15),
        _scaled(_CKD, 0.87),
        trend=0.03,
        loadings={"metabolic": 0.8, "vascular": 0.3},
        decedent_multiplier=2.5,
        hospital_share=1.0,
        followups_per_year=0.7,
        frailty=2.0,
        death_codes=("DN189",),
        death_weight=0.01,
        death_lag_years=4.0,
    ),
    Condition(
        "breast_cancer",
        (("DC509", 5), ("DC504", 3), ("DC508", 1), ("DC502", 1)),
        _CANCER_AGES,
        (0, 0, 0.5, 1, 2, 3, 4, 4, 4, 4),
        (0, 0.6, 28, 112, 258, 370, 448, 370, 336, 336),
        kind="incidence",
        trend=0.012,
        decedent_multiplier=1.0,
        hospital_share=1.0,
        followups_per_year=1.0,
        frailty=1.5,
        fatal_share=0.2,
        cancer=_CANCER_SITES["breast"],
        death_codes=("DC509",),
        death_weight=0.018,
        death_lag_years=4.0,
        min_onset_age=18,
    ),
    Condition(
        "prostate_cancer",
        (("DC61", 1.0),),
        _CANCER_AGES,
        (0, 0, 0, 0.8, 32, 370, 990, 1150, 1040, 1040),
        (0,) * 10,
        kind="incidence",
        sex=1,
        trend=0.015,
        decedent_multiplier=1.0,
        hospital_share=1.0,
        followups_per_year=0.8,
        frailty=1.4,
        fatal_share=0.23,
        cancer=_CANCER_SITES["prostate"],
        death_codes=("DC61",),
        death_weight=0.022,
        death_lag_years=4.0,
        min_onset_age=40,
    ),
    Condition(
        "lung_cancer",
        (("DC341", 3), ("DC343", 2), ("DC349", 4), ("DC340", 1)),
        _CANCER_AGES,
        (0, 0, 0.5, 4, 35, 140, 300, 350, 250, 250),
        (0, 0, 0.5, 5, 40, 150, 290, 260, 160, 160),
        kind="incidence",
        trend=-0.01,
        loadings={"smoking": 1.1, "ses": -0.3},
        decedent_multiplier=1.0,
        hospital_share=1.0,
        followups_per_year=2.0,
        frailty=6.0,
        fatal_share=0.78,
        cancer=_CANCER_SITES["lung"],
        death_codes=("DC349", "DC341", "DC343"),
        death_weight=0.07,
        death_lag_years=1.0,
        min_onset_age=25,
    ),
    Condition(
        "colorectal_cancer",
        (("DC189", 3), ("DC187", 2), ("DC209", 4), ("DC19", 1)),
        _CANCER_AGES,
        (0, 0.2, 2, 8, 40, 130, 300, 430, 480, 480),
        (0, 0.2, 2, 8, 35, 100, 220, 330, 380, 380),
        kind="incidence",
        loadings={"metabolic": 0.2, "smoking": 0.2},
        decedent_multiplier=1.0,
        hospital_share=1.0,
        followups_per_year=1.5,
        frailty=2.2,
        fatal_share=0.38,
        cancer=_CANCER_SITES["colorectal"],
        death_codes=("DC189", "DC209"),
        death_weight=0.03,
        death_lag_years=2.0,
        min_onset_age=20,
    ),
)

# Other cancers, to give the Cancer Registry its full size and many rare sites (approximate yearly
# incidence per 100,000 at ages 20/40/60/80, fatal share, morphology).
OTHER_CANCERS: tuple[tuple[str, float, float, float, float, float, str, int], ...] = (
    ("C43", 8, 25, 45, 60, 0.1, "M87203", 0),
    ("C67", 0.2, 3, 40, 140, 0.3, "M81203", 0),
    ("C64", 0.2, 4, 25, 45, 0.4, "M83123", 0),
    ("C25", 0.1, 3, 30, 80, 0.9, "M81403", 0),
    ("C83", 2, 5, 20, 50, 0.35, "M96803", 0),
    ("C91", 3, 3, 10, 40, 0.4, "M98233", 0),
    ("C92", 1.5, 2, 8, 30, 0.6, "M98613", 0),
    ("C54", 0.2, 8, 50, 60, 0.2, "M83803", 2),
    ("C56", 1, 8, 30, 45, 0.6, "M84613", 2),
    ("C53", 6, 18, 12, 14, 0.3, "M80703", 2),
    ("C62", 9, 8, 2, 1, 0.05, "M90613", 1),
    ("C71", 3, 6, 15, 20, 0.85, "M94403", 0),
    ("C16", 0.2, 2, 12, 35, 0.75, "M81403", 0),
    ("C15", 0.1, 2, 15, 30, 0.85, "M81403", 0),
    ("C22", 0.1, 1, 10, 20, 0.85, "M81703", 0),
    ("C73", 4, 8, 10, 10, 0.05, "M82603", 0),
    ("C32", 0, 1, 10, 15, 0.4, "M80703", 0),
    ("C09", 0.1, 3, 12, 8, 0.3, "M80703", 0),
    ("C01", 0, 1, 6, 5, 0.35, "M80703", 0),
    ("C90", 0, 1, 10, 30, 0.6, "M97323", 0),
    ("C81", 3, 2, 2, 3, 0.1, "M96503", 0),
    ("C45", 0, 0.2, 2, 6, 0.9, "M90503", 0),
    ("C40", 0.6, 0.2, 0.2, 0.3, 0.4, "M91803", 0),
    ("C47", 0.1, 0.05, 0.05, 0.1, 0.4, "M95403", 0),
    ("C17", 0, 0.3, 2, 4, 0.5, "M82403", 0),
    ("C37", 0, 0.1, 0.3, 0.3, 0.5, "M85803", 0),
    ("C44", 1, 20, 150, 450, 0.01, "M80903", 0),
)
OTHER_CANCER_DEATH_WEIGHT = 0.14
# the per-site figures above are conservative; scaled so that all sites together approach the
# 47,514 new cases of 2022 (SDS) once fatal cases are added for decedents
OTHER_CANCER_INCIDENCE_SCALE = 1.8
OTHER_CANCER_TREND = 0.012  # yearly rise of incidence (more diagnostics, older population)
# remaining cancer deaths, spread over OTHER_CANCERS by fatal share

# Rare conditions that leave a handful of persons in small strata (prevalence per 100,000,
# typical onset age, LPR code): for testing disclosure control on tiny cells.
RARE_CONDITIONS: tuple[tuple[str, float, float, str], ...] = (
    ("mody", 8, 22, "DE139"),
    ("cystic_fibrosis", 8, 0.5, "DE849"),
    ("huntington", 6, 45, "DG109"),
    ("motor_neuron_disease", 4, 62, "DG122"),
    ("down_syndrome", 40, 0, "DQ909"),
    ("young_onset_frontotemporal_dementia", 3, 55, "DG310"),
)

OTHER_DEATH_CAUSES: tuple[tuple[str, float], ...] = (
    ("DJ189", 5),
    ("DR549", 6),
    ("DA419", 3),
    ("DI709", 2),
    ("DN179", 1.5),
    ("DK703", 1.5),
    ("DE149", 1),
    ("DG209", 2),
    ("DI269", 1),
    ("DI350", 1),
    ("DK922", 1),
    ("DR99", 2),
    ("DX709", 0.8),
    ("DW199", 1.2),
    ("DV892", 0.4),
    ("DF101", 1.2),
    ("DI713", 0.7),
    ("DK566", 0.6),
    ("DU071", 0),
)
