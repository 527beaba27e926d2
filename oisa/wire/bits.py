"""Layouts whose bits are numbered from bit 0 of byte 0 upward, as CXL and VDESC number them.

CXL numbers the bits of a slot or flit from bit 0 of byte 0 upward, and puts the least
significant bit of a multi-bit field at the lower position (CXL spec §4.2.5, the packing rules
after the message-count limits). Construct's ``BitStruct`` reads the most significant bit of
byte 0 first, so every CXL layout here is a ``BitStruct`` over the byte-swapped bytes with its
fields listed from the highest bit down: that is exactly reading the little-endian integer from
its top. :func:`lsb_first` and :func:`le_bits` let the schemas be written in the spec's order
(bit 0 first) anyway, and :func:`lsb_field_table` turns construct's field table back into the
spec's bit positions, which :func:`render_lsb_table` renders for ``specs/``.

Shared by the protocol families (CXL, VDESC); it knows construct and :mod:`oisa.wire.schema`,
and no family's layouts.
"""

from __future__ import annotations

import construct as c

from oisa.wire.schema import Field, field_table

__all__ = ["le_bits", "lsb_field_table", "lsb_first", "render_lsb_table"]


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
