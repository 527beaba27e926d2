"""The OISA family: the transaction-layer messages and link-layer flits oisa's own links carry.

What it owns:

* :mod:`~oisa.wire.oisa.opcodes`: the opcode table (what each message is, its flow-control class,
  its legal lengths), read by both codecs and by the transaction layer;
* :mod:`~oisa.wire.oisa.message` and :mod:`~oisa.wire.oisa.flit`: the construct schemas, which
  are the normative layouts (``specs/oisa-protocol.md`` renders its tables from them), and the
  in-memory forms :class:`Message` and :class:`Flit`; the flit CRC is :func:`oisa.wire.crc.crc32`;
* :mod:`~oisa.wire.oisa.codec`: the fast codec every emulated frame goes through, ``struct`` and
  ``zlib``, held equal to the schemas by the tests;
* :mod:`~oisa.wire.oisa.fields`: messages and flits as plain fields, for ``oisa decode`` and
  ``oisa encode``.

What it must not know: PCIe, CXL and VDESC (the bridges of :mod:`oisa.transaction` translate),
sequence numbers and credits as state (the link layer's), time, and trio. Its flow-control
classes are :class:`~oisa.wire.fc_class.FcClass`, shared with PCIe and re-exported here.
"""

from oisa.wire.fc_class import FcClass
from oisa.wire.oisa.codec import (
    decode_flit,
    decode_message,
    decode_messages,
    encode_data_flit,
    encode_flit,
    encode_message,
)
from oisa.wire.oisa.fields import flit_from_fields, flit_to_fields, message_from_fields, message_to_fields
from oisa.wire.oisa.flit import (
    CONTROL_MEANING,
    CREDIT_ENTRY,
    CREDIT_ENTRY_SIZE,
    FLIT_HEADER,
    FLIT_HEADER_SIZE,
    FLIT_OVERHEAD,
    NO_MESSAGE_START,
    SEQ_MODULUS,
    AckKind,
    ControlCode,
    CreditReturn,
    Flit,
    FlitKind,
    build_flit,
    check_flit,
    check_flit_size,
    check_frame_length,
    decode_flit_construct,
    encode_flit_construct,
    flit_schema,
)
from oisa.wire.oisa.message import (
    ADDRESS_BITS,
    COLL_EXT,
    COLL_EXT_SIZE,
    HEADER,
    HEADER_SIZE,
    MESSAGE,
    CollExt,
    Message,
    build_message,
    check_message,
    decode_message_construct,
    encode_message_construct,
    message_size,
)
from oisa.wire.oisa.opcodes import (
    OPCODES,
    STATUS_MEANING,
    CollDtype,
    CollOp,
    CxlDrsOp,
    CxlNdrOp,
    Opcode,
    OpcodeInfo,
    Status,
)

__all__ = [
    "ADDRESS_BITS",
    "COLL_EXT",
    "COLL_EXT_SIZE",
    "CONTROL_MEANING",
    "CREDIT_ENTRY",
    "CREDIT_ENTRY_SIZE",
    "FLIT_HEADER",
    "FLIT_HEADER_SIZE",
    "FLIT_OVERHEAD",
    "HEADER",
    "HEADER_SIZE",
    "MESSAGE",
    "NO_MESSAGE_START",
    "OPCODES",
    "SEQ_MODULUS",
    "STATUS_MEANING",
    "AckKind",
    "CollDtype",
    "CollExt",
    "CollOp",
    "ControlCode",
    "CreditReturn",
    "CxlDrsOp",
    "CxlNdrOp",
    "FcClass",
    "Flit",
    "FlitKind",
    "Message",
    "Opcode",
    "OpcodeInfo",
    "Status",
    "build_flit",
    "build_message",
    "check_flit",
    "check_flit_size",
    "check_frame_length",
    "check_message",
    "decode_flit",
    "decode_flit_construct",
    "decode_message",
    "decode_message_construct",
    "decode_messages",
    "encode_data_flit",
    "encode_flit",
    "encode_flit_construct",
    "encode_message",
    "encode_message_construct",
    "flit_from_fields",
    "flit_schema",
    "flit_to_fields",
    "message_from_fields",
    "message_size",
    "message_to_fields",
]
