"""Startup checks the commands that serve queries run before opening anything.

``statservice serve`` and ``statservice run`` refuse to start on a register extract without
``catalog.json``: query validation takes its code lists and coverage from the catalog only (never
from the rows, where the set of codes present is itself information about persons), and the
generator writes the catalog last, so without it the extract is unfinished.

They also refuse a listening address they cannot bind, before printing anything: ``statservice run``
used to print the welcome and the curl commands for a port another program held, then die in
uvicorn with "address already in use", leaving commands on screen that reach the other program.
"""

from __future__ import annotations

import errno
import socket
from pathlib import Path

import typer
from rich.console import Console

from queries.vocabulary import MissingCatalogError, require_catalog

error_console = Console(stderr=True)


def require_register_catalog(data_dir: Path) -> None:
    """Exit with status 1 and a message saying what to do unless the extract has its catalog."""
    try:
        require_catalog(data_dir)
    except MissingCatalogError as error:
        error_console.print(f"statservice: refusing to start: {error}", highlight=False, soft_wrap=True)
        error_console.print(
            "Point STATSERVICE_DATA_DIR at a finished extract, or run `make run` (statservice run) "
            "to generate the demo registers.",
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(code=1) from None


def bind_problem(host: str, port: int) -> tuple[str, str] | None:
    """Why ``host:port`` cannot be listened on now, as (``"port"`` or ``"host"``, the reason), or None
    if it can. Binds a probe socket the way uvicorn binds its own (``SO_REUSEADDR``, so a port left
    in TIME_WAIT by a stopped server counts as free) and closes it at once."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror:
        return "host", f"the address {host!r} cannot be resolved"
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                return "port", f"port {port} is already in use by another program (or another statservice)"
            if error.errno == errno.EACCES:
                return "port", f"port {port} needs privileges this user does not have"
            if error.errno == errno.EADDRNOTAVAIL:
                return "host", f"{host} is not an address of this machine"
            return "host", f"it cannot be bound ({error.strerror or error})"
    return None


def free_port_near(host: str, port: int, tries: int = 20) -> int | None:
    """The first port after ``port`` that can be bound on ``host`` (to suggest one), or None."""
    for candidate in range(port + 1, min(port + 1 + tries, 65536)):
        if bind_problem(host, candidate) is None:
            return candidate
    return None


def require_free_port(host: str, port: int, port_hint: str) -> None:
    """Exit with status 1 and a message saying what to change unless ``host:port`` can be listened
    on. ``port_hint`` names the calling command's setting or flag for the port, with ``{port}`` where
    a free port is suggested."""
    found = bind_problem(host, port)
    if found is None:
        return
    kind, reason = found
    error_console.print(
        f"statservice: cannot serve on {host}:{port}: {reason}.", highlight=False, soft_wrap=True
    )
    if kind == "port":
        advice = port_hint.format(port=free_port_near(host, port) or port + 1)
    else:
        advice = "Set STATSERVICE_HOST to an address of this machine (127.0.0.1 serves this machine only)"
    error_console.print(
        f"{advice}. Settings: STATSERVICE_HOST and STATSERVICE_PORT in docs/settings.md.",
        highlight=False,
        soft_wrap=True,
    )
    raise typer.Exit(code=1)
