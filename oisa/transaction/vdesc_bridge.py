"""The VDESC <-> OISA bridge: a vendor descriptor becomes an OISA message and back, field by
field; whatever one side cannot say raises :class:`~oisa.errors.BridgeError` naming the field.

:data:`VDESC_ROWS` is the mapping as data (one row per descriptor type, plus the OISA opcodes
VDESC has no type for) and :func:`vdesc_bridge_markdown` renders it for ``specs/``. The
conversions read the rows (which opcode a type becomes, the reason each refusal gives) and the
tests walk them, so the table cannot claim what the code does not do.

VDESC was designed for this emulation (:mod:`oisa.wire.vdesc.descriptor`) to say OISA's things its own
way, so most of the work is translation rather than refusal:

* **Encodings.** Descriptor types, completion status, reduction operators and element types
  all have their own numbers; ``fence`` (ordered) is the inverse of OISA's ``ro`` (relaxed);
  the status of a response and the code of a notification are separate fields where OISA puts
  both in ``aux``.
* **Notifications.** OISA splits PCIe-style messages into MSG (no data) and MSG_D (data);
  VDESC has one NOTIFY whose length may be 0, so the length chooses the opcode.
* **Transaction ids.** VDESC's are 32 bits, OISA's tags 16: an id above 65535 cannot cross
  (the adapter's engine allocates ids below that, as a PCIe device limits its tags).
* **Element types.** VDESC reduces FP8, which OISA switches do not: such a contribution cannot
  cross and must be reduced by the cards.

Everything else has the same width and meaning on both sides, so the bridge needs no state:
unlike the PCIe and CXL bridges, VDESC responses carry everything an OISA response does
(address, telemetry), so nothing has to be remembered from the request.
"""

from __future__ import annotations

from oisa.transaction._bridge import FieldMap, Refusal, Row, Side, refuse, render_rows
from oisa.wire.oisa import CollDtype, CollExt, CollOp, Message, Opcode, Status, check_message
from oisa.wire.vdesc import ReduceDtype, ReduceExt, ReduceOp, Vdesc, VdescStatus, VdescType, check_vdesc

__all__ = [
    "DTYPE_MAP",
    "OP_MAP",
    "STATUS_MAP",
    "VDESC_ROWS",
    "message_to_vdesc",
    "vdesc_bridge_markdown",
    "vdesc_to_message",
]

_TAG_LIMIT = 1 << 16

# The encodings, VDESC value -> OISA value; each is one to one, and read both ways.
STATUS_MAP: dict[VdescStatus, Status] = {
    VdescStatus.OK: Status.SC, VdescStatus.UNSUPPORTED: Status.UR, VdescStatus.RETRY: Status.RRS,
    VdescStatus.ABORT: Status.CA,
}
OP_MAP: dict[ReduceOp, CollOp] = {
    ReduceOp.SUM: CollOp.SUM, ReduceOp.PROD: CollOp.PROD, ReduceOp.MIN: CollOp.MIN, ReduceOp.MAX: CollOp.MAX,
}
DTYPE_MAP: dict[ReduceDtype, CollDtype] = {
    ReduceDtype.F32: CollDtype.FLOAT32, ReduceDtype.F16: CollDtype.FLOAT16, ReduceDtype.BF16: CollDtype.BFLOAT16,
    ReduceDtype.F64: CollDtype.FLOAT64, ReduceDtype.I32: CollDtype.INT32, ReduceDtype.I64: CollDtype.INT64,
    ReduceDtype.I8: CollDtype.INT8, ReduceDtype.U8: CollDtype.UINT8,
}
_STATUS_BACK = {oisa: vdesc for vdesc, oisa in STATUS_MAP.items()}
_OP_BACK = {oisa: vdesc for vdesc, oisa in OP_MAP.items()}
_DTYPE_BACK = {oisa: vdesc for vdesc, oisa in DTYPE_MAP.items()}


# --- the table -------------------------------------------------------------------------------

_F, _O = Side.FOREIGN, Side.OISA
V = VdescType

_IDS = FieldMap(("src", "dst"), ("src", "dst"), "the same 16-bit device ids")
_TXN = FieldMap(("txn_id",), ("tag",), "the same number; VDESC's 32 bits must fit OISA's 16")
_PRIORITY = FieldMap(("priority",), ("tc",), "priority 0-7 is the traffic class")
_ORDER = FieldMap(("fence",), ("ro",), "inverted (`fence` = not `ro`): VDESC marks the ordered descriptors, OISA the "
                                       "relaxed messages")
_ATTRS = FieldMap(("id_order", "poison", "early_ack", "no_snoop"), ("ido", "ep", "ec", "ns"), "bit for bit")
_TELEMETRY = FieldMap(("congestion", "hops"), ("load", "hops"), "the same path telemetry")
_RANGE = FieldMap(("address", "length"), ("address", "length"), "the same byte address and length")
_DATA = FieldMap(("payload",), ("payload",), "byte for byte")
_STATUS = FieldMap(("status",), ("aux",), "through STATUS_MAP: OK = SC, UNSUPPORTED = UR, RETRY = RRS, ABORT = CA")
_CODE = FieldMap(("code",), ("aux",), "the same message code")
_MESSAGE_BYTES = FieldMap(("address",), ("address",), "the message-specific 57 bits, as they are")
_NO_DATA = FieldMap(("length",), ("length",), "0: no data")
_MESSAGE_DATA = FieldMap(("length", "payload"), ("length", "payload"), "the same length; the data byte for byte")
_REDUCE = FieldMap(("reduce.group", "reduce.members", "reduce.op", "reduce.dtype"),
                   ("coll.group", "coll.members", "coll.op", "coll.dtype"),
                   "group and members as they are; op through OP_MAP, dtype through DTYPE_MAP")

_BIG_TXN = Refusal(_F, "txn_id", "OISA tags have 16 bits: a transaction id above 65535 has no tag")
_FP8 = Refusal(_F, "reduce.dtype", "OISA switches reduce no 8-bit floating-point type: the cards must reduce FP8")

_COMMON = (_IDS, _TXN, _PRIORITY, _ORDER, _ATTRS, _TELEMETRY)
_WITH_DATA = (*_COMMON, _RANGE, _DATA)
_WITHOUT_DATA = (*_COMMON, _RANGE)

VDESC_ROWS: tuple[Row[VdescType], ...] = (
    Row("COPY_WRITE", (V.COPY_WRITE,), (Opcode.DMA_WR,), _WITH_DATA, (_BIG_TXN,)),
    Row("COPY_READ", (V.COPY_READ,), (Opcode.DMA_RD,), _WITHOUT_DATA, (_BIG_TXN,)),
    Row("POSTED_WRITE", (V.POSTED_WRITE,), (Opcode.MEM_WR,), _WITH_DATA, (_BIG_TXN,)),
    Row("READ", (V.READ,), (Opcode.MEM_RD,), _WITHOUT_DATA, (_BIG_TXN,)),
    Row("STORE", (V.STORE,), (Opcode.STORE,), _WITH_DATA, (_BIG_TXN,)),
    Row("LOAD", (V.LOAD,), (Opcode.LOAD,), _WITHOUT_DATA, (_BIG_TXN,)),
    Row("ATOMIC_ADD", (V.ATOMIC_ADD,), (Opcode.FETCH_ADD,), _WITH_DATA, (_BIG_TXN,)),
    Row("ATOMIC_SWAP", (V.ATOMIC_SWAP,), (Opcode.SWAP,), _WITH_DATA, (_BIG_TXN,)),
    Row("ATOMIC_CAS", (V.ATOMIC_CAS,), (Opcode.CAS,), _WITH_DATA, (_BIG_TXN,)),
    Row("NOTIFY, length 0", (V.NOTIFY,), (Opcode.MSG,), (*_COMMON, _CODE, _MESSAGE_BYTES, _NO_DATA), (_BIG_TXN,),
        "OISA has two message opcodes and VDESC one notification: its length says which"),
    Row("NOTIFY, length 1-4096", (V.NOTIFY,), (Opcode.MSG_D,), (*_COMMON, _CODE, _MESSAGE_BYTES, _MESSAGE_DATA),
        (_BIG_TXN,)),
    Row("REDUCE", (V.REDUCE,), (Opcode.COLL_REDUCE,), (*_WITH_DATA, _REDUCE), (_BIG_TXN, _FP8)),
    Row("WRITE_ACK", (V.WRITE_ACK,), (Opcode.CPL,), (*_WITHOUT_DATA, _STATUS), (_BIG_TXN,),
        "Also the error response of any request, as OISA's CPL is."),
    Row("READ_RESPONSE", (V.READ_RESPONSE,), (Opcode.CPL_D,), (*_WITH_DATA, _STATUS), (_BIG_TXN,)),
    Row("-", (), (Opcode.CXL_MEM_RD, Opcode.CXL_MEM_WR, Opcode.CXL_MEM_INV, Opcode.CXL_NDR, Opcode.CXL_DRS),
        refusals=(Refusal(_O, "opcode", "CXL.mem line transactions: VDESC has no coherent-memory descriptors (the "
                                        "CXL bridge converts them)"),)),
)
del V

_ROW_OF_KIND: dict[VdescType, Row[VdescType]] = {
    kind: row for row in VDESC_ROWS for kind in row.kinds if kind is not VdescType.NOTIFY
}
_ROW_OF_OPCODE: dict[Opcode, Row[VdescType]] = {opcode: row for row in VDESC_ROWS for opcode in row.opcodes}


def vdesc_bridge_markdown() -> str:
    """:data:`VDESC_ROWS` as a Markdown table, for ``specs/``."""
    return render_rows(VDESC_ROWS, "VDESC")


def _row_of(desc: Vdesc) -> Row[VdescType]:
    if desc.kind is VdescType.NOTIFY:
        return _ROW_OF_OPCODE[Opcode.MSG_D if desc.length else Opcode.MSG]
    return _ROW_OF_KIND[desc.kind]


# --- VDESC -> OISA ---------------------------------------------------------------------------

def vdesc_to_message(desc: Vdesc) -> Message:
    """The OISA message that says what ``desc`` says.

    Raises :class:`~oisa.errors.FrameError` if ``desc`` is malformed and
    :class:`~oisa.errors.BridgeError` naming the field if it cannot cross.
    """
    info = check_vdesc(desc)
    row = _row_of(desc)
    what = f"VDESC {info.kind.name}"
    if desc.txn_id >= _TAG_LIMIT:
        raise refuse(what, row, _F, "txn_id", str(desc.txn_id))
    coll = None
    if desc.reduce is not None:
        dtype = DTYPE_MAP.get(desc.reduce.dtype)
        if dtype is None:
            raise refuse(what, row, _F, "reduce.dtype", ReduceDtype(desc.reduce.dtype).name)
        coll = CollExt(desc.reduce.group, desc.reduce.members, OP_MAP[desc.reduce.op], dtype)
    if info.response:
        aux = int(STATUS_MAP[desc.status])
    else:
        aux = desc.code  # 0 but for NOTIFY
    return Message(row.opcodes[0], desc.src, desc.dst, tag=desc.txn_id, length=desc.length, address=desc.address,
                   payload=desc.payload, tc=desc.priority, ns=desc.no_snoop, ro=not desc.fence, ido=desc.id_order,
                   ep=desc.poison, ec=desc.early_ack, aux=aux, load=desc.congestion, hops=desc.hops, coll=coll)


# --- OISA -> VDESC ---------------------------------------------------------------------------

def message_to_vdesc(message: Message) -> Vdesc:
    """The VDESC descriptor that says what ``message`` says.

    Raises :class:`~oisa.errors.FrameError` if ``message`` is malformed and
    :class:`~oisa.errors.BridgeError` naming the opcode if VDESC has no descriptor for it.
    """
    check_message(message)
    opcode = Opcode(message.opcode)
    row = _ROW_OF_OPCODE[opcode]
    if not row.kinds:
        raise refuse(f"OISA {opcode.name}", row, _O, "opcode", opcode.name)
    kind = row.kinds[0]
    reduce = None
    if message.coll is not None:
        reduce = ReduceExt(message.coll.group, message.coll.members, _OP_BACK[CollOp(message.coll.op)],
                           _DTYPE_BACK[CollDtype(message.coll.dtype)])
    response = not message.info.is_request
    return Vdesc(kind, message.src, message.dst, txn_id=message.tag, length=message.length, address=message.address,
                 payload=message.payload, priority=message.tc, fence=not message.ro, id_order=message.ido,
                 poison=message.ep, early_ack=message.ec, no_snoop=message.ns,
                 status=_STATUS_BACK[Status(message.aux)] if response else VdescStatus.OK,
                 code=message.aux if kind is VdescType.NOTIFY else 0, congestion=message.load, hops=message.hops,
                 reduce=reduce)
