"""``statservice`` command line: one module per command group, composed here (one line each)."""

import typer

from statservice.cli import audit, generate, ingest, invoices, keys, migrate, public, run, serve, versions

app = typer.Typer(
    no_args_is_help=True, add_completion=False, help="statservice: aggregate analyses of national registers."
)

app.command("migrate")(migrate.migrate)
app.command("serve")(serve.serve)
app.command("run")(run.run)
app.command("generate")(generate.generate)
app.command("ingest")(ingest.ingest)
app.add_typer(keys.app, name="keys")
app.add_typer(audit.app, name="audit")
app.add_typer(invoices.app, name="invoices")
app.add_typer(public.app, name="public-statistics")
app.add_typer(versions.app, name="versions")
