"""The built-in catalogs (device profiles, fabrics, collective-library profiles) and how names
and paths resolve to files.

In a wheel the catalogs ship as package data under ``oisa/_catalog``; in a source checkout (and
an editable install) they are read straight from ``devices/``, ``fabrics/`` and ``libraries/`` at
the top of the repository, so editing a catalog file needs no reinstall. A name looks in the catalog; anything
that looks like a path (has a ``.toml`` suffix or a directory part) is read as that file.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path
from typing import Literal

from oisa.errors import NO_VALUE, CatalogError, ConfigError, UsageError

__all__ = ["Kind", "catalog_dir", "catalog_names", "resolve"]

Kind = Literal["devices", "fabrics", "libraries"]


def catalog_dir(kind: Kind) -> Path:
    packaged = Path(str(resources.files("oisa"))) / "_catalog" / kind
    if packaged.is_dir():
        return packaged
    checkout = Path(__file__).resolve().parent.parent / kind
    if checkout.is_dir():
        return checkout
    raise CatalogError(f"the built-in {kind} catalog is missing from this installation")


def catalog_names(kind: Kind) -> list[str]:
    return sorted(path.stem for path in catalog_dir(kind).glob("*.toml"))


def resolve(kind: Kind, name_or_path: str | Path) -> Path:
    """The file a catalog name or a path refers to. Anything but a string or a path (a spec or
    profile already loaded, None, a number) is refused naming the argument, ``name_or_path``."""
    if isinstance(name_or_path, os.PathLike):
        name_or_path = os.fspath(name_or_path)
    if not isinstance(name_or_path, str):
        what = "fabric" if kind == "fabrics" else "device profile"
        raise UsageError(f"expected the catalog name or the path of a {what} file, not {type(name_or_path).__name__}",
                         parameter="name_or_path", value=name_or_path if _scalar(name_or_path) else NO_VALUE)
    text = name_or_path
    if text.endswith(".toml") or "/" in text or "\\" in text:
        path = Path(text)
        if not _is_file(path, text):
            raise ConfigError(_not_a_file(path, kind), source=_shown(text))
        return path
    path = catalog_dir(kind) / f"{text}.toml"
    if not _is_file(path, text):
        known = ", ".join(catalog_names(kind)) or "none"
        raise CatalogError(f"no {kind[:-1]} named {_shown(text)!r} in the built-in catalog (known: {known})")
    return path


def _is_file(path: Path, given: str) -> bool:
    """Whether ``path`` is a regular file; a name the system cannot even look up (too long, say)
    is refused as what it is, not raised as OSError."""
    try:
        return path.is_file()
    except OSError as exc:
        raise ConfigError(f"cannot be looked up: {exc.strerror or exc}", source=_shown(given)) from None


def _scalar(value: object) -> bool:
    return value is None or isinstance(value, (bool, int, float))


def _shown(value: object) -> str:
    """``value`` as an error message shows it: at most 80 characters of it."""
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= 80 else f"{text[:60]}... ({len(text):,} characters)"


def _not_a_file(path: Path, kind: Kind) -> str:
    """What ``path`` is, since it is not a file to read a profile or fabric from."""
    what = "fabric" if kind == "fabrics" else "device profile"
    if path.is_dir():
        return f"is a directory, not a {what} file"
    if path.exists():
        return "is not a regular file (a device, a pipe or a socket)"
    return "no such file"
