"""Generate and write one chunk of persons: every register's rows for them, as Parquet parts.

A chunk is independent of the others (its random stream is seeded from the seed and the chunk
index), so chunks can run in parallel processes and the result does not depend on how many.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa

from synthetic_registers import conditions as cond
from synthetic_registers import hospital_parameters as hp
from synthetic_registers.biobank import COLLECTIONS, SAMPLE_TYPES, build_samples
from synthetic_registers.cancer_register import build_cancer_records
from synthetic_registers.context import ChunkPeople
from synthetic_registers.dates import NEVER, day
from synthetic_registers.deaths import build_death_records
from synthetic_registers.demography_parameters import REFERENCE_YEAR
from synthetic_registers.hospital import (
    LPR3_FROM,
    SPECIALTIES,
    Contacts,
    build_hospital_records,
    code_book,
)
from synthetic_registers.laboratory import ANALYSES, UNITS, build_lab_results, value_texts
from synthetic_registers.population import (
    ChunkPlan,
    assign_mothers,
    build_population,
    draw_exits_after_reference,
    truncate_to_window,
)
from synthetic_registers.prescriptions import INDICATIONS, atc_table, build_dispensings
from synthetic_registers.procedures import build_procedures, is_surgical, procedure_codes
from synthetic_registers.pseudonyms import person_keys
from synthetic_registers.quality_databases import QUALITY_DATABASES, QualityDatabase
from synthetic_registers.socioeconomic import build_education, build_income, final_levels
from synthetic_registers.writer import dates, labels, write_part

PERSON_BITS = 23  # running numbers: chunk index in the high bits, person within chunk below
RECNUM_BASE = 10**12  # record ids: chunk index * base + running number, unique across chunks
LPR3_KEY_OFFSET = 5 * 10**17
# Procedures draw from a random stream of their own (seeded from seed, chunk, this number), so that
# adding them left every other table of a seed as it was.
PROCEDURE_STREAM = 1
LABORATORY_STREAM = 2
QUALITY_DATABASE_STREAM = 3
_CLOCK = tuple(f"{m // 60:02d}:{m % 60:02d}" for m in range(1440))


def build_people(rng: np.random.Generator, plan: ChunkPlan) -> tuple[ChunkPeople, np.ndarray, np.ndarray]:
    """The chunk's persons with their conditions; also decedents and their causes of death."""
    persons = build_population(rng, plan)
    factors = cond.latent_factors(rng, len(persons))
    horizon = day(plan.exit_horizon_year + 1)
    life_end = np.minimum(np.minimum(persons.death, persons.emigration), horizon)
    onsets = cond.draw_onsets(rng, persons.sex, persons.birth, factors, persons.death != NEVER, life_end)
    draw_exits_after_reference(rng, persons, plan, cond.frailty(onsets, day(REFERENCE_YEAR)))
    for onset in onsets.values():
        onset[onset >= persons.exit] = NEVER
    cond.add_terminal_cancers(rng, onsets, persons.birth, persons.death, persons.sex)
    decedents, cause = cond.assign_causes_of_death(rng, onsets, persons.birth, persons.death, persons.sex)
    cause_of = np.full(len(persons), -2, dtype=np.int64)
    cause_of[decedents] = cause
    persons, keep = truncate_to_window(persons, plan)
    onsets = {name: onset[keep] for name, onset in onsets.items()}
    start_day, end_day = day(plan.start_year), day(plan.end_year + 1)
    people = ChunkPeople(
        plan=plan,
        start_day=start_day,
        end_day=end_day,
        sex=persons.sex,
        birth=persons.birth,
        entry=persons.entry(start_day),
        exit=np.minimum(persons.exit, end_day).astype(np.int32),
        death=persons.death,
        emigration=persons.emigration,
        immigration=persons.immigration,
        origin=persons.origin,
        region=persons.region,
        municipality=persons.municipality,
        ses=factors[keep, cond.cp.FACTORS.index("ses")].astype(np.float64),
        onsets=onsets,
        mother=np.full(len(persons), -1),
    )
    people.mother = assign_mothers(rng, persons, start_day)
    cause_of = cause_of[keep]
    dead = np.flatnonzero((cause_of > -2) & (persons.death != NEVER))
    return people, dead, cause_of[dead]


def _hospital_columns(
    rng: np.random.Generator,
    people: ChunkPeople,
    person_pnr: np.ndarray,
    plan: ChunkPlan,
    out_dir: Path,
    procedure_rng: np.random.Generator,
    quality_seed: list[int],
) -> tuple[dict[str, int], Contacts]:
    records = build_hospital_records(rng, people)
    c = records.contacts
    book = code_book()
    pnr = person_pnr[c.person]
    hospitals = [h for region in sorted(hp.HOSPITALS) for h in hp.HOSPITALS[region]]
    first_of_region = np.zeros(max(hp.HOSPITALS) + 1, dtype=np.int64)
    size_of_region = np.zeros(max(hp.HOSPITALS) + 1, dtype=np.int64)
    for region_code in sorted(hp.HOSPITALS):
        first_of_region[region_code] = hospitals.index(hp.HOSPITALS[region_code][0])
        size_of_region[region_code] = len(hp.HOSPITALS[region_code])
    region = people.region[c.person]
    hospital = first_of_region[region] + (rng.random(len(region)) * size_of_region[region]).astype(np.int64)
    counts = {}
    old = c.start < LPR3_FROM
    ids = np.arange(len(c.person), dtype=np.uint64) + np.uint64(plan.index * RECNUM_BASE + 1)
    lpr2_rows = np.flatnonzero(old)
    counts["lpr_adm"] = write_part(
        out_dir,
        "lpr_adm",
        {
            "pnr": pnr[old],
            "recnum": ids[old],
            "d_inddto": dates(c.start[old]),
            "d_uddto": dates(
                c.start[old] + np.where(c.kind[old] == 0, (c.start_minute[old] + c.minutes[old]) // 1440, 0)
            ),
            "c_pattype": c.kind[old].astype(np.uint8),
            "c_sgh": labels(hospital[old], hospitals),
            "c_spec": labels(c.specialty[old], [s[0] for s in SPECIALTIES]),
            "c_adiag": labels(c.a_code[old], book.codes),
        },
        plan.index,
    )
    b_old = old[records.b_contact]
    diag_contact = np.concatenate([lpr2_rows, records.b_contact[b_old]])
    diag_code = np.concatenate([c.a_code[old], records.b_code[b_old]])
    diag_type = np.concatenate([np.zeros(old.sum(), np.int8), np.ones(b_old.sum(), np.int8)])
    counts["lpr_diag"] = write_part(
        out_dir,
        "lpr_diag",
        {
            "recnum": ids[diag_contact],
            "c_diag": labels(diag_code, book.codes),
            "c_diagtype": labels(diag_type, ["A", "B"]),
        },
        plan.index,
    )
    new = ~old
    keys = ids + np.uint64(LPR3_KEY_OFFSET)
    start_us = c.start.astype(np.int64) * 86_400_000_000 + c.start_minute.astype(np.int64) * 60_000_000
    end_us = start_us + c.minutes.astype(np.int64) * 60_000_000
    counts["lpr3_kontakter"] = write_part(
        out_dir,
        "lpr3_kontakter",
        {
            "pnr": pnr[new],
            "dw_ek_kontakt": keys[new],
            "kont_starttidspunkt": pa.array(start_us[new], pa.timestamp("us")),
            "kont_sluttidspunkt": pa.array(end_us[new], pa.timestamp("us")),
            "kont_type": labels(c.virtual[new].astype(np.int8), ["ALCA00", "ALCA10"]),
            "kont_ans_hovedspec": labels(c.specialty[new], [s[1] for s in SPECIALTIES]),
            "prioritet": labels(np.where(c.acute[new], 0, 1), ["ATA1", "ATA3"]),
        },
        plan.index,
    )
    b_new = ~b_old
    diag_contact = np.concatenate([np.flatnonzero(new), records.b_contact[b_new]])
    diag_code = np.concatenate([c.a_code[new], records.b_code[b_new]])
    diag_type = np.concatenate([np.zeros(new.sum(), np.int8), np.ones(b_new.sum(), np.int8)])
    u = rng.random(len(diag_contact))
    retracted = np.where(
        u < hp.RETRACTED_SHARE, 0, np.where(u < hp.RETRACTED_SHARE + hp.RETRACTED_MISSING_SHARE, -1, 1)
    )
    counts["lpr3_diagnoser"] = write_part(
        out_dir,
        "lpr3_diagnoser",
        {
            "dw_ek_kontakt": keys[diag_contact],
            "diag_kode": labels(diag_code, book.codes),
            "diag_kode_type": labels(diag_type, ["A", "B"]),
            "senere_afkraeftet": labels(retracted, ["Ja", "Nej"]),
        },
        plan.index,
    )
    counts.update(_procedure_columns(procedure_rng, c, ids, keys, start_us, plan, out_dir))
    for database in QUALITY_DATABASES:
        rng_of_database = np.random.default_rng([*quality_seed, database.stream])
        counts[database.table] = _quality_database_columns(
            database, rng_of_database, people, c, pnr, ids, keys, plan, out_dir
        )
    return counts, c


def _quality_database_columns(
    database: QualityDatabase,
    rng,
    people: ChunkPeople,
    c: Contacts,
    pnr,
    ids,
    keys,
    plan: ChunkPlan,
    out_dir: Path,
) -> int:
    """A quality database's registrations, each on the contact it was made at (an LPR2 recnum
    before LPR3, an LPR3 contact key after)."""
    registered = database.build(rng, people, c, code_book().codes)
    contact = registered.contact
    lpr2 = c.start[contact] < LPR3_FROM
    return write_part(
        out_dir,
        database.table,
        {
            "pnr": pnr[contact],
            "recnum": pa.array(ids[contact], mask=~lpr2),
            "dw_ek_kontakt": pa.array(keys[contact], mask=lpr2),
            database.date_column: dates(c.start[contact]),
            **registered.columns,
        },
        plan.index,
    )


def _procedure_columns(rng, c, ids, keys, start_us, plan: ChunkPlan, out_dir: Path) -> dict[str, int]:
    """The procedure tables of both eras, each procedure on the contact it belongs to."""
    book = code_book()
    procedures = build_procedures(rng, book.codes, c.a_code, c.kind, c.minutes)
    contact, codes = procedures.contact, procedure_codes()
    surgical = is_surgical(codes)[procedures.code]
    lpr2 = c.start[contact] < LPR3_FROM
    counts = {}
    # LPR2 dates the procedure; only an admission lasts past its first day (d_uddto)
    minute = c.start_minute[contact].astype(np.int64) + procedures.minutes_after_start
    day_offset = np.where(c.kind[contact] == 0, minute // 1440, 0)
    for table, rows in (("lpr_sksopr", lpr2 & surgical), ("lpr_sksube", lpr2 & ~surgical)):
        counts[table] = write_part(
            out_dir,
            table,
            {
                "recnum": ids[contact[rows]],
                "c_opr": labels(procedures.code[rows], codes),
                "d_odto": dates(c.start[contact[rows]] + day_offset[rows]),
            },
            plan.index,
        )
    at_us = start_us[contact] + procedures.minutes_after_start * 60_000_000
    for table, rows in (
        ("lpr3_procedurer_kirurgi", ~lpr2 & surgical),
        ("lpr3_procedurer_andre", ~lpr2 & ~surgical),
    ):
        counts[table] = write_part(
            out_dir,
            table,
            {
                "dw_ek_kontakt": keys[contact[rows]],
                "procedurekode": labels(procedures.code[rows], codes),
                "procedure_tidspunkt": pa.array(at_us[rows], pa.timestamp("us")),
            },
            plan.index,
        )
    return counts


def _laboratory_columns(rng, people: ChunkPeople, c: Contacts, pnr, plan: ChunkPlan, out_dir: Path) -> int:
    """Blood test results of sampling occasions and of acute contacts (admissions, emergency room)."""
    acute = np.flatnonzero(c.kind != 1)
    results = build_lab_results(rng, people, c.person[acute], c.start[acute], c.start_minute[acute])
    texts = value_texts()[0]
    unit_of_analysis = np.array([UNITS.index(a.unit) for a in ANALYSES])
    women = people.sex[results.person] == 2

    def reference(limit: int) -> pa.Array:
        by_sex = np.array(
            [
                [np.nan if x is None else x for x in (a.reference_men[limit], a.reference_women[limit])]
                for a in ANALYSES
            ]
        )
        values = by_sex[results.analysis, women.astype(np.int64)]
        return pa.array(values, mask=np.isnan(values))

    return write_part(
        out_dir,
        "lab_forsker",
        {
            "pnr": pnr[results.person],
            "samplingdate": dates(results.sampled),
            "samplingtime": labels(results.minute, _CLOCK),
            "analysiscode": labels(results.analysis, [a.code for a in ANALYSES]),
            "value": labels(results.value, texts),
            "unit": labels(unit_of_analysis[results.analysis], UNITS),
            "refinterval_min": reference(0),
            "refinterval_max": reference(1),
        },
        plan.index,
    )


def _running(plan: ChunkPlan, n: int) -> np.ndarray:
    return (np.uint32(plan.index) << np.uint32(PERSON_BITS)) | np.arange(n, dtype=np.uint32)


def generate_chunk(plan: ChunkPlan, seed: int, out_dir: Path) -> dict[str, int]:
    """Generate one chunk and write its part of every table; returns rows written per table."""
    rng = np.random.default_rng([seed, plan.index])
    people, decedents, causes = build_people(rng, plan)
    pnr = person_keys(_running(plan, len(people)), seed)
    counts = {}

    def in_window(days: np.ndarray) -> np.ndarray:
        return np.where((days >= people.start_day) & (days < people.end_day), days, NEVER)

    counts["bef"] = write_part(
        out_dir,
        "bef",
        {
            "pnr": pnr,
            "koen": people.sex,
            "foed_dag": dates(people.birth),
            "doed_dato": dates(in_window(people.death)),
            "indvandret_dato": dates(in_window(people.immigration)),
            "udvandret_dato": dates(in_window(people.emigration)),
            "reg": people.region,
            "kom": people.municipality,
        },
        plan.index,
    )
    procedure_rng = np.random.default_rng([seed, plan.index, PROCEDURE_STREAM])
    quality_seed = [seed, plan.index, QUALITY_DATABASE_STREAM]
    hospital_counts, contacts = _hospital_columns(
        rng, people, pnr, plan, out_dir, procedure_rng, quality_seed
    )
    counts.update(hospital_counts)
    lab_rng = np.random.default_rng([seed, plan.index, LABORATORY_STREAM])
    counts["lab_forsker"] = _laboratory_columns(lab_rng, people, contacts, pnr, plan, out_dir)
    disp = build_dispensings(rng, people)
    person = np.concatenate(disp.person)
    atc = np.concatenate(disp.atc)
    table = atc_table()
    u = rng.random(len(atc))
    apk = 1.0 + (u >= 0.88) + (u >= 0.98)  # 1, 2 or 3 packages: 88 %, 10 %, 2 %
    counts["lmdb"] = write_part(
        out_dir,
        "lmdb",
        {
            "pnr": pnr[person],
            "eksd": dates(np.concatenate(disp.eksd)),
            "atc": labels(atc, table.codes),
            "apk": apk,
            "volume": table.ddd_per_pack[atc],
            "vnr": np.concatenate(disp.vnr),
            "indo": labels(np.concatenate(disp.indication), INDICATIONS),
        },
        plan.index,
    )
    del disp, person, atc, apk
    cancer = build_cancer_records(rng, people)
    counts["cancer"] = write_part(
        out_dir,
        "cancer",
        {
            "pnr": pnr[cancer.person],
            "d_diagnosedato": dates(cancer.diagnosed),
            "c_icd10": labels(cancer.icd10_id, cancer.icd10),
            "c_morfo3": labels(cancer.morphology_id, cancer.morphology),
        },
        plan.index,
    )
    deaths = build_death_records(rng, people, decedents, causes)
    counts["doedsaarsag"] = write_part(
        out_dir,
        "doedsaarsag",
        {
            "pnr": pnr[deaths.person],
            "d_dodsdto": dates(deaths.died),
            "c_dod1": labels(deaths.cause1, deaths.codes),
            "c_dod2": labels(deaths.cause2, deaths.codes),
        },
        plan.index,
    )
    final = final_levels(rng, people)
    education = build_education(rng, people, final)
    counts["udda"] = write_part(
        out_dir,
        "udda",
        {
            "pnr": pnr[education.person],
            "aar": education.year,
            "hfaudd": education.hfaudd,
            "udd_niveau": education.level,
        },
        plan.index,
    )
    income = build_income(rng, people, final)
    counts["ind"] = write_part(
        out_dir,
        "ind",
        {
            "pnr": pnr[income.person],
            "aar": income.year,
            "perindkialt": income.personal,
            "famaekvivadisp": income.household_equivalised,
        },
        plan.index,
    )
    del income
    samples = build_samples(rng, people)
    counts["biobank"] = write_part(
        out_dir,
        "biobank",
        {
            "pnr": pnr[samples.person],
            "sample_date": dates(samples.taken),
            "sample_type": labels(samples.sample_type, SAMPLE_TYPES),
            "biobank": labels(samples.collection, COLLECTIONS),
        },
        plan.index,
    )
    return counts
