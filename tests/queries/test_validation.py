"""Validation: every problem names the field and what would be valid."""

from __future__ import annotations

import pytest

from queries.errors import QueryValidationError
from queries.registry import ATC, ICD10_CANCER, ICD10_LPR
from queries.validation import validate_query
from queries.vocabulary import Vocabulary

VOCABULARY = Vocabulary.of(
    {
        ICD10_LPR: ["DE110", "DE119", "DE109", "DI10", "DI219", "DJ449"],
        ATC: ["A10BA02", "A10BJ02", "A10BJ06", "C10AA05"],
        ICD10_CANCER: ["C509", "C61", "C187"],
    },
    first_year=1995,
    last_year=2024,
)
T2D = {"type": "diagnosis", "codes": ["DE11"]}
BASE = {"index": {"concept": T2D, "period": {"start": "2015-01-01", "end": "2020-12-31"}}}


def problems(payload, catalog=VOCABULARY) -> list[dict]:
    with pytest.raises(QueryValidationError) as caught:
        validate_query(payload, catalog)
    return caught.value.problems


def by_field(payload, catalog=VOCABULARY) -> dict[str, dict]:
    return {p["field"]: p for p in problems(payload, catalog)}


def test_valid_query_passes():
    query = validate_query(
        {**BASE, "result": {"kind": "cohort_count", "breakdowns": [{"by": "sex"}]}}, VOCABULARY
    )
    assert query.index.concept.codes == ("DE11",)


def test_inverted_window_names_its_start():
    found = by_field(
        {**BASE, "criteria": [{"type": "include", "concept": T2D, "window": {"start": 10, "end": -5}}]}
    )
    assert "start <= end" in found["criteria.0.window.start"]["valid"]


def test_window_on_an_attribute_is_refused():
    found = by_field(
        {
            **BASE,
            "criteria": [
                {"type": "include", "concept": {"type": "sex", "sex": "male"}, "window": {"start": 0}}
            ],
        }
    )
    assert "criteria.0.window" in found


def test_unknown_code_prefix_suggests_nearest_known_codes():
    found = by_field(
        {
            **BASE,
            "criteria": [
                {
                    "type": "all",
                    "criteria": [{"type": "include", "concept": {"type": "prescription", "atc": ["A10BX"]}}],
                }
            ],
        }
    )
    problem = found["criteria.0.criteria.0.concept.atc.0"]
    assert "A10BA" in problem["valid"] and "A10BJ" in problem["valid"]


def test_code_syntax_is_checked_without_a_catalog():
    found = by_field(
        {**BASE, "index": {**BASE["index"], "concept": {"type": "diagnosis", "codes": ["E11"]}}}, None
    )
    assert "DE11" in found["index.concept.codes.0"]["valid"]
    found = by_field(
        {**BASE, "criteria": [{"type": "exclude", "concept": {"type": "cancer", "codes": ["DC50"]}}]}, None
    )
    assert "C50" in found["criteria.0.concept.codes.0"]["valid"]


def test_period_outside_coverage():
    found = by_field({"index": {"concept": T2D, "period": {"start": "1990-01-01", "end": "2026-12-31"}}})
    assert "1995" in found["index.period.start"]["valid"]
    assert "2024" in found["index.period.end"]["valid"]


def test_too_many_breakdowns():
    breakdowns = [{"by": "sex"}, {"by": "region"}, {"by": "index_year"}, {"by": "education"}]
    found = by_field({**BASE, "result": {"kind": "cohort_count", "breakdowns": breakdowns}})
    assert "at most 3" in found["result.breakdowns"]["valid"]


def test_age_band_narrower_than_five_years():
    found = by_field(
        {**BASE, "result": {"kind": "cohort_count", "breakdowns": [{"by": "age_band", "width": 2}]}}
    )
    assert "5" in found["result.breakdowns.0.width"]["valid"]


def test_pydantic_errors_have_dotted_paths_without_union_tags():
    found = by_field(
        {**BASE, "criteria": [{"type": "include", "concept": {"type": "diagnosis", "codez": ["DE11"]}}]}
    )
    assert set(found) == {"criteria.0.concept.codes", "criteria.0.concept.codez"}
    found = by_field({**BASE, "result": {"kind": "histogram"}})
    assert "cohort_count" in found["result"]["valid"]
    found = by_field({"index": {"concept": T2D, "period": {"start": "2015-13-01", "end": "2020-12-31"}}})
    assert found["index.period.start"]["valid"] == "an ISO date, YYYY-MM-DD"


def test_incidence_needs_first_occurrence_and_no_criteria():
    found = by_field(
        {
            "index": {**BASE["index"], "occurrence": "any"},
            "criteria": [{"type": "include", "concept": T2D}],
            "result": {"kind": "incidence_prevalence"},
        }
    )
    assert {"index.occurrence", "criteria"} <= set(found)


def test_queries_are_immutable():
    query = validate_query(BASE, VOCABULARY)
    with pytest.raises(Exception, match="frozen"):
        query.title = "changed"


def test_rounding_offers_exactly_the_bases_the_disclosure_policy_allows():
    """Rounding to 10 used to pass validation and the quote, and only protection refused it."""
    from disclosure.policy import ALLOWED_ROUNDING_BASES

    found = by_field({**BASE, "disclosure": {"rounding": 10}})
    assert set(found) == {"disclosure.rounding"}
    valid = found["disclosure.rounding"]["valid"]
    offered = [base for base in ALLOWED_ROUNDING_BASES if base is not None]
    assert offered == [5] and "5" in valid and "10" not in valid and "null" in valid
    for base in ALLOWED_ROUNDING_BASES:
        query = validate_query({**BASE, "disclosure": {"rounding": base}}, VOCABULARY)
        assert query.disclosure.rounding == base


def test_nearest_code_suggestions_are_capped_and_the_rest_summarised():
    from queries.validation import MAX_CODE_SUGGESTIONS

    unknown = [f"DZ{n:02d}" for n in range(60)]
    payload = {
        **BASE,
        "criteria": [
            {"type": "include", "concept": {"type": "diagnosis", "codes": unknown[:30]}},
            {"type": "exclude", "concept": {"type": "diagnosis", "codes": unknown[30:]}},
        ],
    }
    found = problems(payload)
    suggested = [p for p in found if p["valid"].startswith("nearest known codes")]
    assert len(suggested) == MAX_CODE_SUGGESTIONS
    summary = found[-1]
    assert summary["field"] == f"criteria.0.concept.codes.{MAX_CODE_SUGGESTIONS}"
    assert summary["message"].startswith(f"{60 - MAX_CODE_SUGGESTIONS} more code prefixes are not known")
    assert len(found) == MAX_CODE_SUGGESTIONS + 1
