"""Byte layouts, sans-IO: the construct schemas (normative), the fast codec the emulation runs
on, and the CRCs.

``Message`` is an OISA transaction-layer message and ``Flit`` a link-layer flit. The construct
schemas in :mod:`oisa.wire.message` and :mod:`oisa.wire.flit` define their bytes;
:mod:`oisa.wire.codec` encodes and decodes the same bytes quickly.
"""

from oisa.wire.codec import decode_flit, decode_message, decode_messages, encode_flit, encode_message
from oisa.wire.flit import AckKind, ControlCode, CreditReturn, Flit, FlitKind
from oisa.wire.message import CollExt, Message
from oisa.wire.opcodes import OPCODES, CollDtype, CollOp, FcClass, Opcode, OpcodeInfo, Status

__all__ = [
    "OPCODES",
    "AckKind",
    "CollDtype",
    "CollExt",
    "CollOp",
    "ControlCode",
    "CreditReturn",
    "FcClass",
    "Flit",
    "FlitKind",
    "Message",
    "Opcode",
    "OpcodeInfo",
    "Status",
    "decode_flit",
    "decode_message",
    "decode_messages",
    "encode_flit",
    "encode_message",
]
