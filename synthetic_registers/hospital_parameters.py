"""Hospital use: how many contacts whom, of which kind, in which department (approximate).

Calibrated to KL 2024 and Statistics Denmark's hospital statistics (targets.toml
[hospital_somatic_2022], [hospital_volume]): about 47 % of residents with a somatic contact a
year, 4 contacts per patient, a third with one, a tenth with ten or more; ~6 % of contacts are
admissions; LPR3 records more diagnoses per contact, most in 2019-2020; COVID-19 thinned planned
activity in spring 2020.
"""

from __future__ import annotations

CONTACTS_PER_YEAR = 1.5  # mean background contacts per resident-year at age factor 1
PROPENSITY_SHAPE = 0.32  # gamma shape of the persistent per-person propensity (heavy tail)
CHRONIC_EXTRA = 0.30  # relative extra background contacts per present chronic condition
# relative contact rate by age (knots) and the women's excess in fertile/adult ages
AGE_KNOTS = (0, 1, 3, 10, 18, 30, 45, 60, 70, 80, 90, 105)
AGE_RATE = (1.6, 1.0, 0.75, 0.6, 0.7, 0.8, 0.9, 1.15, 1.45, 1.7, 1.7, 1.6)
WOMEN_FACTOR = 1.15
WOMEN_ADMISSION_FACTOR = 0.8  # women's extra contacts are mostly outpatient (births are added apart)
# calendar: outpatient activity grew through the 2000s-2010s
YEAR_FACTOR = {2005: 0.75, 2010: 0.85, 2015: 0.93, 2019: 0.98, 2022: 1.0, 2030: 1.02}
COVID_THINNING = 0.35  # share of planned contacts dropped 11 March - 31 May 2020
ADMISSION_SHARE = ((0, 0.058), (1, 0.037), (18, 0.039), (65, 0.062), (80, 0.092), (105, 0.092))
ADMISSION_PROPENSITY_SHAPE = 0.3
EMERGENCY_SHARE = 0.10
VIRTUAL_SHARE = {2019: 0.08, 2020: 0.2, 2021: 0.17, 2022: 0.14, 2023: 0.13, 2030: 0.13}  # LPR3 ALCA10
B_DIAGNOSES_LPR2 = (0.48, 0.3, 0.14, 0.08)  # probabilities of 0, 1, 2, 3 secondary diagnoses
B_DIAGNOSES_LPR3_MEAN = {2019: 1.9, 2020: 1.8, 2021: 1.4, 2030: 1.3}
CHRONIC_AS_B_DIAGNOSIS = 0.25  # chance a coded chronic condition is repeated on a later contact
RETRACTED_SHARE = 0.015  # LPR3 senere_afkraeftet = 'Ja'
RETRACTED_MISSING_SHARE = 0.08
SUBCODE_DIGIT_WEIGHTS = (0.2, 0.1, 0.08, 0.07, 0.06, 0.05, 0.04, 0.04, 0.12, 0.24)

# department by diagnosis chapter: (LPR2 specialty code, LPR3 specialty text). 08 endocrinology
# is the code osdc uses; the other LPR2 codes are illustrative.
SPECIALTY = {
    "A": ("06", "infektionsmedicin"),
    "B": ("06", "infektionsmedicin"),
    "C": ("65", "klinisk onkologi"),
    "D": ("01", "intern medicin"),
    "E": ("08", "endokrinologi"),
    "F": ("52", "psykiatri"),
    "G": ("10", "neurologi"),
    "H": ("64", "oftalmologi"),
    "I": ("04", "kardiologi"),
    "J": ("12", "lungesygdomme"),
    "K": ("50", "kirurgi"),
    "L": ("70", "dermato-venerologi"),
    "M": ("54", "ortopædisk kirurgi"),
    "N": ("40", "urologi"),
    "O": ("58", "gynækologi og obstetrik"),
    "P": ("60", "pædiatri"),
    "Q": ("60", "pædiatri"),
    "R": ("01", "intern medicin"),
    "S": ("54", "ortopædisk kirurgi"),
    "T": ("54", "ortopædisk kirurgi"),
    "U": ("06", "infektionsmedicin"),
    "V": ("54", "ortopædisk kirurgi"),
    "W": ("54", "ortopædisk kirurgi"),
    "X": ("52", "psykiatri"),
    "Z": ("01", "intern medicin"),
}
EMERGENCY_SPECIALTY = ("02", "akutmedicin")
PAEDIATRICS = ("60", "pædiatri")
# hospital codes per region (illustrative 4-digit SKS-like codes)
HOSPITALS = {
    1081: ("8001", "8003", "8041"),
    1082: ("7001", "7601", "6620", "7005"),
    1083: ("4202", "5000", "5501", "6006"),
    1084: ("1301", "1309", "1330", "1401", "1516"),
    1085: ("3800", "4001", "3751"),
}
