"""Disclosure's store protocols over SQLAlchemy (SQLite and PostgreSQL): what protect() reads back is
exactly what earlier releases persisted, budgets are re-checked under the lock, noise keys are unique."""

from __future__ import annotations

import threading

import pytest
from pyroaring import BitMap
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from disclosure.stores import (
    GLOBAL_SCOPE,
    ReleasedCellRecord,
    ReleasedTableRecord,
    StateChanges,
    organisation_scope,
)
from statservice.db.models import (
    NoiseDraw,
    Organisation,
    QueryRun,
    ReleasedPersonSet,
    ReleaseRecord,
    utcnow,
)
from statservice.db.session import Database
from statservice.history import ReleaseHistory
from statservice.stores import BudgetOverdrawn, HistoryStores, SqlStores

DV = "dv-test"
ORG = organisation_scope("org_a")


def history_stores(session) -> HistoryStores:
    """What ``protect()`` reads in the service: the history mirror, caught up from the database."""
    history = ReleaseHistory()
    history.refresh(session, DV)
    return HistoryStores(history, session)


def add_release(session, release_id: str) -> None:
    if session.get(Organisation, "org_a") is None:
        session.add(Organisation(id="org_a", name="A", segment="student", created_at=utcnow()))
    session.add(
        QueryRun(
            id=f"run_{release_id}",
            organisation_id="org_a",
            key_id="key_x",
            acting_key_organisation_id="org_a",
            status="released",
            query_json="{}",
            query_hash="0" * 64,
            created_at=utcnow(),
        )
    )
    session.add(
        ReleaseRecord(
            id=release_id,
            run_id=f"run_{release_id}",
            organisation_id="org_a",
            key_id="key_x",
            query_hash="0" * 64,
            data_version=DV,
            policy_version="p",
            tables_json="[]",
            report_json="{}",
            price=0,
            currency="DKK",
            audit_sequence=abs(hash(release_id)) % 10**9,
            created_at=utcnow(),
        )
    )
    session.flush()


@pytest.fixture
def db(database_url):
    database = Database(database_url)
    # foreign keys on the api key are not enforced for runs in this unit test: create the key row
    from statservice.db.models import ApiKey

    with database.write() as session:
        session.add(Organisation(id="org_a", name="A", segment="student", created_at=utcnow()))
        session.flush()
        session.add(
            ApiKey(
                id="key_x",
                organisation_id="org_a",
                role="customer",
                name="x",
                key_hash="h" * 64,
                prefix="ss_",
            )
        )
    yield database
    database.dispose()


def test_person_sets_round_trip_and_prune_by_size(db):
    small = BitMap([1, 2, 3])
    large = BitMap(range(100, 200))
    with db.write() as session:
        add_release(session, "rel_1")
        SqlStores(session).persist(
            DV, StateChanges(person_sets=[(ORG, small), (ORG, large), (GLOBAL_SCOPE, small)]), "rel_1", {}
        )
    with db.session() as session:
        stores = history_stores(session)
        assert list(stores.sets_with_size_between(DV, ORG, 1, 10)) == [small]
        assert list(stores.sets_with_size_between(DV, ORG, 50, 150)) == [large]
        assert list(stores.sets_with_size_between(DV, ORG, 4, 99)) == []
        assert list(stores.sets_with_size_between("other-version", ORG, 1, 1000)) == []
        assert list(stores.sets_with_size_between(DV, GLOBAL_SCOPE, 1, 1000)) == [small]
        sizes = (
            session.execute(select(ReleasedPersonSet.size).order_by(ReleasedPersonSet.size)).scalars().all()
        )
        assert sizes == [3, 3, 100]


def test_ledger_accumulates_and_refuses_overdraw_atomically(db):
    with db.write() as session:
        add_release(session, "rel_1")
        SqlStores(session).persist(
            DV,
            StateChanges(rho_spends=[(ORG, 0.5), (GLOBAL_SCOPE, 0.5)]),
            "rel_1",
            {ORG: 1.0, GLOBAL_SCOPE: 10.0},
        )
    with pytest.raises(BudgetOverdrawn), db.write() as session:
        add_release(session, "rel_2")
        SqlStores(session).persist(
            DV,
            StateChanges(rho_spends=[(ORG, 0.6), (GLOBAL_SCOPE, 0.6)], person_sets=[(ORG, BitMap([7, 8]))]),
            "rel_2",
            {ORG: 1.0, GLOBAL_SCOPE: 10.0},
        )
    with db.session() as session:
        stores = history_stores(session)
        assert stores.rho_spent(DV, ORG) == pytest.approx(0.5)
        assert stores.rho_spent(DV, GLOBAL_SCOPE) == pytest.approx(0.5)
        assert session.get(ReleaseRecord, "rel_2") is None  # the whole transaction rolled back
        assert list(stores.sets_with_size_between(DV, ORG, 1, 10)) == []


def test_concurrent_spends_never_overdraw(db):
    """Eight threads each try to spend 0.3 of a 1.0 budget: exactly three succeed."""
    outcomes: list[str] = []
    lock = threading.Lock()

    def spend(i: int) -> None:
        try:
            with db.write() as session:
                add_release(session, f"rel_c{i}")
                SqlStores(session).persist(DV, StateChanges(rho_spends=[(ORG, 0.3)]), f"rel_c{i}", {ORG: 1.0})
            result = "ok"
        except BudgetOverdrawn:
            result = "refused"
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=spend, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes.count("ok") == 3 and outcomes.count("refused") == 5
    with db.session() as session:
        assert SqlStores(session).rho_spent(DV, ORG) == pytest.approx(0.9)


def test_noise_cache_first_draw_wins_and_key_is_unique(db):
    with db.write() as session:
        add_release(session, "rel_1")
        SqlStores(session).persist(DV, StateChanges(noise_draws=[("k1", 3), ("k2", -2)]), "rel_1", {})
    with db.write() as session:
        add_release(session, "rel_2")
        SqlStores(session).persist(DV, StateChanges(noise_draws=[("k1", 99)]), "rel_2", {})
    with db.session() as session:
        stores = SqlStores(session)
        assert stores.get(DV, "k1") == 3 and stores.get(DV, "k2") == -2 and stores.get(DV, "k3") is None
        assert stores.get("other", "k1") is None
        assert session.execute(select(func.count()).select_from(NoiseDraw)).scalar_one() == 2
    with pytest.raises(IntegrityError), db.write() as session:
        session.add(NoiseDraw(data_version=DV, key="k1", value=5, release_id="rel_1"))


def test_released_tables_are_found_by_shared_fingerprint(db):
    record = ReleasedTableRecord(
        cells=(
            ReleasedCellRecord("fa", 10, 10),
            ReleasedCellRecord("fb", None, None),
            ReleasedCellRecord("fc", 5, 9),
        ),
        relations=(("fa", ("fb", "fc")),),
    )
    other = ReleasedTableRecord(cells=(ReleasedCellRecord("fz", 7, 7),), relations=())
    with db.write() as session:
        add_release(session, "rel_1")
        SqlStores(session).persist(
            DV, StateChanges(released_tables=[(GLOBAL_SCOPE, record), (GLOBAL_SCOPE, other)]), "rel_1", {}
        )
    with db.session() as session:
        stores = history_stores(session)
        assert stores.released_tables(DV, GLOBAL_SCOPE, {"fb", "nope"}) == [record]
        assert stores.released_tables(DV, GLOBAL_SCOPE, {"fz", "fa"}) == [record, other]
        assert stores.released_tables(DV, GLOBAL_SCOPE, {"nope"}) == []
        assert stores.released_tables(DV, ORG, {"fa"}) == []
