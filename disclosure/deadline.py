"""Hard deadlines for solver work: the call runs in a child process that is killed when time is up.

HiGHS honours its time limit only between some of its phases: a MILP stuck in row propagation runs on
far past it, and Python cannot interrupt a thread inside a C call. A process can always be killed, so
a deadline given here holds whatever the solver does. Children are started with ``spawn`` (never
``fork``: the caller may hold DuckDB or HiGHS threads) and kept warm for the next call; a killed child
is replaced on the next call.
"""

from __future__ import annotations

import atexit
import multiprocessing
import threading
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any, TypeVar

_CONTEXT = multiprocessing.get_context("spawn")
T = TypeVar("T")


class DeadlinePassed(RuntimeError):
    """The call did not finish before its deadline; its child process was killed."""


# Imported by a child as soon as it starts, so the first audit it runs does not pay for them.
_PRELOAD = ("disclosure.atoms",)


def _serve(connection: Connection) -> None:
    import importlib

    for module in _PRELOAD:
        importlib.import_module(module)
    while True:
        try:
            function, args = connection.recv()
        except (EOFError, OSError):  # the parent is gone
            return
        try:
            outcome: tuple[bool, Any] = (True, function(*args))
        except BaseException as error:  # handed back to the caller, who re-raises it
            outcome = (False, error)
        connection.send(outcome)


class _Child:
    def __init__(self) -> None:
        self.connection, theirs = _CONTEXT.Pipe()
        self.process = _CONTEXT.Process(target=_serve, args=(theirs,), name="statservice-audit", daemon=True)
        self.process.start()
        theirs.close()

    def kill(self) -> None:
        self.process.kill()
        self.process.join()
        self.connection.close()


_idle: list[_Child] = []
_lock = threading.Lock()


def call_with_deadline(seconds: float, function: Callable[..., T], *args: Any) -> T:
    """``function(*args)`` in a child process, or ``DeadlinePassed`` after ``seconds``.

    ``function`` and its arguments must be picklable (a module-level function); exceptions it
    raises are raised here.
    """
    with _lock:
        child = _idle.pop() if _idle else None
    if child is None or not child.process.is_alive():
        child = _Child()
    try:
        child.connection.send((function, args))
        if not child.connection.poll(max(0.0, seconds)):
            raise DeadlinePassed(f"{getattr(function, '__name__', 'call')} past its deadline")
        ok, value = child.connection.recv()
    except BaseException:
        child.kill()
        with _lock:  # a replacement starts warming up now, not at the next call
            _idle.append(_Child())
        raise
    with _lock:
        _idle.append(child)
    if not ok:
        raise value
    return value


@atexit.register
def _stop_children() -> None:
    with _lock:
        children, _idle[:] = list(_idle), []
    for child in children:
        child.kill()
