"""Shared machinery for the construct schemas: field tables read off a schema, and parsing that
turns every construct failure into a :class:`~oisa.errors.FrameError` naming field and offset.

The field tables in ``specs/`` are rendered from :func:`field_table`, so the schema stays the
single definition of every layout. Every protocol family builds on this module; it knows
construct and :mod:`oisa.errors`, and no family's layouts.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import construct as c

from oisa.errors import CrcError, FrameError

__all__ = ["Field", "field_at", "field_from_path", "field_table", "parse_exact", "plain", "render_table"]


@dataclass(frozen=True)
class Field:
    """One field of a fixed layout: where it sits, how wide it is, what it means."""

    name: str
    bit_offset: int
    bits: int
    doc: str

    @property
    def offset(self) -> int:
        """Byte offset of the field's first bit."""
        return self.bit_offset // 8

    @property
    def position(self) -> str:
        """Human position: ``"4"`` for a whole byte, ``"4-5"`` for bytes, ``"1[7:5]"`` for bits.

        Bits are numbered within the bytes they span, read as one big-endian number: 7 is the
        most significant bit of a single byte (the first on the wire), 15 of a two-byte group.
        """
        first = self.offset
        last = (self.bit_offset + self.bits - 1) // 8
        span = f"{first}" if first == last else f"{first}-{last}"
        if self.bit_offset % 8 == 0 and self.bits % 8 == 0:
            return span
        high = (last - first + 1) * 8 - 1 - (self.bit_offset - first * 8)
        low = high - self.bits + 1
        return f"{span}[{high}]" if high == low else f"{span}[{high}:{low}]"


def _unwrap(con: c.Construct) -> tuple[c.Construct, str]:
    """Strip Renamed layers (construct puts the docstring on one of them)."""
    doc = ""
    while isinstance(con, c.Renamed):
        doc = doc or (con.docs or "")
        con = con.subcon
    return con, doc


def field_table(schema: c.Construct, *, prefix: str = "") -> list[Field]:
    """The fixed-size fields of a Struct or BitStruct, in wire order, with bit offsets.

    Nested structs are flattened with dotted names. Fields whose size depends on the data
    (payloads) end the table; they are documented in prose next to it.
    """
    fields: list[Field] = []
    _walk(schema, prefix, 0, 8, fields)
    return fields


def _walk(schema: c.Construct, prefix: str, bit_offset: int, unit: int, out: list[Field]) -> int:
    schema, _ = _unwrap(schema)
    if isinstance(schema, c.Transformed):  # BitStruct: inside it one "byte" is one bit
        inner, _ = _unwrap(schema.subcon)
        return _walk(inner, prefix, bit_offset, 1, out)
    if not isinstance(schema, c.Struct):
        raise TypeError(f"cannot tabulate {schema!r}")
    for sub in schema.subcons:
        name = sub.name
        inner, doc = _unwrap(sub)
        if isinstance(inner, (c.Struct, c.Transformed)):
            bit_offset = _walk(inner, f"{prefix}{name}.", bit_offset, unit, out)
            continue
        try:
            width = inner.sizeof() * unit
        except c.SizeofError:
            break
        out.append(Field(f"{prefix}{name}", bit_offset, width, doc))
        bit_offset += width
    return bit_offset


def field_at(table: list[Field], byte_offset: int) -> str | None:
    """Name of the field that covers ``byte_offset`` (where a truncated frame stops)."""
    for field in table:
        if field.bit_offset <= byte_offset * 8 < field.bit_offset + field.bits:
            return field.name
    return None


def render_table(table: list[Field]) -> str:
    """A Markdown table of a layout, as it appears in ``specs/``."""
    lines = ["| bytes | bits | field | meaning |", "|---|---|---|---|"]
    for field in table:
        lines.append(f"| {field.position} | {field.bits} | `{field.name}` | {field.doc} |")
    return "\n".join(lines) + "\n"


def parse_exact(schema: c.Construct, data: bytes, fmt: str, **context: Any) -> Any:
    """Parse ``data`` as exactly one ``schema``: too short, too long and bad CRC all raise.

    Construct reports where it stopped as a path of field names; we keep the last name and,
    when the stream ran out, the number of bytes that were there.
    """
    stream = io.BytesIO(data)
    try:
        value = schema.parse_stream(stream, **context)
    except c.ChecksumError as exc:
        raise CrcError("CRC does not match the frame's contents", fmt=fmt, field="crc",
                       offset=len(data) - _crc_size(schema)) from exc
    except c.StreamError as exc:
        raise FrameError(f"truncated: {len(data)} bytes is too short", fmt=fmt,
                         field=field_from_path(exc), offset=len(data)) from exc
    except c.ConstructError as exc:
        raise FrameError(str(exc).splitlines()[-1], fmt=fmt, field=field_from_path(exc)) from exc
    consumed = stream.tell()
    if consumed != len(data):
        raise FrameError(f"{len(data) - consumed} bytes after the end of the frame", fmt=fmt,
                         offset=consumed)
    return value


def _crc_size(schema: c.Construct) -> int:
    schema, _ = _unwrap(schema)
    if isinstance(schema, c.Struct):
        for sub in schema.subcons:
            inner, _ = _unwrap(sub)
            if isinstance(inner, c.Checksum):
                return int(inner.checksumfield.sizeof())
    return 0


def field_from_path(exc: c.ConstructError) -> str | None:
    path = getattr(exc, "path", None) or ""
    names = [part.strip() for part in path.replace("(parsing)", "").split("->") if part.strip()]
    return names[-1] if names else None


def plain(container: Mapping[str, Any]) -> dict[str, Any]:
    """A parsed construct container as a dict, nested groups included, without ``_io``."""
    return {k: plain(v) if isinstance(v, Mapping) else v for k, v in container.items() if k != "_io"}
