"""Compare a generated extract with the national target figures (data/targets.toml).

Every figure is computed from the Parquet tables with DuckDB, the way an analyst would compute
it from real registers (diabetes from diagnoses and purchases, users from dispensings, ...), so
what passes here is what queries will see. Counts are scaled by the sampling fraction
(persons / national population); shares and rates are compared as they are. A figure that the
extract cannot support (a year outside the window, a standard population the reference does not
name) is reported as not computable, with the reason.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import duckdb
from rich.table import Table

from synthetic_registers.catalog import CATALOG_FILE
from synthetic_registers.demography_parameters import NATIONAL_POPULATION
from synthetic_registers.drug_parameters import PRODUCT_VNR
from synthetic_registers.schema import TABLES

REFERENCE = "DATE '2024-01-01'"


@dataclass(frozen=True)
class Comparison:
    section: str
    key: str
    target: float
    synthetic: float | None  # None: not computable
    tolerance: str
    ok: bool | None
    approximate: bool
    note: str = ""

    @property
    def status(self) -> str:
        if self.ok is None:
            return "not computable"
        return "ok" if self.ok else "DRIFT"


def load_targets() -> dict:
    text = resources.files("synthetic_registers.data").joinpath("targets.toml").read_text(encoding="utf-8")
    return tomllib.loads(text)


def _source(data_dir: Path, table: str) -> str:
    single = data_dir / f"{table}.parquet"
    return str(single) if single.exists() else str(data_dir / table / "*.parquet")


class _Extract:
    """DuckDB views over an extract plus derived person-level evidence tables."""

    def __init__(self, data_dir: Path) -> None:
        self.dir = data_dir
        meta = json.loads((data_dir / CATALOG_FILE).read_text(encoding="utf-8"))
        self.meta = meta
        self.fraction = meta["persons"] / NATIONAL_POPULATION
        self.start_year, self.end_year = meta["start_year"], meta["end_year"]
        self.min_cell_counts = [t["minimum_cell_count"] for t in meta["tables"].values()]
        self.db = duckdb.connect()
        for table in TABLES:
            self.db.execute(
                f"CREATE VIEW {table.name} AS SELECT * FROM read_parquet('{_source(data_dir, table.name)}')"
            )
        prefixes = ("DE1", "DI4", "DI2", "DI5", "DI1", "DI6", "DJ4", "DF0", "DG3", "DM0", "DM8", "DN1")
        relevant = "substr(code, 1, 3) IN (" + ", ".join(f"'{p}'" for p in prefixes) + ")"
        self.db.execute(
            f"""
            CREATE TEMP TABLE dx_first AS
            SELECT pnr, CASE
                WHEN code LIKE 'DE10%' THEN 'dm1'
                WHEN regexp_matches(code, '^DE1[1-4]') THEN 'dm'
                WHEN code LIKE 'DI48%' THEN 'af'
                WHEN regexp_matches(code, '^DI2[0-5]') THEN 'ihd'
                WHEN code LIKE 'DI50%' OR code LIKE 'DI110%' THEN 'hf'
                WHEN regexp_matches(code, '^DI6[134]') THEN 'stroke'
                WHEN code LIKE 'DJ44%' THEN 'copd'
                WHEN code LIKE 'DJ45%' OR code LIKE 'DJ46%' THEN 'asthma'
                WHEN regexp_matches(code, '^D(F0[0-3]|G30|G31)') THEN 'dementia'
                WHEN code LIKE 'DM05%' OR code LIKE 'DM06%' THEN 'ra'
                WHEN code LIKE 'DM80%' OR code LIKE 'DM81%' THEN 'osteoporosis'
                WHEN code LIKE 'DN18%' THEN 'ckd'
                END AS what, min(d) AS first
            FROM (
                SELECT a.pnr, a.d_inddto AS d, g.code FROM lpr_adm a
                JOIN (SELECT recnum, c_diag AS code FROM lpr_diag
                      WHERE {relevant.replace("code", "c_diag")}) g
                USING (recnum)
                UNION ALL
                SELECT k.pnr, CAST(k.kont_starttidspunkt AS DATE), g.code FROM lpr3_kontakter k
                JOIN (SELECT dw_ek_kontakt, diag_kode AS code FROM lpr3_diagnoser
                      WHERE {relevant.replace("code", "diag_kode")}
                      AND senere_afkraeftet IS DISTINCT FROM 'Ja') g USING (dw_ek_kontakt)
            )
            GROUP BY ALL HAVING what IS NOT NULL
            """
        )
        self.db.execute("CREATE VIEW rx AS SELECT pnr, eksd AS d, atc, vnr FROM lmdb")
        self.db.execute(
            """
            CREATE TEMP TABLE rx_first AS
            SELECT pnr, CASE
                WHEN atc LIKE 'A10A%' THEN 'insulin'
                WHEN atc LIKE 'A10B%' AND atc NOT LIKE 'A10BJ%' AND atc NOT IN ('A10BK01', 'A10BK03')
                     AND NOT (atc = 'A10BA02' AND young_woman) THEN 'oral_dm'
                WHEN atc LIKE 'R03BB%' OR atc LIKE 'R03AL%' THEN 'copd_rx'
                WHEN atc LIKE 'N06D%' THEN 'dementia_rx'
                WHEN atc LIKE 'M05BA%' OR atc = 'M05BX04' THEN 'osteoporosis_rx'
                END AS what, min(d) AS first
            FROM (
                SELECT l.pnr, l.eksd AS d, l.atc,
                       (b.koen = 2 AND date_diff('day', b.foed_dag, l.eksd) < 40 * 365.25) AS young_woman
                FROM lmdb l JOIN bef b USING (pnr)
                WHERE l.atc LIKE 'A10%' OR l.atc LIKE 'R03%' OR l.atc LIKE 'N06D%' OR l.atc LIKE 'M05B%'
            )
            GROUP BY ALL HAVING what IS NOT NULL
            """
        )

    def value(self, sql: str) -> float:
        row = self.db.execute(sql).fetchone()
        return float(row[0]) if row and row[0] is not None else float("nan")

    def covers(self, *years: int) -> bool:
        return all(self.start_year <= y <= self.end_year for y in years)

    @staticmethod
    def resident(at: str, alias: str = "b") -> str:
        return (
            f"{alias}.foed_dag <= {at} AND ({alias}.doed_dato IS NULL OR {alias}.doed_dato > {at}) "
            f"AND ({alias}.udvandret_dato IS NULL OR {alias}.udvandret_dato > {at}) "
            f"AND ({alias}.indvandret_dato IS NULL OR {alias}.indvandret_dato <= {at})"
        )

    def population(self, at: str, where: str = "TRUE") -> float:
        return self.value(f"SELECT count(*) FROM bef b WHERE {self.resident(at)} AND {where}")

    def share(self, at: str, has: str, where: str = "TRUE") -> float:
        """Share of residents at a date (optionally a subgroup) with a property."""
        return self.value(
            f"SELECT avg(CASE WHEN {has} THEN 1.0 ELSE 0.0 END) FROM bef b "
            f"WHERE {self.resident(at)} AND {where}"
        )

    @staticmethod
    def age(at: str) -> str:
        return f"date_part('year', age({at}, b.foed_dag))"

    def evidence(self, kinds: tuple[str, ...], before: str) -> str:
        """SQL condition: person b has diagnosis or purchase evidence of any kind before a date."""
        names = ", ".join(f"'{k}'" for k in kinds)
        return (
            f"(b.pnr IN (SELECT pnr FROM dx_first WHERE what IN ({names}) AND first < {before}) "
            f"OR b.pnr IN (SELECT pnr FROM rx_first WHERE what IN ({names}) AND first < {before}))"
        )

    def diabetes(self, kind: str, before: str) -> str:
        """osdc-like classification: T1D = DE10 code and only insulin; other diabetics are T2D."""
        diabetic = self.evidence(("dm1", "dm", "insulin", "oral_dm"), before)
        type1 = (
            f"(b.pnr IN (SELECT pnr FROM dx_first WHERE what = 'dm1' AND first < {before}) "
            f"AND b.pnr NOT IN (SELECT pnr FROM rx_first WHERE what = 'oral_dm' AND first < {before}))"
        )
        return f"({diabetic} AND {type1})" if kind == "t1" else f"({diabetic} AND NOT {type1})"

    def users(self, year: int, atc_condition: str, where: str = "TRUE") -> str:
        return f"b.pnr IN (SELECT pnr FROM rx WHERE year(d) = {year} AND ({atc_condition}) AND {where})"


Figure = Callable[[_Extract], float | tuple[float, str] | None]


def _bind(figure: Callable[..., float | tuple[float, str] | None], *values: Any) -> Figure:
    """A figure of one extract from one that also takes ``values`` (a loop's key, year or band)."""
    return lambda x: figure(x, *values)


def _scaled(x: _Extract, count: float) -> float:
    return count / x.fraction


def _mid(year: int) -> str:
    return f"DATE '{year}-07-01'"


def _jan1(year: int) -> str:
    return f"DATE '{year}-01-01'"


def _age_band(x: _Extract, low: int, high: int | None) -> str:
    age = x.age(REFERENCE)
    return f"{age} >= {low}" + (f" AND {age} <= {high}" if high is not None else "")


def _bands(key: str) -> tuple[int, int | None]:
    parts = key.removeprefix("age_").split("_")
    return (80, None) if parts[0] == "80" else (int(parts[0]), int(parts[1]))


def _hospital_2022(x: _Extract) -> None:
    x.db.execute(
        """
        CREATE TEMP TABLE IF NOT EXISTS stays_2022 AS
        SELECT pnr, count(*) AS stays,
               max(CASE WHEN kont_sluttidspunkt - kont_starttidspunkt >= INTERVAL 12 HOUR
                   THEN 1 ELSE 0 END) AS admitted
        FROM lpr3_kontakter
        WHERE year(kont_starttidspunkt) = 2022 AND kont_type = 'ALCA00' AND kont_ans_hovedspec <> 'psykiatri'
        GROUP BY pnr
        """
    )


def _hospital_figure(key: str) -> Figure:
    def figure(x: _Extract):
        if not x.covers(2022):
            return None
        _hospital_2022(x)
        if key == "share_population_any_contact":
            return x.value("SELECT count(*) FROM stays_2022") / x.population(_mid(2022))
        if key == "mean_stays_per_patient":
            return x.value("SELECT avg(stays) FROM stays_2022")
        if key == "share_patients_with_one_stay":
            return x.value("SELECT avg(CASE WHEN stays = 1 THEN 1.0 ELSE 0 END) FROM stays_2022")
        if key == "share_patients_with_10plus_stays":
            return x.value("SELECT avg(CASE WHEN stays >= 10 THEN 1.0 ELSE 0 END) FROM stays_2022")
        if key == "share_patients_also_admitted":
            return x.value("SELECT avg(admitted) FROM stays_2022")
        if key == "share_stays_top10pct_patients":
            return x.value(
                "SELECT sum(stays) FILTER (WHERE r <= 0.1) / sum(stays) FROM "
                "(SELECT stays, percent_rank() OVER (ORDER BY stays DESC) AS r FROM stays_2022)"
            )
        raise KeyError(key)

    return figure


def _volume_figure(key: str) -> Figure:
    year = 2022 if key == "somatic_stays_per_year" else 2021

    def figure(x: _Extract):
        if not x.covers(year):
            return None
        long = "kont_sluttidspunkt - kont_starttidspunkt >= INTERVAL 12 HOUR"
        base = f"FROM lpr3_kontakter k WHERE year(kont_starttidspunkt) = {year} AND kont_type = 'ALCA00'"
        if key == "somatic_stays_per_year":
            return _scaled(x, x.value(f"SELECT count(*) {base} AND kont_ans_hovedspec <> 'psykiatri'"))
        if key == "outpatient_visits_per_year":
            return _scaled(x, x.value(f"SELECT count(*) {base} AND NOT ({long})"))
        if key == "admissions_per_year":
            return _scaled(x, x.value(f"SELECT count(*) {base} AND {long}"))
        return x.value(
            "SELECT avg(CASE WHEN b.koen = 2 THEN 1.0 ELSE 0 END) "
            "FROM lpr3_kontakter k JOIN bef b USING (pnr) "
            f"WHERE year(kont_starttidspunkt) = {year} AND kont_type = 'ALCA00' AND {long}"
        )

    return figure


def _procedure_figure(key: str) -> Figure:
    """LPR3 procedures of 2022, counted the way the clinical registries count them."""
    prefixes = {
        "pci_per_year": ("KFNG",),
        "cabg_per_year": ("KFNA", "KFNC"),
        "hip_replacements_per_year": ("KNFB",),
        "knee_replacements_per_year": ("KNGB",),
    }

    def figure(x: _Extract):
        if not x.covers(2022):
            return None
        x.db.execute(
            """
            CREATE TEMP TABLE IF NOT EXISTS procedures_2022 AS
            SELECT k.pnr, k.dw_ek_kontakt, CAST(p.procedure_tidspunkt AS DATE) AS d, p.procedurekode AS code
            FROM (SELECT * FROM lpr3_procedurer_kirurgi UNION ALL SELECT * FROM lpr3_procedurer_andre) p
            JOIN lpr3_kontakter k USING (dw_ek_kontakt)
            WHERE year(p.procedure_tidspunkt) = 2022
            """
        )
        if key in prefixes:
            where = " OR ".join(f"code LIKE '{p}%'" for p in prefixes[key])
            return _scaled(x, x.value(f"SELECT count(*) FROM procedures_2022 WHERE {where}"))
        if key == "dialysis_patients":
            return _scaled(
                x, x.value("SELECT count(DISTINCT pnr) FROM procedures_2022 WHERE code LIKE 'BJFD%'")
            )
        if key == "caesarean_share_of_deliveries":
            return x.value(
                """
                SELECT avg(CASE WHEN dw_ek_kontakt IN (SELECT dw_ek_kontakt FROM procedures_2022
                                                        WHERE code LIKE 'KMCA%') THEN 1.0 ELSE 0 END)
                FROM lpr3_kontakter JOIN lpr3_diagnoser USING (dw_ek_kontakt)
                WHERE diag_kode LIKE 'DZ37%' AND year(kont_starttidspunkt) = 2022
                """
            )
        if key == "share_mi_admissions_with_pci_within_7_days":
            return x.value(
                """
                WITH mi AS (
                    SELECT k.pnr, CAST(k.kont_starttidspunkt AS DATE) AS d
                    FROM lpr3_kontakter k JOIN lpr3_diagnoser g USING (dw_ek_kontakt)
                    WHERE g.diag_kode LIKE 'DI21%' AND g.diag_kode_type = 'A'
                      AND k.kont_sluttidspunkt - k.kont_starttidspunkt >= INTERVAL 12 HOUR
                      AND year(k.kont_starttidspunkt) = 2022)
                SELECT avg(CASE WHEN EXISTS (
                    SELECT 1 FROM procedures_2022 p WHERE p.pnr = mi.pnr AND p.code LIKE 'KFNG%'
                    AND p.d BETWEEN mi.d AND mi.d + 7) THEN 1.0 ELSE 0 END) FROM mi
                """
            )
        raise KeyError(key)

    return figure


def _laboratory_figure(key: str) -> Figure:
    """2022 results of the laboratory database, per tested person (numbers parsed as the engines
    parse them: censored '>90' counts as above 90, a decimal comma as a point)."""

    def figure(x: _Extract):
        if not x.covers(2022):
            return None
        x.db.execute(
            """
            CREATE TEMP TABLE IF NOT EXISTS lab_2022 AS
            SELECT pnr, samplingdate AS d, analysiscode AS code, value AS text,
                   TRY_CAST(replace(ltrim(value, '<>'), ',', '.') AS DOUBLE) AS value,
                   row_number() OVER (PARTITION BY pnr, analysiscode
                                      ORDER BY samplingdate DESC, samplingtime DESC) AS recency
            FROM lab_forsker WHERE year(samplingdate) = 2022
            """
        )
        latest = "SELECT pnr, value, text FROM lab_2022 WHERE recency = 1 AND code = "
        diabetic = x.diabetes("t1", _jan1(2023)) + " OR " + x.diabetes("t2", _jan1(2023))
        if key == "share_diabetes_latest_hba1c_48":
            return x.value(
                f"SELECT avg(CASE WHEN l.value >= 48 THEN 1.0 ELSE 0 END) FROM ({latest} 'NPU27300') l "
                f"JOIN bef b USING (pnr) WHERE {diabetic}"
            )
        if key == "share_no_diabetes_hba1c_48":
            return x.value(
                f"SELECT avg(CASE WHEN l.value >= 48 THEN 1.0 ELSE 0 END) FROM ({latest} 'NPU27300') l "
                f"JOIN bef b USING (pnr) WHERE NOT ({diabetic})"
            )
        if key == "share_ckd_latest_egfr_below_60":
            return x.value(
                f"SELECT avg(CASE WHEN l.value < 60 AND l.text NOT LIKE '>%' THEN 1.0 ELSE 0 END) "
                f"FROM ({latest} 'DNK35302') l JOIN bef b USING (pnr) "
                f"WHERE {x.evidence(('ckd',), _jan1(2023))}"
            )
        if key == "share_egfr_reported_above_90":
            return x.value(
                "SELECT avg(CASE WHEN text = '>90' THEN 1.0 ELSE 0 END) FROM lab_2022 WHERE code = 'DNK35302'"
            )
        raise KeyError(key)

    return figure


def _heart_failure_registry_figure(key: str) -> Figure:
    """The Danish Heart Failure Registry (``dhd``): registrations a year and, among the registrations
    of a year, the share with an indicator fulfilled or dead within a year."""
    indicators = {
        "echocardiography": "ind_ekko",
        "raas_inhibitor": "ind_raas",
        "beta_blocker": "ind_betablok",
        "exercise_training": "ind_traening",
    }

    def figure(x: _Extract):
        if key.startswith("registrations_per_year_"):
            first, last = (int(year) for year in key.removeprefix("registrations_per_year_").split("_"))
            # years before the extract's first have no registrations (no contacts): count those covered
            first = max(first, x.start_year)
            if not x.covers(first, last):
                return None
            count = x.value(f"SELECT count(*) FROM dhd WHERE year(d_registrering) BETWEEN {first} AND {last}")
            return _scaled(x, count) / (last - first + 1)
        measure, year = key.rsplit("_", 1)
        if not x.covers(int(year), int(year) + 1):
            return None
        if measure == "one_year_mortality":
            has = "b.doed_dato IS NOT NULL AND b.doed_dato <= r.d_registrering + INTERVAL 1 YEAR"
        else:
            has = f"r.{indicators[measure.removeprefix('share_')]} = 'Ja'"
        return x.value(
            f"SELECT avg(CASE WHEN {has} THEN 1.0 ELSE 0.0 END) FROM dhd r JOIN bef b USING (pnr) "
            f"WHERE year(r.d_registrering) = {year}"
        )

    return figure


def _total_fertility(x: _Extract) -> float:
    deliveries = x.value(
        f"""
        WITH births AS (
            SELECT DISTINCT k.pnr, CAST(k.kont_starttidspunkt AS DATE) AS d
            FROM lpr3_kontakter k JOIN lpr3_diagnoser g USING (dw_ek_kontakt)
            WHERE g.diag_kode LIKE 'DZ37%' AND year(k.kont_starttidspunkt) = 2023),
        by_age AS (
            SELECT date_part('year', age(births.d, b.foed_dag)) AS a, count(*) AS n
            FROM births JOIN bef b USING (pnr) GROUP BY a),
        women AS (
            SELECT {x.age(_mid(2023))} AS a, count(*) AS w FROM bef b
            WHERE b.koen = 2 AND {x.resident(_mid(2023))} GROUP BY a)
        SELECT sum(n / w) FROM by_age JOIN women USING (a) WHERE a BETWEEN 15 AND 49
        """
    )
    return deliveries


def _glp1_users(
    x: _Extract, year: int, products: tuple[str, ...], adults: bool, where: str = "TRUE"
) -> float:
    vnrs = ", ".join(str(PRODUCT_VNR[p][1]) for p in products)
    age = "AND date_diff('day', b.foed_dag, rx.d) >= 18 * 365.25" if adults else ""
    return x.value(
        f"SELECT count(DISTINCT pnr) FROM rx JOIN bef b USING (pnr) "
        f"WHERE year(d) = {year} AND vnr IN ({vnrs}) {age} AND {where}"
    )


def _cancer_cases(x: _Extract, year: int, where: str = "TRUE") -> float:
    return x.value(
        f"SELECT count(*) FROM cancer c JOIN bef b USING (pnr) "
        f"WHERE year(c.d_diagnosedato) = {year} AND c.c_icd10 NOT LIKE 'C44%' AND {where}"
    )


def _figures(targets: dict) -> dict[tuple[str, str], Figure]:
    f: dict[tuple[str, str], Figure] = {}
    ref = REFERENCE
    f["population", "total"] = lambda x: _scaled(x, x.population(ref))
    f["population", "men"] = lambda x: _scaled(x, x.population(ref, "b.koen = 1"))
    f["population", "women"] = lambda x: _scaled(x, x.population(ref, "b.koen = 2"))
    f["population", "share_men"] = lambda x: x.share(ref, "b.koen = 1")
    f["population", "total_2025"] = lambda x: (
        _scaled(x, x.population(_jan1(2025))) if x.covers(2024) else None
    )
    for key in targets["population_by_age_10y"]:
        if key.startswith("age_"):
            low, high = _bands(key)
            f["population_by_age_10y", key] = _bind(
                lambda x, lo, hi: _scaled(x, x.population(ref, _age_band(x, lo, hi))), low, high
            )
            f["population_share_by_age_10y", key] = _bind(
                lambda x, lo, hi: x.share(ref, _age_band(x, lo, hi)), low, high
            )
            f["population_men_by_age_10y", key] = _bind(
                lambda x, lo, hi: _scaled(x, x.population(ref, f"b.koen = 1 AND {_age_band(x, lo, hi)}")),
                low,
                high,
            )
            f["population_women_by_age_10y", key] = _bind(
                lambda x, lo, hi: _scaled(x, x.population(ref, f"b.koen = 2 AND {_age_band(x, lo, hi)}")),
                low,
                high,
            )
    for key in targets["region_share"]:
        if key[-4:].isdigit():
            code = key[-4:]
            f["region_share", key] = _bind(lambda x, c: x.share(ref, f"b.reg = {c}"), code)
            f["region_count", key] = _bind(lambda x, c: _scaled(x, x.population(ref, f"b.reg = {c}")), code)
    f["region_count", "municipalities"] = lambda x: x.value(
        f"SELECT count(DISTINCT kom) FROM bef b WHERE {x.resident(ref)}"
    )

    def vital(column: str, year: int, extra: str = "TRUE") -> Figure:
        return lambda x: (
            _scaled(x, x.value(f"SELECT count(*) FROM bef WHERE year({column}) = {year} AND {extra}"))
            if x.covers(year)
            else None
        )

    f["vital_2023", "live_births"] = vital("foed_dag", 2023, "indvandret_dato IS NULL")
    f["vital_2023", "live_births_2022"] = vital("foed_dag", 2022, "indvandret_dato IS NULL")
    f["vital_2023", "deaths"] = vital("doed_dato", 2023)
    f["vital_2023", "deaths_2022"] = vital("doed_dato", 2022)
    f["vital_2023", "immigrations"] = vital("indvandret_dato", 2023)
    f["vital_2023", "emigrations"] = vital("udvandret_dato", 2023)
    f["vital_rates_2023", "births_per_1000"] = lambda x: (
        1000
        * x.value("SELECT count(*) FROM bef WHERE year(foed_dag) = 2023 AND indvandret_dato IS NULL")
        / x.population(_mid(2023))
        if x.covers(2023)
        else None
    )
    f["vital_rates_2023", "deaths_per_1000"] = lambda x: (
        1000 * x.value("SELECT count(*) FROM bef WHERE year(doed_dato) = 2023") / x.population(_mid(2023))
        if x.covers(2023)
        else None
    )
    f["vital_rates_2023", "total_fertility_rate"] = lambda x: _total_fertility(x) if x.covers(2023) else None
    for key in targets["hospital_somatic_2022"]:
        if key.startswith(("share", "mean")):
            f["hospital_somatic_2022", key] = _hospital_figure(key)
    f["hospital_concentration", "share_stays_top10pct_patients"] = _hospital_figure(
        "share_stays_top10pct_patients"
    )
    for key in (
        "somatic_stays_per_year",
        "outpatient_visits_per_year",
        "admissions_per_year",
        "share_admissions_women",
    ):
        f["hospital_volume", key] = _volume_figure(key)
    for key in targets["procedures_2022"]:
        f["procedures_2022", key] = _procedure_figure(key)
    for key in targets["laboratory_2022"]:
        f["laboratory_2022", key] = _laboratory_figure(key)
    any_rx = "SELECT count(DISTINCT pnr) FROM rx WHERE year(d) = 2023"
    f["prescriptions", "persons_with_any_prescription"] = lambda x: (
        _scaled(x, x.value(any_rx)) if x.covers(2023) else None
    )
    f["prescriptions", "share_population_any_prescription"] = lambda x: (
        x.value(any_rx) / x.population(_mid(2023)) if x.covers(2023) else None
    )
    f["prescriptions_volume", "dispensings_per_year"] = lambda x: (
        _scaled(x, x.value("SELECT count(*) FROM rx WHERE year(d) = 2023")) if x.covers(2023) else None
    )
    # diabetes: prevalence at the end of a year among residents
    for kind, section in (("t2", "diabetes_type2"), ("t1", "diabetes_type1")):
        f[section, "prevalent_count"] = _bind(
            lambda x, k: (
                _scaled(x, x.population(_jan1(2023), x.diabetes(k, _jan1(2023)))) if x.covers(2022) else None
            ),
            kind,
        )
        f[section, "share_total_population"] = _bind(
            lambda x, k: x.share(_jan1(2023), x.diabetes(k, _jan1(2023))) if x.covers(2022) else None, kind
        )
        f[section, "share_total_population_2016"] = _bind(
            lambda x, k: x.share(_jan1(2017), x.diabetes(k, _jan1(2017))) if x.covers(2016) else None, kind
        )
    f["diabetes_type2", "new_cases_per_year"] = lambda x: (
        _scaled(x, _new_diabetes_cases(x, 2022)) if x.covers(2012, 2022) else None
    )
    for key in targets["diabetes_type2_share_by_age"]:
        if key.startswith("age_"):
            low, high = (0, 29) if key == "age_0_29" else _bands(key)
            f["diabetes_type2_share_by_age", key] = _bind(
                lambda x, lo, hi: x.share(ref, x.diabetes("t2", ref), _age_band(x, lo, hi)), low, high
            )
    f["diabetes_type2_share_by_age", "male_to_female_ratio"] = lambda x: (
        x.share(ref, x.diabetes("t2", ref), "b.koen = 1") / x.share(ref, x.diabetes("t2", ref), "b.koen = 2")
    )
    # GLP-1 receptor agonists
    f["glp1", "semaglutide_ozempic_users_2023"] = lambda x: (
        _scaled(x, _glp1_users(x, 2023, ("Ozempic",), adults=False)) if x.covers(2023) else None
    )
    f["glp1", "weight_loss_drug_users_adults_2023"] = lambda x: (
        _scaled(x, _glp1_users(x, 2023, ("Wegovy", "Saxenda"), adults=True)) if x.covers(2023) else None
    )
    f["glp1", "weight_loss_drug_users_adults_2022"] = lambda x: (
        _scaled(x, _glp1_users(x, 2022, ("Wegovy", "Saxenda"), adults=True)) if x.covers(2022) else None
    )
    f["glp1", "weight_loss_drug_share_adults_2023"] = lambda x: (
        _glp1_users(x, 2023, ("Wegovy", "Saxenda"), adults=True)
        / x.population(_mid(2023), f"{x.age(_mid(2023))} >= 18")
        if x.covers(2023)
        else None
    )
    f["glp1", "weight_loss_drug_share_women"] = lambda x: (
        _glp1_users(x, 2023, ("Wegovy", "Saxenda"), adults=True, where="b.koen = 2")
        / _glp1_users(x, 2023, ("Wegovy", "Saxenda"), adults=True)
        if x.covers(2023)
        else None
    )
    f["glp1", "wegovy_users_q1_2023"] = lambda x: (
        _scaled(x, _glp1_users(x, 2023, ("Wegovy",), adults=False, where="month(d) <= 3"))
        if x.covers(2023)
        else None
    )
    f["glp1_all", "any_a10bj_users_2023"] = lambda x: (
        _scaled(x, x.value("SELECT count(DISTINCT pnr) FROM rx WHERE year(d) = 2023 AND atc LIKE 'A10BJ%'"))
        if x.covers(2023)
        else None
    )
    # cancer (headline counts leave out non-melanoma skin cancer, C44)
    for key, year in (("new_cases_2022", 2022), ("new_cases_2017", 2017), ("new_cases_2020", 2020)):
        f["cancer", key] = _bind(lambda x, y: _scaled(x, _cancer_cases(x, y)) if x.covers(y) else None, year)
    f["cancer", "crude_rate_per_100k_2022"] = lambda x: (
        1e5 * _cancer_cases(x, 2022) / x.population(_mid(2022)) if x.covers(2022) else None
    )
    f["cancer", "breast_new_cases_women_2020"] = lambda x: (
        _scaled(x, _cancer_cases(x, 2020, "c.c_icd10 LIKE 'C50%' AND b.koen = 2")) if x.covers(2020) else None
    )
    f["cancer", "alive_after_cancer_2021"] = lambda x: (
        _scaled(
            x,
            x.population(
                _jan1(2022),
                "b.pnr IN (SELECT pnr FROM cancer WHERE d_diagnosedato < DATE '2022-01-01' "
                "AND c_icd10 NOT LIKE 'C44%')",
            ),
        )
        if x.covers(2021)
        else None
    )
    standard = (
        "the reference does not name the standard population behind SDS's age-standardised rates, so a "
        "comparison would test that choice rather than the generator"
    )
    for key in (
        "age_std_rate_per_100k_2022",
        "age_std_rate_per_100k_men_2022",
        "age_std_rate_per_100k_women_2022",
    ):
        f["cancer", key] = _bind(lambda x, s: (float("nan"), s), standard)
    # other conditions
    f["prevalence_other_verified", "atrial_fibrillation_share_adults_2018"] = lambda x: (
        x.share(_jan1(2019), x.evidence(("af",), _jan1(2019)), f"{x.age(_jan1(2019))} >= 18")
        if x.covers(2018)
        else None
    )
    f["prevalence_other_verified", "copd_share_total_population_2007"] = lambda x: (
        x.share(_jan1(2008), x.evidence(("copd", "copd_rx"), _jan1(2008))) if x.covers(2007) else None
    )
    f["prevalence_other_verified", "copd_new_cases_per_100k_2020"] = lambda x: (
        1e5
        * x.value("SELECT count(*) FROM dx_first WHERE what = 'copd' AND year(first) = 2020")
        / x.population(_mid(2020))
        if x.covers(2010, 2020)
        else None
    )
    f["prevalence_other_verified", "dementia_registered_65plus_2015"] = lambda x: (
        _scaled(
            x,
            x.population(
                _jan1(2016),
                f"{x.age(_jan1(2016))} >= 65 AND {x.evidence(('dementia', 'dementia_rx'), _jan1(2016))}",
            ),
        )
        if x.covers(2015)
        else None
    )
    f["prevalence_other_verified", "chronic_any_of_seven_count"] = lambda x: _scaled(
        x,
        x.population(
            ref,
            "("
            + " OR ".join(
                [
                    x.diabetes("t2", ref),
                    x.diabetes("t1", ref),
                    _asthma(x),
                    x.evidence(("copd", "copd_rx"), ref),
                    x.evidence(("ra",), ref),
                    x.evidence(("osteoporosis", "osteoporosis_rx"), ref),
                    x.evidence(("dementia", "dementia_rx"), ref),
                ]
            )
            + ")",
        ),
    )
    mid23 = _mid(2023)

    def yearly_users(atc: str) -> Figure:
        return lambda x: x.share(mid23, x.users(2023, atc)) if x.covers(2023) else None

    approx = "prevalence_other_approximate"
    f[approx, "hypertension_drug_treated"] = yearly_users(
        "atc LIKE 'C02%' OR atc LIKE 'C03A%' OR atc LIKE 'C07A%' OR atc LIKE 'C08CA%' OR atc LIKE 'C09%'"
    )
    for key, kinds in (
        ("ischaemic_heart_disease", ("ihd",)),
        ("heart_failure", ("hf",)),
        ("stroke_survivors", ("stroke",)),
        ("copd", ("copd", "copd_rx")),
        ("dementia_diagnosed", ("dementia", "dementia_rx")),
        ("rheumatoid_arthritis", ("ra",)),
        ("osteoporosis", ("osteoporosis", "osteoporosis_rx")),
        ("ckd_hospital_coded", ("ckd",)),
    ):
        f[approx, key] = _bind(lambda x, k: x.share(ref, x.evidence(k, ref)), kinds)
    f[approx, "asthma"] = lambda x: x.share(ref, _asthma(x))
    f[approx, "depression_antidepressant_users_per_year"] = yearly_users("atc LIKE 'N06A%'")
    f[approx, "statin_users_per_year"] = yearly_users("atc LIKE 'C10AA%'")
    f[approx, "doac_users_per_year"] = yearly_users("atc LIKE 'B01AF%' OR atc = 'B01AE07'")
    adults = f"{_Extract.age(REFERENCE)} >= 18"

    def ratio(has: Callable[[_Extract], str]) -> Figure:
        return lambda x: (
            x.share(ref, has(x), f"{adults} AND b.koen = 1")
            / x.share(ref, has(x), f"{adults} AND b.koen = 2")
        )

    sexes = "sex_ratios_approximate"
    f[sexes, "atrial_fibrillation"] = ratio(lambda x: x.evidence(("af",), ref))
    f[sexes, "ischaemic_heart_disease"] = ratio(lambda x: x.evidence(("ihd",), ref))
    f[sexes, "osteoporosis"] = ratio(lambda x: x.evidence(("osteoporosis", "osteoporosis_rx"), ref))
    f[sexes, "rheumatoid_arthritis"] = ratio(lambda x: x.evidence(("ra",), ref))
    f[sexes, "depression_antidepressants"] = lambda x: (
        x.share(mid23, x.users(2023, "atc LIKE 'N06A%'"), f"{adults} AND b.koen = 1")
        / x.share(mid23, x.users(2023, "atc LIKE 'N06A%'"), f"{adults} AND b.koen = 2")
        if x.covers(2023)
        else None
    )
    f[sexes, "dementia_diagnosed_share_women"] = lambda x: x.share(
        ref, "b.koen = 2", x.evidence(("dementia", "dementia_rx"), ref)
    )
    for section in ("heart_failure_registry_volume", "heart_failure_registry_2010"):
        for key, value in targets[section].items():
            if (
                isinstance(value, int | float)
                and not isinstance(value, bool)
                and not key.startswith("tolerance")
            ):
                f[section, key] = _heart_failure_registry_figure(key)
    # the Danish Adult Diabetes Registry: persons with a status from an outpatient clinic in 2014
    f["adult_diabetes_registry_2014", "outpatient_clinic_patients"] = lambda x: (
        _scaled(x, x.value("SELECT count(DISTINCT pnr) FROM dvdd WHERE year(d_status) = 2014"))
        if x.covers(2014)
        else None
    )
    # the floor every table keeps; an owner may require more (the heart failure registry's 10)
    f["disclosure", "min_cell_count"] = lambda x: min(x.min_cell_counts)
    return f


def _asthma(x: _Extract) -> str:
    """Asthma: a hospital asthma code, or inhaled drugs in the last two years without COPD evidence."""
    recent = (
        "b.pnr IN (SELECT pnr FROM rx WHERE atc LIKE 'R03%' "
        "AND d >= DATE '2022-01-01' AND d < DATE '2024-01-01')"
    )
    copd = x.evidence(("copd", "copd_rx"), REFERENCE)
    return f"({x.evidence(('asthma',), REFERENCE)} OR ({recent} AND NOT {copd}))"


def _new_diabetes_cases(x: _Extract, year: int) -> float:
    """Type 2 diabetics whose first diabetes evidence falls in the year (ten years' look-back)."""
    return x.value(
        f"""
        WITH first AS (
            SELECT pnr, min(first) AS first FROM (
                SELECT pnr, first FROM dx_first WHERE what IN ('dm1', 'dm')
                UNION ALL SELECT pnr, first FROM rx_first WHERE what IN ('insulin', 'oral_dm'))
            GROUP BY pnr)
        SELECT count(*) FROM first JOIN bef b USING (pnr)
        WHERE year(first.first) = {year} AND {x.diabetes("t2", _jan1(year + 1))}
        """
    )


def _tolerance(section: dict) -> tuple[str, Callable[[float, float], bool]]:
    if "tolerance_rel" in section:
        rel = section["tolerance_rel"]
        return f"±{rel:.0%}", lambda target, value: abs(value - target) <= rel * abs(target)
    absolute = section["tolerance_abs"]
    return f"±{absolute:g}", lambda target, value: abs(value - target) <= absolute


def compare_with_targets(data_dir: str | Path) -> list[Comparison]:
    """Every numeric figure of targets.toml next to its synthetic value."""
    targets = load_targets()
    extract = _Extract(Path(data_dir))
    figures = _figures(targets)
    out = []
    for section, values in targets.items():
        if section == "meta":
            continue
        tolerance, within = _tolerance(values)
        approximate = bool(values.get("approximate", False))
        for key, target in values.items():
            if key in ("source", "approximate", "tolerance_rel", "tolerance_abs") or not isinstance(
                target, int | float
            ):
                continue
            figure = figures.get((section, key))
            if figure is None:
                out.append(
                    Comparison(section, key, target, None, tolerance, None, approximate, "no computation")
                )
                continue
            result = figure(extract)
            if result is None:
                note = f"the extract's years {extract.start_year}-{extract.end_year} do not cover it"
                out.append(Comparison(section, key, target, None, tolerance, None, approximate, note))
            elif isinstance(result, tuple):
                out.append(Comparison(section, key, target, None, tolerance, None, approximate, result[1]))
            else:
                value = float(result)
                ok = value == value and within(float(target), value)
                out.append(Comparison(section, key, target, value, tolerance, ok, approximate))
    return out


def report_table(comparisons: list[Comparison]) -> Table:
    table = Table(title="synthetic registers against national targets (targets.toml)")
    table.add_column("figure", overflow="fold", ratio=3)
    for column in ("target", "synthetic", "tolerance"):
        table.add_column(column, justify="right", no_wrap=True)
    table.add_column("ok", overflow="fold", ratio=2)
    for c in comparisons:
        name = f"{c.section}.{c.key}" + (" (approx.)" if c.approximate else "")
        value = "—" if c.synthetic is None else f"{c.synthetic:,.4g}"
        status = {"ok": "[green]ok[/green]", "DRIFT": "[red]DRIFT[/red]"}.get(
            c.status, f"[yellow]{c.status}[/yellow]"
        )
        if c.note:
            status += f": {c.note}"
        table.add_row(name, f"{c.target:,.4g}", value, c.tolerance, status)
    return table


@dataclass(frozen=True)
class DrugListBreadth:
    """How much of the drug list an extract dispenses: real Danish data dispenses well over a
    thousand 7-character ATC codes a year, most of them to few persons, and a few products carry a
    shorter group code (vitamin and nutrition combinations)."""

    substances_per_year: dict[int, int]  # distinct 7-character codes dispensed per calendar year
    short_codes: tuple[str, ...]  # codes shorter than 7 characters dispensed at all
    codes_last_year: int  # distinct codes (any length) dispensed in the last year
    rare_codes_last_year: int  # of those, codes with fewer than 20 users (the long tail)
    most_users_last_year: int  # users of the most used code that year

    def line(self, persons: int) -> str:
        years = self.substances_per_year
        low = min(years.values()) if years else 0
        return (
            f"drug list at {persons:,} persons: {low:,}-{max(years.values(), default=0):,} distinct "
            f"7-character ATC codes dispensed per year; {len(self.short_codes)} short codes "
            f"({', '.join(self.short_codes)}); last year {self.rare_codes_last_year:,} of "
            f"{self.codes_last_year:,} codes with fewer than 20 users, the most used "
            f"{self.most_users_last_year:,} users"
        )


def drug_list_breadth(data_dir: str | Path) -> DrugListBreadth:
    """The distinct ATC codes an extract's prescription register dispenses (a scale-dependent
    figure: a sample dispenses fewer distinct codes than the nation, never more)."""
    source = _source(Path(data_dir), "lmdb")
    db = duckdb.connect()
    try:
        per_year = db.execute(
            f"SELECT year(eksd), count(DISTINCT atc) FROM read_parquet('{source}') "
            "WHERE length(atc) = 7 GROUP BY 1 ORDER BY 1"
        ).fetchall()
        short = db.execute(
            f"SELECT DISTINCT atc FROM read_parquet('{source}') WHERE length(atc) < 7 ORDER BY 1"
        ).fetchall()
        last = max(year for year, _ in per_year) if per_year else 0
        # an aggregate without GROUP BY returns exactly one row
        codes, rare, most = db.execute(
            f"""SELECT count(*), count(*) FILTER (WHERE users < 20), coalesce(max(users), 0) FROM (
                    SELECT atc, count(DISTINCT pnr) AS users FROM read_parquet('{source}')
                    WHERE year(eksd) = {last} GROUP BY atc)"""
        ).fetchone() or (0, 0, 0)
    finally:
        db.close()
    return DrugListBreadth(
        {int(year): int(n) for year, n in per_year}, tuple(code for (code,) in short), codes, rare, most
    )
