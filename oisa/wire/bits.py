"""Bit-numbering helpers shared by the CXL schemas.

CXL numbers the bits of a slot or flit from bit 0 of byte 0 upward, and puts the least
significant bit of a multi-bit field at the lower position (CXL spec §4.2.5, the packing rules
after the message-count limits). Construct's ``BitStruct`` reads the most significant bit of
byte 0 first, so every CXL layout here is a ``BitStruct`` over the byte-swapped bytes with its
fields listed from the highest bit down: that is exactly reading the little-endian integer from
its top. :func:`lsb_first` and :func:`le_bits` let the schemas be written in the spec's order
(bit 0 first) anyway, and :func:`lsb_field_table` turns construct's field table back into the
spec's bit positions.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import construct as c

from oisa.wire.schema import Field, field_table

__all__ = [
    "FieldProblem",
    "as_bool",
    "as_enum",
    "as_int",
    "check_width",
    "le_bits",
    "lsb_field_table",
    "lsb_first",
    "plain",
    "render_lsb_table",
    "require_keys",
]


class FieldProblem(Exception):
    """A rule broken by one named field; the caller knows where that field sits in its frame
    and turns this into a :class:`~oisa.errors.FrameError` with the right format and offset."""

    def __init__(self, field: str, reason: str):
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


def lsb_first(*fields: c.Construct) -> c.Struct:
    """A group of bit fields written from bit 0 upward, for use inside :func:`le_bits`."""
    return c.Struct(*reversed(fields))


def le_bits(*fields: c.Construct) -> c.Construct:
    """Whole bytes holding bit fields numbered from bit 0 of byte 0 upward (fields bit 0 first)."""
    return c.ByteSwapped(c.BitStruct(*reversed(fields)))


def lsb_field_table(schema: c.Construct) -> list[Field]:
    """The fields of an :func:`le_bits` schema or :func:`lsb_first` group, lowest bit first,
    with ``bit_offset`` in the spec's numbering (bit 0 = bit 0 of byte 0)."""
    if isinstance(schema, c.Struct):
        schema = c.Bitwise(schema)
    msb_first = field_table(schema)
    total = sum(f.bits for f in msb_first)
    return sorted((Field(f.name, total - f.bit_offset - f.bits, f.bits, f.doc) for f in msb_first),
                  key=lambda f: f.bit_offset)


def render_lsb_table(table: list[Field]) -> str:
    """A Markdown table in the spec's bit numbering, as ``specs/`` would show it."""
    lines = ["| bits | width | field | meaning |", "|---|---|---|---|"]
    for f in table:
        high = f.bit_offset + f.bits - 1
        bits = f"[{f.bit_offset}]" if f.bits == 1 else f"[{high}:{f.bit_offset}]"
        lines.append(f"| {bits} | {f.bits} | `{f.name}` | {f.doc} |")
    return "\n".join(lines) + "\n"


def plain(container: Mapping[str, Any]) -> dict[str, Any]:
    """A parsed construct container as a dict, nested groups included, without ``_io``."""
    return {k: plain(v) if isinstance(v, Mapping) else v for k, v in container.items() if k != "_io"}


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
