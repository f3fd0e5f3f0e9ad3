"""Turn a JSON payload into a ``Query`` or a list of problems a customer can act on.

Three layers, all reported in one ``QueryValidationError`` with dotted field paths:

1. the pydantic model (types, enums, unknown fields), its errors rewritten to our shape;
2. structural rules needing more than one field (``check_structure``; also run by the engines,
   so a ``Query`` built in code cannot bypass them): inverted windows and ranges, windows on
   attributes, code prefix syntax, excluded codes that are not under the concept's own prefixes,
   and the shape limits of the disclosure policy (§4 rule 14: at
   most three breakdowns, age bands of at least five years, calendar periods of at least one
   month; see ``shape_problems``);
3. catalog rules: unknown code prefixes (with the nearest known codes) and periods outside the
   years the registers cover.
"""

from __future__ import annotations

import calendar
import datetime as dt
import itertools
import re
from collections.abc import Iterator
from typing import Any, get_args

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from disclosure import policy as rules
from disclosure.policy import MIN_CURVE_INTERVAL_DAYS
from queries import model as m
from queries.dimensions import MAX_CURVE_INTERVALS, curve_interval_ends
from queries.errors import Problem, QueryValidationError, problem
from queries.registry import CODE_SYSTEMS, ICD10_CANCER, ICD10_LPR, concept_codes, concept_excluded_codes
from queries.vocabulary import vocabulary_of

# code system -> (the syntax of a valid prefix, an example to show when a prefix does not match)
CODE_PATTERNS: dict[str, tuple[re.Pattern[str], str]] = {
    name: (system.prefix_pattern, system.prefix_example) for name, system in CODE_SYSTEMS.items()
}


def validate_query(payload: dict[str, Any], catalog: Any = None) -> m.Query:
    """A validated ``Query``, or ``QueryValidationError`` listing every problem found."""
    try:
        query = m.Query.model_validate(payload)
    except ValidationError as error:
        raise QueryValidationError([pydantic_problem(e, payload) for e in error.errors()]) from None
    problems = structural_problems(query) + catalog_problems(query, catalog)
    if problems:
        raise QueryValidationError(problems)
    return query


def check_structure(query: m.Query) -> None:
    problems = structural_problems(query)
    if problems:
        raise QueryValidationError(problems)


# --- pydantic errors ------------------------------------------------------------------------------


_ABSENT = object()


def _child(node: Any, step: int | str) -> Any:
    """The payload's value at one step of an error location, or ``_ABSENT``."""
    if isinstance(node, dict):
        return node.get(step, _ABSENT)
    if isinstance(node, list | tuple) and isinstance(step, int) and step < len(node):
        return node[step]
    return _ABSENT


def field_path(location: tuple[int | str, ...], payload: Any) -> str:
    """Dotted path of a pydantic error location, without the union tags pydantic inserts
    (``index.concept.diagnosis.codes`` → ``index.concept.codes``)."""
    parts: list[str] = []
    node = payload
    for step in location:
        child = _child(node, step)
        if child is not _ABSENT:
            node = child
            parts.append(str(step))
        elif isinstance(node, dict | list | tuple) and isinstance(step, str) and not _is_field_name(step):
            continue  # a union tag or a validator name, not a field of the payload
        else:
            parts.append(str(step))
            node = None
    return ".".join(parts)


def _is_field_name(step: str) -> bool:
    return not any(ch in step for ch in "[](),") and step not in _TAGS


def discriminator_tags(union: Any) -> set[str]:
    """The tags of a discriminated union of the query model (concept types, result kinds, ...)."""
    discriminator = get_args(union)[1].discriminator
    return {member.model_fields[discriminator].default for member in m.union_members(union)}


# the union tags pydantic puts in error locations: every tag of the model's discriminated unions
_TAGS = set().union(*(discriminator_tags(union) for union in (m.Concept, m.Criterion, m.Result, m.Breakdown)))


def pydantic_problem(error: ErrorDetails, payload: Any) -> Problem:
    context: dict[str, Any] = dict(error.get("ctx") or {})
    kind = error["type"]
    if kind == "union_tag_invalid":
        valid = f"one of {context.get('expected_tags')}"
    elif kind == "union_tag_not_found":
        valid = f"an object with a {context.get('discriminator')!s} field"
    elif kind == "literal_error":
        valid = f"one of {context.get('expected')}"
    elif kind == "missing":
        valid = "this field is required"
    elif kind == "extra_forbidden":
        valid = "remove this field (see docs/query-schema.json for the fields allowed here)"
    elif "greater_than" in kind or "less_than" in kind:
        valid = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in context.items())
    elif kind in {"too_short", "too_long"}:
        valid = (
            f"between {context.get('min_length', 0)} and {context.get('max_length', 'any number of')} items"
        )
    elif "date" in kind:
        valid = "an ISO date, YYYY-MM-DD"
    elif "valid" in context:  # our own validators (queries.limits) say what is valid
        valid = context["valid"]
    else:
        valid = "see docs/query-schema.json"
    return problem(joined_field(field_path(tuple(error["loc"]), payload), context), error["msg"], valid)


def joined_field(location: str, context: dict[str, Any]) -> str:
    """A validator of a whole object may name the field inside it (``ctx["field"]``, see
    ``queries.limits.check_json_limits``): the error's location joined with that field."""
    inner = context.get("field")
    if not inner:
        return location
    return f"{location}.{inner}" if location else str(inner)


# --- structure -------------------------------------------------------------------------------------


def concept_code_fields(concept: m.Model) -> tuple[str, str, tuple[str, ...]] | None:
    """(field name, code system, prefixes) of a concept that carries codes."""
    return concept_codes(concept)


def with_members(
    path: str, concept: m.Model, window: m.Window | None, allowed: bool
) -> Iterator[tuple[str, m.Model, m.Window | None, bool]]:
    """The concept, then (for ``any_of``) each member at ``<path>.concepts.<k>``, nested ones too.
    Members carry no window of their own: the composite's is checked once, at the composite."""
    yield path, concept, window, allowed
    if isinstance(concept, m.AnyOfConcept):
        for k, member in enumerate(concept.concepts):
            yield from with_members(f"{path}.concepts.{k}", member, None, True)


def located_concepts(query: m.Query) -> Iterator[tuple[str, m.Model, m.Window | None, bool]]:
    """(field path, concept, window, window allowed) for every concept of the query, the members of
    composite concepts included."""
    yield from with_members("index.concept", query.index.concept, None, True)

    def visit(path: str, criterion: m.Model) -> Iterator[tuple[str, m.Model, m.Window | None, bool]]:
        if isinstance(criterion, m.Include | m.Exclude):
            yield from with_members(
                f"{path}.concept",
                criterion.concept,
                criterion.window,
                m.is_event_concept(criterion.concept),
            )
        elif isinstance(criterion, m.AllOf | m.AnyOf):
            for k, inner in enumerate(criterion.criteria):
                yield from visit(f"{path}.criteria.{k}", inner)
        elif isinstance(criterion, m.Not):
            yield from visit(f"{path}.criterion", criterion.criterion)

    for k, criterion in enumerate(query.criteria):
        yield from visit(f"criteria.{k}", criterion)
    result = query.result
    if isinstance(result, m.CharacteristicsResult):
        for k, item in enumerate(result.items):
            yield from with_members(
                f"result.items.{k}.concept", item.concept, item.window, m.is_event_concept(item.concept)
            )
    if isinstance(result, m.TreatmentUptakeResult):
        for k, drug in enumerate(result.drugs):
            yield f"result.drugs.{k}", m.PrescriptionConcept(atc=drug.atc), None, True
    if isinstance(result, m.TableOneResult):
        for k, item in enumerate(result.items):
            yield f"result.items.{k}.concept", item.concept, item.window, m.is_event_concept(item.concept)
        if result.exposure is not None:
            exposure = result.exposure
            allowed = m.is_event_concept(exposure.concept)
            yield "result.exposure.concept", exposure.concept, exposure.window, allowed
        for k, continuous in enumerate(result.continuous):
            measure = continuous.measure
            if isinstance(measure, m.LabValueMeasure):
                concept = m.LabResultConcept(codes=measure.codes, unit=measure.unit)
                yield f"result.continuous.{k}.measure", concept, measure.window, True
    if isinstance(result, m.TimeToEventResult):
        yield "result.outcome", result.outcome, None, True


def window_problems(path: str, window: m.Window | None, allowed: bool) -> list[Problem]:
    if window is None:
        return []
    if not allowed:
        return [
            problem(path, "attributes are evaluated at the index date and take no window", "remove window")
        ]
    if window.start is not None and window.end is not None and window.start > window.end:
        return [
            problem(
                f"{path}.start",
                f"the window starts ({window.start}) after it ends ({window.end})",
                f'start <= end, e.g. {{"start": {window.end}, "end": {window.start}}}',
            )
        ]
    return []


def range_problems(path: str, low: float | None, high: float | None, inclusive: bool = True) -> list[Problem]:
    if low is None or high is None:
        return []
    if low > high or (not inclusive and low == high):
        return [problem(f"{path}.min", f"min ({low}) is above max ({high})", "min <= max")]
    return []


def latest_problems(query: m.Query, path: str) -> list[Problem]:
    """``latest`` picks one day of a person's results relative to the index date: meaningless for
    the index event itself and for counting days."""
    if path == "index.concept":
        return [
            problem(
                f"{path}.latest",
                "the index event is the first result in the period; latest applies to criteria and items",
                "latest: false",
            )
        ]
    if path == "result.outcome":
        return [
            problem(
                f"{path}.latest",
                "the outcome is the first result after index; latest applies to criteria and items",
                "latest: false",
            )
        ]
    criterion = _criterion_at(query, path.removesuffix(".concept"))
    if criterion is not None and getattr(criterion, "min_count", 1) > 1:
        return [
            problem(f"{path}.latest", "latest looks at one day; min_count asks for several", "min_count 1")
        ]
    return []


def member_latest_problems(path: str) -> list[Problem]:
    """``latest`` picks the latest day of one concept's results; among a composite's members there
    is no such day to pick."""
    return [
        problem(
            f"{path}.latest",
            "latest looks at the latest day of one concept's results; a member of any_of has none",
            "latest: false, or the laboratory result as a criterion of its own",
        )
    ]


def any_of_depth_problems(path: str) -> list[Problem]:
    """An ``any_of`` among members nested one level too deep (reported once, at that level)."""
    depth = path.count(".concepts.") + 1
    if depth != m.MAX_ANY_OF_DEPTH + 1:
        return []
    return [
        problem(
            path,
            f"any_of is nested {depth} deep; at most {m.MAX_ANY_OF_DEPTH} levels are allowed",
            "list the members of the inner any_of in the outer one",
        )
    ]


def _criterion_at(query: m.Query, path: str) -> m.Model | None:
    """The criterion at a field path such as ``criteria.0.criteria.1`` (None for result items)."""
    parts = path.split(".")
    if parts[0] != "criteria":
        return None
    node: Any = query
    for part in parts:
        node = node[int(part)] if part.isdigit() else getattr(node, part)
    return node


def structural_problems(query: m.Query) -> list[Problem]:
    problems: list[Problem] = []
    period = query.index.period
    if period.start > period.end:
        problems.append(problem("index.period.start", "the period starts after it ends", "start <= end"))
    if query.population.age is not None:
        problems += range_problems("population.age", query.population.age.min, query.population.age.max)
    for path, concept, window, allowed in located_concepts(query):
        window_path = path.rsplit(".", 1)[0] + ".window" if path.endswith(".concept") else f"{path}.window"
        problems += window_problems(window_path, window, allowed)
        if isinstance(concept, m.AgeConcept):
            problems += range_problems(path, concept.min, concept.max)
        if isinstance(concept, m.IncomeConcept | m.LabResultConcept):
            problems += range_problems(path, concept.min, concept.max, inclusive=False)
        member = ".concepts." in path  # a member of a composite concept
        if isinstance(concept, m.LabResultConcept) and concept.latest:
            problems += member_latest_problems(path) if member else latest_problems(query, path)
        if isinstance(concept, m.AnyOfConcept):
            problems += any_of_depth_problems(path)
        if isinstance(concept, m.ConceptSetReference):  # no concept to check until it is resolved
            problems.append(
                problem(
                    path,
                    f"concept set {concept.id} version {concept.version} is not resolved: the service "
                    "replaces a reference by the saved concept (a saved concept set cannot refer to another)",
                    "the concept itself, or the query sent to the service",
                )
            )
            continue
        fields = concept_code_fields(concept)
        if fields:
            name, system, prefixes = fields
            pattern, description = CODE_PATTERNS[system]
            base = f"{path}.{name}"  # the list the code stands in: result.drugs.0.atc, ...
            for k, prefix in enumerate(prefixes):
                if not pattern.match(prefix):
                    hint = description
                    if (
                        system == ICD10_CANCER
                        and prefix.startswith("D")
                        and len(prefix) > 1
                        and prefix[1] == "C"
                    ):
                        hint += f" (the cancer register has no D: {prefix[1:]})"
                    if system == ICD10_LPR and re.match(r"^[A-Z][0-9]", prefix):
                        hint += f" (LPR codes carry a D: D{prefix})"
                    problems.append(problem(f"{base}.{k}", f"{prefix!r} is not a valid code prefix", hint))
            problems += exclusion_problems(path, concept)
    problems += shape_problems(query)
    result = query.result
    breakdowns = getattr(result, "breakdowns", ())
    names = [b.by for b in breakdowns]
    for k, name in enumerate(names):
        if name in names[:k]:
            problems.append(
                problem(f"result.breakdowns.{k}", f"{name} is listed twice", "each dimension once")
            )
    problems += lookback_problems(query)
    if isinstance(result, m.IncidencePrevalenceResult):
        if query.index.occurrence == "any":
            problems.append(
                problem(
                    "index.occurrence",
                    "incidence counts incident events: first-ever, or first in the look-back window",
                    '"first" or "first_in_lookback"',
                )
            )
        if query.criteria:
            problems.append(
                problem("criteria", "incidence and prevalence are for the whole population", "no criteria")
            )
        if query.population.age is not None:
            problems.append(
                problem(
                    "population.age",
                    "age changes within a year; an age restriction is not supported for incidence",
                    "remove population.age (use sex or regions)",
                )
            )
    if isinstance(result, m.TreatmentUptakeResult) and len(set(result.days)) != len(result.days):
        problems.append(problem("result.days", "a number of days is listed twice", "distinct days"))
    if isinstance(result, m.TimeToEventResult):
        problems += time_to_event_problems(result)
    return problems


def time_to_event_problems(result: m.TimeToEventResult) -> list[Problem]:
    """The curve's intervals are at least the policy's minimum long: time points that far apart, a
    follow-up limit at the last one or that far beyond it, and not too many intervals."""
    problems: list[Problem] = []
    points = list(result.time_points)
    apart = f"days at least {MIN_CURVE_INTERVAL_DAYS} apart, in increasing order"
    if points != sorted(set(points)):
        problems.append(problem("result.time_points", "time points must increase, each listed once", apart))
    elif any(b - a < MIN_CURVE_INTERVAL_DAYS for a, b in itertools.pairwise(points)):
        problems.append(
            problem("result.time_points", "time points closer than the shortest interval released", apart)
        )
    limit = result.max_follow_up_days
    if limit is not None and (limit < points[-1] or 0 < limit - points[-1] < MIN_CURVE_INTERVAL_DAYS):
        problems.append(
            problem(
                "result.max_follow_up_days",
                "follow-up must reach the last time point and end there or at least "
                f"{MIN_CURVE_INTERVAL_DAYS} days after it",
                f"{points[-1]} or at least {points[-1] + MIN_CURVE_INTERVAL_DAYS}",
            )
        )
    elif not problems and len(curve_interval_ends(result)) > MAX_CURVE_INTERVALS:
        problems.append(
            problem(
                "result.interval_days",
                f"the curve would have more than {MAX_CURVE_INTERVALS} intervals",
                "longer intervals or a shorter follow-up",
            )
        )
    return problems


def lookback_problems(query: m.Query) -> list[Problem]:
    """An incident definition by washout needs the washout's length."""
    if query.index.occurrence == "first_in_lookback" and query.index.lookback is None:
        return [
            problem(
                "index.lookback",
                "first_in_lookback counts an event with no event of the concept in the look-back "
                "before it: the look-back's length is needed",
                '{"days": 730} (two years), or occurrence "first" for the first event since the '
                "registers start",
            )
        ]
    return []


def lookback_catalog_problems(query: m.Query, first_year: int | None) -> list[Problem]:
    """The look-back of the earliest possible index date (the period's start) must lie within the
    registers: before their first year nobody's residence or events are known, so "no event in the
    look-back" would silently mean "no event recorded"."""
    lookback = query.index.lookback
    if lookback is None or first_year is None:
        return []
    registers_start = dt.date(first_year, 1, 1)
    period_start = query.index.period.start
    reaches = period_start - dt.timedelta(days=lookback.days)
    if reaches >= registers_start:
        return []
    longest = (period_start - registers_start).days
    earliest_start = registers_start + dt.timedelta(days=lookback.days)
    return [
        problem(
            "index.lookback.days",
            f"a look-back of {days(lookback.days)} before the period's start {period_start} reaches "
            f"{reaches}, before the registers start on {registers_start}",
            (f"at most {days(longest)}, or " if longest >= 1 else "")
            + f"an index period starting on or after {earliest_start}",
        )
    ]


def exclusion_problems(path: str, concept: m.Model) -> list[Problem]:
    """An excluded prefix must be a valid prefix strictly under one of the concept's own: one
    outside them excludes nothing (a typo, or codes of another system), one equal to them
    excludes everything."""
    excluded = concept_excluded_codes(concept)
    fields = concept_code_fields(concept)
    if excluded is None or fields is None:
        return []
    name, prefixes = excluded
    code_field, system, included = fields
    pattern, description = CODE_PATTERNS[system]
    problems = []
    for k, prefix in enumerate(prefixes):
        field = f"{path}.{name}.{k}"
        if not pattern.match(prefix):
            problems.append(problem(field, f"{prefix!r} is not a valid code prefix", description))
        elif not any(prefix.startswith(own) and prefix != own for own in included):
            shown = ", ".join(included[:5]) + (", ..." if len(included) > 5 else "")
            problems.append(
                problem(
                    field,
                    f"{prefix!r} is not under the concept's {code_field} ({shown}): it would exclude "
                    + ("all of them" if prefix in included else "nothing"),
                    f"a longer prefix starting with one of {code_field}, e.g. {included[0]}1",
                )
            )
    return problems


# --- shape limits (reference policy §4 rule 14) -----------------------------------------------------
#
# "Periods" in the sense of the rule are calendar periods that decide which slice of time a
# published count covers: the index period, and, when the result has a row per calendar year, the
# index period's part of each year. Windows relative to the index date (criteria, characteristics,
# biobank windows, uptake days, washout) are not: they are criteria on each person's own timeline,
# which standard protocols set to a day or a week (same-day, 0..7 days); counts they produce still
# pass the threshold, suppression and the differencing guard (rule 9), which is what covers
# "0..30 versus 0..31 days" differencing.


def months_after(day: dt.date, months: int) -> dt.date:
    """The same day ``months`` calendar months later, on the month's last day if it is shorter
    (31 January + 1 month = 28 or 29 February)."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def earliest_end(start: dt.date) -> dt.date:
    """The first inclusive end date that makes a period from ``start`` at least the minimum length."""
    return months_after(start, rules.MIN_PERIOD_MONTHS) - dt.timedelta(days=1)


def days(n: int) -> str:
    return "1 day" if n == 1 else f"{n} days"


def has_year_rows(result: m.Model) -> bool:
    """Whether the result is tabulated per calendar year of the index period."""
    return isinstance(result, m.IncidencePrevalenceResult) or any(
        isinstance(b, m.IndexYearBreakdown) for b in getattr(result, "breakdowns", ())
    )


def period_problems(query: m.Query) -> list[Problem]:
    period = query.index.period
    start, end = period.start, period.end
    if start > end:
        return []  # reported as inverted
    minimum = "one month" if rules.MIN_PERIOD_MONTHS == 1 else f"{rules.MIN_PERIOD_MONTHS} months"
    if end < earliest_end(start):
        return [
            problem(
                "index.period.end",
                f"the index period {start}..{end} is {days((end - start).days + 1)}; "
                f"periods must be at least {minimum}",
                f"an end on or after {earliest_end(start)} ({minimum} from the start)",
            )
        ]
    if not has_year_rows(query.result) or start.year == end.year:
        return []
    rows = (
        "incidence and prevalence have"
        if isinstance(query.result, m.IncidencePrevalenceResult)
        else "an index_year breakdown has"
    )
    problems: list[Problem] = []
    first_year_end = dt.date(start.year, 12, 31)
    if first_year_end < earliest_end(start):
        latest_start = months_after(dt.date(start.year + 1, 1, 1), -rules.MIN_PERIOD_MONTHS)
        problems.append(
            problem(
                "index.period.start",
                f"{rows} a row per calendar year and the index period covers only "
                f"{days((first_year_end - start).days + 1)} of {start.year}; "
                f"each year's part must be at least {minimum}",
                f"a start on or before {latest_start}, or {start.year + 1}-01-01 to leave {start.year} out",
            )
        )
    last_year_start = dt.date(end.year, 1, 1)
    if end < earliest_end(last_year_start):
        problems.append(
            problem(
                "index.period.end",
                f"{rows} a row per calendar year and the index period covers only "
                f"{days((end - last_year_start).days + 1)} of {end.year}; "
                f"each year's part must be at least {minimum}",
                f"an end on or after {earliest_end(last_year_start)}, "
                f"or {end.year - 1}-12-31 to leave {end.year} out",
            )
        )
    return problems


def age_band_problems(path: str, band: m.AgeBandBreakdown) -> list[Problem]:
    """The band below ``top`` is cut at ``top``: with ``width`` 5 and ``top`` 92 it would be 90-91.
    (``width`` itself has a lower bound in the model.)"""
    last = band.top % band.width
    if last == 0 or last >= rules.MIN_AGE_BAND_WIDTH:
        return []
    return [
        problem(
            f"{path}.top",
            f"with width {band.width} and top {band.top} the band below {band.top}+ is "
            f"{band.top - last}-{band.top - 1}, {last} years; age bands must span at least "
            f"{rules.MIN_AGE_BAND_WIDTH} years",
            f"a top that is a multiple of the width ({band.top - last} or {band.top - last + band.width}), "
            f"or at least {rules.MIN_AGE_BAND_WIDTH} years above one",
        )
    ]


def shape_problems(query: m.Query) -> list[Problem]:
    """At most ``MAX_BREAKDOWNS`` breakdowns, age bands of at least ``MIN_AGE_BAND_WIDTH`` years,
    calendar periods of at least ``MIN_PERIOD_MONTHS`` months."""
    problems = period_problems(query)
    breakdowns = getattr(query.result, "breakdowns", ())
    if len(breakdowns) > rules.MAX_BREAKDOWNS:
        problems.append(
            problem(
                "result.breakdowns",
                f"{len(breakdowns)} breakdowns; at most {rules.MAX_BREAKDOWNS} are allowed",
                f"at most {rules.MAX_BREAKDOWNS} of sex, age_band, region, index_year, education",
            )
        )
    for k, breakdown in enumerate(breakdowns):
        if isinstance(breakdown, m.AgeBandBreakdown):
            problems += age_band_problems(f"result.breakdowns.{k}", breakdown)
    return problems


# --- catalog -----------------------------------------------------------------------------------------

# Nearest-code suggestions cost a scan of a code list each; past this many unknown prefixes the rest
# are reported in one summary problem, so a query of 20,000 unknown codes is answered in milliseconds.
MAX_CODE_SUGGESTIONS = 20
SUMMARY_SHOWN_CODES = 10


def unknown_codes_summary(unsuggested: list[tuple[str, str]]) -> Problem:
    """One problem for the unknown prefixes past ``MAX_CODE_SUGGESTIONS``: the first one's field, how
    many there are and the first few of them."""
    shown = ", ".join(repr(prefix) for _, prefix in unsuggested[:SUMMARY_SHOWN_CODES])
    more = len(unsuggested) - SUMMARY_SHOWN_CODES
    return problem(
        unsuggested[0][0],
        f"{len(unsuggested)} more code prefixes are not known in the registers: {shown}"
        + (f" and {more} more" if more > 0 else ""),
        "known code prefixes (search them in /v1/catalog/code-lists/{name})",
    )


def catalog_problems(query: m.Query, catalog: Any) -> list[Problem]:
    vocabulary = vocabulary_of(catalog)
    if vocabulary is None:
        return []
    problems: list[Problem] = []
    unsuggested: list[tuple[str, str]] = []  # (field, prefix) of unknown prefixes past the cap
    for path, concept, _window, _allowed in located_concepts(query):
        if isinstance(concept, m.ConceptSetReference):  # reported as unresolved (structural_problems)
            continue
        fields = concept_code_fields(concept)
        if not fields:
            continue
        name, system, prefixes = fields
        if not vocabulary.codes.get(system):
            continue
        base = f"{path}.{name}"
        located = [(f"{base}.{k}", prefix) for k, prefix in enumerate(prefixes)]
        excluded = concept_excluded_codes(concept)
        if excluded is not None:
            located += [(f"{path}.{excluded[0]}.{k}", prefix) for k, prefix in enumerate(excluded[1])]
        for field, prefix in located:
            if CODE_PATTERNS[system][0].match(prefix) and not vocabulary.has_prefix(system, prefix):
                if len(problems) >= MAX_CODE_SUGGESTIONS:
                    unsuggested.append((field, prefix))
                    continue
                nearest = vocabulary.nearest(system, prefix)
                problems.append(
                    problem(
                        field,
                        f"no code in the registers starts with {prefix!r}",
                        "nearest known codes: " + ", ".join(nearest) if nearest else "a known code prefix",
                    )
                )
    if unsuggested:
        problems.append(unknown_codes_summary(unsuggested))
    first, last = vocabulary.first_year, vocabulary.last_year
    problems += lookback_catalog_problems(query, first)
    period = query.index.period
    if first is not None and period.start.year < first:
        problems.append(
            problem("index.period.start", f"the registers start in {first}", f"a date from {first}-01-01")
        )
    if last is not None and period.end.year > last:
        problems.append(
            problem("index.period.end", f"the registers end in {last}", f"a date up to {last}-12-31")
        )
    return problems


# --- saved definitions (concept sets and cohorts, ``statservice.saved_definitions``) -----------------

# A saved definition is checked as the part of a query it stands for, in a query around it that adds
# nothing to check (a period of a whole year, a plain count).
_SAVED_PERIOD = m.Period(start=dt.date(2015, 1, 1), end=dt.date(2015, 12, 31))


def concept_set_problems(concept: m.Model) -> list[Problem]:
    """A concept set's structural problems, named under ``concept``. ``latest`` is left to the query
    that uses the set: it is fine in a criterion and refused as the index event."""
    query = m.Query(index=m.IndexEvent(concept=concept, period=_SAVED_PERIOD))
    return [
        {**found, "field": "concept" + found["field"].removeprefix("index.concept")}
        for found in structural_problems(query)
        if found["field"].startswith("index.concept") and not found["field"].endswith(".latest")
    ]


def cohort_definition_problems(
    index: m.IndexEvent, population: m.Population, criteria: tuple[m.Model, ...]
) -> list[Problem]:
    """A saved cohort's structural problems, named by the same fields as in a query."""
    return structural_problems(m.Query(index=index, population=population, criteria=criteria))
