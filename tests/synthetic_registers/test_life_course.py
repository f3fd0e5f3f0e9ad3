"""Invariants of the generated registers, checked with DuckDB over the Parquet parts."""

from __future__ import annotations

import duckdb
import pyarrow.parquet as pq
import pytest

from synthetic_registers.schema import TABLES
from synthetic_registers.writer import arrow_schema

# person-level event tables and the date of the event in each
EVENTS = {
    "lpr_adm": "d_inddto",
    "lpr3_kontakter": "CAST(kont_starttidspunkt AS DATE)",
    "lmdb": "eksd",
    "doedsaarsag": "d_dodsdto",
    "biobank": "sample_date",
    "lab_forsker": "samplingdate",
    "dhd": "d_registrering",
}


@pytest.fixture(scope="module")
def db(small_registers):
    connection = duckdb.connect()
    for table in TABLES:
        connection.execute(
            f"CREATE VIEW {table.name} AS "
            f"SELECT * FROM read_parquet('{small_registers}/{table.name}/*.parquet')"
        )
    return connection


def count(db, sql: str) -> int:
    return db.execute(sql).fetchone()[0]


def test_every_table_has_rows_with_exactly_the_schema_columns(db, small_registers):
    for table in TABLES:
        part = next((small_registers / table.name).glob("*.parquet"))
        schema = pq.read_schema(part)
        assert schema.names == [c.name for c in table.columns]
        expected = arrow_schema(table.name)
        for field in expected:
            assert schema.field(field.name).type == field.type, (table.name, field.name)
        assert count(db, f"SELECT count(*) FROM {table.name}") > 0


@pytest.mark.parametrize("table", sorted(EVENTS))
def test_no_event_before_birth_or_after_death_or_emigration(db, table):
    when = EVENTS[table]
    bad = count(
        db,
        f"""SELECT count(*) FROM {table} t JOIN bef b USING (pnr)
            WHERE {when} < b.foed_dag OR {when} > b.doed_dato OR {when} >= b.udvandret_dato""",
    )
    assert bad == 0
    orphans = count(db, f"SELECT count(*) FROM {table} WHERE pnr NOT IN (SELECT pnr FROM bef)")
    assert orphans == 0


def test_no_health_records_before_arrival_in_the_window(db):
    for table in ("lpr_adm", "lmdb", "lpr3_kontakter"):
        when = EVENTS[table]
        assert (
            count(db, f"SELECT count(*) FROM {table} JOIN bef USING (pnr) WHERE {when} < indvandret_dato")
            == 0
        )
        assert count(db, f"SELECT count(*) FROM {table} WHERE year({when}) NOT BETWEEN 2005 AND 2024") == 0


def test_population_table_is_consistent(db):
    assert count(db, "SELECT count(*) - count(DISTINCT pnr) FROM bef") == 0
    assert count(db, "SELECT count(*) FROM bef WHERE reg NOT BETWEEN 1081 AND 1085") == 0
    assert count(db, "SELECT count(*) FROM bef WHERE koen NOT IN (1, 2)") == 0
    assert count(db, "SELECT count(*) FROM bef WHERE doed_dato < foed_dag OR udvandret_dato < foed_dag") == 0
    assert (
        count(db, "SELECT count(*) FROM bef WHERE doed_dato IS NOT NULL AND udvandret_dato IS NOT NULL") == 0
    )
    # every death in the window has its cause-of-death record, and only deaths do
    assert count(db, "SELECT count(*) FROM bef WHERE doed_dato IS NOT NULL") == count(
        db, "SELECT count(*) FROM doedsaarsag"
    )
    # pseudonyms are not a running number
    sequential = count(
        db, "SELECT count(*) FROM (SELECT pnr - lag(pnr) OVER (ORDER BY pnr) AS d FROM bef) WHERE d = 1"
    )
    assert sequential < 0.01 * count(db, "SELECT count(*) FROM bef")


def test_record_ids_are_unique_and_join(db):
    assert count(db, "SELECT count(*) - count(DISTINCT recnum) FROM lpr_adm") == 0
    assert count(db, "SELECT count(*) - count(DISTINCT dw_ek_kontakt) FROM lpr3_kontakter") == 0
    assert count(db, "SELECT count(*) FROM lpr_diag WHERE recnum NOT IN (SELECT recnum FROM lpr_adm)") == 0
    assert (
        count(
            db,
            "SELECT count(*) FROM lpr3_diagnoser "
            "WHERE dw_ek_kontakt NOT IN (SELECT dw_ek_kontakt FROM lpr3_kontakter)",
        )
        == 0
    )
    one_action = (
        "SELECT count(*) FROM (SELECT recnum FROM lpr_diag WHERE c_diagtype = 'A' "
        "GROUP BY recnum HAVING count(*) <> 1)"
    )
    assert count(db, one_action) == 0
    assert (
        count(
            db,
            "SELECT count(*) FROM lpr_adm a JOIN lpr_diag d USING (recnum) "
            "WHERE d.c_diagtype = 'A' AND d.c_diag <> a.c_adiag",
        )
        == 0
    )


def test_lpr2_until_2018_and_lpr3_from_2019(db):
    assert count(db, "SELECT count(*) FROM lpr_adm WHERE d_inddto >= DATE '2019-01-01'") == 0
    assert (
        count(db, "SELECT count(*) FROM lpr3_kontakter WHERE kont_starttidspunkt < TIMESTAMP '2019-01-01'")
        == 0
    )
    assert count(db, "SELECT count(*) FROM lpr_adm WHERE d_uddto < d_inddto") == 0
    assert (
        count(db, "SELECT count(*) FROM lpr3_kontakter WHERE kont_sluttidspunkt <= kont_starttidspunkt") == 0
    )


def test_code_formats(db):
    assert (
        count(db, "SELECT count(*) FROM lpr_diag WHERE NOT regexp_matches(c_diag, '^D[A-Z][0-9]{2,3}$')") == 0
    )
    assert (
        count(
            db,
            "SELECT count(*) FROM lpr3_diagnoser WHERE NOT regexp_matches(diag_kode, '^D[A-Z][0-9]{2,3}$')",
        )
        == 0
    )
    assert (
        count(db, "SELECT count(*) FROM doedsaarsag WHERE NOT regexp_matches(c_dod1, '^D[A-Z][0-9]{2,3}$')")
        == 0
    )
    assert count(db, "SELECT count(*) FROM cancer WHERE NOT regexp_matches(c_icd10, '^C[0-9]{2,3}$')") == 0
    assert count(db, "SELECT count(*) FROM cancer WHERE NOT regexp_matches(c_morfo3, '^M[0-9]{5}$')") == 0
    assert (
        count(
            db,
            "SELECT count(*) FROM lmdb WHERE NOT regexp_matches(atc, '^[A-Z][0-9]{2}[A-Z]{2}([0-9]{2})?$')",
        )
        == 0
    )
    assert (
        count(
            db, "SELECT count(*) FROM lmdb WHERE indo IS NOT NULL AND NOT regexp_matches(indo, '^[0-9]{7}$')"
        )
        == 0
    )
    assert count(db, "SELECT count(DISTINCT c_diag) FROM lpr_diag") > 1000
    assert (
        count(
            db, "SELECT count(DISTINCT senere_afkraeftet) FROM lpr3_diagnoser WHERE senere_afkraeftet = 'Ja'"
        )
        == 1
    )


def test_sex_specific_codes_only_in_the_right_sex(db):
    diagnoses = """
        SELECT b.koen, g.c_diag AS code FROM lpr_adm a JOIN lpr_diag g USING (recnum) JOIN bef b USING (pnr)
        UNION ALL SELECT b.koen, g.diag_kode FROM lpr3_kontakter k JOIN lpr3_diagnoser g USING (dw_ek_kontakt)
        JOIN bef b USING (pnr)"""
    female_only = "regexp_matches(code, '^D(O|C5[3-6]|Z3[3-79]|N[7-9])')"
    assert count(db, f"SELECT count(*) FROM ({diagnoses}) WHERE koen = 1 AND {female_only}") == 0
    assert (
        count(
            db,
            f"SELECT count(*) FROM ({diagnoses}) "
            "WHERE koen = 2 AND regexp_matches(code, '^D(C6[12]|N4[0-9])')",
        )
        == 0
    )
    assert (
        count(db, "SELECT count(*) FROM cancer JOIN bef USING (pnr) WHERE koen = 2 AND c_icd10 LIKE 'C61%'")
        == 0
    )
    assert (
        count(
            db,
            "SELECT count(*) FROM cancer JOIN bef USING (pnr) "
            "WHERE koen = 1 AND regexp_matches(c_icd10, '^C5[3-6]')",
        )
        == 0
    )
    assert count(db, f"SELECT count(*) FROM ({diagnoses}) WHERE koen = 2 AND code LIKE 'DO80%'") > 0


def test_drugs_respect_market_dates(db):
    assert count(db, "SELECT count(*) FROM lmdb WHERE atc LIKE 'A10BK%' AND eksd < DATE '2013-01-01'") == 0
    assert count(db, "SELECT count(*) FROM lmdb WHERE atc LIKE 'B01AF%' AND eksd < DATE '2011-01-01'") == 0
    assert count(db, "SELECT count(*) FROM lmdb WHERE atc = 'A10BJ06' AND eksd < DATE '2018-01-01'") == 0
    glp1 = {y: n for y, n in db.execute(
        "SELECT year(eksd), count(DISTINCT pnr) FROM lmdb WHERE atc LIKE 'A10BJ%' GROUP BY 1"
    ).fetchall()}  # fmt: skip
    assert glp1[2023] > 2 * glp1[2019]  # the GLP-1 surge
    doac = (
        "SELECT count(DISTINCT pnr) FROM lmdb WHERE (atc LIKE 'B01AF%' OR atc = 'B01AE07') AND year(eksd) = "
    )
    warfarin = "SELECT count(DISTINCT pnr) FROM lmdb WHERE atc = 'B01AA03' AND year(eksd) = "
    assert count(db, doac + "2022") > count(db, warfarin + "2022")
    assert count(db, warfarin + "2008") > count(db, doac + "2008")


def test_type2_diabetes_drugs_follow_diagnoses(db):
    # among persons with a hospital type 2 diabetes code, most also buy glucose-lowering drugs
    share = db.execute(
        """SELECT avg(CASE WHEN pnr IN (SELECT pnr FROM lmdb WHERE atc LIKE 'A10%') THEN 1.0 ELSE 0 END)
           FROM (SELECT DISTINCT a.pnr FROM lpr_adm a JOIN lpr_diag g USING (recnum)
                 WHERE g.c_diag LIKE 'DE11%')"""
    ).fetchone()[0]
    assert share > 0.7
    # and many metformin users have no hospital diabetes code at all (diagnosed by their GP)
    gp_only = db.execute(
        """SELECT avg(CASE WHEN pnr IN (SELECT a.pnr FROM lpr_adm a JOIN lpr_diag g USING (recnum)
                                        WHERE g.c_diag LIKE 'DE1%') THEN 0.0 ELSE 1.0 END)
           FROM (SELECT DISTINCT pnr FROM lmdb WHERE atc = 'A10BA02' AND year(eksd) <= 2018)"""
    ).fetchone()[0]
    assert gp_only > 0.3


def test_biobank_spots_for_births_since_1982_and_tissue_after_cancer(db):
    assert (
        count(
            db,
            "SELECT count(*) FROM biobank JOIN bef USING (pnr) "
            "WHERE sample_type = 'dried_blood_spot' AND foed_dag < DATE '1982-01-01'",
        )
        == 0
    )
    tissue_cancer = db.execute(
        """SELECT avg(CASE WHEN pnr IN (SELECT pnr FROM cancer) THEN 1.0 ELSE 0 END) FROM biobank
           WHERE sample_type = 'tissue'"""
    ).fetchone()[0]
    assert tissue_cancer > 0.5
    assert count(db, "SELECT count(DISTINCT sample_type) FROM biobank") == 6


def test_lpr3_diagnosis_spike_and_covid_dip(db):
    per_contact = dict(db.execute(
        """SELECT year(k.kont_starttidspunkt), count(*) / count(DISTINCT k.dw_ek_kontakt)
           FROM lpr3_kontakter k JOIN lpr3_diagnoser USING (dw_ek_kontakt) GROUP BY 1"""
    ).fetchall())  # fmt: skip
    lpr2 = db.execute("SELECT count(*) / count(DISTINCT recnum) FROM lpr_diag").fetchone()[0]
    assert per_contact[2019] > per_contact[2022] > lpr2
    spring = (
        "SELECT count(*) FROM lpr3_kontakter "
        "WHERE month(kont_starttidspunkt) IN (4, 5) AND year(kont_starttidspunkt) = "
    )
    assert count(db, spring + "2020") < 0.85 * count(db, spring + "2019")


def test_rare_conditions_leave_small_cells(db):
    rare = db.execute(
        """SELECT c_diag, count(DISTINCT pnr) FROM lpr_adm JOIN lpr_diag USING (recnum)
           WHERE c_diag IN ('DE139', 'DE849', 'DG109', 'DG122', 'DQ909', 'DG310') GROUP BY 1"""
    ).fetchall()
    persons = dict(rare)
    assert persons, "rare conditions should appear"
    assert all(n < 25 for n in persons.values())  # a handful per code at 20,000 persons


def test_diabetes_and_copd_drugs_are_commoner_with_less_education(db):
    def share(drug_condition: str, levels: str) -> float:
        return db.execute(
            f"""WITH level AS (SELECT pnr, max(udd_niveau) AS top FROM udda GROUP BY pnr)
                SELECT avg(CASE WHEN pnr IN (SELECT pnr FROM lmdb WHERE {drug_condition}) THEN 1.0 ELSE 0 END)
                FROM bef JOIN level USING (pnr)
                WHERE top IN ({levels}) AND foed_dag BETWEEN DATE '1945-01-01' AND DATE '1965-12-31'"""
        ).fetchone()[0]

    metformin = "atc = 'A10BA02'"
    copd = "atc LIKE 'R03BB%' OR atc LIKE 'R03AL%'"
    assert share(metformin, "10") > 1.2 * share(metformin, "60, 70, 80")
    assert share(copd, "10") > 1.2 * share(copd, "60, 70, 80")


# --- procedures -----------------------------------------------------------------------------------

PROCEDURES = {
    "lpr_sksopr": ("lpr_adm", "recnum", "c_opr", "d_odto", "d_inddto", "d_uddto"),
    "lpr_sksube": ("lpr_adm", "recnum", "c_opr", "d_odto", "d_inddto", "d_uddto"),
    "lpr3_procedurer_kirurgi": (
        "lpr3_kontakter",
        "dw_ek_kontakt",
        "procedurekode",
        "procedure_tidspunkt",
        "kont_starttidspunkt",
        "kont_sluttidspunkt",
    ),
    "lpr3_procedurer_andre": (
        "lpr3_kontakter",
        "dw_ek_kontakt",
        "procedurekode",
        "procedure_tidspunkt",
        "kont_starttidspunkt",
        "kont_sluttidspunkt",
    ),
}


@pytest.mark.parametrize("table", sorted(PROCEDURES))
def test_every_procedure_lies_within_a_contact_of_its_era_and_table(db, table):
    contacts, key, code, when, start, end = PROCEDURES[table]
    outside = count(
        db,
        f"""SELECT count(*) FROM {table} p LEFT JOIN {contacts} c USING ({key})
            WHERE c.{key} IS NULL OR p.{when} < c.{start} OR p.{when} > c.{end}""",
    )
    assert outside == 0
    surgical = table in ("lpr_sksopr", "lpr3_procedurer_kirurgi")
    wrong_kind = count(db, f"SELECT count(*) FROM {table} WHERE ({code} LIKE 'K%') <> {surgical}")
    assert wrong_kind == 0


def test_every_procedure_code_is_in_the_catalog(db):
    from synthetic_registers.codes import sks_procedure_list

    written = {
        row[0]
        for table, (_, _, code, *_) in PROCEDURES.items()
        for row in db.execute(f"SELECT DISTINCT {code} FROM {table}").fetchall()
    }
    assert written <= {c.code for c in sks_procedure_list().codes}
    assert {"KFNG05", "KNFB20", "BJFD20", "BWHA110", "UXCA00"} <= written


def test_procedures_follow_the_conditions(db):
    """PCI after myocardial infarction, dialysis only in kidney disease, joint replacement only in
    osteoarthritis of that joint."""
    procedures = """
        SELECT a.pnr, p.d_odto AS d, p.c_opr AS code FROM lpr_sksopr p JOIN lpr_adm a USING (recnum)
        UNION ALL SELECT a.pnr, p.d_odto, p.c_opr FROM lpr_sksube p JOIN lpr_adm a USING (recnum)
    """
    diagnoses = "SELECT a.pnr, g.c_diag AS code FROM lpr_adm a JOIN lpr_diag g USING (recnum)"
    with_pci = db.execute(
        f"""WITH mi AS (SELECT DISTINCT pnr, d_inddto AS d FROM lpr_adm
                        WHERE c_adiag LIKE 'DI21%' AND c_pattype = 0)
            SELECT avg(CASE WHEN EXISTS (SELECT 1 FROM ({procedures}) p WHERE p.pnr = mi.pnr
                   AND p.code LIKE 'KFNG%' AND p.d BETWEEN mi.d AND mi.d + 7) THEN 1.0 ELSE 0 END)
            FROM mi"""
    ).fetchone()[0]
    assert 0.4 < with_pci < 0.95
    for procedure, diagnosis in (("BJFD", "DN18"), ("KNFB", "DM16"), ("KNGB", "DM17"), ("KMCA", "DO82")):
        unexplained = count(
            db,
            f"""SELECT count(*) FROM ({procedures}) p WHERE p.code LIKE '{procedure}%' AND p.pnr NOT IN
                (SELECT pnr FROM ({diagnoses}) WHERE code LIKE '{diagnosis}%')""",
        )
        assert unexplained == 0, procedure


# --- laboratory results ---------------------------------------------------------------------------


def test_lab_results_start_in_each_region_in_its_own_year(db):
    from synthetic_registers.laboratory import REGION_FROM

    first = dict(
        db.execute(
            "SELECT b.reg, min(year(l.samplingdate)) FROM lab_forsker l JOIN bef b USING (pnr) GROUP BY b.reg"
        ).fetchall()
    )
    assert first == REGION_FROM


def test_lab_values_are_text_with_the_real_quirks(db):
    def values(where: str) -> set[str]:
        return {
            row[0] for row in db.execute(f"SELECT DISTINCT value FROM lab_forsker WHERE {where}").fetchall()
        }

    assert {"<5", "<1"} <= values("analysiscode = 'NPU19748'")
    assert ">90" in values("analysiscode = 'DNK35302'")
    # a decimal comma from Midtjylland's laboratories, and only there
    comma = "value LIKE '%,%'"
    assert values(f"{comma} AND pnr IN (SELECT pnr FROM bef WHERE reg = 1082)")
    assert not values(f"{comma} AND pnr IN (SELECT pnr FROM bef WHERE reg <> 1082)")
    units = db.execute("SELECT DISTINCT analysiscode, unit FROM lab_forsker").fetchall()
    assert len(units) == len({code for code, _ in units}) == 7  # one unit per analysis
    repeated = count(
        db,
        "SELECT count(*) FROM (SELECT pnr FROM lab_forsker GROUP BY pnr, analysiscode HAVING count(*) > 1)",
    )
    assert repeated > 0


def test_lab_values_follow_the_conditions(db):
    """HbA1c is high after a diabetes diagnosis and eGFR low after a kidney disease diagnosis."""
    diagnosed = """SELECT a.pnr, min(a.d_inddto) AS first FROM lpr_adm a JOIN lpr_diag g USING (recnum)
                   WHERE g.c_diag LIKE '{prefix}%' GROUP BY a.pnr"""

    def mean(code: str, prefix: str, after: bool) -> float:
        condition = "l.samplingdate > d.first" if after else "d.pnr IS NULL"
        return db.execute(
            f"""SELECT avg(TRY_CAST(replace(l.value, ',', '.') AS DOUBLE)) FROM lab_forsker l
                LEFT JOIN ({diagnosed.format(prefix=prefix)}) d USING (pnr)
                WHERE l.analysiscode = '{code}' AND {condition}"""
        ).fetchone()[0]

    # (the others include diabetes managed only by general practice, invisible in LPR)
    assert mean("NPU27300", "DE1", after=True) >= 48 > 46 > mean("NPU27300", "DE1", after=False)
    assert mean("DNK35302", "DN18", after=True) < 60 < mean("DNK35302", "DN18", after=False)


# --- clinical quality database ----------------------------------------------------------------------


def test_heart_failure_registry_registers_most_first_heart_failure_contacts_on_their_contact(db):
    """Each registration is a person's first heart failure contact (action diagnosis DI50, from
    2003), on that contact of its era, dated on its start. About 90 % of incident patients with
    reduced ejection fraction (half of heart failure) are registered: some 45 % of first contacts,
    fewer where the first contact in the extract is a prevalent patient's follow-up."""
    contacts = """
        SELECT pnr, recnum, NULL::UBIGINT AS key, d_inddto AS d, c_adiag AS code FROM lpr_adm
        UNION ALL
        SELECT k.pnr, NULL, k.dw_ek_kontakt, CAST(k.kont_starttidspunkt AS DATE), d.diag_kode
        FROM lpr3_kontakter k JOIN lpr3_diagnoser d USING (dw_ek_kontakt) WHERE d.diag_kode_type = 'A'
    """
    unlinked = count(
        db,
        f"""SELECT count(*) FROM dhd r WHERE (r.recnum IS NULL) = (r.dw_ek_kontakt IS NULL)
            OR NOT EXISTS (SELECT 1 FROM ({contacts}) c WHERE c.pnr = r.pnr AND c.code LIKE 'DI50%'
                           AND c.d = r.d_registrering
                           AND (c.recnum = r.recnum OR c.key = r.dw_ek_kontakt))""",
    )
    assert unlinked == 0
    assert count(db, "SELECT count(*) - count(DISTINCT pnr) FROM dhd") == 0
    assert count(db, "SELECT count(*) FROM dhd WHERE year(d_registrering) < 2003") == 0
    first_contacts = count(
        db,
        f"""SELECT count(*) FROM (SELECT pnr, min(d) AS d FROM ({contacts}) WHERE code LIKE 'DI50%'
            GROUP BY pnr) WHERE year(d) >= 2003""",
    )
    registered = count(db, "SELECT count(*) FROM dhd")
    assert first_contacts > 50
    assert 0.15 < registered / first_contacts < 0.45


def test_heart_failure_registry_variables_have_their_real_categories(db):
    assert {row[0] for row in db.execute("SELECT DISTINCT nyha FROM dhd").fetchall()} == {1, 2, 3, 4}
    lvef = {row[0] for row in db.execute("SELECT DISTINCT lvef FROM dhd").fetchall()}
    assert lvef == {"<=25", "26-35", "36-40"}
    # most patients get the echocardiography and the drugs; few are referred to exercise training
    for indicator, low, high in (
        ("ind_ekko", 0.6, 1),
        ("ind_raas", 0.8, 1),
        ("ind_betablok", 0.7, 1),
        ("ind_traening", 0.05, 0.45),
    ):
        fulfilled = db.execute(f"SELECT avg(({indicator} = 'Ja')::INT) FROM dhd").fetchone()[0]
        assert low < fulfilled < high, indicator
