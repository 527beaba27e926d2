"""OISA messages, OISA flits and PCIe DLLPs as plain fields: what ``oisa decode`` prints and
``oisa encode`` reads.

Fields are named as the specification names them (``specs/``), in snake_case. Enumerated
fields print as their names and are read as a name or a number; byte strings print as hex.
Reading is strict: every field must be there, no unknown field may be, and each must be in
range, else :class:`~oisa.errors.FrameError` names the field. Encoding the fields of a decoded
frame gives back the same bytes.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any, TypeVar

from oisa.errors import FrameError
from oisa.wire.oisa.flit import AckKind, ControlCode, CreditReturn, Flit, FlitKind
from oisa.wire.oisa.message import CollExt, Message
from oisa.wire.oisa.opcodes import CollDtype, CollOp, FcClass, Opcode
from oisa.wire.pcie.dll import DLLP_TYPES, DLLP_LAYOUT_FIELDS, Dllp, DllpType

__all__ = [
    "dllp_from_fields",
    "dllp_to_fields",
    "flit_from_fields",
    "flit_to_fields",
    "message_from_fields",
    "message_to_fields",
]

E = TypeVar("E", bound=enum.Enum)

_MESSAGE_INTS = ("tc", "aux", "load", "hops", "src", "dst", "tag", "length", "address")
_MESSAGE_FLAGS = ("ns", "ro", "ido", "ep", "ec")
_COLL = ("group", "members", "op", "dtype")


class _Reader:
    """Takes fields out of a mapping, each checked, and refuses leftovers."""

    def __init__(self, values: Mapping[str, Any], fmt: str, where: str = "") -> None:
        if not isinstance(values, Mapping):
            raise FrameError(f"expected an object of fields, got {type(values).__name__}", fmt=fmt, field=where or None)
        self.values, self.fmt, self.where = values, fmt, where
        self.taken: set[str] = set()

    def _name(self, name: str) -> str:
        return f"{self.where}.{name}" if self.where else name

    def fail(self, message: str, name: str) -> FrameError:
        return FrameError(message, fmt=self.fmt, field=self._name(name))

    def raw(self, name: str) -> Any:
        if name not in self.values:
            raise self.fail("missing", name)
        self.taken.add(name)
        return self.values[name]

    def integer(self, name: str) -> int:
        value = self.raw(name)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(f"expected an integer, got {value!r}", name)
        return value

    def flag(self, name: str) -> bool:
        value = self.raw(name)
        if not isinstance(value, bool):
            raise self.fail(f"expected true or false, got {value!r}", name)
        return value

    def member(self, name: str, enum_type: type[E]) -> E:
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
        value = self.raw(name)
        if not isinstance(value, str):
            raise self.fail(f"expected a hex string, got {value!r}", name)
        try:
            return bytes.fromhex(value)
        except ValueError:
            raise self.fail(f"{value!r} is not hex", name) from None

    def done(self) -> None:
        unknown = sorted(set(self.values) - self.taken)
        if unknown:
            raise self.fail("unknown field", unknown[0])


# -- OISA messages ------------------------------------------------------------------------------

def message_to_fields(m: Message) -> dict[str, Any]:
    out: dict[str, Any] = {"opcode": Opcode(m.opcode).name}
    out.update({name: getattr(m, name) for name in _MESSAGE_INTS})
    out.update({name: getattr(m, name) for name in _MESSAGE_FLAGS})
    out["payload"] = m.payload.hex()
    if m.coll is not None:
        out.update(group=m.coll.group, members=m.coll.members, op=CollOp(m.coll.op).name,
                   dtype=CollDtype(m.coll.dtype).name)
    return out


def message_from_fields(values: Mapping[str, Any]) -> Message:
    read = _Reader(values, "oisa-msg")
    opcode = read.member("opcode", Opcode)
    ints = {name: read.integer(name) for name in _MESSAGE_INTS}
    flags = {name: read.flag(name) for name in _MESSAGE_FLAGS}
    payload = read.hex("payload")
    coll = None
    if opcode is Opcode.COLL_REDUCE:
        coll = CollExt(read.integer("group"), read.integer("members"), read.member("op", CollOp),
                       read.member("dtype", CollDtype))
    read.done()
    return Message(opcode, payload=payload, coll=coll, **ints, **flags)


# -- OISA flits ---------------------------------------------------------------------------------

def _credit_fields(credit: CreditReturn) -> dict[str, Any]:
    return {"vc": credit.vc, "fc_class": FcClass(credit.fc_class).name, "hdr": credit.hdr, "data": credit.data}


def _credit_from(values: Any, where: str) -> CreditReturn:
    read = _Reader(values, "oisa-flit", where)
    credit = CreditReturn(read.integer("vc"), read.member("fc_class", FcClass), read.integer("hdr"),
                          read.integer("data"))
    read.done()
    return credit


def flit_to_fields(flit: Flit) -> dict[str, Any]:
    return {
        "kind": flit.kind.name, "code": flit.code.name, "seq": flit.seq, "ack_kind": flit.ack_kind.name,
        "ack_seq": flit.ack_seq, "credit": None if flit.credit is None else _credit_fields(flit.credit),
        "first_msg": flit.first_msg, "payload": flit.payload.hex(),
        "entries": [_credit_fields(e) for e in flit.entries],
    }


def flit_from_fields(values: Mapping[str, Any]) -> Flit:
    read = _Reader(values, "oisa-flit")
    kind = read.member("kind", FlitKind)
    code = read.member("code", ControlCode)
    seq = read.integer("seq")
    ack_kind = read.member("ack_kind", AckKind)
    ack_seq = read.integer("ack_seq")
    raw_credit = read.raw("credit")
    credit = None if raw_credit is None else _credit_from(raw_credit, "credit")
    first = read.integer("first_msg")
    payload = read.hex("payload")
    raw_entries = read.raw("entries")
    if not isinstance(raw_entries, list):
        raise read.fail("expected a list", "entries")
    entries = [_credit_from(e, f"entries[{i}]") for i, e in enumerate(raw_entries)]
    read.done()
    return Flit(kind, code, seq, ack_kind, ack_seq, credit, first, payload, entries)


# -- PCIe DLLPs ---------------------------------------------------------------------------------

def dllp_to_fields(d: Dllp) -> dict[str, Any]:
    """The DLLP's type and the fields its layout has."""
    out: dict[str, Any] = {"kind": DllpType(d.kind).name}
    out.update({name: getattr(d, name) for name in DLLP_LAYOUT_FIELDS[d.info.layout]})
    return out


def dllp_from_fields(values: Mapping[str, Any]) -> Dllp:
    read = _Reader(values, "pcie-dllp")
    kind = read.member("kind", DllpType)
    names = DLLP_LAYOUT_FIELDS[DLLP_TYPES[kind].layout]
    own = {name: (read.flag(name) if name == "feature_ack" else read.integer(name)) for name in names}
    read.done()
    return Dllp(kind, **own)
