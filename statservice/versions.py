"""Data versions side by side: one active, the next built beside it, the old ones retired.

Each version is a directory under ``versions_directory(data_dir)`` (``data/versions/<name>`` for the
default ``data/registers``) holding an extract with its catalog and its layout. ``data_dir`` is a
symbolic link to the active one, so activating is one ``rename(2)`` of a new link over the old:
atomic, and a process sees either the old version or the new, never a mixture. The service opens
its engine on the link's target (``Service.engine`` re-resolves it), so a running service moves to
the new version at its next request, and a run that started on the old one finishes on it.

Releases record their data version; everything disclosure control remembers between releases (the
released person sets, the privacy ledgers, keyed noise) is stored per data version, so each version
starts with its own budget and history and an earlier version's releases and audit stay as they
were. Retiring removes a version's files (its Parquet and layout), never its releases or audit.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from queries.storage import data_version_of, layout_directory
from synthetic_registers.catalog import CATALOG_FILE


class VersionError(ValueError):
    """A version operation that cannot be done (unknown name, retiring the active version, ...)."""


@dataclass(frozen=True)
class VersionInfo:
    name: str
    path: Path
    data_version: str | None
    active: bool
    source: str
    persons: int | None
    layout_built: bool


def versions_directory(data_dir: Path) -> Path:
    return data_dir.parent / "versions"


def active_path(data_dir: Path) -> Path | None:
    """The directory the service serves (the link's target), None without an extract."""
    return data_dir.resolve() if data_dir.exists() else None


def _info(path: Path, active: Path | None) -> VersionInfo:
    catalog = path / CATALOG_FILE
    metadata = json.loads(catalog.read_text(encoding="utf-8")) if catalog.is_file() else {}
    complete = catalog.is_file()
    return VersionInfo(
        name=path.name,
        path=path,
        data_version=data_version_of(path) if complete else None,
        active=active is not None and path.resolve() == active,
        source=str(metadata.get("source", "generator" if "generator_version" in metadata else "unfinished")),
        persons=metadata.get("persons"),
        layout_built=any(layout_directory(path).glob("layout-*.duckdb")),
    )


def list_versions(data_dir: Path) -> list[VersionInfo]:
    """Every version in the versions directory, and the served extract when it is not one of them
    (a data directory made before versions existed)."""
    active = active_path(data_dir)
    directory = versions_directory(data_dir)
    found = (
        [_info(p, active) for p in sorted(directory.iterdir()) if p.is_dir() and not p.name.startswith(".")]
        if directory.is_dir()
        else []
    )
    if active is not None and not any(v.active for v in found):
        found.insert(0, _info(active, active))
    return found


def _version_path(data_dir: Path, name: str) -> Path:
    if not name or "/" in name or name.startswith("."):
        raise VersionError(
            f"{name!r} is not a version name (a directory name in {versions_directory(data_dir)})"
        )
    path = versions_directory(data_dir) / name
    if not path.is_dir():
        raise VersionError(f"no version {name!r} in {versions_directory(data_dir)}")
    # one path per version, the one the service opens (DuckDB refuses a second connection to a
    # layout file under another spill directory)
    return path.resolve()


def activate(data_dir: Path, name: str, prepare=None) -> VersionInfo:
    """Make ``name`` the served version. ``prepare(path)`` runs first (building its layout, so the
    switch does not make the next query wait for a build); then the link is replaced atomically."""
    path = _version_path(data_dir, name)
    if not (path / CATALOG_FILE).is_file():
        raise VersionError(f"version {name!r} has no {CATALOG_FILE}: it is unfinished")
    if prepare is not None:
        prepare(path)
    directory = versions_directory(data_dir)
    if data_dir.exists() and not data_dir.is_symlink():
        # A data directory from before versions: it becomes a version of its own, kept beside.
        adopted = directory / f"v-{data_version_of(data_dir)}"
        if adopted.exists():
            raise VersionError(f"{adopted} exists; move {data_dir} aside by hand")
        data_dir.rename(adopted)
    link = data_dir.with_name(f".{data_dir.name}.next")
    link.unlink(missing_ok=True)
    link.symlink_to(os.path.relpath(path, data_dir.parent))
    os.replace(link, data_dir)  # atomic: readers see the old target or the new one
    return _info(path, active_path(data_dir))


def retire(data_dir: Path, name: str) -> VersionInfo:
    """Remove a version's files (extract and layouts). The active version cannot be retired."""
    path = _version_path(data_dir, name)
    info = _info(path, active_path(data_dir))
    if info.active:
        raise VersionError(f"version {name!r} is active; activate another version first")
    shutil.rmtree(path)
    return info
