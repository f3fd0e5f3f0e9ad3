"""The disclosure rules live in one place, are versioned, and their published page is current."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from disclosure import policy as rules
from disclosure.policy import DifferentialPrivacy, Policy
from disclosure.rules import render_rules

ROOT = Path(__file__).resolve().parents[2]
RULES_PAGE = ROOT / "docs" / "disclosure-rules.md"

# Module-level numeric constants outside ``disclosure/policy.py`` that change no release, and why.
# A new numeric constant in these modules must be added here or moved to the policy.
NOT_RELEASE_RULES = {
    ("disclosure/atoms.py", "_SIGNATURE_SEED"): "hash seed; collisions are detected and refined exactly",
    ("disclosure/atoms.py", "_ZERO"): "numerical tolerance of LP values",
    ("disclosure/atoms.py", "_DENSE_LOOKUP_SPREAD"): "chooses a lookup table or binary search: speed only",
    ("disclosure/lp.py", "_TOLERANCE"): "numerical tolerance",
    ("disclosure/lp.py", "_PROPAGATION_ROUNDS"): "looser bounds only skip fewer LPs, never change one",
    ("queries/model.py", "QUERY_MODEL_VERSION"): "the query language's version",
    ("queries/model.py", "MAX_FOLLOW_UP_DAYS"): "the longest follow-up asked for (the registers' span): "
    "merging and suppression protect a curve of any length",
    ("queries/model.py", "MAX_ANY_OF_MEMBERS"): "how many concepts one composite lists: the question's "
    "size; every count it gives is protected as any other",
    (
        "queries/model.py",
        "MAX_ANY_OF_DEPTH",
    ): "how deep composites nest: the question's size, not a release rule",
    ("queries/validation.py", "MAX_CODE_SUGGESTIONS"): "how many unknown codes get suggestions in a 422",
    ("queries/validation.py", "SUMMARY_SHOWN_CODES"): "how many unknown codes a 422's summary names",
    ("disclosure/rules.py", "_PAGE_WIDTH"): "line width of the rules page",
    (
        "disclosure/atoms.py",
        "_HINTS",
    ): "LPs spent following earlier tables: where the search starts, speed only",
    (
        "disclosure/witnesses.py",
        "_EXTENSION_SECONDS",
    ): "an earlier table not carried in time is just not used",
    ("disclosure/witnesses.py", "_POINTS_PER_SET"): "how many earlier tables are kept: speed and memory",
    ("disclosure/witnesses.py", "_SETS_PER_VERSION"): "how many audits' tables are kept: speed and memory",
    ("disclosure/witnesses.py", "_VERSIONS"): "how many data versions keep tables: speed and memory",
    ("disclosure/witnesses.py", "_TOLERANCE"): "numerical tolerance",
    ("disclosure/witnesses.py", "_LEAST_OVERLAP"): "which earlier tables are worth carrying: speed only",
    (
        "disclosure/pipeline.py",
        "_HAND_BACK_SECONDS",
    ): "the audit stops itself just before its kill: same verdict",
}
SCANNED = sorted(
    [*(ROOT / "disclosure").glob("*.py"), ROOT / "queries" / "model.py", ROOT / "queries" / "validation.py"]
)


def test_the_fingerprint_matches_the_rules_of_this_version():
    assert rules.policy_fingerprint() == rules.POLICY_FINGERPRINT, (
        "a release rule or a Policy() default changed: bump POLICY_VERSION and update POLICY_FINGERPRINT "
        f'to "{rules.policy_fingerprint()}" in disclosure/policy.py'
    )
    assert Policy().version == rules.POLICY_VERSION


@pytest.mark.parametrize(
    "change",
    [
        ("MAX_UNION_CHECKS", 201),
        ("ATOM_AUDIT_SECONDS", 30.0),
        ("PERSON_YEARS_ROUNDING", 10),
        ("DECIMALS", 2),
        ("ALLOWED_ROUNDING_BASES", (None, 5, 10)),
        ("MIN_AGE_BAND_WIDTH", 1),
        ("RHO_PER_TABLE", 0.25),
        ("MILP_SECONDS", 60.0),
    ],
    ids=lambda change: change[0],
)
def test_changing_a_rule_changes_the_fingerprint(monkeypatch, change):
    name, value = change
    before = rules.policy_fingerprint()
    monkeypatch.setattr(rules, name, value)
    assert rules.policy_fingerprint() != before


def test_changing_a_policy_default_changes_the_fingerprint(monkeypatch):
    before = rules.policy_fingerprint()

    class ZerosShown(Policy):
        protect_zeros: bool = False

    class LaplaceByDefault(DifferentialPrivacy):
        mechanism: rules.Mechanism = "discrete_laplace"
        rho: float | None = None
        epsilon: float | None = 1.0

    monkeypatch.setattr(rules, "Policy", ZerosShown)
    assert rules.policy_fingerprint() != before
    monkeypatch.setattr(rules, "Policy", Policy)
    monkeypatch.setattr(rules, "DifferentialPrivacy", LaplaceByDefault)
    assert rules.policy_fingerprint() != before


def test_advisory_numbers_and_the_version_are_not_fingerprinted(monkeypatch):
    """Warnings change no release; the version and fingerprint cannot be part of what they version."""
    before = rules.policy_fingerprint()
    for name, value in [("LARGE_RHO", 9.0), ("LARGE_EPSILON", 9.0), ("POLICY_VERSION", "other")]:
        monkeypatch.setattr(rules, name, value)
    assert rules.policy_fingerprint() == before
    assert set(rules.release_rules()["differential_privacy"]) == set(DifferentialPrivacy.model_fields)


def _numeric_constants(path: Path) -> list[str]:
    """Upper-case module-level names bound to a number (or a tuple of numbers)."""

    def numeric(node: ast.expr) -> bool:
        if isinstance(node, ast.UnaryOp):
            return numeric(node.operand)
        if isinstance(node, ast.Tuple):
            return all(numeric(e) or (isinstance(e, ast.Constant) and e.value is None) for e in node.elts)
        return isinstance(node, ast.Constant) and type(node.value) in (int, float)

    names = []
    for statement in ast.parse(path.read_text()).body:
        targets = statement.targets if isinstance(statement, ast.Assign) else []
        if isinstance(statement, ast.AnnAssign):
            targets = [statement.target]
        value = getattr(statement, "value", None)
        for target in targets:
            named = isinstance(target, ast.Name) and target.id.lstrip("_").isupper()
            if named and value is not None and numeric(value):
                names.append(target.id)
    return names


def test_every_numeric_constant_of_disclosure_and_the_query_model_is_a_policy_rule_or_explained():
    found = {
        (str(path.relative_to(ROOT)), name)
        for path in SCANNED
        if path.name != "policy.py" or path.parent.name != "disclosure"
        for name in _numeric_constants(path)
    }
    unexplained = found - set(NOT_RELEASE_RULES)
    assert not unexplained, (
        f"{sorted(unexplained)}: move release-relevant constants to disclosure/policy.py (and bump "
        "POLICY_VERSION), or list them in NOT_RELEASE_RULES with the reason they change no release"
    )
    assert found >= set(NOT_RELEASE_RULES), "NOT_RELEASE_RULES names a constant that no longer exists"


def test_the_rules_page_is_the_rendering_of_the_policy():
    from statservice.rules import service_policy

    # the policy the service applies: the default with the registers' stricter thresholds
    assert RULES_PAGE.read_text() == render_rules(service_policy()), (
        "regenerate with: python -m statservice.rules > docs/disclosure-rules.md"
    )
    # every register whose owner requires more, however the page wraps their list
    words = " ".join(RULES_PAGE.read_text().split())
    assert "k = 5; raised for registers `" in words and "`Danish Heart Failure Registry`: 10" in words


def test_the_rules_page_states_every_release_rule_number():
    page = render_rules(Policy.default())
    for name in rules.release_rules()["constants"]:
        assert f"`{name}`" in page, f"docs/disclosure-rules.md does not state {name}"
    assert rules.POLICY_VERSION in page and rules.POLICY_FINGERPRINT in page


def test_the_rules_page_follows_a_configured_policy():
    strict = Policy(default_threshold=10, register_thresholds={"lmdb": 11}, protection_width=15)
    page = render_rules(strict)
    assert "k = 10" in page and "`lmdb`: 11" in page and "w = 15" in page
