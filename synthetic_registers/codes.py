"""Code lists shipped as package data: ICD-10 categories, ATC substances, municipalities.

The generator samples from these lists and the catalog publishes them, so a code a query may
use is exactly a code the data can contain. ICD-10 codes are held in the LPR form with the
leading ``D`` (``DE119``); lookups accept either form.

Search synonyms (brand names such as Ozempic, abbreviations such as GLP-1, DOAC, MI, COPD) are data
too, in ``data/code_synonyms.csv`` and nowhere else: a row names a code or a code prefix of its list
(``A10BJ`` for every GLP-1 receptor agonist), so a synonym reaches exactly the codes it means.
"""

from __future__ import annotations

import bisect
import csv
import difflib
import functools
import itertools
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from importlib import resources

_SUBCODE_NAMES = {"8": "other specified", "9": "unspecified"}
_SEARCH_IGNORED = re.compile(r"[\s\-\u2010-\u2015]+")  # spaces and hyphens (also typographic dashes)


def search_key(text: str) -> str:
    """``text`` as search compares it: case-folded, without spaces and hyphens, so "GLP-1", "glp1"
    and "glp 1" are one key."""
    return _SEARCH_IGNORED.sub("", text.casefold())


def _read_csv(name: str) -> list[dict[str, str]]:
    text = resources.files("synthetic_registers.data").joinpath(name).read_text(encoding="utf-8")
    return list(csv.DictReader(text.splitlines()))


_SEPARATOR = "\x00"  # joins the search keys into one text; never part of a code's name or synonym


def _joined(keys: list[str]) -> tuple[str, list[int]]:
    """The keys as one text with ``_SEPARATOR`` between them, and where each key starts in it."""
    starts, offset = [], 0
    for key in keys:
        starts.append(offset)
        offset += len(key) + len(_SEPARATOR)
    return _SEPARATOR.join(keys), starts


def _containing(text: str, starts: list[int], needle: str) -> Iterator[int]:
    """Indexes (ascending) of the keys of a ``_joined`` text that contain ``needle``."""
    found = text.find(needle)
    while found != -1:
        index = bisect.bisect_right(starts, found) - 1
        yield index
        if index + 1 == len(starts):
            return
        found = text.find(needle, starts[index + 1])


@dataclass(frozen=True)
class Code:
    code: str
    name: str
    system: str


class CodeList:
    """A searchable list of codes of one code system, with the search synonyms of its codes."""

    def __init__(
        self, system: str, codes: list[Code], synonyms: dict[str, tuple[str, ...]] | None = None
    ) -> None:
        self.system = system
        self.codes = sorted(codes, key=lambda c: c.code)
        self._by_code = {c.code: c for c in self.codes}
        self._synonym_rows = dict(synonyms or {})  # code or code prefix -> synonyms
        self._synonyms = {
            c.code: tuple(
                dict.fromkeys(
                    word
                    for target, words in self._synonym_rows.items()
                    if c.code.startswith(target)
                    for word in words
                )
            )
            for c in self.codes
        }
        self._name_keys = {c.code: search_key(c.name) for c in self.codes}
        self._synonym_keys = {
            code: tuple(search_key(w) for w in words) for code, words in self._synonyms.items()
        }
        # Indexes for ``search``, which a code search of the API runs on every request: a scan of
        # the 4,279 ICD-10 codes in Python took about 2.7 ms; these answer it with dictionary
        # look-ups, a bisect and substring searches over one text (str.find, in C).
        self._positions = {c.code: i for i, c in enumerate(self.codes)}
        self._sorted_codes = [c.code for c in self.codes]
        self._whole_name: dict[str, list[int]] = {}
        self._whole_synonym: dict[str, list[int]] = {}
        name_keys: list[str] = []
        synonym_keys: list[str] = []
        self._synonym_owner: list[int] = []
        for i, c in enumerate(self.codes):
            self._whole_name.setdefault(self._name_keys[c.code], []).append(i)
            name_keys.append(self._name_keys[c.code])
            for word in dict.fromkeys(self._synonym_keys[c.code]):
                self._whole_synonym.setdefault(word, []).append(i)
                synonym_keys.append(word)
                self._synonym_owner.append(i)
        self._name_text, self._name_starts = _joined(name_keys)
        self._synonym_text, self._synonym_starts = _joined(synonym_keys)

    def __len__(self) -> int:
        return len(self.codes)

    def __contains__(self, code: object) -> bool:
        return isinstance(code, str) and self.normalise(code) in self._by_code

    def normalise(self, code: str) -> str:
        return code.strip().upper().replace(".", "")

    def get(self, code: str) -> Code | None:
        return self._by_code.get(self.normalise(code))

    def synonyms(self, code: str) -> tuple[str, ...]:
        """The search synonyms of a code of this list (those of the prefixes it starts with too)."""
        return self._synonyms.get(self.normalise(code), ())

    def synonym_targets(self) -> dict[str, tuple[str, ...]]:
        """Code or code prefix -> synonyms, as the synonym table states them for this list."""
        return dict(self._synonym_rows)

    def search(self, text: str, limit: int | None = 25) -> list[Code]:
        """Codes matching ``text``, best first: the exact code, codes starting with it, then codes whose
        name or a synonym matches. A whole match (the text is the name or a synonym) ranks before a
        partial one (the text inside it), and a name before a synonym of the same strength, so "MI"
        finds myocardial infarction before every name that merely contains "mi". Names and synonyms
        compare by ``search_key`` (case, spaces and hyphens ignored); ties keep code order."""
        code = self.normalise(text)
        key = search_key(text)
        if not key:
            return []
        ranks: dict[int, int] = {}  # position -> best rank; filled best rank first

        def rank_all(positions: Iterable[int], rank: int) -> None:
            for position in positions:
                ranks.setdefault(position, rank)

        if code in self._positions:
            ranks[self._positions[code]] = 0
        if code:
            first = bisect.bisect_left(self._sorted_codes, code)
            rank_all(
                itertools.takewhile(
                    lambda i: self._sorted_codes[i].startswith(code), range(first, len(self._sorted_codes))
                ),
                1,
            )
        rank_all(self._whole_name.get(key, ()), 2)
        rank_all(self._whole_synonym.get(key, ()), 3)
        if _SEPARATOR not in key:  # no name or synonym holds the separator
            rank_all(_containing(self._name_text, self._name_starts, key), 4)
            in_synonyms = _containing(self._synonym_text, self._synonym_starts, key)
            rank_all((self._synonym_owner[i] for i in in_synonyms), 5)
        ordered = sorted(ranks, key=lambda position: (ranks[position], position))
        found = [self.codes[position] for position in ordered]
        return found if limit is None else found[:limit]

    def nearest(self, code: str, n: int = 5) -> list[Code]:
        """Known codes most similar to an unknown one, for 'did you mean' suggestions."""
        wanted = self.normalise(code)
        candidates = [c.code for c in self.codes]
        close = difflib.get_close_matches(wanted, candidates, n=n, cutoff=0.5)
        if len(close) < n:
            shared = [c for c in candidates if c[: max(len(wanted) - 1, 1)] == wanted[:-1] and c not in close]
            close += shared[: n - len(close)]
        return [self._by_code[c] for c in close]


class Icd10List(CodeList):
    """ICD-10 in LPR form; accepts ``E11.9``, ``E119`` or ``DE119``."""

    def normalise(self, code: str) -> str:
        plain = super().normalise(code)
        if len(plain) >= 2 and plain[0] == "D" and plain[1].isalpha():
            return plain
        return "D" + plain


@dataclass(frozen=True)
class IcdCategory:
    code: str  # three characters without the D prefix, e.g. "E11"
    name: str
    weight: float  # relative frequency as a background (not condition-driven) diagnosis
    sex: int  # 0 both, 1 male only, 2 female only
    min_age: int
    max_age: int


@dataclass(frozen=True)
class AtcSubstance:
    code: str
    name: str
    market_from: str  # ISO date of the first Danish dispensing
    use: str  # "acute", "chronic" (background use) or "" (only dispensed for a modelled condition)
    weight: float
    sex: int
    min_age: int
    max_age: int
    ddd_per_pack: float


@dataclass(frozen=True)
class Municipality:
    kom: int
    name: str
    reg: int
    population_thousands: float


def _sex(value: str) -> int:
    return {"": 0, "M": 1, "F": 2}[value]


@functools.cache
def icd10_categories() -> tuple[IcdCategory, ...]:
    return tuple(
        IcdCategory(
            r["code"], r["name"], float(r["weight"]), _sex(r["sex"]), int(r["min_age"]), int(r["max_age"])
        )
        for r in _read_csv("icd10_categories.csv")
    )


@functools.cache
def atc_substances() -> tuple[AtcSubstance, ...]:
    return tuple(
        AtcSubstance(
            r["code"],
            r["name"],
            r["market_from"],
            r["use"],
            float(r["weight"]),
            _sex(r["sex"]),
            int(r["min_age"]),
            int(r["max_age"]),
            float(r["ddd_per_pack"]),
        )
        for r in _read_csv("atc.csv")
    )


@functools.cache
def municipalities() -> tuple[Municipality, ...]:
    return tuple(
        Municipality(int(r["kom"]), r["name"], int(r["reg"]), float(r["population_thousands"]))
        for r in _read_csv("municipalities.csv")
    )


def subcode_name(category_name: str, digit: str) -> str:
    return f"{category_name}, {_SUBCODE_NAMES.get(digit, f'subdivision .{digit}')}"


@functools.cache
def code_synonyms() -> dict[str, dict[str, tuple[str, ...]]]:
    """The synonym table: code system ("ICD-10", "ATC") -> code or code prefix -> synonyms."""
    table: dict[str, dict[str, list[str]]] = {}
    for row in _read_csv("code_synonyms.csv"):
        words = table.setdefault(row["system"], {}).setdefault(row["code"], [])
        words.append(row["synonym"])
    return {system: {code: tuple(words) for code, words in rows.items()} for system, rows in table.items()}


@functools.cache
def icd10_list() -> Icd10List:
    """Every category and its ten one-digit subcodes, in LPR form (DE11, DE110 ... DE119)."""
    codes: list[Code] = []
    for category in icd10_categories():
        codes.append(Code("D" + category.code, category.name, "ICD-10"))
        codes.extend(
            Code(f"D{category.code}{d}", subcode_name(category.name, str(d)), "ICD-10") for d in range(10)
        )
    return Icd10List("ICD-10", codes, code_synonyms().get("ICD-10"))


@functools.cache
def atc_list() -> CodeList:
    return CodeList(
        "ATC", [Code(s.code, s.name, "ATC") for s in atc_substances()], code_synonyms().get("ATC")
    )


@functools.cache
def cancer_icd10_list() -> CodeList:
    """The Cancer Registry's form of the cancer (C) codes: ICD-10 without the D prefix (C509), with
    the ICD-10 synonyms of those codes."""
    codes = [
        Code(c.code[1:], c.name, "ICD-10 without D prefix")
        for c in icd10_list().codes
        if c.code.startswith("DC")
    ]
    synonyms = {
        target[1:]: words
        for target, words in code_synonyms().get("ICD-10", {}).items()
        if target.startswith("DC")
    }
    return CodeList("ICD-10 without D prefix", codes, synonyms)


SKS_PROCEDURES = "SKS procedures"


@functools.cache
def sks_procedure_list() -> CodeList:
    """SKS procedure codes of the patient register's procedure tables: K… operations, B… treatments,
    U… examinations (imaging). The codes follow SKS's structure; the selection is what the
    generator writes."""
    return CodeList(
        SKS_PROCEDURES,
        [Code(r["code"], r["name"], SKS_PROCEDURES) for r in _read_csv("sks_procedures.csv")],
        code_synonyms().get(SKS_PROCEDURES),
    )
