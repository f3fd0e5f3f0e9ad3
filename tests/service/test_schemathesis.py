"""Property-based API test over the published OpenAPI schema (schemathesis 4): no 5xx, and every
response (status code, content type, headers, body) conforms to the schema. Bounded: a few examples
per operation, examples + fuzzing phases only."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from statservice.api.app import create_app
from statservice.db.migrate import upgrade
from tests.service.conftest import build_api, make_settings, sqlite_database

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
CONFIG = {
    "phases": {"coverage": {"enabled": False}, "stateful": {"enabled": False}},
    "generation": {"max-examples": 6},
}


@pytest.fixture(scope="module")
def st_api(tmp_path_factory, sqlite_template, service_registers):
    tmp = tmp_path_factory.mktemp("schemathesis")
    api = build_api(
        make_settings(sqlite_database(sqlite_template, tmp), service_registers, sync_wait_seconds=30)
    )
    placeholder = APP.state.service
    APP.state.service = api.service
    yield api
    APP.state.service = placeholder
    api.client.__exit__(None, None, None)


# The schema is loaded at import time from an app whose service the fixture swaps for the real one
# (the app reads ``app.state.service`` per request). schemathesis' lazy ``from_fixture`` loader does
# not work with pytest 9 yet.
_PLACEHOLDER_DB = Path(tempfile.mkdtemp(prefix="statservice-st-")) / "placeholder.sqlite3"
upgrade(f"sqlite:///{_PLACEHOLDER_DB}")
APP = create_app(make_settings(f"sqlite:///{_PLACEHOLDER_DB}", Path("/nonexistent")))
schema = schemathesis.openapi.from_asgi("/openapi.json", APP, config=SchemathesisConfig.from_dict(CONFIG))


@schema.parametrize()
@settings(max_examples=6, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_api_conforms_to_its_schema(case, st_api):
    actor = (
        st_api.admin
        if case.path.startswith(("/v1/keys", "/v1/organisations", "/v1/audit"))
        else st_api.customer
    )
    case.call_and_validate(headers=actor.headers, checks=CHECKS)


def test_openapi_documents_problem_json_for_errors():
    spec = create_app(make_settings("sqlite:///:memory:", Path("/nonexistent"))).openapi()
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            for status in ("401", "404", "422", "429", "500"):
                content = operation["responses"][status]["content"]
                assert "application/problem+json" in content, (method, path, status)
                assert "application/json" not in content, (method, path, status)
