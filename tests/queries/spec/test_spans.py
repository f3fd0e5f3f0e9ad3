"""Spec: windows answered from the compacted ``*_spans`` relations (first and last date per code and
person, or per code, person and calendar year for prescriptions) and the windows left to the
events, on both engines and both storages.

Every person but 10 has the index diagnosis (DE119) on 2018-01-01 (day 0). Dispensings of C09AA01
(A) and C09CA01 (C), as days from index:

=======  ==========================================  ==============================================
person   dispensings                                 there to pin down
=======  ==========================================  ==============================================
1        A -365, A +365                              a window strictly between first and last date
2        A -365, A 0, A +365                         an event on the index date, found in the list
3        A -100, A 2019-06-01                        the first date on the window's start
4        A 2016-01-01, A +100                        the last date on the window's end
5        A +31, C +31                                two codes of a prefix on one day: one day
6        A +31, C +59                                two codes on two days: two days
7        A +31, A +31, A +59                         a repeated day in one code's list
8        A -101, A +101                              one day outside either bound
9        A -366 (2016-12-31), A +366 (2019-01-02)    yearly spans either side of a 365-day window
11       A +730 (2020-01-01), A +1095 (2020-12-31)   a 364-day window strictly inside one year
=======  ==========================================  ==============================================

Person 10's first DE11 is in 2014 (LPR2, DE110), before the period: an index event only when any
occurrence in the period counts. Persons 1 and 9 have DI10 before index: 1 on two days, 9 on one
day recorded in both LPR2 and LPR3.
"""

from __future__ import annotations

import pytest

from tests.queries.engines import persons, run_both
from tests.queries.registers_text import write_registers

STORAGES = ("parquet", "layout")
T2D = {"type": "diagnosis", "codes": ["DE11"]}
PERIOD = {"start": "2015-01-01", "end": "2020-12-31"}
C09 = {"type": "prescription", "atc": ["C09"]}
C09AA = {"type": "prescription", "atc": ["C09AA"]}
DI10 = {"type": "diagnosis", "codes": ["DI10"]}

INDEXED = (1, 2, 3, 4, 5, 6, 7, 8, 9, 11)
INDEX_ROWS = "\n".join(f"| {p} | {p} | 2018-01-01 | 2018-01-01 | 1 | DE119 |" for p in INDEXED)
INDEX_DIAGNOSES = "\n".join(f"| {p} | DE119 | A |" for p in INDEXED)
SPAN_REGISTERS = {
    "bef": "| pnr | koen | foed_dag | reg | kom |\n"
    + "\n".join(f"| {p} | {1 + p % 2} | 1960-01-01 | 1084 | 101 |" for p in range(1, 12)),
    "lpr_adm": f"""
        | pnr | recnum | d_inddto   | d_uddto    | c_pattype | c_adiag |
        {INDEX_ROWS}
        | 10  | 10     | 2014-06-01 | 2014-06-01 | 1         | DE110   |
        | 1   | 30     | 2017-05-01 | 2017-05-01 | 1         | DI109   |
        | 1   | 31     | 2017-06-01 | 2017-06-01 | 1         | DI109   |
        | 9   | 32     | 2017-05-01 | 2017-05-01 | 1         | DI109   |
    """,
    "lpr_diag": f"""
        | recnum | c_diag | c_diagtype |
        {INDEX_DIAGNOSES}
        | 10     | DE110  | A          |
        | 30     | DI109  | A          |
        | 31     | DI109  | A          |
        | 32     | DI109  | A          |
    """,
    "lpr3_kontakter": """
        | pnr | dw_ek_kontakt | kont_starttidspunkt | kont_sluttidspunkt  | kont_type | prioritet |
        | 10  | 100           | 2018-01-01 08:00:00 | 2018-01-01 09:00:00 | ALCA00    | ATA3      |
        | 9   | 101           | 2017-05-01 08:00:00 | 2017-05-01 09:00:00 | ALCA00    | ATA3      |
    """,
    "lpr3_diagnoser": """
        | dw_ek_kontakt | diag_kode | diag_kode_type | senere_afkraeftet |
        | 100           | DE119     | A              | Nej               |
        | 101           | DI100     | A              | Nej               |
    """,
    "lmdb": """
        | pnr | eksd       | atc     | apk |
        | 1   | 2017-01-01 | C09AA01 | 1   |
        | 1   | 2019-01-01 | C09AA01 | 1   |
        | 2   | 2017-01-01 | C09AA01 | 1   |
        | 2   | 2018-01-01 | C09AA01 | 1   |
        | 2   | 2019-01-01 | C09AA01 | 1   |
        | 3   | 2017-09-23 | C09AA01 | 1   |
        | 3   | 2019-06-01 | C09AA01 | 1   |
        | 4   | 2016-01-01 | C09AA01 | 1   |
        | 4   | 2018-04-11 | C09AA01 | 1   |
        | 5   | 2018-02-01 | C09AA01 | 1   |
        | 5   | 2018-02-01 | C09CA01 | 1   |
        | 6   | 2018-02-01 | C09AA01 | 1   |
        | 6   | 2018-03-01 | C09CA01 | 1   |
        | 7   | 2018-02-01 | C09AA01 | 1   |
        | 7   | 2018-02-01 | C09AA01 | 1   |
        | 7   | 2018-03-01 | C09AA01 | 1   |
        | 8   | 2017-09-22 | C09AA01 | 1   |
        | 8   | 2018-04-12 | C09AA01 | 1   |
        | 9   | 2016-12-31 | C09AA01 | 1   |
        | 9   | 2019-01-02 | C09AA01 | 1   |
        | 11  | 2020-01-01 | C09AA01 | 1   |
        | 11  | 2020-12-31 | C09AA01 | 1   |
    """,
}


@pytest.fixture(scope="module")
def span_registers(tmp_path_factory):
    return write_registers(tmp_path_factory.mktemp("span-registers"), SPAN_REGISTERS)


def cohort(span_registers, criteria: list, occurrence: str = "first") -> set[int]:
    query = {
        "index": {"concept": T2D, "period": PERIOD, "occurrence": occurrence},
        "criteria": criteria,
        "result": {"kind": "cohort_count"},
    }
    (table,) = run_both(span_registers, query, STORAGES)
    return persons(span_registers, table)


def include(concept: dict, start: int | None = None, end: int | None = None, min_count: int = 1) -> dict:
    window = {k: v for k, v in (("start", start), ("end", end)) if v is not None}
    criterion = {"type": "include", "concept": concept, "min_count": min_count}
    return {**criterion, "window": window} if window else criterion


def test_the_first_ever_index_event_comes_from_the_spans_first_dates(span_registers):
    assert cohort(span_registers, []) == set(INDEXED)
    assert cohort(span_registers, [], occurrence="any") == set(range(1, 12))


@pytest.mark.parametrize(
    ("criterion", "expected"),
    [
        # shorter than a year: from the events
        (include(C09, -100, 100), {2, 3, 4, 5, 6, 7}),
        (include(C09, 0, 0), {2}),
        (include(C09, -100, -1), {3}),
        (include(C09, 1, 100), {4, 5, 6, 7}),
        (include(C09, 731, 1094), set()),  # 11's year 2020 has events either side
        # a year or longer: from the yearly spans
        (include(C09, 730, 1094), {11}),
        (include(C09, 731, 1095), {11}),
        (include(C09, -365, -1), {1, 2, 3, 8}),  # 9's spans end on 2016-12-31, begin 2019-01-02
        (include(C09, 1, 365), {1, 2, 4, 5, 6, 7, 8}),
        (include(C09, -364, 364), {2, 3, 4, 5, 6, 7, 8}),  # 1's events lie just outside
        (include(C09, -366, 366), {1, 2, 3, 4, 5, 6, 7, 8, 9}),
        (include(C09, -365, -365), {1, 2}),  # one day: from the events
        # one bound or none: from the spans
        (include(C09, end=-1), {1, 2, 3, 4, 8, 9}),
        (include(C09, start=1), {1, 2, 3, 4, 5, 6, 7, 8, 9, 11}),
        (include(C09), {1, 2, 3, 4, 5, 6, 7, 8, 9, 11}),
        ({"type": "exclude", "concept": C09, "window": {"start": -100, "end": 100}}, {1, 8, 9, 11}),
        ({"type": "exclude", "concept": C09, "window": {"end": -1}}, {5, 6, 7, 11}),
        # counts of days: from the events (two codes on one day are one day)
        (include(C09, -100, 100, min_count=2), {6, 7}),
        (include(C09, -100, 100, min_count=3), set()),
        (include(C09, min_count=2), {1, 2, 3, 4, 6, 7, 8, 9, 11}),
        (include(C09, start=0, min_count=3), set()),
        (include(C09, end=0, min_count=2), {2}),
        (include(C09AA, 1, 100, min_count=2), {7}),
        # diagnoses: spans per code and person answer one-sided windows; LPR2 and LPR3 on one day
        # are one day
        (include(DI10, end=-1), {1, 9}),
        (include(DI10, start=-300), {1, 9}),
        (include(DI10, start=-200), set()),  # 1's last DI10 is on day -214
        (include(DI10, -365, -1), {1, 9}),
        (include(DI10, end=-1, min_count=2), {1}),
        (include({**DI10, "primary_only": True}, end=-1, min_count=2), {1}),
    ],
)
def test_windows_and_counts_over_spans(span_registers, criterion, expected):
    assert cohort(span_registers, [criterion]) == expected


def test_characteristics_over_spans_match_the_reference(span_registers):
    items = [
        {"name": f"C09 {start}..{end}", "concept": C09, "window": {"start": start, "end": end}}
        for start, end in ((-100, 100), (-365, -1), (0, 365), (-364, 364))
    ]
    items.append({"name": "C09 twice", "concept": C09, "min_count": 2, "window": {"start": -100, "end": 100}})
    query = {
        "index": {"concept": T2D, "period": PERIOD},
        "result": {"kind": "characteristics", "items": items},
    }
    _, table = run_both(span_registers, query, STORAGES)
    assert [cell.count for cell in table.cells] == [6, 4, 7, 7, 2]
