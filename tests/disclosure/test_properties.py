"""Properties that must hold for every input, checked with hypothesis on person-level frames."""

from __future__ import annotations

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from disclosure.errors import BudgetExceeded, ReleaseRefused
from disclosure.pipeline import protect
from disclosure.policy import Budgets, DifferentialPrivacy, Policy
from disclosure.release import ReleaseContext
from disclosure.stores import InMemoryStores
from disclosure.suppression import interval_passes
from tests.attacks.attacker import Attacker
from tests.disclosure.tables import crosstab

SECRET = b"property-secret-of-32-bytes-ok!!"
SEXES = ("F", "M")
REGIONS = ("North", "Central", "South")
AGES = ("young", "middle", "old")
PROPERTY_SETTINGS = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)

# Cell counts skewed towards the small values that matter (0..6) with some large ones.
cell_counts = st.one_of(st.integers(0, 6), st.integers(7, 40))


@st.composite
def person_frames(draw, dims: int = 2) -> pl.DataFrame:
    counts = draw(
        st.lists(cell_counts, min_size=6 * (3 if dims == 3 else 1), max_size=6 * (3 if dims == 3 else 1))
    )
    rows: dict[str, list[object]] = {"pnr": [], "sex": [], "region": [], "age_band": []}
    key = 1
    combos = [(s, r, a) for s in SEXES for r in REGIONS for a in (AGES if dims == 3 else ("all",))]
    for (sex, region, age), n in zip(combos, counts, strict=True):
        for _ in range(n):
            rows["pnr"].append(key)
            rows["sex"].append(sex)
            rows["region"].append(region)
            rows["age_band"].append(age)
            key += 1
    return pl.DataFrame(
        rows, schema={"pnr": pl.UInt32, "sex": pl.String, "region": pl.String, "age_band": pl.String}
    )


def context(**options) -> ReleaseContext:
    return ReleaseContext("dv1", "org-a", SECRET, **options)


def table_of(frame: pl.DataFrame, dims: list[str]):
    categories = {"sex": SEXES, "region": REGIONS, "age_band": AGES}
    return crosstab(frame, dims, categories={d: categories[d] for d in dims})


@PROPERTY_SETTINGS
@given(frame=person_frames(), rounding=st.sampled_from([None, 5]))
def test_no_released_count_below_threshold_and_every_hidden_cell_is_wide(frame, rounding):
    table = table_of(frame, ["sex", "region"])
    try:
        release = protect([table], Policy.default(), context(rounding_base=rounding), InMemoryStores())
    except ReleaseRefused:
        return  # nothing released is always safe
    protected = release.tables[0]
    for row in protected.rows:
        true = table.cell(*row.coordinates).count
        if row.suppressed:
            assert row.value is None
        else:
            assert true >= 5
            assert row.value is not None and row.value >= 5
            if rounding:
                assert row.value % 5 == 0
    for cell in release.report.audit.cells:
        assert interval_passes(cell.low, float("inf") if cell.high is None else cell.high, 5, 5)
    attacker = Attacker()
    attacker.learn(protected)
    assert attacker.breaches() == {}


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)
@given(frame=person_frames(dims=3))
def test_three_way_tables_resist_the_integer_attacker(frame):
    table = table_of(frame, ["sex", "region", "age_band"])
    try:
        release = protect([table], Policy.default(), context(), InMemoryStores())
    except ReleaseRefused:
        return
    attacker = Attacker()
    attacker.learn(release.tables[0])
    assert attacker.breaches() == {}


@PROPERTY_SETTINGS
@given(frame=person_frames())
def test_identical_input_gives_identical_release(frame):
    table = table_of(frame, ["sex", "region"])
    outcomes = []
    for _ in range(2):
        try:
            release = protect([table], Policy.default(), context(), InMemoryStores())
            outcomes.append((release.tables, release.report, release.changes.person_sets))
        except ReleaseRefused as refused:
            outcomes.append(refused.message)
    assert outcomes[0] == outcomes[1]


@settings(max_examples=15, deadline=None, derandomize=True)
@given(
    per_table=st.lists(st.sampled_from([0.05, 0.125, 0.3, 0.7]), min_size=1, max_size=25),
    organisations=st.integers(1, 4),
    organisation_budget=st.sampled_from([0.5, 1.0, 2.0]),
    global_budget=st.sampled_from([1.0, 2.5]),
)
def test_budgets_are_never_exceeded(per_table, organisations, organisation_budget, global_budget):
    stores = InMemoryStores()
    frame = pl.DataFrame(
        {"pnr": list(range(1, 301)), "sex": ["F", "M"] * 150},
        schema={"pnr": pl.UInt32, "sex": pl.String},
    )
    table = crosstab(frame, ["sex"])
    budgets = Budgets(rho_per_organisation=organisation_budget, rho_global=global_budget)
    for i, rho in enumerate(per_table):
        policy = Policy(differential_privacy=DifferentialPrivacy(rho=rho), budgets=budgets)
        org = f"org-{i % organisations}"
        try:
            release = protect([table], policy, ReleaseContext("dv1", org, SECRET), stores)
            stores.apply("dv1", release.changes)
        except BudgetExceeded:
            continue
    for o in range(organisations):
        assert stores.rho_spent("dv1", f"org:org-{o}") <= organisation_budget + 1e-9
    assert stores.rho_spent("dv1", "global") <= global_budget + 1e-9
    # past the asked-noise budgets, releases get the degraded noise, within its own budgets
    limits = Budgets()
    for o in range(organisations):
        assert stores.rho_spent("dv1", f"org:org-{o}:degraded") <= limits.rho_degraded_per_organisation + 1e-9
    assert stores.rho_spent("dv1", "global:degraded") <= limits.rho_degraded_global + 1e-9


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)
@given(frame=person_frames(), mechanism=st.sampled_from(["discrete_gaussian", "discrete_laplace"]))
def test_noisy_releases_are_thresholded_on_true_and_noisy_values_and_add_up(frame, mechanism):
    privacy = (
        DifferentialPrivacy()
        if mechanism == "discrete_gaussian"
        else DifferentialPrivacy(mechanism="discrete_laplace", rho=None, epsilon=1.0)
    )
    table = table_of(frame, ["sex", "region"])
    try:
        release = protect([table], Policy(differential_privacy=privacy), context(), InMemoryStores())
    except ReleaseRefused:
        return
    protected = release.tables[0]
    for row in protected.rows:
        if not row.suppressed:
            assert row.value >= 5 and table.cell(*row.coordinates).count >= 5
    for sex in SEXES:
        parts = [protected.row(sex, region).value for region in REGIONS]
        margin = protected.row(sex, None).value
        if margin is not None and None not in parts:
            assert margin == sum(parts)
    attacker = Attacker()
    attacker.learn(protected)
    assert attacker.breaches() == {}


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)
@given(
    frame=person_frames(dims=3),
    sequence=st.lists(
        st.tuples(
            st.sampled_from(
                [("sex",), ("region",), ("sex", "region"), ("region", "age_band"), ("sex", "age_band")]
            ),
            st.sampled_from([None, 5]),
        ),
        min_size=2,
        max_size=4,
    ),
)
def test_sequences_of_linked_releases_resist_the_combined_integer_attacker(frame, sequence):
    stores = InMemoryStores()
    attacker = Attacker()
    for dims, rounding in sequence:
        try:
            release = protect(
                [table_of(frame, list(dims))], Policy.default(), context(rounding_base=rounding), stores
            )
        except ReleaseRefused:
            continue
        stores.apply("dv1", release.changes)
        attacker.learn(release.tables[0])
    attacker.add_latent_cross_classification({"sex": SEXES, "region": REGIONS, "age_band": AGES})
    assert attacker.breaches() == {}
