"""Finding device adapters (and the profiles plug-ins ship) through entry points.

Adapters register under the ``oisa.devices`` entry-point group, oisa's own included, so the
plug-in path is the only path and is always exercised::

    [project.entry-points."oisa.devices"]
    acme-gpu = "acme_oisa.adapter:AcmeAdapter"

An adapter class may list TOML profiles it ships (``profiles = ("acme_oisa:profiles/x.toml",)``);
those load by name like the built-in catalog's.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib import metadata, resources
from pathlib import Path

from oisa.device.adapter import DeviceAdapter
from oisa.errors import CatalogError, ConfigError

__all__ = ["AdapterEntry", "adapter", "adapters", "plugin_profiles"]

GROUP = "oisa.devices"


@dataclass(frozen=True)
class AdapterEntry:
    """A registered adapter and where it came from."""

    name: str
    cls: type[DeviceAdapter]
    distribution: str

    @property
    def origin(self) -> str:
        return "built in" if self.distribution == "oisa" else f"plug-in ({self.distribution})"


@lru_cache(maxsize=1)
def adapters() -> dict[str, AdapterEntry]:
    """Every adapter registered in this environment, by name."""
    found: dict[str, AdapterEntry] = {}
    for point in sorted(metadata.entry_points(group=GROUP), key=lambda p: p.name):
        distribution = point.dist.name if point.dist is not None else "unknown"
        try:
            cls = point.load()
        except Exception as exc:  # a broken plug-in is reported, not a traceback
            raise ConfigError(f"adapter {point.name!r} from {distribution} failed to load: {exc}",
                              source=f"entry point {point.value}") from None
        if not (isinstance(cls, type) and issubclass(cls, DeviceAdapter)):
            raise ConfigError(f"adapter {point.name!r} from {distribution} is not a DeviceAdapter subclass",
                              source=f"entry point {point.value}")
        if point.name in found:
            raise ConfigError(f"adapter {point.name!r} is registered twice ({found[point.name].distribution} and "
                              f"{distribution})", source=f"entry point {point.value}")
        found[point.name] = AdapterEntry(point.name, cls, distribution)
    return found


def adapter(name: str) -> AdapterEntry:
    found = adapters()
    if name not in found:
        raise CatalogError(f"no device adapter named {name!r} (registered: {', '.join(found) or 'none'})")
    return found[name]


def plugin_profiles() -> dict[str, tuple[Path, AdapterEntry]]:
    """Profiles shipped by registered adapters, by file stem, with the adapter that ships them."""
    out: dict[str, tuple[Path, AdapterEntry]] = {}
    for entry in adapters().values():
        for spec in entry.cls.profiles:
            package, _, relative = spec.partition(":")
            path = Path(str(resources.files(package).joinpath(relative)))
            out[path.stem] = (path, entry)
    return out
