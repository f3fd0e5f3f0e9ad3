"""One router per resource. To add one (invoices, orders, quotes): write ``routes/<name>.py`` with a
``router`` and add it to ``ROUTERS``."""

from statservice.api.routes import (
    audit,
    billing_account,
    budgets,
    catalog,
    cohorts,
    concept_sets,
    drafts,
    health,
    history,
    invoices,
    keys,
    orders,
    organisations,
    public,
    queries,
    quotes,
    releases,
)

ROUTERS = [
    health.router,
    catalog.router,
    queries.router,
    releases.router,
    budgets.router,
    history.router,
    drafts.router,
    concept_sets.router,
    cohorts.router,
    audit.router,
    organisations.router,
    keys.router,
    quotes.router,
    invoices.router,
    invoices.credit_notes_router,
    billing_account.router,
    orders.router,
    public.router,
]
