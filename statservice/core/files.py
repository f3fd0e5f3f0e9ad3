"""Files the service writes (demo keys, audit checkpoints, exports): readable by their owner only.

They hold keys, organisation names and disclosure reports, so they are created 0600 whatever the
umask, and an existing file is tightened before it is rewritten (O_CREAT keeps an existing file's mode).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import IO

PRIVATE_FILE_MODE = 0o600
PRIVATE_DIRECTORY_MODE = 0o700


def open_private(path: Path, *, binary: bool = False) -> IO:
    """Open ``path`` for writing (truncated), mode 0600; its directory is created 0700 if missing."""
    path.parent.mkdir(mode=PRIVATE_DIRECTORY_MODE, parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE_MODE)
    os.fchmod(fd, PRIVATE_FILE_MODE)
    if binary:
        return os.fdopen(fd, "wb")
    return os.fdopen(fd, "w", encoding="utf-8", newline="")


def write_private(path: Path, data: str | bytes) -> None:
    with open_private(path, binary=isinstance(data, bytes)) as handle:
        handle.write(data)


def replace_private(path: Path, data: str) -> None:
    """Write to a temporary file beside ``path`` and rename it over ``path``: readers see the old
    file or the new one, never half of one; fsynced, so a crash leaves one of them."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{id(data):x}.tmp")
    with open_private(temporary) as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
