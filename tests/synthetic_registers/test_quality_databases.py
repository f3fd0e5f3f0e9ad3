"""The clinical quality databases' generators, on hospital contacts made for the purpose."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from synthetic_registers.dates import NEVER, day, year_of
from synthetic_registers.hospital import KIND_OUTPATIENT, Contacts, code_book
from synthetic_registers.quality_databases import (
    HEART_FAILURE_INDICATORS,
    QUALITY_DATABASE_ENUMERATIONS,
    QUALITY_DATABASES,
    build_diabetes_statuses,
    build_heart_failure_registrations,
    indicator_share,
)
from synthetic_registers.schema import TABLES_BY_NAME


def contacts(person: np.ndarray, start: np.ndarray, code: str) -> Contacts:
    n = len(person)
    return Contacts(
        person=person,
        start=start,
        start_minute=np.zeros(n, dtype=np.int64),
        minutes=np.full(n, 30, dtype=np.int64),
        kind=np.full(n, KIND_OUTPATIENT),
        virtual=np.zeros(n, dtype=bool),
        acute=np.zeros(n, dtype=bool),
        specialty=np.zeros(n, dtype=np.int8),
        a_code=np.full(n, code_book().index[code], dtype=np.int32),
    )


def test_the_heart_failure_registry_registers_incident_patients_only():
    # persons 0-1999 fell ill a month before their first contact, persons 2000-3999 in 1998
    n = 4000
    person = np.arange(n)
    start = np.full(n, day(2012, 3, 1))
    onset = np.where(person < n // 2, day(2012, 2, 1), day(1998, 1, 1)).astype(np.int32)
    onset[:10] = NEVER  # no recorded onset: never incident
    people = SimpleNamespace(onsets={"heart_failure": onset})
    registered = build_heart_failure_registrations(
        np.random.default_rng(1), people, contacts(person, start, "DI500"), code_book().codes
    )
    assert registered.contact.max() < n // 2 and registered.contact.min() >= 10
    # half have reduced ejection fraction, about 90 % of those are registered
    assert 0.40 < len(registered.contact) / (n // 2) < 0.50
    assert set(registered.columns) == {c.name for c in TABLES_BY_NAME["dhd"].columns} - {
        "pnr",
        "recnum",
        "dw_ek_kontakt",
        "d_registrering",
    }


def test_heart_failure_indicators_rise_to_their_2010_level_and_stay_there():
    for shares in HEART_FAILURE_INDICATORS.values():
        by_year = indicator_share(shares, np.array([2003, 2006, 2010, 2020]))
        assert by_year[0] == shares[0] and by_year[2] == by_year[3] == shares[1]
        assert min(shares) <= by_year[1] <= max(shares)


def test_every_quality_database_fills_a_table_of_the_contract_with_labelled_variables():
    for database in QUALITY_DATABASES:
        table = TABLES_BY_NAME[database.table]
        names = {column.name for column in table.columns}
        assert {"pnr", "recnum", "dw_ek_kontakt", database.date_column} <= names
        labels = {column.code_system for column in table.columns if column.code_system}
        assert set(database.enumerations) <= labels
    assert {"NYHA class", "LVEF category"} <= set(QUALITY_DATABASE_ENUMERATIONS)


def test_the_adult_diabetes_registry_takes_one_status_a_year_from_outpatient_diabetes_visits():
    # person p: visits on 2010-03-01 and 2010-09-01 (DE10 for even, DE11 for odd persons), 2011-05-01,
    # and an admission for diabetes in 2012 that no clinic reports; one person's visits from 2004
    n = 1000
    person = np.repeat(np.arange(n), 4)
    start = np.tile([day(2010, 3, 1), day(2010, 9, 1), day(2011, 5, 1), day(2012, 1, 1)], n)
    visits = contacts(person, start, "DE109")
    visits.a_code[person % 2 == 1] = code_book().index["DE119"]
    visits.kind[3::4] = 0  # the admissions
    visits.start[:4] -= 6 * 366  # person 0's visits fall in 2004-2006, before the registry
    people = SimpleNamespace(onsets={})
    statuses = build_diabetes_statuses(np.random.default_rng(2), people, visits, code_book().codes)
    contact = statuses.contact
    assert set(visits.start[contact]) <= {day(2010, 3, 1), day(2011, 5, 1)} | set(visits.start[:4])
    assert not np.isin(contact, np.arange(3, 4 * n, 4)).any()  # no admission
    assert (year_of(visits.start[contact]) >= 2005).all()
    # about 85 % of the 2 * n person-years are reported
    assert 0.8 < len(contact) / (2 * n) < 0.9
    assert (np.asarray(statuses.columns["diabetestype"]) == np.where(person[contact] % 2 == 0, 1, 2)).all()
    hba1c = statuses.columns["hba1c"]
    assert 0 < hba1c.null_count < 0.06 * len(contact)
