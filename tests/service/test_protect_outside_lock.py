"""Disclosure control runs outside the database write lock (``statservice.pipeline.commit_release``):
other writes never wait on an audit, and a release committed while another was being protected is
seen at commit, so the verdict is the same as if the two had run one after the other.

The real pipeline runs throughout; the test only holds the first ``protect`` call at a barrier to
choose the interleaving.
"""

from __future__ import annotations

import threading
import time

from sqlalchemy import func, select

from statservice import pipeline
from statservice.db.models import ReleaseRecord
from tests.service.test_atom_audit_http import query, released_total, true_counts


class HeldProtect:
    """Wraps the real ``protect``: its first call finishes, then waits until the test lets it go."""

    def __init__(self, real) -> None:
        self.real = real
        self.calls = 0
        self.protected = threading.Event()
        self.go_on = threading.Event()

    def __call__(self, *args, **kwargs):
        self.calls += 1
        release = self.real(*args, **kwargs)
        if self.calls == 1:
            self.protected.set()
            assert self.go_on.wait(60)
        return release


def test_a_release_committed_during_protection_is_audited_with_it(data_api, monkeypatch):
    api = data_api
    a, b, union = true_counts(api)
    assert 1 <= a + b - union <= 4  # the third count would isolate a few persons
    assert released_total(api.post("/v1/queries/runs", api.customer, json=query(["A10BJ"], "A"))) == a
    held = HeldProtect(pipeline.protect)
    monkeypatch.setattr(pipeline, "protect", held)
    outcome: dict[str, object] = {}

    def third() -> None:
        response = api.post("/v1/queries/runs", api.foreign, json=query(["A10BJ", "B01AA"], "either"))
        outcome["total"] = released_total(response)

    worker = threading.Thread(target=third)
    worker.start()
    assert held.protected.wait(60)  # "either" was protected on a history holding only A: it passes
    # Meanwhile another customer's write goes through at once, and B is released (its own protect
    # is not held): neither waits for the held audit, which would make them wait forever.
    started = time.perf_counter()
    quote = api.post("/v1/queries/quote", api.customer, json=query(["B01AA"], "quote"))
    quote_seconds = time.perf_counter() - started
    assert quote.status_code in (200, 201), quote.text
    second = api.post("/v1/queries/runs", api.customer, json=query(["B01AA"], "B"))
    assert released_total(second) == b
    held.go_on.set()
    worker.join(60)
    # At commit the first release sees B, protects again, and hides the third count.
    assert outcome["total"] is None
    assert held.calls >= 3  # snapshot, B's own, and the repeat after B moved the history
    assert quote_seconds < 2
    with api.service.db.session() as session:
        # three releases, each with its audit record and invoice line; the third shows no count
        assert session.execute(select(func.count()).select_from(ReleaseRecord)).scalar_one() == 3
