"""A process that starts on a database with history reads the release history while it starts, so
its first release does not pay for reading a year of it."""

from __future__ import annotations

from fastapi.testclient import TestClient

from disclosure.stores import GLOBAL_SCOPE
from statservice.api.app import create_app
from statservice.service import Service
from tests.service.conftest import make_settings
from tests.service.helpers import distinct_cohort


def test_a_new_process_reads_the_release_history_before_its_first_request(
    data_api, database_url, service_registers
):
    for i in range(3):
        response = data_api.post("/v1/queries/runs", data_api.customer, json=distinct_cohort(i))
        assert response.status_code == 201, response.text
    first = data_api.service
    with first.db.session() as session:
        first.history.refresh(session, first.data_version)  # what the database holds now
    held = first.history.released_count_total(first.data_version, GLOBAL_SCOPE)
    assert held > 0

    settings = make_settings(database_url, service_registers)
    second = Service(settings)  # another API process on the same database
    try:
        assert second.history.released_count_total(second.data_version, GLOBAL_SCOPE) == 0
        with TestClient(create_app(settings, second)):  # startup, no request
            assert second.history.released_count_total(second.data_version, GLOBAL_SCOPE) == held
    finally:
        second.close()
