"""``statservice`` command line: one module per command group, composed here."""

import typer

app = typer.Typer(
    no_args_is_help=True, add_completion=False, help="statservice: aggregate analyses of national registers."
)
