"""One router per group of pages. To add a group (staff order board, auditor pages): write
``routes/<name>.py`` with a ``router`` and add it to ``ROUTERS``."""

from statservice.web.routes import account, audit, auth, customer, public, staff

ROUTERS = [auth.router, customer.router, account.router, staff.router, audit.router, public.router]
