"""The fast codec: the same bytes as the construct schemas, with ``struct`` and ``zlib``.

Construct is the definition; this is what the emulation runs on every frame. The two are held
equal by differential property tests (``tests/wire/test_message.py``, ``test_flit.py``): for every
generated message and flit both encode to the same bytes, and for every mutated byte string
both decode to the same fields or both raise :class:`~oisa.errors.FrameError`. The rules
themselves (legal opcodes, lengths, reserved bits) live once, in :func:`build_message` and
:func:`build_flit`, which both codecs call.
"""

from __future__ import annotations

import functools
import struct
import zlib

from oisa.errors import CrcError, FrameError
from oisa.wire.fc_class import FcClass
from oisa.wire.oisa.flit import (
    CREDIT_ENTRY_SIZE,
    FLIT_CRC_SIZE,
    FLIT_HEADER_SIZE,
    FLIT_OVERHEAD,
    NO_MESSAGE_START,
    AckKind,
    ControlCode,
    CreditReturn,
    Flit,
    FlitKind,
    build_flit,
    check_flit,
    check_frame_length,
)
from oisa.wire.oisa.message import (
    COLL_EXT_SIZE,
    HEADER_FIELDS,
    HEADER_SIZE,
    Message,
    build_message,
    check_message,
)
from oisa.wire.oisa.opcodes import OPCODES, Opcode
from oisa.wire.schema import field_at

__all__ = ["decode_flit", "decode_message", "decode_messages", "encode_data_flit", "encode_flit", "encode_message"]

_MSG_HEADER = struct.Struct(">BBBBHHHHQ")
_COLL = struct.Struct(">HHBBH")
_FLIT_HEADER = struct.Struct(">BBHHHHHHH")
_CRC = struct.Struct(">I")
_ENTRY = struct.Struct(">IH")
_ADDRESS_MASK = (1 << 57) - 1
# The flags and telemetry bytes, decoded once for every value they can take.
_FLAGS = tuple((b >> 5, bool(b & 16), bool(b & 8), bool(b & 4), bool(b & 2), bool(b & 1)) for b in range(256))
_TELEMETRY = tuple((b >> 5, b & 31) for b in range(256))


@functools.cache
def _payload_sizes(lengths: range | tuple[int, ...], has_payload: bool) -> dict[int, int]:
    """Every legal ``length`` of an opcode mapped to the payload bytes that must follow it: one
    lookup answers both "is this length legal" and "is the payload the right size". Opcodes
    with the same rule share one table."""
    return {n: n if has_payload else 0 for n in lengths}


# The opcode table's rules in the shapes the hot paths test fastest. A collective carries an
# extension and goes the checked way in both directions, so it has no entry here.
_RULES = {op: (_payload_sizes(info.lengths, info.has_payload).get, frozenset(info.aux_values))
          for op, info in OPCODES.items() if op is not Opcode.COLL_REDUCE}
# Encoding looks up the message's Opcode member, decoding the byte it read: each table is keyed
# the way it is asked, which spares an enum-to-int comparison on every lookup. Both keep bound
# ``get`` methods, which saves two method lookups per message.
_encode_rules_of = _RULES.get
_decode_rules_of = {int(op): (size_of, aux_values, Opcode(op)) for op, (size_of, aux_values) in _RULES.items()}.get
_new_message = object.__new__


def encode_message(m: Message) -> bytes:
    rules = _encode_rules_of(m.opcode)
    ns, ro, ido, ep, ec = m.ns, m.ro, m.ido, m.ep, m.ec
    length, payload, hops, coll = m.length, m.payload, m.hops, m.coll
    # The common case passes in one test; anything unusual (a collective, a value out of
    # range) goes through check_message, which applies every rule and names the field. Fields
    # that fill their bytes need no test here, nor do tc and load: struct refuses a value that
    # overflows its byte.
    if (rules is None or coll is not None or m.count != 1 or (ns | ro | ido | ep | ec) >> 1 or hops >> 5
            or m.address >> 57 or m.aux not in rules[1] or len(payload) != rules[0](length, -1)):
        check_message(m)
    try:
        head = _MSG_HEADER.pack(m.opcode, m.tc << 5 | ns << 4 | ro << 3 | ido << 2 | ep << 1 | ec, m.aux,
                                m.load << 5 | hops, m.src, m.dst, m.tag, length, m.address)
    except struct.error:
        check_message(m)  # names the field that does not fit
        raise
    if coll is not None:
        head += _COLL.pack(coll.group, coll.members, coll.op, coll.dtype, 0)
    return head + payload


def decode_message(buf: bytes | bytearray | memoryview, offset: int = 0) -> tuple[Message, int]:
    """Decode the message starting at ``offset``; return it and the offset just after it."""
    try:
        opcode, flags, aux, tele, src, dst, tag, length, address = _MSG_HEADER.unpack_from(buf, offset)
    except struct.error:
        available = len(buf) - offset
        raise FrameError(f"truncated: {available} bytes is shorter than the {HEADER_SIZE}-byte header",
                         fmt="oisa-msg", field=field_at(HEADER_FIELDS, available), offset=available) from None
    rules = _decode_rules_of(opcode)
    if rules is None:
        return _decode_checked(buf, offset)
    size = rules[0](length)
    if size is None or address >> 57 or aux not in rules[1]:
        return _decode_checked(buf, offset)
    position = offset + HEADER_SIZE
    end = position + size
    payload = buf[position:end]
    if len(payload) != size:
        raise FrameError(f"truncated: {len(buf) - offset} bytes is too short", fmt="oisa-msg", field="payload",
                         offset=len(buf) - offset)
    if type(payload) is not bytes:
        payload = bytes(payload)
    # Slot by slot rather than through Message(...): passing eighteen arguments to the
    # dataclass's __init__ costs more than everything else this function does. The
    # differential tests compare every field of what comes out, so a field added to Message
    # and forgotten here fails them.
    m = _new_message(Message)
    m.opcode = rules[2]
    m.src = src
    m.dst = dst
    m.tag = tag
    m.length = length
    m.address = address
    m.payload = payload
    m.tc, m.ns, m.ro, m.ido, m.ep, m.ec = _FLAGS[flags]
    m.aux = aux
    m.load, m.hops = _TELEMETRY[tele]
    m.coll = None
    m.count = 1
    return m, end


def _decode_checked(buf: bytes | bytearray | memoryview, offset: int) -> tuple[Message, int]:
    """The slow path: every rule, through build_message, for collectives and bad frames."""
    opcode, flags, aux, tele, src, dst, tag, length, address = _MSG_HEADER.unpack_from(buf, offset)
    header = dict(opcode=opcode, tc=flags >> 5, ns=bool(flags & 16), ro=bool(flags & 8), ido=bool(flags & 4),
                  ep=bool(flags & 2), ec=bool(flags & 1), aux=aux, load=tele >> 5, hops=tele & 31, src=src,
                  dst=dst, tag=tag, length=length, reserved=address >> 57, address=address & _ADDRESS_MASK)
    info = OPCODES.get(opcode)
    if info is None:
        raise FrameError(f"unknown opcode 0x{opcode:02x}", fmt="oisa-msg", field="opcode", offset=0)
    position = offset + HEADER_SIZE
    coll = None
    if info.opcode is Opcode.COLL_REDUCE:
        if len(buf) - position < COLL_EXT_SIZE:
            raise FrameError("truncated inside the collective extension", fmt="oisa-msg", field="coll",
                             offset=len(buf) - offset)
        coll = _COLL.unpack_from(buf, position)
        position += COLL_EXT_SIZE
    end = position + (length if info.has_payload else 0)
    if end > len(buf):
        raise FrameError(f"truncated: {len(buf) - offset} bytes is too short", fmt="oisa-msg", field="payload",
                         offset=len(buf) - offset)
    return build_message(header, coll, bytes(buf[position:end])), end


def decode_messages(buf: bytes | memoryview) -> list[Message]:
    """Decode a byte string that holds whole messages back to back, and nothing else."""
    out = []
    offset = 0
    while offset < len(buf):
        message, offset = decode_message(buf, offset)
        out.append(message)
    return out


# Flit sizes the fast paths take, with their payload capacity; any other size goes the checked way.
_CAPACITY = {size: size - FLIT_OVERHEAD for size in range(64, 2049, 32)}
_ZERO_FILL = bytes(2048)
_ACK_KIND_VALUES = {kind: int(kind) for kind in AckKind}
_FC_CLASS_VALUES = {cls: int(cls) for cls in FcClass}
_FC_CLASSES = {int(cls): cls for cls in FcClass}
_ACK_KINDS = {int(kind): kind for kind in AckKind}
_DATA, _CONTROL = FlitKind.DATA, FlitKind.CONTROL
_NO_CODE = ControlCode.NONE
_ENTRY_CODES = frozenset((ControlCode.CREDIT, ControlCode.INIT_FC1, ControlCode.INIT_FC2))
_CONTROL_CODES = {int(code): code for code in ControlCode if code is not ControlCode.NONE and code not in _ENTRY_CODES}
_PLAIN_CONTROL = frozenset(_CONTROL_CODES.values())
_ENTRY_CODES_BY_VALUE = {int(code): code for code in _ENTRY_CODES}
_new_flit = object.__new__
_CreditReturn = CreditReturn


def encode_flit(flit: Flit, size: int) -> bytes:
    """The flit's bytes: header, payload, zero padding, CRC-32.

    A data flit, or a control flit without credit entries, whose fields are in range and agree
    with each other is written in one ``struct`` call and one ``zlib.crc32``; anything else
    (credit entries, an odd size, a value that does not fit) goes through :func:`check_flit`,
    which applies every rule and names the field.
    """
    capacity = _CAPACITY.get(size)
    payload = flit.payload
    used = len(payload)
    kind, code, seq, ack_seq, first = flit.kind, flit.code, flit.seq, flit.ack_seq, flit.first_msg
    ack_kind = _ACK_KIND_VALUES.get(flit.ack_kind)
    credit = flit.credit
    if credit is None:
        crd_word = crd_hdr = crd_data = 0
        crd_ok = True
    else:
        cls = _FC_CLASS_VALUES.get(credit.fc_class)
        crd_hdr, crd_data = credit.hdr, credit.data
        crd_ok = cls is not None and not (credit.vc >> 3 or crd_hdr >> 12 or crd_data >> 16)
        crd_word = 0x8000 | credit.vc << 12 | (cls or 0) << 10
    if (capacity is None or ack_kind is None or not crd_ok or flit.entries or used > capacity
            or type(payload) is not bytes or (seq | ack_seq) >> 12
            or not ((kind is _DATA and code is _NO_CODE and (first == NO_MESSAGE_START or 0 <= first < used))
                    or (kind is _CONTROL and code in _PLAIN_CONTROL and not used and not seq
                        and first == NO_MESSAGE_START))):
        return _encode_flit_checked(flit, size)
    body = _FLIT_HEADER.pack(kind, code, seq, ack_kind << 14 | ack_seq, crd_word, crd_hdr, crd_data, used,
                             first) + payload + _ZERO_FILL[:capacity - used]
    return body + _CRC.pack(zlib.crc32(body))


def encode_data_flit(seq: int, first_msg: int, payload: bytes, ack_kind: AckKind, ack_seq: int,
                     credit: CreditReturn | None, size: int) -> bytes:
    """``encode_flit(Flit(FlitKind.DATA, ...), size)`` without building the :class:`Flit`: what
    a link endpoint sends for every flit of the message stream. Values out of range go the
    checked way and raise the same :class:`~oisa.errors.FrameError`."""
    capacity = _CAPACITY.get(size)
    used = len(payload)
    ack = _ACK_KIND_VALUES.get(ack_kind)
    if credit is None:
        crd_word = crd_hdr = crd_data = 0
    else:
        cls = _FC_CLASS_VALUES.get(credit.fc_class)
        crd_hdr, crd_data = credit.hdr, credit.data
        crd_word = -1 if cls is None or credit.vc >> 3 or crd_hdr >> 12 or crd_data >> 16 else (
            0x8000 | credit.vc << 12 | cls << 10)
    if (capacity is None or ack is None or crd_word < 0 or used > capacity or type(payload) is not bytes
            or (seq | ack_seq) >> 12 or not (first_msg == NO_MESSAGE_START or 0 <= first_msg < used)):
        return _encode_flit_checked(Flit(FlitKind.DATA, ControlCode.NONE, seq, ack_kind, ack_seq, credit, first_msg,
                                         payload), size)
    body = _FLIT_HEADER.pack(1, 0, seq, ack << 14 | ack_seq, crd_word, crd_hdr, crd_data, used,
                             first_msg) + payload + _ZERO_FILL[:capacity - used]
    return body + _CRC.pack(zlib.crc32(body))


def _encode_flit_checked(flit: Flit, size: int) -> bytes:
    h = check_flit(flit, size)
    payload = flit.payload
    if flit.entries:
        payload = b"".join(_ENTRY.pack(e.vc << 29 | e.fc_class << 27 | e.hdr, e.data) for e in flit.entries)
    body = _FLIT_HEADER.pack(
        h["kind"], h["code"], h["seq"], h["ack_kind"] << 14 | h["ack_seq"],
        h["crd_valid"] << 15 | h["crd_vc"] << 12 | h["crd_class"] << 10, h["crd_hdr"], h["crd_data"],
        h["used"], h["first_msg"],
    ) + payload + bytes(size - FLIT_OVERHEAD - len(payload))
    return body + _CRC.pack(zlib.crc32(body))


def decode_flit(data: bytes | memoryview, size: int) -> Flit:
    """Check the CRC, then read the flit.

    A well-formed data or plain control flit is read field by field into a :class:`Flit`;
    anything unusual (reserved bits, credit entries, a bad length or offset) goes through
    :func:`build_flit`, which applies every rule and names the field that breaks one.
    """
    if len(data) != size:
        check_frame_length(data, size)
    end = size - FLIT_CRC_SIZE
    if zlib.crc32(memoryview(data)[:end]) != _CRC.unpack_from(data, end)[0]:
        raise CrcError("CRC does not match the frame's contents", fmt="oisa-flit", field="crc", offset=end)
    kind, code, seq_word, ack_word, crd, crd_hdr, crd_data, used, first = _FLIT_HEADER.unpack_from(data)
    capacity = _CAPACITY.get(size)
    ack_kind = _ACK_KINDS.get(ack_word >> 14)
    entries: list[CreditReturn] = []
    flit_code: ControlCode | None
    if kind == 1 and not code:
        flit_kind, flit_code = _DATA, _NO_CODE
        well_formed = first == NO_MESSAGE_START or first < used
    else:
        flit_kind, flit_code = _CONTROL, _CONTROL_CODES.get(code)
        well_formed = kind == 2 and not seq_word and first == NO_MESSAGE_START
        if flit_code is None:
            flit_code = _ENTRY_CODES_BY_VALUE.get(code)
            well_formed = (well_formed and flit_code is not None and 0 < used <= (capacity or 0)
                           and not used % CREDIT_ENTRY_SIZE
                           and _read_entries(data[FLIT_HEADER_SIZE:FLIT_HEADER_SIZE + used], entries))
        else:
            well_formed = well_formed and not used
    if crd & 0x8000:
        credit = _CREDITS.get((crd, crd_hdr, crd_data))
        if credit is None:
            cls = _FC_CLASSES.get((crd >> 10) & 3)
            if cls is None:
                well_formed = False
            else:
                credit = _credit_return(crd, crd_hdr, crd_data, cls)
    else:
        credit = None
        well_formed = well_formed and not (crd or crd_hdr or crd_data)
    start = FLIT_HEADER_SIZE + used if capacity is not None else end
    if (not well_formed or flit_code is None or capacity is None or ack_kind is None or used > capacity
            or seq_word >> 12
            or ack_word & 0x3000 or crd & 0x3FF or crd_hdr >> 12 or type(data) is not bytes
            or data.count(0, start, end) != end - start):
        return build_flit(_raw_header(kind, code, seq_word, ack_word, crd, crd_hdr, crd_data, used, first),
                          memoryview(data)[FLIT_HEADER_SIZE:end], size - FLIT_OVERHEAD, _entries)
    # Slot by slot, as decode_message does; the differential tests compare every field.
    flit = _new_flit(Flit)
    flit.kind = flit_kind
    flit.code = flit_code
    flit.seq = seq_word
    flit.ack_kind = ack_kind
    flit.ack_seq = ack_word & 0xFFF
    flit.credit = credit
    flit.first_msg = first
    flit.payload = data[FLIT_HEADER_SIZE:FLIT_HEADER_SIZE + used] if not entries else b""
    flit.entries = entries
    return flit


def _read_entries(body: bytes | memoryview, entries: list[CreditReturn]) -> bool:
    """Append the credit entries of ``body`` to ``entries``; False if one breaks a rule (the
    checked way then says which)."""
    for word, units in _ENTRY.iter_unpack(body):
        cls = _FC_CLASSES.get((word >> 27) & 3)
        if cls is None or (word >> 12) & 0x7FFF:
            return False
        entries.append(_CreditReturn(word >> 29, cls, word & 0xFFF, units))
    return True


_CREDITS: dict[tuple[int, int, int], CreditReturn] = {}
"""Credit returns decoded lately, by their three header words: consecutive flits repeat one
until the peer frees more buffer, and a frozen value can be handed out again."""


def _credit_return(crd: int, crd_hdr: int, crd_data: int, cls: FcClass) -> CreditReturn:
    if len(_CREDITS) >= 4096:
        _CREDITS.clear()
    credit = _CREDITS[(crd, crd_hdr, crd_data)] = _CreditReturn((crd >> 12) & 7, cls, crd_hdr, crd_data)
    return credit


def _raw_header(kind: int, code: int, seq_word: int, ack_word: int, crd: int, crd_hdr: int, crd_data: int,
                used: int, first: int) -> dict[str, int | bool]:
    """The header's fields as the schema names them, reserved bits included."""
    return dict(
        kind=kind, code=code, reserved_0=seq_word >> 12, seq=seq_word & 0xFFF, ack_kind=ack_word >> 14,
        reserved_1=(ack_word >> 12) & 3, ack_seq=ack_word & 0xFFF, crd_valid=bool(crd & 0x8000),
        crd_vc=(crd >> 12) & 7, crd_class=(crd >> 10) & 3, reserved_2=(crd & 0x3FF) << 4 | crd_hdr >> 12,
        crd_hdr=crd_hdr & 0xFFF, crd_data=crd_data, used=used, first_msg=first,
    )


def _entries(body: bytes) -> list[tuple[int, int, int, int, int]]:
    out = []
    for start in range(0, len(body), _ENTRY.size):
        word, data = _ENTRY.unpack_from(body, start)
        out.append((word >> 29, (word >> 27) & 3, (word >> 12) & 0x7FFF, word & 0xFFF, data))
    return out
