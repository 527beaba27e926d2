"""The VDESC family: the descriptor format of oisa's emulated vendor-proprietary GPU.

What it owns, all in :mod:`~oisa.wire.vdesc.descriptor`: the construct schemas (normative;
``specs/vdesc.md`` renders its tables from them), the in-memory :class:`Vdesc`, the rules both
codecs apply, the fast codec (:func:`encode_vdesc`, :func:`decode_vdesc`) held equal to the
schemas by the tests, and the plain fields for ``oisa decode``/``oisa encode``. Its CRC is the
standard CRC-32C of :mod:`oisa.wire.crc32c`.

What it must not know: OISA (:mod:`oisa.transaction.vdesc_bridge` translates; VDESC says OISA's
things in its own way on purpose), PCIe and CXL, time, and trio.
"""

from oisa.wire.vdesc.descriptor import (
    ADDRESS_BITS,
    CRC_SIZE,
    HEADER,
    HEADER_FIELDS,
    HEADER_SIZE,
    MAGIC,
    MAX_LENGTH,
    REDUCE_EXT,
    REDUCE_EXT_SIZE,
    REDUCE_FIELDS,
    VDESC,
    VDESC_TYPES,
    VERSION,
    ReduceDtype,
    ReduceExt,
    ReduceOp,
    Vdesc,
    VdescStatus,
    VdescType,
    VdescTypeInfo,
    build_vdesc,
    check_vdesc,
    decode_vdesc,
    decode_vdesc_construct,
    encode_vdesc,
    encode_vdesc_construct,
    vdesc_from_fields,
    vdesc_tables,
    vdesc_to_fields,
)

__all__ = [
    "ADDRESS_BITS",
    "CRC_SIZE",
    "HEADER",
    "HEADER_FIELDS",
    "HEADER_SIZE",
    "MAGIC",
    "MAX_LENGTH",
    "REDUCE_EXT",
    "REDUCE_EXT_SIZE",
    "REDUCE_FIELDS",
    "VDESC",
    "VDESC_TYPES",
    "VERSION",
    "ReduceDtype",
    "ReduceExt",
    "ReduceOp",
    "Vdesc",
    "VdescStatus",
    "VdescType",
    "VdescTypeInfo",
    "build_vdesc",
    "check_vdesc",
    "decode_vdesc",
    "decode_vdesc_construct",
    "encode_vdesc",
    "encode_vdesc_construct",
    "vdesc_from_fields",
    "vdesc_tables",
    "vdesc_to_fields",
]
