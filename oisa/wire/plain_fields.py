"""Reading plain fields strictly: the shared half of every family's ``to_fields``/``from_fields``.

``oisa decode`` prints a frame as plain, JSON-able fields and ``oisa encode`` reads them back;
reading must refuse what it does not understand (a missing or unknown field, a value of the wrong
type or out of range) with a :class:`~oisa.errors.FrameError` naming the field, never guess.
Two styles, for two shapes of frame:

* :class:`FieldReader` takes the fields of one flat object (an OISA message or flit, a PCIe
  DLLP, a VDESC descriptor) and raises the :class:`~oisa.errors.FrameError` itself;
* :class:`FieldProblem` and the ``as_*`` / ``check_*`` helpers raise a problem that names only
  the field, for formats whose fields nest (CXL messages inside slots inside flits): the caller
  knows where the field sits and turns the problem into a located
  :class:`~oisa.errors.FrameError`.

Shared by the protocol families; it knows :mod:`oisa.errors` and no family's fields.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any, TypeVar

from oisa.errors import FrameError

__all__ = [
    "FieldProblem",
    "FieldReader",
    "as_bool",
    "as_enum",
    "as_int",
    "check_width",
    "require_keys",
]

E = TypeVar("E", bound=enum.Enum)


class FieldReader:
    """Takes fields out of a mapping, each checked, and refuses leftovers."""

    def __init__(self, values: Mapping[str, Any], fmt: str, where: str = "") -> None:
        if not isinstance(values, Mapping):
            raise FrameError(f"expected an object of fields, got {type(values).__name__}", fmt=fmt, field=where or None)
        self.values, self.fmt, self.where = values, fmt, where
        self.taken: set[str] = set()

    def _name(self, name: str) -> str:
        return f"{self.where}.{name}" if self.where else name

    def fail(self, message: str, name: str) -> FrameError:
        """The error for field ``name`` (below ``where``), for the caller to raise."""
        return FrameError(message, fmt=self.fmt, field=self._name(name))

    def raw(self, name: str) -> Any:
        """The value of a field that must be there, marked as taken; the typed readers below check it."""
        if name not in self.values:
            raise self.fail("missing", name)
        self.taken.add(name)
        return self.values[name]

    def integer(self, name: str) -> int:
        """An integer (a boolean is not one); ranges are the encoder's to check."""
        value = self.raw(name)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(f"expected an integer, got {value!r}", name)
        return value

    def flag(self, name: str) -> bool:
        """``true`` or ``false``, nothing that merely looks like one."""
        value = self.raw(name)
        if not isinstance(value, bool):
            raise self.fail(f"expected true or false, got {value!r}", name)
        return value

    def member(self, name: str, enum_type: type[E]) -> E:
        """A member of ``enum_type`` by name (any case) or number."""
        value = self.raw(name)
        try:
            if isinstance(value, str):
                return enum_type[value.upper()]
            if isinstance(value, int) and not isinstance(value, bool):
                return enum_type(value)
        except (KeyError, ValueError):
            pass
        names = ", ".join(m.name for m in enum_type)
        raise self.fail(f"{value!r} is not one of {names}", name)

    def hex(self, name: str) -> bytes:
        """Bytes written as a hex string."""
        value = self.raw(name)
        if not isinstance(value, str):
            raise self.fail(f"expected a hex string, got {value!r}", name)
        try:
            return bytes.fromhex(value)
        except ValueError:
            raise self.fail(f"{value!r} is not hex", name) from None

    def done(self) -> None:
        """Refuse the first field (in sorted order) that no reader took."""
        unknown = sorted(set(self.values) - self.taken)
        if unknown:
            raise self.fail("unknown field", unknown[0])


class FieldProblem(Exception):
    """A rule broken by one named field; the caller knows where that field sits in its frame
    and turns this into a :class:`~oisa.errors.FrameError` with the right format and offset."""

    def __init__(self, field: str, reason: str):
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


def check_width(field: str, value: Any, bits: int) -> None:
    """``value`` must be a non-negative integer that fits in ``bits`` bits."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise FieldProblem(field, f"{value!r} is not an integer")
    if not 0 <= value < (1 << bits):
        raise FieldProblem(field, f"{value} does not fit in {bits} bits")


def require_keys(fields: Mapping[str, Any], expected: tuple[str, ...], what: str) -> None:
    """Exactly the ``expected`` keys: name the first missing or unknown one."""
    for name in fields:
        if name not in expected:
            raise FieldProblem(str(name), f"unknown field for {what} (expected {', '.join(expected)})")
    for name in expected:
        if name not in fields:
            raise FieldProblem(name, f"missing field for {what}")


def as_int(field: str, value: Any) -> int:
    """An integer from a field value, refusing booleans and strings that are not numbers."""
    if isinstance(value, str):
        try:
            return int(value, 0)
        except ValueError:
            raise FieldProblem(field, f"{value!r} is not an integer") from None
    if isinstance(value, bool) or not isinstance(value, int):
        raise FieldProblem(field, f"{value!r} is not an integer")
    return value


def as_bool(field: str, value: Any) -> bool:
    """A flag: ``True``/``False`` or ``1``/``0``."""
    if value in (True, False) and not isinstance(value, str):
        return bool(value)
    raise FieldProblem(field, f"{value!r} is not a flag (true/false or 1/0)")


def as_enum(field: str, value: Any, enum_type: Any) -> Any:
    """An enum member from a member, its value, or its name in any case."""
    if isinstance(value, str):
        member = enum_type.__members__.get(value.upper().replace("-", "_"))
        if member is None:
            raise FieldProblem(field, f"unknown name {value!r} (one of {', '.join(enum_type.__members__)})")
        return member
    number = as_int(field, value)
    if number not in enum_type._value2member_map_:
        raise FieldProblem(field, f"reserved or unknown encoding {number}")
    return enum_type(number)
