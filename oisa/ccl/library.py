"""Collective-library profiles: the parameters of an NCCL-like, RCCL-like or generic library, read
from the ``libraries/`` catalog, every figure with its source or marked as fitted.

A profile holds what the library's own cost model and its kernels need: the fixed cost of a call
(kernel launch) and the host's time to launch one GPU's kernel, the most channels it runs, and
per protocol (Simple, LL, LL128) the share of the wire that carries data, the synchronisation cost
of one step on a scale-up hop and on a network hop, the rate one channel's threads can copy at
(and optionally a whole call's), the pipelining chunk, the size per channel below which a call
uses fewer channels, and optionally the largest call the tuner may give it; per algorithm, the
base latency of a call with each protocol it offers, and optionally the largest call it runs, the
most channels it uses, a copy rate per channel of its own and whether it needs a thread per GPU.
Which names mean what, with the NCCL and RCCL source files they come
from, is in the catalog files themselves.

A *calibration* (what ``oisa calibrate`` writes) is an overlay: a TOML file naming the profile it
adjusts and giving new figures for some of its keys; :func:`load_library` applies it. Figures a
fit produced say so in their source (``fitted: ...``).

The library is chosen by the cards' device profiles (their optional ``library`` key): the
profile every rank's device names, or ``generic`` when they differ.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from oisa import catalog
from oisa.config import Figure, Table, load_toml
from oisa.errors import ConfigError
from oisa.units import parse_rate, parse_size, parse_time

__all__ = ["ALGORITHMS", "GENERIC", "PROTOCOLS", "Library", "apply_calibration", "library_for", "library_names",
           "load_library"]

PROTOCOLS = ("simple", "ll", "ll128")
ALGORITHMS = ("ring", "tree", "direct", "hierarchical", "in-switch")
GENERIC = "generic"


def _share(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 1:
        raise ValueError(f"expected a share above 0 and at most 1, got {value!r}")
    return float(value)


def _channels(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 256:
        raise ValueError(f"expected a whole number of channels from 1 to 256, got {value!r}")
    return value


# per protocol: key -> parser; the optional ones may be left out
_Parser = Callable[[Any], float | int]
_PROTOCOL_KEYS: dict[str, _Parser] = {"efficiency": _share, "step_latency": parse_time, "net_step_latency": parse_time,
                  "channel_bandwidth": parse_rate, "chunk": parse_size, "channel_threshold": parse_size}
_OPTIONAL_PROTOCOL_KEYS: dict[str, _Parser] = {"call_bandwidth": parse_rate, "max_size": parse_size}
def _ranks(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 2:
        raise ValueError(f"expected a whole number of ranks, 2 or more, got {value!r}")
    return value


# per algorithm, beside its base latency per protocol: the largest call it runs, the most ranks it
# runs on, the most channels it uses, and a copy rate per channel of its own
_ALGORITHM_KEYS: dict[str, _Parser] = {"max_size": parse_size, "max_ranks": _ranks, "max_channels": _channels,
                   "channel_bandwidth": parse_rate}


@dataclass(frozen=True)
class Library:
    """A library profile: ``figures`` by dotted key (``protocols.simple.step_latency``), their
    values parsed (times in ps, rates in bits/s, sizes in bytes, shares as fractions)."""

    name: str
    library: str
    description: str
    path: Path
    figures: Mapping[str, Figure]
    per_rank_threshold: frozenset[str]  # protocols whose channel threshold grows with the ranks (NCCL's LL)
    one_gpu_per_thread: frozenset[str] = frozenset()  # algorithms it runs only where a thread drives one GPU
    calibration: str | None = None  # the overlay applied, if any

    def value(self, key: str) -> Any:
        if key not in self.figures:
            raise ConfigError(f"the library profile has no figure {key!r}", source=str(self.path))
        return self.figures[key].value

    def has(self, key: str) -> bool:
        return key in self.figures

    @property
    def algorithms(self) -> tuple[str, ...]:
        """The algorithms the library offers, in the catalog's order."""
        return tuple(a for a in ALGORITHMS if any(f"algorithms.{a}.{p}" in self.figures for p in PROTOCOLS))

    def protocols_of(self, algorithm: str) -> tuple[str, ...]:
        return tuple(p for p in PROTOCOLS if f"algorithms.{algorithm}.{p}" in self.figures)

    def replaced(self, values: Mapping[str, Figure], calibration: str | None = None) -> Library:
        """This profile with some figures replaced (a calibration applied); unknown keys are refused."""
        unknown = sorted(set(values) - set(self.figures))
        if unknown:
            raise ConfigError(f"the profile {self.name!r} has no figure {unknown[0]!r} (it has: "
                              f"{', '.join(sorted(self.figures))})", source=calibration or str(self.path),
                              key=unknown[0])
        return replace(self, figures={**self.figures, **values}, calibration=calibration or self.calibration)


def load_library(name_or_path: str | Path, calibration: str | Path | None = None) -> Library:
    """A library profile by catalog name (``"rccl-like"``) or TOML path, with the calibration
    overlay at ``calibration`` applied if given (it must name this profile)."""
    path = catalog.resolve("libraries", name_or_path)
    library = _profile(path)
    if calibration is None:
        return library
    return apply_calibration(library, calibration)


_PROFILES: dict[Path, tuple[tuple[int, int], Library]] = {}  # read profiles, by path, with the file's mtime and size


def _profile(path: Path) -> Library:
    """The profile at ``path``, read once while the file stays as it was (a training step's
    lowering plans thousands of groups, each asking for its cards' library)."""
    stat = path.stat()
    stamp = (stat.st_mtime_ns, stat.st_size)
    kept = _PROFILES.get(path)
    if kept is not None and kept[0] == stamp:
        return kept[1]
    doc = load_toml(path)
    library = _read(doc, path)
    doc.finish()
    _PROFILES[path] = (stamp, library)
    return library


def apply_calibration(library: Library, calibration: str | Path) -> Library:
    """``library`` with the figures of the overlay at ``calibration``; an overlay for another
    profile is refused, naming both."""
    path = Path(calibration)
    doc = load_toml(path)
    base = doc.get("calibrates", str)
    if base != library.name:
        raise ConfigError(f"this calibration adjusts {base!r}, but the run uses {library.name!r}", source=str(path),
                          key="calibrates")
    doc.get("description", str, "")
    values: dict[str, Figure] = {}
    for section in ("launch", "channels", "protocols", "algorithms"):
        if section in doc:
            values.update(_overlay_figures(doc.table(section), section, library, str(path)))
    doc.finish()
    return library.replaced(values, calibration=str(path))


def _overlay_figures(table: Table, prefix: str, library: Library, source: str) -> dict[str, Figure]:
    """The figures of an overlay section, parsed as the profile's own are."""
    out: dict[str, Figure] = {}
    for name in list(table.data):
        key = f"{prefix}.{name}"
        raw = table.data[name]
        if isinstance(raw, dict) and "value" not in raw:
            out.update(_overlay_figures(table.table(name), key, library, source))
            continue
        if key not in library.figures:
            raise table.error(f"the profile {library.name!r} has no such figure", name)
        out[key] = table.figure(name, _parser(key))
    table.finish()
    return out


def _parser(key: str) -> Any:
    parts = key.split(".")
    if parts[0] == "launch":
        return parse_time
    if parts[0] == "channels":
        return _channels
    if parts[0] == "algorithms":
        return _ALGORITHM_KEYS.get(parts[-1], parse_time)
    return {**_PROTOCOL_KEYS, **_OPTIONAL_PROTOCOL_KEYS}[parts[-1]]


def _read(doc: Table, path: Path) -> Library:
    figures: dict[str, Figure] = {}
    launch = doc.table("launch")
    figures["launch.latency"] = launch.figure("latency", parse_time)
    figures["launch.per_gpu"] = launch.figure("per_gpu", parse_time)
    launch.finish()
    channels = doc.table("channels")
    figures["channels.max"] = channels.figure("max", _channels)
    channels.finish()
    protocols = doc.table("protocols")
    per_rank = set()
    for protocol in PROTOCOLS:
        table = protocols.table(protocol)
        for key, parse in _PROTOCOL_KEYS.items():
            figures[f"protocols.{protocol}.{key}"] = table.figure(key, parse)
        for key, parse in _OPTIONAL_PROTOCOL_KEYS.items():
            if key in table:
                figures[f"protocols.{protocol}.{key}"] = table.figure(key, parse)
        if table.get("threshold_per_rank", bool, False):
            per_rank.add(protocol)
        table.finish()
    protocols.finish()
    algorithms = doc.table("algorithms")
    single: set[str] = set()
    for algorithm in list(algorithms.data):
        if algorithm not in ALGORITHMS:
            raise algorithms.error(f"unknown algorithm (known: {', '.join(ALGORITHMS)})", algorithm)
        table = algorithms.table(algorithm)
        if table.get("one_gpu_per_thread", bool, False):
            single.add(algorithm)
        for key, parse in _ALGORITHM_KEYS.items():
            if key in table:
                figures[f"algorithms.{algorithm}.{key}"] = table.figure(key, parse)
        for protocol in [key for key in table.data if key not in ("one_gpu_per_thread", *_ALGORITHM_KEYS)]:
            if protocol not in PROTOCOLS:
                raise table.error(f"unknown protocol (known: {', '.join(PROTOCOLS)})", protocol)
            figures[f"algorithms.{algorithm}.{protocol}"] = table.figure(protocol, parse_time)
        table.finish()
    algorithms.finish()
    if "algorithms.ring.simple" not in figures:
        raise algorithms.error("every library offers the ring algorithm with the Simple protocol", "ring")
    return Library(doc.get("name", str), doc.get("library", str), doc.get("description", str), path, figures,
                   frozenset(per_rank), frozenset(single))


def library_names() -> list[str]:
    return catalog.catalog_names("libraries")


def library_for(devices: Sequence[str | None]) -> str:
    """The profile the cards' devices name (their ``library`` key), or :data:`GENERIC` when
    they name different ones or none."""
    named = set(devices)
    if len(named) == 1:
        only = next(iter(named))
        if only is not None:
            return only
    return GENERIC
