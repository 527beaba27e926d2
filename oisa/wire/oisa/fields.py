"""OISA messages and flits as plain fields: what ``oisa decode`` prints and ``oisa encode`` reads.

Fields are named as the specification names them (``specs/``), in snake_case. Enumerated
fields print as their names and are read as a name or a number; byte strings print as hex.
Reading is strict: every field must be there, no unknown field may be, and each must be in
range, else :class:`~oisa.errors.FrameError` names the field. Encoding the fields of a decoded
frame gives back the same bytes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from oisa.wire.fc_class import FcClass
from oisa.wire.oisa.flit import AckKind, ControlCode, CreditReturn, Flit, FlitKind
from oisa.wire.oisa.message import CollExt, Message
from oisa.wire.oisa.opcodes import CollDtype, CollOp, Opcode
from oisa.wire.plain_fields import FieldReader

__all__ = [
    "flit_from_fields",
    "flit_to_fields",
    "message_from_fields",
    "message_to_fields",
]

_MESSAGE_INTS = ("tc", "aux", "load", "hops", "src", "dst", "tag", "length", "address")
_MESSAGE_FLAGS = ("ns", "ro", "ido", "ep", "ec")


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
    read = FieldReader(values, "oisa-msg")
    opcode = read.member("opcode", Opcode)
    ints = {name: read.integer(name) for name in _MESSAGE_INTS}
    flags = {name: read.flag(name) for name in _MESSAGE_FLAGS}
    payload = read.hex("payload")
    coll = None
    if opcode is Opcode.COLL_REDUCE:
        coll = CollExt(read.integer("group"), read.integer("members"), read.member("op", CollOp),
                       read.member("dtype", CollDtype))
    read.done()
    named: dict[str, Any] = {**ints, **flags}
    return Message(opcode, payload=payload, coll=coll, **named)


# -- OISA flits ---------------------------------------------------------------------------------

def _credit_fields(credit: CreditReturn) -> dict[str, Any]:
    return {"vc": credit.vc, "fc_class": FcClass(credit.fc_class).name, "hdr": credit.hdr, "data": credit.data}


def _credit_from(values: Any, where: str) -> CreditReturn:
    read = FieldReader(values, "oisa-flit", where)
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
    read = FieldReader(values, "oisa-flit")
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
