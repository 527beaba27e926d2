"""TLPs and DLLPs as plain fields, for ``oisa decode --format pcie-tlp``/``pcie-dllp`` and
``oisa encode``.

:func:`tlp_to_fields` names every field a kind has, in wire order, with plain JSON-able
values: integers (ids as 16-bit integers, ``tag`` as the 10-bit tag, ``length`` in double
words, ``byte_count`` in bytes), booleans for the one-bit flags, and hex strings for
``message_data`` and ``data``. It also gives ``kind`` (the :class:`~oisa.wire.pcie.tlp.TlpType`
name), for people; ``fmt`` and ``type`` are what define the kind. The ECRC is not a field: the
encoder computes it whenever ``td`` is true.

:func:`tlp_from_fields` is the inverse and is strict, so that encode-then-decode gives back
the same fields: every field of the kind must be present, no other field may be, and each
value must have the right type and range; anything else is a
:class:`~oisa.errors.FrameError` naming the field.

:func:`dllp_to_fields` gives a DLLP's ``kind`` and the fields its layout has;
:func:`dllp_from_fields` reads them back as strictly.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from oisa.errors import FrameError
from oisa.wire.pcie.dll import DLLP_LAYOUT_FIELDS, DLLP_TYPES, Dllp, DllpType
from oisa.wire.pcie.tlp import FMT, Tlp, check_tlp, tlp_fields, tlp_info_of_byte0
from oisa.wire.plain_fields import FieldReader

__all__ = ["dllp_from_fields", "dllp_to_fields", "tlp_from_fields", "tlp_to_fields"]

_FLAGS = frozenset({"ln", "th", "td", "ep", "bcm"})
_HEX = {"message_data": 8}


def tlp_to_fields(t: Tlp) -> dict[str, Any]:
    """The fields of a valid ``t``, named as the specification and :class:`Tlp` name them."""
    info = check_tlp(t)
    out: dict[str, Any] = {"kind": info.kind.name, "fmt": info.fmt, "type": info.type | t.routing}
    for name in tlp_fields(info):
        value = getattr(t, name)
        out[name] = value.hex() if name in _HEX else bool(value) if name in _FLAGS else int(value)
    if info.has_data:
        out["data"] = t.data.hex()
    return out


def _error(message: str, name: str | None) -> FrameError:
    return FrameError(message, fmt=FMT, field=name)


def _integer(fields: Mapping[str, Any], name: str) -> int:
    value = fields[name]
    if isinstance(value, bool) or not isinstance(value, int):
        raise _error(f"{value!r} is not an integer", name)
    return value


def _flag(fields: Mapping[str, Any], name: str) -> bool:
    value = fields[name]
    if value not in (0, 1) or not isinstance(value, int):
        raise _error(f"{value!r} is not a boolean", name)
    return bool(value)


def _hex(fields: Mapping[str, Any], name: str) -> bytes:
    value = fields[name]
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    if not isinstance(value, str):
        raise _error(f"{value!r} is not a hex string", name)
    try:
        return bytes.fromhex(value)
    except ValueError:
        raise _error(f"{value!r} is not a hex string", name) from None


def tlp_from_fields(fields: Mapping[str, Any]) -> Tlp:
    """The :class:`Tlp` that ``fields`` describe (as :func:`tlp_to_fields` writes them)."""
    if not isinstance(fields, Mapping):
        raise _error(f"expected a mapping of field names to values, not {type(fields).__name__}", None)
    for name in ("fmt", "type"):
        if name not in fields:
            raise _error("missing field", name)
    fmt, type_ = _integer(fields, "fmt"), _integer(fields, "type")
    if not 0 <= fmt < 8:
        raise _error(f"{fmt} does not fit in 3 bits", "fmt")
    if not 0 <= type_ < 32:
        raise _error(f"{type_} does not fit in 5 bits", "type")
    info = tlp_info_of_byte0(fmt << 5 | type_)
    if "kind" in fields and fields["kind"] != info.kind.name:
        raise _error(f"{fields['kind']!r} disagrees with fmt and type, which say {info.kind.name}", "kind")
    names = tlp_fields(info) + (("data",) if info.has_data else ())
    allowed = {"kind", "fmt", "type", *names}
    unknown = sorted(set(fields) - allowed)
    if unknown:
        raise _error(f"{info.kind.name} has no such field (it has {', '.join(names)})", unknown[0])
    missing = [name for name in names if name not in fields]
    if missing:
        raise _error(f"missing field of {info.kind.name}", missing[0])
    values: dict[str, Any] = {}
    for name in names:
        if name in _FLAGS:
            values[name] = _flag(fields, name)
        elif name in _HEX or name == "data":
            values[name] = _hex(fields, name)
        else:
            values[name] = _integer(fields, name)
    if "routing" in values and values["routing"] != type_ & 7:
        raise _error(f"routing {values['routing']} disagrees with type {type_:#x}", "routing")
    tlp = Tlp(info.kind, **values)
    check_tlp(tlp)
    return tlp


# -- DLLPs ------------------------------------------------------------------------------------

def dllp_to_fields(d: Dllp) -> dict[str, Any]:
    """The DLLP's type and the fields its layout has."""
    out: dict[str, Any] = {"kind": DllpType(d.kind).name}
    out.update({name: getattr(d, name) for name in DLLP_LAYOUT_FIELDS[d.info.layout]})
    return out


def dllp_from_fields(values: Mapping[str, Any]) -> Dllp:
    """The :class:`~oisa.wire.pcie.dll.Dllp` that ``values`` describe (as :func:`dllp_to_fields` writes them)."""
    read = FieldReader(values, "pcie-dllp")
    kind = read.member("kind", DllpType)
    names = DLLP_LAYOUT_FIELDS[DLLP_TYPES[kind].layout]
    own: dict[str, Any] = {name: (read.flag(name) if name == "feature_ack" else read.integer(name)) for name in names}
    read.done()
    return Dllp(kind, **own)
