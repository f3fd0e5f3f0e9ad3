"""The full ATC index (``data/atc_index.csv``): every group and substance code a query may name.

No package on the registries ships the WHO ATC index or a Danish medicine list for offline use (the
WHO index is licensed and not redistributable; the packages that map ATC codes fetch them at run
time), so the index is generated here, reproducibly, and shipped as package data:

- levels 1 and 2 (anatomical and therapeutic groups) are the real WHO codes and names;
- levels 3 and 4 hold the real groups of the hand-kept substances (``data/atc.csv``, with their real
  names) and further groups with made-up letters and plausible names;
- level 5 holds the hand-kept substances (named in ``atc.csv``, not here) and about 4,800 made-up
  ones with invented names built on the real naming stems of their class (-olol, -sartan, -mab, ...),
  numbered as the WHO numbers them (combinations from 50).

The index is about the size of the real one (14, 94, ~270, ~900 and ~5,000 codes per level). About a
fifth of the made-up substances are on the Danish market: they carry a market date, a use (short
course or long-term) and a long-tailed prescribing weight, so that the national extract dispenses
well over 800 distinct substances a year, most of them rarely. The rest are valid codes that are
never dispensed (withdrawn, hospital-only or never marketed in Denmark).

Regenerate with ``python -m synthetic_registers.atc_index``; a test checks the shipped file is what
this module writes, so the file is never edited by hand.
"""

from __future__ import annotations

import csv
import io
import random
from dataclasses import dataclass
from pathlib import Path

SEED = 20240101
INDEX_FILE = "atc_index.csv"
COLUMNS = ("code", "name", "level", "market_from", "use", "weight", "sex", "min_age", "ddd_per_pack")

ANATOMICAL_GROUPS = {
    "A": "alimentary tract and metabolism",
    "B": "blood and blood forming organs",
    "C": "cardiovascular system",
    "D": "dermatologicals",
    "G": "genito urinary system and sex hormones",
    "H": "systemic hormonal preparations, excl. sex hormones and insulins",
    "J": "antiinfectives for systemic use",
    "L": "antineoplastic and immunomodulating agents",
    "M": "musculo-skeletal system",
    "N": "nervous system",
    "P": "antiparasitic products, insecticides and repellents",
    "R": "respiratory system",
    "S": "sensory organs",
    "V": "various",
}

THERAPEUTIC_GROUPS = {
    "A01": "stomatological preparations",
    "A02": "drugs for acid related disorders",
    "A03": "drugs for functional gastrointestinal disorders",
    "A04": "antiemetics and antinauseants",
    "A05": "bile and liver therapy",
    "A06": "drugs for constipation",
    "A07": "antidiarrheals, intestinal antiinflammatory/antiinfective agents",
    "A08": "antiobesity preparations, excl. diet products",
    "A09": "digestives, incl. enzymes",
    "A10": "drugs used in diabetes",
    "A11": "vitamins",
    "A12": "mineral supplements",
    "A13": "tonics",
    "A14": "anabolic agents for systemic use",
    "A15": "appetite stimulants",
    "A16": "other alimentary tract and metabolism products",
    "B01": "antithrombotic agents",
    "B02": "antihemorrhagics",
    "B03": "antianemic preparations",
    "B05": "blood substitutes and perfusion solutions",
    "B06": "other hematological agents",
    "C01": "cardiac therapy",
    "C02": "antihypertensives",
    "C03": "diuretics",
    "C04": "peripheral vasodilators",
    "C05": "vasoprotectives",
    "C07": "beta blocking agents",
    "C08": "calcium channel blockers",
    "C09": "agents acting on the renin-angiotensin system",
    "C10": "lipid modifying agents",
    "D01": "antifungals for dermatological use",
    "D02": "emollients and protectives",
    "D03": "preparations for treatment of wounds and ulcers",
    "D04": "antipruritics, incl. antihistamines, anesthetics, etc.",
    "D05": "antipsoriatics",
    "D06": "antibiotics and chemotherapeutics for dermatological use",
    "D07": "corticosteroids, dermatological preparations",
    "D08": "antiseptics and disinfectants",
    "D09": "medicated dressings",
    "D10": "anti-acne preparations",
    "D11": "other dermatological preparations",
    "G01": "gynecological antiinfectives and antiseptics",
    "G02": "other gynecologicals",
    "G03": "sex hormones and modulators of the genital system",
    "G04": "urologicals",
    "H01": "pituitary and hypothalamic hormones and analogues",
    "H02": "corticosteroids for systemic use",
    "H03": "thyroid therapy",
    "H04": "pancreatic hormones",
    "H05": "calcium homeostasis",
    "J01": "antibacterials for systemic use",
    "J02": "antimycotics for systemic use",
    "J04": "antimycobacterials",
    "J05": "antivirals for systemic use",
    "J06": "immune sera and immunoglobulins",
    "J07": "vaccines",
    "L01": "antineoplastic agents",
    "L02": "endocrine therapy",
    "L03": "immunostimulants",
    "L04": "immunosuppressants",
    "M01": "antiinflammatory and antirheumatic products",
    "M02": "topical products for joint and muscular pain",
    "M03": "muscle relaxants",
    "M04": "antigout preparations",
    "M05": "drugs for treatment of bone diseases",
    "M09": "other drugs for disorders of the musculo-skeletal system",
    "N01": "anesthetics",
    "N02": "analgesics",
    "N03": "antiepileptics",
    "N04": "anti-parkinson drugs",
    "N05": "psycholeptics",
    "N06": "psychoanaleptics",
    "N07": "other nervous system drugs",
    "P01": "antiprotozoals",
    "P02": "anthelmintics",
    "P03": "ectoparasiticides, incl. scabicides, insecticides and repellents",
    "R01": "nasal preparations",
    "R02": "throat preparations",
    "R03": "drugs for obstructive airway diseases",
    "R05": "cough and cold preparations",
    "R06": "antihistamines for systemic use",
    "R07": "other respiratory system products",
    "S01": "ophthalmologicals",
    "S02": "otologicals",
    "S03": "ophthalmological and otological preparations",
    "V01": "allergens",
    "V03": "all other therapeutic products",
    "V04": "diagnostic agents",
    "V06": "general nutrients",
    "V07": "all other non-therapeutic products",
    "V08": "contrast media",
    "V09": "diagnostic radiopharmaceuticals",
    "V10": "therapeutic radiopharmaceuticals",
    "V20": "surgical dressings",
}

# Real names of the level 3 and 4 groups that hold hand-kept substances (data/atc.csv).
KNOWN_GROUPS = {
    "A02B": "drugs for peptic ulcer and gastro-oesophageal reflux disease (GORD)",
    "A02BC": "proton pump inhibitors",
    "A03F": "propulsives",
    "A03FA": "propulsives",
    "A04A": "antiemetics and antinauseants",
    "A04AA": "serotonin (5HT3) antagonists",
    "A06A": "drugs for constipation",
    "A06AD": "osmotically acting laxatives",
    "A07D": "antipropulsives",
    "A07DA": "antipropulsives",
    "A10A": "insulins and analogues",
    "A10AB": "insulins and analogues for injection, fast-acting",
    "A10AC": "insulins and analogues for injection, intermediate-acting",
    "A10AE": "insulins and analogues for injection, long-acting",
    "A10B": "blood glucose lowering drugs, excl. insulins",
    "A10BA": "biguanides",
    "A10BB": "sulfonylureas",
    "A10BD": "combinations of oral blood glucose lowering drugs",
    "A10BH": "dipeptidyl peptidase 4 (DPP-4) inhibitors",
    "A10BJ": "glucagon-like peptide-1 (GLP-1) analogues",
    "A10BK": "sodium-glucose co-transporter 2 (SGLT2) inhibitors",
    "A11C": "vitamin A and D, incl. combinations of the two",
    "A11CC": "vitamin D and analogues",
    "A11J": "other vitamin products, combinations",
    "A11JA": "combinations of vitamins",
    "A11JB": "vitamins with minerals",
    "A11JC": "vitamins, other combinations",
    "A12A": "calcium",
    "A12AX": "calcium, combinations with vitamin D and/or other drugs",
    "B01A": "antithrombotic agents",
    "B01AA": "vitamin K antagonists",
    "B01AC": "platelet aggregation inhibitors excl. heparin",
    "B01AE": "direct thrombin inhibitors",
    "B01AF": "direct factor Xa inhibitors",
    "B03A": "iron preparations",
    "B03AA": "iron bivalent, oral preparations",
    "C01A": "cardiac glycosides",
    "C01AA": "digitalis glycosides",
    "C01D": "vasodilators used in cardiac diseases",
    "C01DA": "organic nitrates",
    "C03A": "low-ceiling diuretics, thiazides",
    "C03AB": "thiazides and potassium in combination",
    "C03C": "high-ceiling diuretics",
    "C03CA": "sulfonamides, plain",
    "C03D": "aldosterone antagonists and other potassium-sparing agents",
    "C03DA": "aldosterone antagonists",
    "C05A": "agents for treatment of hemorrhoids and anal fissures for topical use",
    "C05AA": "corticosteroids",
    "C07A": "beta blocking agents",
    "C07AB": "beta blocking agents, selective",
    "C08C": "selective calcium channel blockers with mainly vascular effects",
    "C08CA": "dihydropyridine derivatives",
    "C09A": "ACE inhibitors, plain",
    "C09AA": "ACE inhibitors, plain",
    "C09C": "angiotensin II receptor blockers (ARBs), plain",
    "C09CA": "angiotensin II receptor blockers (ARBs), plain",
    "C09D": "angiotensin II receptor blockers (ARBs), combinations",
    "C09DA": "ARBs and diuretics",
    "C09DX": "ARBs, other combinations",
    "C10A": "lipid modifying agents, plain",
    "C10AA": "HMG CoA reductase inhibitors",
    "C10AX": "other lipid modifying agents",
    "D01A": "antifungals for topical use",
    "D01AC": "imidazole and triazole derivatives",
    "D06A": "antibiotics for topical use",
    "D06AX": "other antibiotics for topical use",
    "D07A": "corticosteroids, plain",
    "D07AB": "corticosteroids, moderately potent (group II)",
    "D07AC": "corticosteroids, potent (group III)",
    "G03A": "hormonal contraceptives for systemic use",
    "G03AA": "progestogens and estrogens, fixed combinations",
    "G03C": "estrogens",
    "G03CA": "natural and semisynthetic estrogens, plain",
    "G03D": "progestogens",
    "G03DA": "pregnen (4) derivatives",
    "G04B": "urologicals",
    "G04BD": "drugs for urinary frequency and incontinence",
    "G04BE": "drugs used in erectile dysfunction",
    "G04C": "drugs used in benign prostatic hypertrophy",
    "G04CA": "alpha-adrenoreceptor antagonists",
    "G04CB": "testosterone-5-alpha reductase inhibitors",
    "H02A": "corticosteroids for systemic use, plain",
    "H02AB": "glucocorticoids",
    "H03A": "thyroid preparations",
    "H03AA": "thyroid hormones",
    "J01A": "tetracyclines",
    "J01AA": "tetracyclines",
    "J01C": "beta-lactam antibacterials, penicillins",
    "J01CA": "penicillins with extended spectrum",
    "J01CE": "beta-lactamase sensitive penicillins",
    "J01CF": "beta-lactamase resistant penicillins",
    "J01CR": "combinations of penicillins, incl. beta-lactamase inhibitors",
    "J01E": "sulfonamides and trimethoprim",
    "J01EA": "trimethoprim and derivatives",
    "J01F": "macrolides, lincosamides and streptogramins",
    "J01FA": "macrolides",
    "J01M": "quinolone antibacterials",
    "J01MA": "fluoroquinolones",
    "J01X": "other antibacterials",
    "J01XE": "nitrofuran derivatives",
    "J01XX": "other antibacterials",
    "J02A": "antimycotics for systemic use",
    "J02AC": "triazole and tetrazole derivatives",
    "J05A": "direct acting antivirals",
    "J05AB": "nucleosides and nucleotides excl. reverse transcriptase inhibitors",
    "L01B": "antimetabolites",
    "L01BC": "pyrimidine analogues",
    "L02A": "hormones and related agents",
    "L02AE": "gonadotropin releasing hormone analogues",
    "L02B": "hormone antagonists and related agents",
    "L02BA": "anti-estrogens",
    "L02BB": "anti-androgens",
    "L02BG": "aromatase inhibitors",
    "L04A": "immunosuppressants",
    "L04AB": "tumor necrosis factor alpha (TNF-alpha) inhibitors",
    "L04AX": "other immunosuppressants",
    "M01A": "antiinflammatory and antirheumatic products, non-steroids",
    "M01AB": "acetic acid derivatives and related substances",
    "M01AE": "propionic acid derivatives",
    "M05B": "drugs affecting bone structure and mineralization",
    "M05BA": "bisphosphonates",
    "M05BX": "other drugs affecting bone structure and mineralization",
    "N02A": "opioids",
    "N02AA": "natural opium alkaloids",
    "N02AX": "other opioids",
    "N02B": "other analgesics and antipyretics",
    "N02BE": "anilides",
    "N02C": "antimigraine preparations",
    "N02CC": "selective serotonin (5HT1) agonists",
    "N03A": "antiepileptics",
    "N03AF": "carboxamide derivatives",
    "N03AG": "fatty acid derivatives",
    "N03AX": "other antiepileptics",
    "N04B": "dopaminergic agents",
    "N04BA": "dopa and dopa derivatives",
    "N05A": "antipsychotics",
    "N05AH": "diazepines, oxazepines, thiazepines and oxepines",
    "N05AN": "lithium",
    "N05AX": "other antipsychotics",
    "N05B": "anxiolytics",
    "N05BA": "benzodiazepine derivatives",
    "N05C": "hypnotics and sedatives",
    "N05CF": "benzodiazepine related drugs",
    "N05CH": "melatonin receptor agonists",
    "N06A": "antidepressants",
    "N06AA": "non-selective monoamine reuptake inhibitors",
    "N06AB": "selective serotonin reuptake inhibitors",
    "N06AX": "other antidepressants",
    "N06B": "psychostimulants, agents used for ADHD and nootropics",
    "N06BA": "centrally acting sympathomimetics",
    "N06D": "anti-dementia drugs",
    "N06DA": "anticholinesterases",
    "N06DX": "other anti-dementia drugs",
    "P01A": "agents against amoebiasis and other protozoal diseases",
    "P01AB": "nitroimidazole derivatives",
    "R01A": "decongestants and other nasal preparations for topical use",
    "R01AD": "corticosteroids",
    "R03A": "adrenergics, inhalants",
    "R03AC": "selective beta-2-adrenoreceptor agonists",
    "R03AK": "adrenergics in combination with corticosteroids or other drugs, excl. anticholinergics",
    "R03AL": "adrenergics in combination with anticholinergics incl. triple combinations",
    "R03B": "other drugs for obstructive airway diseases, inhalants",
    "R03BA": "glucocorticoids",
    "R03BB": "anticholinergics",
    "R03D": "other systemic drugs for obstructive airway diseases",
    "R03DC": "leukotriene receptor antagonists",
    "R05D": "cough suppressants, excl. combinations with expectorants",
    "R05DA": "opium alkaloids and derivatives",
    "R06A": "antihistamines for systemic use",
    "R06AE": "piperazine derivatives",
    "R06AX": "other antihistamines for systemic use",
    "S01A": "antiinfectives",
    "S01AA": "antibiotics",
    "S01E": "antiglaucoma preparations and miotics",
    "S01EE": "prostaglandin analogues",
    "V03A": "all other therapeutic products",
    "V03AE": "drugs for treatment of hyperkalemia and hyperphosphatemia",
    "V06D": "other nutrients",
    "V06DB": "fat/carbohydrates/proteins/minerals/vitamins, combinations",
}

# Level 4 groups whose products carry the group code itself: real data has a few such short codes
# (vitamin and mineral combinations, nutrition products) besides the 7-character substance codes.
SHORT_PRODUCT_GROUPS = ("A11JA", "A11JB", "A11JC", "V06DB")
SHORT_PRODUCT_WEIGHT = 0.8  # the most used of them; the others less (hand-kept A12AX: 4)

# The naming stems of a therapeutic group (and finer prefixes), from the WHO INN stem book, so a
# made-up beta blocker ends in -olol and a made-up antibody in -mab.
STEMS = {
    "A02": ("prazole", "tidine"),
    "A10A": ("insulin",),
    "A10B": ("gliptin", "gliflozin", "glutide", "glinide", "glitazone"),
    "B01": ("parin", "xaban", "gatran", "grel"),
    "C01": ("dronate", "arone", "nitrate"),
    "C02": ("azosin", "onidine"),
    "C03": ("thiazide", "semide", "renone"),
    "C07": ("olol", "alol"),
    "C08": ("dipine", "pamil"),
    "C09A": ("pril",),
    "C09C": ("sartan",),
    "C10": ("vastatin", "fibrate", "cimibe"),
    "D07": ("sone", "olone"),
    "G03": ("estrel", "gestrel", "estradiol", "gestone"),
    "G04": ("fenacin", "afil", "osin", "steride"),
    "H02": ("sone", "olone"),
    "J01": ("cillin", "mycin", "floxacin", "cycline", "cef", "penem"),
    "J02": ("conazole", "fungin"),
    "J04": ("mycin", "azide"),
    "J05": ("vir", "previr", "asvir", "buvir"),
    "J07": ("vaccine",),
    "L01": ("tinib", "ciclib", "platin", "mab", "rubicin", "taxel"),
    "L02": ("relin", "lutamide", "trozole", "estrant"),
    "L04": ("limus", "mab", "cept", "citinib"),
    "M01": ("profen", "coxib", "fenac"),
    "M05": ("dronate", "mab"),
    "N01": ("caine", "flurane"),
    "N02A": ("orphine", "adol", "fentanil"),
    "N02C": ("triptan", "gepant"),
    "N03": ("tamide", "gabalin", "racetam", "trigine"),
    "N04": ("pirole", "giline", "capone"),
    "N05A": ("peridol", "apine", "piprazole"),
    "N05B": ("azepam", "azolam"),
    "N05C": ("azepam", "plon", "clone"),
    "N06A": ("oxetine", "triptyline", "faxine", "alopram"),
    "N06D": ("stigmine", "antine"),
    "P01": ("quine", "nidazole"),
    "R03": ("terol", "tropium", "lukast"),
    "R06": ("tadine", "astine", "izine"),
    "S01": ("prost", "olol", "zolamide"),
    "V08": ("trizoate", "iodol", "gadobenate"),
}
DEFAULT_STEMS = ("ine", "ide", "ate", "ol", "one", "ium", "amide", "azine", "ene", "in")
_SYLLABLES = (
    "ba", "be", "bi", "da", "de", "do", "fa", "fe", "fo", "ga", "ge", "ka", "ke", "la", "le", "li",
    "lo", "ma", "me", "mi", "mo", "na", "ne", "ni", "no", "pa", "pe", "pi", "ra", "re", "ri", "ro",
    "sa", "se", "si", "ta", "te", "ti", "to", "tu", "va", "ve", "vi", "xa", "xi", "za", "zo",
)  # fmt: skip
_GROUP_QUALIFIERS = (
    "other", "combinations", "derivatives", "plain", "and related substances", "for topical use",
    "for systemic use", "in combination with other drugs", "analogues", "antagonists", "agonists",
)  # fmt: skip

# Therapeutic groups whose drugs the generator models through conditions (drug_parameters.REGIMES)
# and whose users the realism targets count: their made-up substances stay off the market, so the
# modelled prescribing, not a random tail, decides who uses them.
MODELLED_PREFIXES = (
    "A10", "B01A", "C02", "C03", "C07", "C08", "C09", "C10", "L01", "L02", "L04A", "M05B", "N06A",
    "N06D", "R03",
)  # fmt: skip
# Groups not dispensed at community pharmacies (diagnostics, contrast media, radiopharmaceuticals,
# anaesthetics, vaccines given at the clinic, perfusion solutions).
NOT_AT_PHARMACIES = ("B05", "J06", "J07", "N01", "V04", "V07", "V08", "V09", "V10", "V20")
# Groups of short courses; everything else is long-term use when it is background prescribing.
ACUTE_PREFIXES = (
    "A01", "A03", "A04", "A07", "D01", "D03", "D04", "D06", "D07", "D08", "G01", "H02", "J01", "J02",
    "J04", "J05", "M01", "M02", "M03", "N02", "P01", "P02", "P03", "R01", "R02", "R05", "R06", "S01A",
    "S02", "S03",
)  # fmt: skip
FEMALE_ONLY = ("G01", "G02", "G03A", "G03G")
MALE_ONLY = ("G04C", "L02B")
CHILDREN_TOO = ("A07", "D", "J01", "R01", "R05", "R06", "S01", "S02", "P")

MARKETED_SHARE = 0.28  # of made-up substances outside the groups above
TAIL_ACUTE_WEIGHT = 11.0  # made-up short-course drugs together (hand-kept ones: 159)
TAIL_CHRONIC_WEIGHT = 7.0  # made-up long-term drugs together (hand-kept ones: 97)
ZIPF_EXPONENT = 1.3  # rank-frequency slope of the tail: a few common, most rarely used


@dataclass(frozen=True)
class IndexRow:
    code: str
    name: str
    level: int
    market_from: str = ""
    use: str = ""
    weight: float = 0.0
    sex: str = ""
    min_age: int = 0
    ddd_per_pack: float = 0.0

    def values(self) -> tuple:
        weight = f"{self.weight:.6g}" if self.weight else ""
        ddd = f"{self.ddd_per_pack:g}" if self.ddd_per_pack else ""
        age = str(self.min_age) if self.market_from else ""
        return (self.code, self.name, self.level, self.market_from, self.use, weight, self.sex, age, ddd)


def _starts(code: str, prefixes: tuple[str, ...]) -> bool:
    return any(code.startswith(p) for p in prefixes)


def _stems(code: str) -> tuple[str, ...]:
    for length in (4, 3):
        if code[:length] in STEMS:
            return STEMS[code[:length]]
    return DEFAULT_STEMS


def _invented_name(rng: random.Random, code: str, taken: set[str]) -> str:
    stems = _stems(code)
    while True:
        syllables = 2 + (rng.random() < 0.45)
        head = "".join(_SYLLABLES[int(rng.random() * len(_SYLLABLES))] for _ in range(syllables))
        stem = stems[int(rng.random() * len(stems))]
        if stem in ("insulin", "vaccine"):
            name = f"{head} {stem}"
        elif stem == "cef":  # a prefix stem: cefalexin, cefuroxime
            name = f"cef{head}ime"
        else:
            name = head + stem
        if name not in taken:
            taken.add(name)
            return name


def _letters(rng: random.Random, known: set[str], mean: float, low: int, high: int) -> list[str]:
    """Group letters of one parent: the known ones and more (A, B, C ... skipping known)."""
    wanted = max(low, min(high, round(rng.expovariate(1 / mean)) + 1))
    letters = sorted(known)
    for letter in "ABCDEFGHJKLMNPQRSTUVWX":
        if len(letters) >= max(wanted, len(known)):
            break
        if letter not in letters:
            letters.append(letter)
    return sorted(letters)


def build_index(curated: dict[str, str]) -> list[IndexRow]:
    """The index rows: groups of levels 1-4 and the substances that ``curated`` (code -> name, the
    hand-kept ``atc.csv``) does not hold, in code order."""
    rng = random.Random(SEED)
    rows: list[IndexRow] = [IndexRow(code, name, 1) for code, name in ANATOMICAL_GROUPS.items()]
    rows += [IndexRow(code, name, 2) for code, name in THERAPEUTIC_GROUPS.items()]
    curated_substances = [c for c in curated if len(c) == 7]
    known = {*KNOWN_GROUPS, *(c[:4] for c in curated), *(c[:5] for c in curated_substances)}
    taken = set(curated.values())
    invented: list[IndexRow] = []
    for level2 in THERAPEUTIC_GROUPS:
        for letter3 in _letters(rng, {k[3] for k in known if k[:3] == level2 and len(k) >= 4}, 1.9, 1, 8):
            level3 = level2 + letter3
            name3 = KNOWN_GROUPS.get(level3) or f"{THERAPEUTIC_GROUPS[level2]}, {_qualifier(rng)}"
            rows.append(IndexRow(level3, name3, 3))
            fours = {k[4] for k in known if k[:4] == level3 and len(k) == 5}
            for letter4 in _letters(rng, fours, 2.4, 1, 10):
                level4 = level3 + letter4
                name4 = KNOWN_GROUPS.get(level4) or f"{name3.split(',')[0]}, {_qualifier(rng)}"
                if level4 not in curated and level4 not in SHORT_PRODUCT_GROUPS:
                    rows.append(IndexRow(level4, name4, 4))
                if level4 in SHORT_PRODUCT_GROUPS:
                    rows.append(_short_product(level4, name4))
                if level4 in SHORT_PRODUCT_GROUPS or level4 in curated:
                    continue  # products coded at the group itself: no substances below it
                invented += _substances(rng, level4, curated_substances, taken)
    invented = _market(rng, invented)
    return sorted(rows + invented, key=lambda r: r.code)


def _short_product(code: str, name: str) -> IndexRow:
    """A group code dispensed as a product (a vitamin or nutrition combination), long-term use."""
    weight = SHORT_PRODUCT_WEIGHT / (1 + SHORT_PRODUCT_GROUPS.index(code))
    return IndexRow(code, name, 4, "1970-01-01", "chronic", weight, "", 0, 100.0)


def _qualifier(rng: random.Random) -> str:
    return _GROUP_QUALIFIERS[int(rng.random() * len(_GROUP_QUALIFIERS))]


def _substances(rng: random.Random, level4: str, curated: list[str], taken: set[str]) -> list[IndexRow]:
    """Made-up substances of one level 4 group: numbers 01-4x as single substances, then a few
    combinations from 50, never reusing a hand-kept number."""
    used = {int(c[5:]) for c in curated if c.startswith(level4)}
    count = max(1, round(rng.expovariate(1 / 5.2)))
    rows: list[IndexRow] = []
    singles: list[str] = []
    number = 0
    while len(singles) < count:
        number += 1 + (rng.random() < 0.25)  # withdrawn numbers leave gaps, as in the real index
        if number in used or number >= 50:
            if number >= 50:
                break
            continue
        name = _invented_name(rng, level4, taken)
        singles.append(name)
        rows.append(IndexRow(f"{level4}{number:02d}", name, 5))
    combination = 50
    for name in singles:
        if rng.random() < 0.22:
            while combination in used:
                combination += 1
            label = f"{name}, combinations" if rng.random() < 0.5 else f"{name} and {_partner(rng, taken)}"
            rows.append(IndexRow(f"{level4}{combination:02d}", label, 5))
            combination += 1 + (rng.random() < 0.3)
            if combination > 99:
                break
    return rows


def _partner(rng: random.Random, taken: set[str]) -> str:
    return _invented_name(rng, "", taken) if rng.random() < 0.5 else "diuretics"


def _market(rng: random.Random, substances: list[IndexRow]) -> list[IndexRow]:
    """Marks about a fifth of the made-up substances as sold in Denmark, with a Zipf-shaped weight
    by a random popularity rank, a market date, use, sex and age limits and pack size."""
    marketed = [
        i
        for i, row in enumerate(substances)
        if not _starts(row.code, MODELLED_PREFIXES + NOT_AT_PHARMACIES) and rng.random() < MARKETED_SHARE
    ]
    order = sorted(marketed, key=lambda _: rng.random())
    acute = [i for i in order if _starts(substances[i].code, ACUTE_PREFIXES)]
    chronic = [i for i in order if not _starts(substances[i].code, ACUTE_PREFIXES)]
    out = list(substances)
    tails = (("acute", acute, TAIL_ACUTE_WEIGHT), ("chronic", chronic, TAIL_CHRONIC_WEIGHT))
    for use, members, total in tails:
        raw = [1 / (rank + 1) ** ZIPF_EXPONENT for rank in range(len(members))]
        scale = total / sum(raw)
        for i, share in zip(members, raw, strict=True):
            row = substances[i]
            year = 1960 + int(rng.random() ** 1.2 * 64)  # launched 1960-2023, most before 2005
            sex = "F" if _starts(row.code, FEMALE_ONLY) else "M" if _starts(row.code, MALE_ONLY) else ""
            out[i] = IndexRow(
                row.code,
                row.name,
                5,
                market_from=f"{year}-{1 + int(rng.random() * 12):02d}-01",
                use=use,
                weight=share * scale,
                sex=sex,
                min_age=0 if _starts(row.code, CHILDREN_TOO) else 18,
                ddd_per_pack=float(10 + 5 * int(rng.random() * 4))
                if use == "acute"
                else float((30, 50, 56, 90, 100)[int(rng.random() * 5)]),
            )
    return out


def index_text(curated: dict[str, str]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    writer.writerows(row.values() for row in build_index(curated))
    return buffer.getvalue()


def _curated_from(path: Path) -> dict[str, str]:
    with path.open(encoding="utf-8") as f:
        return {r["code"]: r["name"] for r in csv.DictReader(f)}


def data_dir() -> Path:
    return Path(__file__).parent / "data"


def main() -> None:
    curated = _curated_from(data_dir() / "atc.csv")
    (data_dir() / INDEX_FILE).write_text(index_text(curated), encoding="utf-8")
    counts: dict[int, int] = {}
    for row in build_index(curated):
        counts[row.level] = counts.get(row.level, 0) + 1
    print(f"wrote {data_dir() / INDEX_FILE}: codes per level {dict(sorted(counts.items()))}")


if __name__ == "__main__":
    main()
