"""One router per resource. To add one (invoices, orders, quotes): write ``routes/<name>.py`` with a
``router`` and add it to ``ROUTERS``."""

from statservice.api.routes import (
    audit,
    budgets,
    catalog,
    health,
    history,
    keys,
    organisations,
    queries,
    releases,
)

ROUTERS = [
    health.router,
    catalog.router,
    queries.router,
    releases.router,
    budgets.router,
    history.router,
    audit.router,
    organisations.router,
    keys.router,
]
