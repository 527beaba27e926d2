"""The built-in catalogs (device profiles, fabrics, collective-library profiles) and how names
and paths resolve to files.

In a wheel the catalogs ship as package data under ``oisa/_catalog``; in a source checkout (and
an editable install) they are read straight from ``devices/``, ``fabrics/`` and ``libraries/`` at
the top of the repository, so editing a catalog file needs no reinstall. A name looks in the catalog; anything
that looks like a path (has a ``.toml`` suffix or a directory part) is read as that file.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Literal

from oisa.errors import CatalogError, ConfigError

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
    """The file a catalog name or a path refers to."""
    text = str(name_or_path)
    if isinstance(name_or_path, Path) or text.endswith(".toml") or "/" in text or "\\" in text:
        path = Path(text)
        if not path.is_file():
            raise ConfigError(_not_a_file(path, kind), source=text)
        return path
    path = catalog_dir(kind) / f"{text}.toml"
    if not path.is_file():
        known = ", ".join(catalog_names(kind)) or "none"
        raise CatalogError(f"no {kind[:-1]} named {text!r} in the built-in catalog (known: {known})")
    return path


def _not_a_file(path: Path, kind: Kind) -> str:
    """What ``path`` is, since it is not a file to read a profile or fabric from."""
    what = "fabric" if kind == "fabrics" else "device profile"
    if path.is_dir():
        return f"is a directory, not a {what} file"
    if path.exists():
        return "is not a regular file (a device, a pipe or a socket)"
    return "no such file"
