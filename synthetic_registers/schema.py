"""The register tables statservice knows: names, columns, types, code systems and owners.

This module is the contract between the generator (which writes these tables as Parquet),
the catalog (which documents them) and the query compiler (which reads them). Column names
are lower case, as in register extracts converted from SAS. The person key ``pnr`` is a
pseudonymised surrogate stored as an unsigned 32-bit integer (real extracts carry a string;
an integer key makes joins and person-set bitmaps cheap and carries no meaning).
"""

from __future__ import annotations

from dataclasses import dataclass, field

PERSON_KEY = "pnr"


@dataclass(frozen=True)
class Column:
    name: str
    duckdb_type: str
    description: str
    code_system: str | None = None
    nullable: bool = False


@dataclass(frozen=True)
class Table:
    name: str
    register: str
    owner: str
    description: str
    columns: tuple[Column, ...]
    coverage: tuple[int | None, int | None] = (None, None)  # first/last calendar year, None = whole period
    # A complete register holds records from before the extract's period: the first year of them.
    history_from: int | None = None
    person_level: bool = True
    minimum_cell_count: int = 5
    notes: tuple[str, ...] = field(default_factory=tuple)

    def column(self, name: str) -> Column:
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(f"{self.name} has no column {name!r}")


SDS = "Sundhedsdatastyrelsen"
DST = "Danmarks Statistik"
SSI = "Statens Serum Institut"
RKKP = "RKKP (Danish Clinical Quality Program, the regions)"

_PNR = Column(PERSON_KEY, "UINTEGER", "Pseudonymised person key (surrogate for the CPR number)", "pseudonym")

TABLES: tuple[Table, ...] = (
    Table(
        name="bef",
        notes=(
            "reg and kom are the residence in the 2007 geography (5 regions, 98 municipalities) "
            "for all years.",
            "Persons dying in a year appear in that year's data; "
            "nobody has records after doed_dato or udvandret_dato.",
        ),
        register="CPR/BEF",
        owner=DST,
        description="Population register: one row per person ever resident in the period.",
        columns=(
            _PNR,
            Column("koen", "UTINYINT", "Sex: 1 male, 2 female", "CPR sex"),
            Column("foed_dag", "DATE", "Date of birth"),
            Column("doed_dato", "DATE", "Date of death", nullable=True),
            Column(
                "indvandret_dato",
                "DATE",
                "Date of immigration when born abroad and arrived in the period",
                nullable=True,
            ),
            Column("udvandret_dato", "DATE", "Date of emigration (no records after it)", nullable=True),
            Column("reg", "USMALLINT", "Region of residence 1081-1085", "DST region"),
            Column(
                "kom",
                "USMALLINT",
                "Municipality of residence (98 municipalities since 2007)",
                "DST municipality",
            ),
        ),
    ),
    Table(
        name="lpr_adm",
        notes=(
            "Psychiatric contacts are included (c_spec 52) rather than in separate psychiatric tables.",
            "c_spec 08 is endocrinology as in osdc; other specialty and hospital codes are illustrative.",
        ),
        register="LPR2",
        owner=SDS,
        description="Danish National Patient Registry, LPR2 era: one row per hospital contact until 2018.",
        coverage=(None, 2018),
        columns=(
            _PNR,
            Column("recnum", "UBIGINT", "Contact record number, joins lpr_diag"),
            Column("d_inddto", "DATE", "Admission / contact start date"),
            Column("d_uddto", "DATE", "Discharge / contact end date"),
            Column(
                "c_pattype",
                "UTINYINT",
                "Patient type: 0 inpatient, 1 outpatient, 2 emergency room",
                "LPR patient type",
            ),
            Column("c_sgh", "VARCHAR", "Hospital code", "SKS hospital"),
            Column("c_spec", "VARCHAR", "Department specialty (2 digits, 08 endocrinology)", "LPR specialty"),
            Column(
                "c_adiag",
                "VARCHAR",
                "Action (primary) diagnosis copied onto the contact",
                "ICD-10 (D prefix)",
            ),
        ),
    ),
    Table(
        name="lpr_diag",
        register="LPR2",
        owner=SDS,
        description="LPR2 diagnoses: one row per diagnosis on a contact.",
        person_level=False,
        coverage=(None, 2018),
        columns=(
            Column("recnum", "UBIGINT", "Contact record number, joins lpr_adm"),
            Column("c_diag", "VARCHAR", "Diagnosis code, ICD-10 with D prefix (DE119)", "ICD-10 (D prefix)"),
            Column(
                "c_diagtype", "VARCHAR", "Diagnosis type: A action/primary, B secondary", "LPR diagnosis type"
            ),
        ),
    ),
    Table(
        name="lpr_sksopr",
        notes=("Procedure codes follow SKS's structure; the selection is illustrative.",),
        register="LPR2",
        owner=SDS,
        description="LPR2 operations: one row per surgical (K) procedure on a contact.",
        person_level=False,
        coverage=(None, 2018),
        columns=(
            Column("recnum", "UBIGINT", "Contact record number, joins lpr_adm"),
            Column("c_opr", "VARCHAR", "SKS operation code (KFNG05)", "SKS procedure"),
            Column("d_odto", "DATE", "Date of the procedure"),
        ),
    ),
    Table(
        name="lpr_sksube",
        register="LPR2",
        owner=SDS,
        description="LPR2 other procedures: one row per treatment (B) or examination (U) on a contact.",
        person_level=False,
        coverage=(None, 2018),
        columns=(
            Column("recnum", "UBIGINT", "Contact record number, joins lpr_adm"),
            Column("c_opr", "VARCHAR", "SKS treatment or examination code (BJFD20, UXCA00)", "SKS procedure"),
            Column("d_odto", "DATE", "Date of the procedure"),
        ),
    ),
    Table(
        name="lpr3_kontakter",
        register="LPR3",
        owner=SDS,
        description="Danish National Patient Registry, LPR3 era: one row per contact from 2019.",
        coverage=(2019, None),
        columns=(
            _PNR,
            Column("dw_ek_kontakt", "UBIGINT", "Contact key, joins lpr3_diagnoser"),
            Column("kont_starttidspunkt", "TIMESTAMP", "Contact start"),
            Column("kont_sluttidspunkt", "TIMESTAMP", "Contact end"),
            Column(
                "kont_type",
                "VARCHAR",
                "SKS contact type (ALCA00 physical attendance, ALCA10 virtual, ...)",
                "SKS contact type",
            ),
            Column(
                "kont_ans_hovedspec",
                "VARCHAR",
                "Responsible specialty as Danish text (endokrinologi, ...)",
                "LPR3 specialty",
            ),
            Column("prioritet", "VARCHAR", "ATA1 acute, ATA3 planned", "SKS priority"),
        ),
    ),
    Table(
        name="lpr3_diagnoser",
        notes=("More diagnoses per contact than LPR2, most in 2019-2020; some later retracted.",),
        register="LPR3",
        owner=SDS,
        description="LPR3 diagnoses: one row per diagnosis on a contact.",
        person_level=False,
        coverage=(2019, None),
        columns=(
            Column("dw_ek_kontakt", "UBIGINT", "Contact key, joins lpr3_kontakter"),
            Column("diag_kode", "VARCHAR", "Diagnosis code, ICD-10 with D prefix", "ICD-10 (D prefix)"),
            Column("diag_kode_type", "VARCHAR", "A action/primary, B secondary", "LPR diagnosis type"),
            Column("senere_afkraeftet", "VARCHAR", "Later retracted: Ja / Nej", "yes/no", nullable=True),
        ),
    ),
    Table(
        name="lpr3_procedurer_kirurgi",
        register="LPR3",
        owner=SDS,
        description="LPR3 surgical procedures: one row per operation (K) on a contact.",
        person_level=False,
        coverage=(2019, None),
        columns=(
            Column("dw_ek_kontakt", "UBIGINT", "Contact key, joins lpr3_kontakter"),
            Column("procedurekode", "VARCHAR", "SKS operation code (KFNG05)", "SKS procedure"),
            Column("procedure_tidspunkt", "TIMESTAMP", "Time of the procedure"),
        ),
    ),
    Table(
        name="lpr3_procedurer_andre",
        register="LPR3",
        owner=SDS,
        description="LPR3 other procedures: one row per treatment (B) or examination (U) on a contact.",
        person_level=False,
        coverage=(2019, None),
        columns=(
            Column("dw_ek_kontakt", "UBIGINT", "Contact key, joins lpr3_kontakter"),
            Column(
                "procedurekode",
                "VARCHAR",
                "SKS treatment or examination code (BJFD20, UXCA00)",
                "SKS procedure",
            ),
            Column("procedure_tidspunkt", "TIMESTAMP", "Time of the procedure"),
        ),
    ),
    Table(
        name="lmdb",
        notes=(
            "Ozempic, Wegovy and Rybelsus share ATC A10BJ06 and Victoza and Saxenda A10BJ02; the package "
            "number (vnr) tells the products apart, see the catalog's packages.",
            "Indication codes 0000092, 0000276 and 0000781 mark metformin for PCOS; other indication "
            "codes are illustrative.",
        ),
        register="LMDB",
        owner=SDS,
        description="National Prescription Registry: one row per dispensing at a community pharmacy.",
        columns=(
            _PNR,
            Column("eksd", "DATE", "Dispensing date"),
            Column("atc", "VARCHAR", "7-character WHO ATC code (A10BA02)", "ATC"),
            Column("apk", "DOUBLE", "Number of packages dispensed"),
            Column("volume", "DOUBLE", "Defined daily doses per package"),
            Column("vnr", "UINTEGER", "Nordic article number of the package", "VNR"),
            Column(
                "indo", "VARCHAR", "Indication code (7 digits), often missing", "indication", nullable=True
            ),
        ),
    ),
    Table(
        name="lab_forsker",
        notes=(
            "Regions join in different years (Nordjylland 2009, Hovedstaden 2010, Sjælland 2011, "
            "Syddanmark 2013, Midtjylland 2015; approximate): no results before.",
            "value is text: '<5' and '<1' for CRP under a laboratory's detection limit, '>90' for a "
            "normal eGFR, '<0.01' for a suppressed TSH, a decimal comma from Midtjylland's laboratories.",
            "A sample is now and then reported twice; most persons have repeated measurements.",
        ),
        register="Laboratory Database",
        owner=SDS,
        description="Laboratory database (research extract): one row per analysis result of a blood sample.",
        coverage=(2009, None),
        columns=(
            _PNR,
            Column("samplingdate", "DATE", "Date the sample was taken"),
            Column("samplingtime", "VARCHAR", "Time the sample was taken (HH:MM)"),
            Column(
                "analysiscode", "VARCHAR", "NPU or DNK analysis code (NPU27300 HbA1c)", "NPU/DNK analysis"
            ),
            Column("value", "VARCHAR", "Result as reported: a number, or text such as <5 or >90"),
            Column("unit", "VARCHAR", "Unit of the result (mmol/mol, umol/L, ...)"),
            Column("refinterval_min", "DOUBLE", "Lower reference limit", nullable=True),
            Column("refinterval_max", "DOUBLE", "Upper reference limit", nullable=True),
        ),
    ),
    Table(
        name="dhd",
        notes=(
            "Registers the first hospital contact for incident heart failure with reduced ejection "
            "fraction (LVEF 40 % or less) from 2003; about 90 % of such contacts are registered.",
            "Indicators are recorded as fulfilled (Ja) or not (Nej) for each registration; their "
            "shares rise from 2003 to 2010 as the database's audits took effect.",
            "The owner's minimum cell count (10) is this synthetic database's; "
            "it exercises the per-register threshold, not a published RKKP rule.",
        ),
        register="Danish Heart Failure Registry",
        owner=RKKP,
        description="Danish Heart Failure Registry (Dansk Hjertesvigtdatabase, RKKP): one row per "
        "registered incident heart failure patient, with quality indicators.",
        coverage=(2003, None),
        minimum_cell_count=10,
        columns=(
            _PNR,
            Column("recnum", "UBIGINT", "LPR2 contact of the registration, joins lpr_adm", nullable=True),
            Column(
                "dw_ek_kontakt",
                "UBIGINT",
                "LPR3 contact of the registration, joins lpr3_kontakter",
                nullable=True,
            ),
            Column("d_registrering", "DATE", "Date of registration (the contact's start)"),
            Column("nyha", "UTINYINT", "NYHA functional class 1-4", "NYHA class"),
            Column("lvef", "VARCHAR", "Left ventricular ejection fraction category", "LVEF category"),
            Column("ind_ekko", "VARCHAR", "Indicator: echocardiography done", "yes/no"),
            Column("ind_raas", "VARCHAR", "Indicator: ACE inhibitor, ARB or ARNI treatment", "yes/no"),
            Column("ind_betablok", "VARCHAR", "Indicator: beta-blocker treatment", "yes/no"),
            Column("ind_traening", "VARCHAR", "Indicator: referred to exercise training", "yes/no"),
        ),
    ),
    Table(
        name="dvdd",
        notes=(
            "A yearly status of each adult with diabetes seen at a hospital outpatient clinic "
            "(action diagnosis DE10 or DE11), from 2005, on the year's first such visit; the "
            "clinics report almost all their patients (about 85 % here). General practice is not included.",
            "HbA1c is empty when it was not measured in the year.",
            "The owner's minimum cell count (10) is this synthetic database's, as for the heart "
            "failure registry.",
        ),
        register="Danish Adult Diabetes Registry",
        owner=RKKP,
        description="Danish Adult Diabetes Registry (Dansk Voksen Diabetes Database, RKKP): one row "
        "per patient and year at a hospital diabetes outpatient clinic, with screening indicators.",
        coverage=(2005, None),
        minimum_cell_count=10,
        columns=(
            _PNR,
            Column("recnum", "UBIGINT", "LPR2 contact of the status, joins lpr_adm", nullable=True),
            Column(
                "dw_ek_kontakt",
                "UBIGINT",
                "LPR3 contact of the status, joins lpr3_kontakter",
                nullable=True,
            ),
            Column("d_status", "DATE", "Date of the yearly status (the visit's start)"),
            Column("diabetestype", "UTINYINT", "Diabetes type 1 or 2", "diabetes type"),
            Column("hba1c", "DOUBLE", "HbA1c in the year, mmol/mol", nullable=True),
            Column("ind_oejne", "VARCHAR", "Indicator: eye examination within two years", "yes/no"),
            Column("ind_fod", "VARCHAR", "Indicator: foot examination within two years", "yes/no"),
            Column("ind_albuminuri", "VARCHAR", "Indicator: urine albumin measured in the year", "yes/no"),
        ),
    ),
    Table(
        name="cancer",
        notes=(
            "Complete from 1943: tumours diagnosed before the period are present for residents.",
            "C44 (non-melanoma skin) is registered but usually left out of headline counts.",
        ),
        register="Cancer Registry",
        owner=SDS,
        description="Danish Cancer Registry: one row per incident primary tumour.",
        history_from=1943,
        columns=(
            _PNR,
            Column("d_diagnosedato", "DATE", "Date of diagnosis"),
            Column("c_icd10", "VARCHAR", "ICD-10 topography without D prefix (C509)", "ICD-10"),
            Column("c_morfo3", "VARCHAR", "ICD-O-3 morphology and behaviour (M85003)", "ICD-O-3"),
        ),
    ),
    Table(
        name="doedsaarsag",
        register="Cause of Death Register",
        owner=SDS,
        description="Cause of Death Register: one row per death.",
        columns=(
            _PNR,
            Column("d_dodsdto", "DATE", "Date of death"),
            Column("c_dod1", "VARCHAR", "Underlying cause, ICD-10 with D prefix", "ICD-10 (D prefix)"),
            Column("c_dod2", "VARCHAR", "First contributing cause", "ICD-10 (D prefix)", nullable=True),
        ),
    ),
    Table(
        name="udda",
        notes=("hfaudd detail codes are illustrative; their first two digits give the level.",),
        register="UDDA",
        owner=DST,
        description="Highest completed education of residents aged 15+. A row is written for each year "
        "the level "
        "is recorded; the level in force in year Y is the row with the largest aar <= Y.",
        columns=(
            _PNR,
            Column("aar", "USMALLINT", "Register year"),
            Column("hfaudd", "USMALLINT", "Highest completed education, DST 4-digit code", "DST HFAUDD"),
            Column(
                "udd_niveau",
                "UTINYINT",
                "Level grouped to ISCED 2011: 10 primary, 20 general upper secondary, 30 vocational, "
                "40 short-cycle tertiary, 50 medium, 60 bachelor, 70 master, 80 PhD",
                "DST/ISCED level",
            ),
        ),
    ),
    Table(
        name="ind",
        register="IND",
        owner=DST,
        description="Yearly income per person (resident adults).",
        columns=(
            _PNR,
            Column("aar", "USMALLINT", "Income year"),
            Column("perindkialt", "DOUBLE", "Total personal income, DKK (may be negative)"),
            Column("famaekvivadisp", "DOUBLE", "Equivalised household disposable income, DKK"),
        ),
    ),
    Table(
        name="biobank",
        register="Danish National Biobank",
        owner=SSI,
        description="Index of stored biological samples: existence and type only, no assay values.",
        history_from=1982,
        columns=(
            _PNR,
            Column("sample_date", "DATE", "Date the sample was taken"),
            Column(
                "sample_type",
                "VARCHAR",
                "dried_blood_spot, serum, plasma, whole_blood, dna, tissue",
                "biobank sample type",
            ),
            Column("biobank", "VARCHAR", "Collection holding the sample", "biobank collection"),
        ),
    ),
)

TABLES_BY_NAME: dict[str, Table] = {table.name: table for table in TABLES}


def table(name: str) -> Table:
    return TABLES_BY_NAME[name]
