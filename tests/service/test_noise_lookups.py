"""Stored noise draws are read in one lookup per release, not one round trip per cell."""

from __future__ import annotations

from sqlalchemy import event

from disclosure.pipeline import protect
from disclosure.policy import Policy
from disclosure.release import ReleaseContext
from queries.model import Query
from statservice.stores import HistoryStores


def test_a_noisy_release_reads_its_stored_draws_in_one_lookup(data_api):
    service = data_api.service
    query = {
        "title": "Incident type 2 diabetes by year and region",
        "index": {
            "concept": {"type": "diagnosis", "codes": ["DE11"]},
            "period": {"start": "2012-01-01", "end": "2019-12-31"},
        },
        "result": {"kind": "cohort_count", "breakdowns": [{"by": "index_year"}, {"by": "region"}]},
    }
    tables = service.engine.run(Query.model_validate(query))
    cells = sum(len(table.cells) for table in tables)
    assert cells > 40
    context = ReleaseContext(
        service.data_version,
        "org-lookups",
        service.noise_secret_for(service.data_version),
        published_with_noise=True,
    )
    lookups: list[str] = []

    def count(conn, cursor, statement, *args) -> None:
        if "ss_noise_cache" in statement and statement.lstrip().upper().startswith("SELECT"):
            lookups.append(statement)

    engine = service.db.engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        with service.db.session() as session:
            service.history.refresh(session, service.data_version)
            release = protect(tables, Policy(), context, HistoryStores(service.history, session))
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert release.report.noise is not None
    assert 1 <= len(lookups) <= 2, f"{len(lookups)} lookups of stored draws for {cells} cells"
