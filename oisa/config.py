"""Reading TOML profiles and fabrics: every key checked, every figure sourced, every error named.

Profiles and fabrics describe hardware, and a number about hardware is only as good as where
it came from. So a *figure* is written as a table with its value and either a ``source`` (a URL
or document section) or an ``assumption`` saying plainly that we chose it::

    bandwidth = { value = "3.35TB/s", source = "https://glennklockwood.com/garden/processors/h100" }
    latency = { value = "100ns", assumption = "SerDes and FEC at both ends; reference suggests 50-100 ns" }

:class:`Table` walks a parsed TOML document, remembers which keys were read, and refuses keys
it does not know, so a typo is an error rather than a silently ignored setting.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from oisa.errors import ConfigError, OisaError

__all__ = ["Figure", "Table", "load_toml", "parse_toml"]

T = TypeVar("T")
_MISSING: Any = object()


@dataclass(frozen=True)
class Figure:
    """A value from a profile together with where it came from."""

    value: Any
    source: str | None = None
    assumption: str | None = None

    @property
    def provenance(self) -> str:
        return self.source if self.source is not None else f"assumption: {self.assumption}"


def load_toml(path: Path) -> Table:
    """Read and parse a TOML file; missing or malformed files raise :class:`ConfigError`."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError("no such file", source=str(path)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read: {exc}", source=str(path)) from None
    return parse_toml(text, str(path))


def parse_toml(text: str, source: str) -> Table:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"not valid TOML: {exc}", source=source) from None
    return Table(data, source)


class Table:
    """One TOML table, with the file and dotted key path it came from."""

    def __init__(self, data: dict[str, Any], source: str, path: str = "") -> None:
        self.data = data
        self.source = source
        self.path = path
        self._read: set[str] = set()

    def key(self, name: str) -> str:
        return f"{self.path}.{name}" if self.path else name

    def error(self, message: str, name: str | None = None) -> ConfigError:
        return ConfigError(message, source=self.source, key=self.key(name) if name else self.path or None)

    def __contains__(self, name: str) -> bool:
        return name in self.data

    def get(self, name: str, kind: type[T] | tuple[type, ...], default: Any = _MISSING) -> Any:
        """The raw value of ``name``, which must be of ``kind``; required unless a default is given."""
        self._read.add(name)
        if name not in self.data:
            if default is _MISSING:
                raise self.error("missing", name)
            return default
        value = self.data[name]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if isinstance(value, bool) and bool not in kinds:
            raise self.error(f"expected {_kind_names(kinds)}, got {value!r}", name)
        if not isinstance(value, kinds):
            raise self.error(f"expected {_kind_names(kinds)}, got {type(value).__name__} {value!r}", name)
        return value

    def parsed(self, name: str, parse: Callable[[Any], T], default: Any = _MISSING) -> T:
        """``parse(value)`` for a plain (unsourced) setting; parse errors name the key."""
        if name not in self.data and default is not _MISSING:
            self._read.add(name)
            return default
        return self._apply(parse, self.get(name, (str, int, float)), name)

    def figure(self, name: str, parse: Callable[[Any], T], default: Any = _MISSING) -> Figure:
        """A sourced figure: ``{ value = ..., source = "..." }`` or ``{ value = ..., assumption = "..." }``."""
        if name not in self.data and default is not _MISSING:
            self._read.add(name)
            return default
        table = Table(self.get(name, dict), self.source, self.key(name))
        value = table.get("value", (str, int, float))
        source = table.get("source", str, None)
        assumption = table.get("assumption", str, None)
        table.finish()
        if (source is None) == (assumption is None):
            raise table.error("give exactly one of 'source' (where the figure comes from) or 'assumption'")
        if not (source or assumption or "").strip():
            raise table.error("the source or assumption is empty")
        return Figure(self._apply(parse, value, f"{name}.value"), source, assumption)

    def table(self, name: str, *, optional: bool = False) -> Table:
        """A sub-table; an absent optional one reads as empty."""
        raw = self.get(name, dict, {} if optional else _MISSING)
        return Table(raw, self.source, self.key(name))

    def tables(self, name: str, *, optional: bool = False) -> list[Table]:
        """An array of tables (``[[name]]``); an absent optional one reads as empty."""
        raw = self.get(name, list, [] if optional else _MISSING)
        out = []
        for index, item in enumerate(raw):
            if not isinstance(item, dict):
                raise self.error(f"item {index} is {type(item).__name__}, expected a table", name)
            out.append(Table(item, self.source, f"{self.key(name)}[{index}]"))
        return out

    def finish(self) -> None:
        """Refuse keys that were never read: they are typos or settings oisa does not have."""
        unknown = sorted(set(self.data) - self._read)
        if unknown:
            known = ", ".join(sorted(self._read)) or "none"
            raise self.error(f"unknown key {unknown[0]!r} (known here: {known})", unknown[0])

    def _apply(self, parse: Callable[[Any], T], value: Any, name: str) -> T:
        try:
            return parse(value)
        except ConfigError:
            raise
        except (OisaError, ValueError, TypeError) as exc:
            raise self.error(str(exc), name) from None


def _kind_names(kinds: tuple[type, ...]) -> str:
    names = {str: "a string", int: "an integer", float: "a number", bool: "true or false", dict: "a table",
             list: "an array"}
    return " or ".join(names.get(k, k.__name__) for k in kinds)
