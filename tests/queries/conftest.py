"""The spec registers: a handful of persons, each there to pin down one rule.

Person 1  man, T2D inpatient 2016-03-01 (LPR2, A), GLP-1 the same day, prostate cancer 2012.
Person 2  woman, T2D 2014 (before the period) and again 2019 in LPR3 (outpatient).
Person 3  man, T2D 2015-06-01 at an emergency room, metformin twice one day and once later, died
          2016-01-01 of DI21 with DE11 contributing.
Person 4  woman born on 29 February 1980: a retracted LPR3 DE11 in 2019 (age 39) and a real one
          on 2020-03-02 (age 40, inpatient: 25 hours), GLP-1 exactly 365 days later, breast
          cancer on the index day.
Person 5  man, T2D 2015-03-01 and emigrated that same day (still resident on it), GLP-1 before index.
Person 6  woman, T2D 2017-11-01 but immigrated only 2018-01-01 (not resident at index).
Person 7  man, type 1 diabetes 2016, a T2D B-diagnosis in 2021 (after the period).
Person 8  woman aged 74, T2D 2019-08-01 as a B-diagnosis of a 3-hour acute (ATA1) LPR3 contact.

Procedures: person 1 has a coronary angiography (UXAC85) on his 2016-03-01 admission and a PCI
(KFNG05) the day after; person 4 a hip replacement (KNFB20) on 2020-03-03, the morning after her
LPR3 contact started; person 8 a haemodialysis (BJFD20) on her 2019-08-01 contact; person 2 a CT
of the head (UXCA00) on 2019-05-01. A PCI on an LPR2 contact that is not in lpr_adm (recnum 99)
belongs to nobody.

Laboratory results: person 1 an HbA1c of 52 half a year before his index date and 46 a month
before it; person 3 an eGFR of 55 in 2014 and ">90" the month before his index date; person 4 two
eGFRs on one day (58 and 62) before her index date, an HbA1c of "6,9" % (decimal comma) in 2019 and
a CRP "<5" on her index day; person 5 a CRP of 12 on his index day; person 8 an HbA1c of 49 a month
before her index date and a CRP "<1" on it; person 2 an HbA1c of 60 in 2019.

Heart failure registry (RKKP): person 1 registered on his 2016-03-01 admission (NYHA 3, no
beta-blocker); person 3 on 2014-11-01 (NYHA 2, every indicator fulfilled); person 8 on 2018-05-01
(NYHA 4, not referred to exercise training); person 2 on 2021-02-01 (NYHA 1), after the period.
"""

from __future__ import annotations

import pytest

from tests.queries.registers_text import write_registers

SPEC_REGISTERS = {
    "bef": """
        | pnr | koen | foed_dag   | doed_dato  | indvandret_dato | udvandret_dato | reg  | kom |
        | 1   | 1    | 1960-03-15 |            |                 |                | 1084 | 101 |
        | 2   | 2    | 1970-06-15 |            |                 |                | 1082 | 751 |
        | 3   | 1    | 1950-01-01 | 2016-01-01 |                 |                | 1081 | 851 |
        | 4   | 2    | 1980-02-29 |            |                 |                | 1083 | 461 |
        | 5   | 1    | 1955-07-01 |            |                 | 2015-03-01     | 1085 | 259 |
        | 6   | 2    | 1965-01-01 |            | 2018-01-01      |                | 1084 | 147 |
        | 7   | 1    | 1990-01-01 |            |                 |                | 1082 | 751 |
        | 8   | 2    | 1945-05-05 |            |                 |                | 1085 | 259 |
    """,
    "lpr_adm": """
        | pnr | recnum | d_inddto   | d_uddto    | c_pattype | c_adiag |
        | 1   | 10     | 2016-03-01 | 2016-03-04 | 0         | DE119   |
        | 2   | 11     | 2014-03-01 | 2014-03-01 | 1         | DE110   |
        | 3   | 12     | 2015-06-01 | 2015-06-01 | 2         | DE119   |
        | 5   | 13     | 2015-03-01 | 2015-03-02 | 0         | DE119   |
        | 6   | 14     | 2017-11-01 | 2017-11-01 | 1         | DE119   |
        | 7   | 15     | 2016-02-01 | 2016-02-01 | 1         | DE109   |
    """,
    "lpr_diag": """
        | recnum | c_diag | c_diagtype |
        | 10     | DE119  | A          |
        | 10     | DI109  | B          |
        | 11     | DE110  | A          |
        | 12     | DE119  | A          |
        | 13     | DE119  | A          |
        | 14     | DE119  | A          |
        | 15     | DE109  | A          |
    """,
    "lpr_sksopr": """
        | recnum | c_opr  | d_odto     |
        | 10     | KFNG05 | 2016-03-02 |
        | 99     | KFNG05 | 2016-03-02 |
    """,
    "lpr_sksube": """
        | recnum | c_opr  | d_odto     |
        | 10     | UXAC85 | 2016-03-01 |
    """,
    "lpr3_procedurer_kirurgi": """
        | dw_ek_kontakt | procedurekode | procedure_tidspunkt |
        | 102           | KNFB20        | 2020-03-03 07:30:00 |
    """,
    "lpr3_procedurer_andre": """
        | dw_ek_kontakt | procedurekode | procedure_tidspunkt |
        | 103           | BJFD20        | 2019-08-01 21:00:00 |
        | 100           | UXCA00        | 2019-05-01 09:00:00 |
    """,
    "lab_forsker": """
        | pnr | samplingdate | samplingtime | analysiscode | value | unit          |
        | 1   | 2015-09-01   | 08:10        | NPU27300     | 52    | mmol/mol      |
        | 1   | 2016-02-01   | 08:10        | NPU27300     | 46    | mmol/mol      |
        | 3   | 2014-01-01   | 09:00        | DNK35302     | 55    | mL/min/1.73m2 |
        | 3   | 2015-05-01   | 09:00        | DNK35302     | >90   | mL/min/1.73m2 |
        | 4   | 2020-01-10   | 10:00        | DNK35302     | 58    | mL/min/1.73m2 |
        | 4   | 2020-01-10   | 10:30        | DNK35302     | 62    | mL/min/1.73m2 |
        | 4   | 2019-06-01   | 10:00        | NPU03835     | 6,9   | %             |
        | 4   | 2020-03-02   | 11:00        | NPU19748     | <5    | mg/L          |
        | 5   | 2015-03-01   | 11:00        | NPU19748     | 12    | mg/L          |
        | 8   | 2019-07-01   | 08:00        | NPU27300     | 49    | mmol/mol      |
        | 8   | 2019-08-01   | 21:00        | NPU19748     | <1    | mg/L          |
        | 2   | 2019-02-01   | 08:00        | NPU27300     | 60    | mmol/mol      |
    """,
    "lpr3_kontakter": """
        | pnr | dw_ek_kontakt | kont_starttidspunkt | kont_sluttidspunkt  | kont_type | prioritet |
        | 2   | 100           | 2019-05-01 08:00:00 | 2019-05-01 10:00:00 | ALCA00    | ATA3      |
        | 4   | 101           | 2019-03-10 08:00:00 | 2019-03-10 09:00:00 | ALCA00    | ATA3      |
        | 4   | 102           | 2020-03-02 08:00:00 | 2020-03-03 09:00:00 | ALCA00    | ATA3      |
        | 8   | 103           | 2019-08-01 20:00:00 | 2019-08-01 23:00:00 | ALCA00    | ATA1      |
        | 7   | 104           | 2021-01-05 10:00:00 | 2021-01-05 12:00:00 | ALCA00    | ATA1      |
    """,
    "lpr3_diagnoser": """
        | dw_ek_kontakt | diag_kode | diag_kode_type | senere_afkraeftet |
        | 100           | DE119     | A              | Nej               |
        | 101           | DE119     | A              | Ja                |
        | 102           | DE118     | A              |                   |
        | 103           | DI489     | A              | Nej               |
        | 103           | DE119     | B              | Nej               |
        | 104           | DE119     | B              | Nej               |
    """,
    "lmdb": """
        | pnr | eksd       | atc     | apk | volume | vnr    | indo |
        | 1   | 2016-03-01 | A10BJ02 | 1   | 30     | 100001 |      |
        | 3   | 2015-06-01 | A10BA02 | 1   | 100    | 100002 |      |
        | 3   | 2015-06-01 | A10BA02 | 1   | 100    | 100002 |      |
        | 3   | 2015-09-01 | A10BA02 | 1   | 100    | 100002 |      |
        | 4   | 2021-03-02 | A10BJ06 | 1   | 30     | 100003 |      |
        | 4   | 2021-03-03 | A10BK01 | 1   | 30     | 100004 |      |
        | 5   | 2014-12-01 | A10BJ02 | 1   | 30     | 100001 |      |
        | 5   | 2015-03-01 | A10BA02 | 2   | 100    | 100002 |      |
    """,
    "cancer": """
        | pnr | d_diagnosedato | c_icd10 | c_morfo3 |
        | 1   | 2012-01-01     | C61     | M81403   |
        | 4   | 2020-03-02     | C509    | M85003   |
    """,
    "doedsaarsag": """
        | pnr | d_dodsdto  | c_dod1 | c_dod2 |
        | 3   | 2016-01-01 | DI219  | DE119  |
    """,
    "udda": """
        | pnr | aar  | hfaudd | udd_niveau |
        | 1   | 2000 | 5080   | 30         |
        | 1   | 2010 | 6530   | 70         |
        | 3   | 1990 | 1010   | 10         |
        | 4   | 2021 | 6010   | 60         |
    """,
    "ind": """
        | pnr | aar  | perindkialt | famaekvivadisp |
        | 1   | 2015 | 420000      | 350000         |
        | 3   | 2014 | 180000      | 200000         |
        | 4   | 2019 | 610000      | 500000         |
    """,
    "dhd": """
        | pnr | recnum | d_registrering | nyha | lvef  | ind_ekko | ind_raas | ind_betablok | ind_traening |
        | 1   | 10     | 2016-03-01     | 3    | 26-35 | Ja       | Ja       | Nej          | Ja           |
        | 3   |        | 2014-11-01     | 2    | <=25  | Ja       | Ja       | Ja           | Ja           |
        | 8   |        | 2018-05-01     | 4    | 36-40 | Ja       | Ja       | Ja           | Nej          |
        | 2   |        | 2021-02-01     | 1    | 26-35 | Ja       | Ja       | Ja           | Ja           |
    """,
    "biobank": """
        | pnr | sample_date | sample_type      | biobank |
        | 1   | 2010-05-01  | serum            | DNB     |
        | 1   | 2016-04-01  | dna              | DNB     |
        | 4   | 1980-03-05  | dried_blood_spot | NBS     |
        | 5   | 2015-03-01  | plasma           | DNB     |
    """,
}


@pytest.fixture(scope="session")
def spec_registers(tmp_path_factory):
    return write_registers(tmp_path_factory.mktemp("spec-registers"), SPEC_REGISTERS)


@pytest.fixture(scope="session")
def generated_registers(tmp_path_factory):
    """10,000 persons from the synthetic register generator, with its catalog (small enough for the
    reference engine, large enough that every example finds persons)."""
    from synthetic_registers.generate import generate_registers

    directory = tmp_path_factory.mktemp("generated-registers")
    generate_registers(directory, persons=10_000, seed=11, workers=1)
    return directory
