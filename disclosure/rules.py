"""The disclosure rules as one page for an auditor, rendered from ``disclosure.policy``.

``python -m disclosure.rules > docs/disclosure-rules.md`` writes the published page; a test checks
the committed page equals ``render_rules(Policy.default())``, so the page cannot go stale. Every
number on it comes from the policy module or the ``Policy`` given, never from this text.
"""

from __future__ import annotations

import textwrap

from disclosure import policy as rules
from disclosure.errors import BUDGET_EXCEEDED_MESSAGE, NOT_PROTECTABLE_MESSAGE
from disclosure.policy import Policy

_PAGE_WIDTH = 104


def _number(value: float | int) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return f"{value:,}" if isinstance(value, int) else f"{value:g}"


def _rule(name: str, unit: str = "", units: str | None = None) -> str:
    """A constant's name and value, e.g. ``MAX_UNION_CHECKS` = 200``; ``units`` is the plural."""
    value = getattr(rules, name)
    return f"`{name}` = {_number(value)}{unit if value == 1 or units is None else units}"


def _bases() -> str:
    bases = [str(base) for base in rules.ALLOWED_ROUNDING_BASES if base is not None]
    return " or ".join(bases)


def render_rules(policy: Policy) -> str:
    """Every rule disclosure control applies under ``policy``, numbered, in plain words (Markdown)."""
    k = policy.default_threshold
    registers = ", ".join(f"`{name}`: {value}" for name, value in sorted(policy.register_thresholds.items()))
    raised = f"; raised for registers {registers}" if registers else ""
    width = "w = k" if policy.protection_width is None else f"w = {policy.protection_width} (configured)"
    zeros = (
        "A true zero is hidden like a small count (it shares the marker `suppressed`), because a printed "
        '0 beside hidden small counts would say "at least one person" of every hidden cell. Only a zero '
        "that is impossible by the query's definition (a structural zero) is shown as 0"
        if policy.protect_zeros
        else "Zeros are shown as 0 (this policy does not protect zeros)"
    )
    rounding_default = (
        "off unless the query asks for it"
        if policy.rounding_base is None
        else f"to base {policy.rounding_base} for every release"
    )
    privacy = policy.differential_privacy
    noise_default = (
        "off unless the query asks for it"
        if privacy is None
        else f"on for every release ({privacy.mechanism}, rho {privacy.rho_charged():g} per table)"
    )
    budgets = policy.budgets
    rules_in_order = [
        (
            "Unit: persons.",
            "Every released count is a count of distinct persons, never of rows, events or prescriptions. "
            "The persons behind a cell (its person set) stay inside the service; the audit record stores "
            "only keyed fingerprints of them (reference policy §4 rules 1, 15).",
        ),
        (
            "Threshold k.",
            f"k = {k}{raised} ({_rule('DEFAULT_THRESHOLD')} unless configured). Configuration may raise k, "
            f"never lower it below {_rule('MINIMUM_THRESHOLD')}. A query's k is the strictest of every "
            "register it touches (reference policy §4 rule 2).",
        ),
        (
            "Budgets before anything else.",
            "A release with noise that would take an organisation's or the global privacy spend past its "
            "budget gets the degraded noise instead (below), and is refused, before anything is computed "
            "for release, only when the degraded budgets cannot pay either: rho "
            f"{_number(budgets.rho_per_organisation)} per organisation and {_number(budgets.rho_global)} for "
            f"everyone per data version (defaults {_rule('RHO_PER_ORGANISATION')}, {_rule('RHO_GLOBAL')}), "
            "in zero-concentrated differential privacy. The degraded noise exact questions get past the "
            "exact capacity (below) has ledgers of its own, so neither can use up the other: rho "
            f"{_number(budgets.rho_degraded_per_organisation)} per organisation and "
            f"{_number(budgets.rho_degraded_global)} for everyone (defaults "
            f"{_rule('RHO_DEGRADED_PER_ORGANISATION')}, {_rule('RHO_DEGRADED_GLOBAL')}); a data version's "
            "whole loss is at most the sum of both global budgets. Budgets never refresh within a data "
            f'version. The refusal reads "{BUDGET_EXCEEDED_MESSAGE}" (reference policy §4 rule 8).',
        ),
        (
            f"Noise (optional; {noise_default}).",
            "Discrete Gaussian (or discrete Laplace) noise from OpenDP on integer counts; a query asking for "
            f"noise gets the Gaussian at rho {_number(rules.RHO_PER_TABLE)} per table "
            f"({_rule('RHO_PER_TABLE')}), with the sensitivity taken "
            "from the table's shape (the cells one person can be in), never from the data. Each draw is "
            "keyed on the cell's person set, so the same persons asked again, in any wording, get the same "
            "noisy value; margins are sums of noisy cells. A rho per table above "
            f"{_number(rules.LARGE_RHO)} (or an epsilon above {_number(rules.LARGE_EPSILON)}) is allowed, "
            "but the release notes that the noise protects only weakly (reference policy §4 rules 7, 10).",
        ),
        (
            "Primary suppression.",
            "A cell of 1 to k-1 persons is hidden; with noise, a cell is hidden when its true or its noisy "
            f"value is below k. {zeros} (reference policy §4 rule 3).",
        ),
        (
            "Differencing guard.",
            "Each cell about to be released is compared with the other cells of the release and with every "
            "person set released earlier on the data version, to the same organisation and to anyone: a "
            "cell whose persons differ from any of them by 1 to k-1 persons (symmetric difference) is "
            "hidden. Within a table of overlapping categories, two cells whose persons overlap, or not, by "
            "1 to k-1 are treated the same way (reference policy §4 rule 9).",
        ),
        (
            f"Secondary suppression and the attacker audit; protection width {width}.",
            "More cells are hidden (the cheapest set that lets every hidden cell move, found by linear "
            "programming) until an attacker audit passes: for every hidden cell, the least and greatest "
            "value an attacker can compute from everything published in the release and in every earlier "
            "release linked to it (the same person sets), by linear programming and, at fractional optima, "
            "integer programming. The audit fails if a range is a single value, lies within 1 to k-1, or "
            "is narrower than w. The attacker is assumed to know every published value exactly, even when "
            f"it is shown rounded. An integer bound may take {_rule('MILP_SECONDS', ' s')}; past that the "
            "best whole-number value found is the bound (a narrower range, so more is hidden, never less), "
            "and without one the release is refused (reference policy §4 rule 5). Under noise whose scale "
            "is at least w, no secondary cell is hidden: what an attacker can compute of a hidden cell is "
            "its noisy value, uncertain by more than w (the audit still runs and its ranges are recorded).",
        ),
        (
            "Venn-atom audit.",
            "Every exact count published now is audited together with every exact count released before, "
            "to anyone, that is linked to it through shared persons (no cap: a cap could be flooded). "
            "Persons are grouped into atoms (those in exactly the same released counts); any union of atoms "
            "holding 1 to k-1 persons must be possibly empty, or non-empty only within a range at least w "
            "wide that reaches k. This catches inclusion-exclusion over three or more counts, which the "
            "pairwise guard cannot see. A failing union hides one more current count and suppression runs "
            f"again, for at most {_rule('ATOM_REPAIR_ROUNDS')} rounds. The audit fails closed (the union "
            "counts as failing, so more is hidden or the release is refused) when one of its limits is "
            f"reached: {_rule('ATOM_AUDIT_SECONDS', ' s')} for all atom audits of one release, a hard "
            "deadline (the audit runs in a child process killed past it; the release then gets the "
            "degraded keyed noise of the next rule, or is refused when the budgets cannot pay; never "
            f"passed unaudited); {_rule('MAX_UNION_CHECKS')} unions judged per "
            f"connected part of the system; {_rule('MASTER_SECONDS', ' s')} per search (MILP) for a union "
            f"not yet judged. Work done before those limits: {_rule('RANDOM_POINTS')} random points and "
            f"{_rule('PUSH_DOWN_ROUNDS')} push-down rounds before the search; {_rule('COVER_SEARCH_NODES')} "
            f"nodes of exact search and {_rule('REPRESENTATIVE_TRIES')} choices among interchangeable atoms "
            "before an MILP decides instead. Counts the customer already has exactly (a re-run, the same "
            "question from a colleague or another organisation) add nothing and are not audited again.",
        ),
        (
            "Exact capacity and degraded noise.",
            "Exact counts are a finite resource of a data version: the audit across releases may hold "
            f"{policy.exact_history_counts:,} distinct exact counts (`EXACT_HISTORY_COUNTS` = "
            f"{_number(rules.EXACT_HISTORY_COUNTS)} unless configured), so no audit works on more (give or "
            "take the few rows a repeat adds, below). A "
            "question whose cells would take the counts held past it (counted from the number of counts "
            "released and the question's number of cells, both known to whoever received them, never "
            "from a count's size) is answered with keyed discrete Gaussian noise of rho "
            f"{policy.degraded_rho_per_table:g} per table (`DEGRADED_RHO_PER_TABLE` = "
            f"{_number(rules.DEGRADED_RHO_PER_TABLE)} unless configured), charged to the organisation's "
            "and the global degraded ledgers; the quote says so up front (`exact_capacity_used`). The same "
            "question (the query without its wording, disclosure options included) released exactly "
            "before, to anyone, is answered exactly again: it adds no new question to the audit's system "
            "(only, where more is hidden than the first time, the remainder of its hidden cells). Noisy "
            "cells are not remembered as exact counts. Releases published to everyone (the free public "
            "statistics) always carry this noise, whatever the history, so they hold none of the capacity "
            "and no exact count a paid question could be compared with.",
        ),
        (
            "Patterns that do not tell 0 from 1 to k-1.",
            "Where a margin holds the same persons as one of its categories (its other categories being "
            "empty), earlier releases are linked to the margin, never to the category; keyed noise is "
            "never shared between a category and a cohort total of the same persons. Which cells are "
            "hidden then does not depend on whether a hidden sibling holds 0 or 1 to k-1 persons "
            "(the padded-breakdown attack).",
        ),
        (
            "Fallback: the total only.",
            "When secondary suppression does not pass the attacker audit within "
            f"{policy.max_suppression_rounds} rounds of extending it "
            f"({_rule('MAX_SUPPRESSION_ROUNDS')} unless configured), or the Venn-atom audit still fails "
            "after its repair rounds, every cell but each table's grand total is hidden and both audits "
            "run again. A hidden cell that the totals and earlier releases then pin to its exact value, "
            "where that value is 0 or at least k and the cell is not hidden for its own sake (primary, "
            "differencing guard, atom audit), is released too: hiding it protects nothing (a Table 1 "
            "whose strata sum to the released total, one stratum known from an earlier release). If "
            "even that fails, the release is "
            'refused with "'
            f'{NOT_PROTECTABLE_MESSAGE}" (reference policy §4 rule 5).',
        ),
        (
            f"Rounding (optional; {rounding_default}).",
            f"Allowed bases: {_bases()} (`ALLOWED_ROUNDING_BASES`); a query asking for any other base is "
            "rejected at validation (422 naming `disclosure.rounding`), before any quote. Every published "
            "count, totals included, is rounded half up to the nearest multiple, totals on their own "
            "(rounded cells need not add up to rounded totals). Rounding never replaces suppression "
            "(reference policy §4 rule 6).",
        ),
        (
            "Derived numbers",
            "are computed only from released (suppressed, rounded or noisy) counts, never from true ones. "
            "A percentage is suppressed when its numerator or denominator is, or when the complement "
            "(denominator minus numerator) is 1 to k-1 persons; it is shown to "
            f"{_rule('DECIMALS', ' decimal', ' decimals')}. "
            "Rates per 1,000 person-years use person-years rounded to the nearest "
            f"multiple of {_rule('PERSON_YEARS_ROUNDING')}, so a rate never pins person-time more finely "
            f"than that, and are shown to {_rule('RATE_DECIMALS', ' decimal', ' decimals')} (reference "
            "policy §4 rule 11). The rounded person-years are released beside each released count, and "
            "each rate with its exact Poisson confidence interval (gamma quantiles of the released count) "
            f"at {_rule('RATE_CONFIDENCE_LEVEL')}, over the same rounded person-years and widened outwards "
            "to the rate's decimals; beside a suppressed count there are no person-years, rate or interval "
            "(they would give the count back).",
        ),
        (
            "Magnitudes",
            "(means, standard deviations, quartiles and medians of ages or laboratory values; "
            "`disclosure.magnitude`) are computed only where the cell's person count was released and at "
            "least k persons have a value. A mean and SD are hidden when a few persons determine them: "
            f"(n, k) dominance with n = {_rule('DOMINANCE_N')} and k = {_rule('DOMINANCE_PERCENT', ' %')}, "
            f"or the p% rule with {_rule('P_PERCENT', ' %')} (the total minus the two largest values is "
            "less than p % of the largest); and when the SD rounds to 0 (everyone's value would be "
            f"told). They are shown to {_rule('MAGNITUDE_DECIMALS', ' decimal', ' decimals')}. A quantile "
            f"needs at least {_rule('QUANTILE_MIN_THRESHOLDS')} times k persons, is coarsened to a multiple "
            f"of {_rule('QUANTILE_ROUNDING')} and is released only with at least k persons strictly below "
            "and k strictly above it; minimum and maximum are never released. A mean times its count is "
            "a sum, and sums add up over a breakdown: on every margin and its categories either no mean "
            "is hidden or at least two are (the SD goes with its mean). With noise on, a mean carries "
            f"keyed Gaussian noise of {_rule('MEAN_NOISE_STANDARD_ERRORS')} standard errors, fixed by the "
            "persons behind it. Standardised mean differences are computed from the released "
            f"percentages, means and SDs only, to {_rule('SMD_DECIMALS', ' decimal', ' decimals')} "
            "(reference policy §4 rules 4 and 11).",
        ),
        (
            "Time-to-event curves",
            "are released as interval counts (at risk, events, competing events, censored), each protected "
            "like any count. Before protection, adjacent intervals are merged until each spans at least "
            f"{_rule('MIN_CURVE_INTERVAL_DAYS', ' day', ' days')} and holds none or at least k events, "
            "competing events and censored persons in every stratum with at least k of them in all, so no "
            "step of the curve rests on 1 to k-1 persons; a zero in such a series is shown as 0 (it "
            "cannot stand for 1 to k-1 there). The cumulative incidence (1 - Kaplan-Meier, or "
            "Aalen-Johansen with death as competing risk) and its 95 % interval (Greenwood or delta-method "
            f"variance, log(-log) scale, {_rule('CURVE_CONFIDENCE_Z')}) are computed from the "
            "released counts only, and stop at the first interval with a count not released.",
        ),
        (
            "Shape limits",
            f"(checked by query validation, before any quote): at most {_rule('MAX_BREAKDOWNS')} "
            "breakdowns; age bands of at least "
            f"{_rule('MIN_AGE_BAND_WIDTH', ' year', ' years')}; calendar periods "
            "(the index period, and each calendar year's part of it when years are rows) of at least "
            f"{_rule('MIN_PERIOD_MONTHS', ' calendar month', ' calendar months')} "
            "(reference policy §4 rule 14).",
        ),
        (
            "Uniform behaviour.",
            "Every step runs for every request whatever the values; customers see `suppressed` without the "
            "reason; refusals carry fixed messages that never depend on a count; the price depends on the "
            "query's shape only (reference policy §4 rule 13).",
        ),
    ]
    header = (
        f"Policy version **{policy.version}**, fingerprint `{rules.POLICY_FINGERPRINT}` (SHA-256 of every "
        "rule below and of the policy's defaults). Every release and its audit record store the policy "
        "version, so each release can be traced to the rules that protected it. Upper-case names are "
        'constants of `disclosure/policy.py`; "reference policy §4" is the recommended policy these rules '
        "implement. The rules are listed in the order `disclosure.pipeline.protect` applies them; k-1 "
        "means one less than the threshold k."
    )
    lines = [
        "# Disclosure rules",
        "",
        "<!-- Generated from disclosure/policy.py: python -m disclosure.rules > docs/disclosure-rules.md",
        "     Do not edit: tests/disclosure/test_policy.py fails when this page and the policy differ. -->",
        "",
        *_wrapped(header, ""),
        "",
    ]
    for number, (title, text) in enumerate(rules_in_order, start=1):
        lines.extend(_wrapped(f"**{title}** {text}", f"{number}. "))
    return "\n".join(lines) + "\n"


def _wrapped(text: str, bullet: str) -> list[str]:
    return textwrap.wrap(
        text,
        width=_PAGE_WIDTH,
        initial_indent=bullet,
        subsequent_indent=" " * len(bullet),
        break_long_words=False,
        break_on_hyphens=False,
    )


if __name__ == "__main__":
    print(render_rules(Policy.default()), end="")
