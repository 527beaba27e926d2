"""Public Hypothesis strategies for oisa's protocol objects.

In the style of ``xarray.testing.strategies``: every parameter is keyword-only and is itself a
strategy, so callers narrow what is generated without reimplementing it::

    from hypothesis import given, strategies as st
    from oisa.testing import strategies as oisa_st
    from oisa.wire.oisa import Opcode

    @given(oisa_st.messages(opcodes=st.sampled_from([Opcode.DMA_WR, Opcode.DMA_RD])))
    def test_my_adapter(message): ...

Everything generated is valid for the specification; feed it through
:func:`mutated_bytes` to get frames that are almost valid.

Beyond single frames, the strategies draw whole experiments as plain data: requester
operations (:func:`transactions`), patterns of copies between cards (:func:`traffic_patterns`),
small fabrics built by the loader (:func:`topologies`, :func:`topology_pairs`), mixes of vendors'
devices (:func:`device_mixes`) and link faults (:func:`fault_schedules`). The property tests in
``tests/properties`` run random traffic on random fabrics with them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hypothesis import strategies as st

from oisa.testing._cxl import cxl_control_messages, cxl_flits, cxl_mem_messages, cxl_mem_streams
from oisa.testing._fabrics import (
    LAYOUTS,
    accelerator_profiles,
    device_mixes,
    fault_schedules,
    link_down_times,
    topologies,
    topology_pairs,
)
from oisa.testing._pcie import dllps, tlps
from oisa.testing._traffic import SHAPES, Flow, Transaction, seeded_bytes, traffic_patterns, transactions
from oisa.testing._vdesc import vdescs
from oisa.wire.cxl import AllDataFlit, encode_cxl_flit, encode_cxl_mem
from oisa.wire.formats import FORMATS, FormatOptions
from oisa.wire.oisa import (
    ADDRESS_BITS,
    CREDIT_ENTRY_SIZE,
    FLIT_OVERHEAD,
    NO_MESSAGE_START,
    OPCODES,
    SEQ_MODULUS,
    AckKind,
    CollDtype,
    CollExt,
    CollOp,
    ControlCode,
    CreditReturn,
    FcClass,
    Flit,
    FlitKind,
    Message,
    Opcode,
    encode_flit,
    encode_message,
)
from oisa.wire.pcie import encode_dllp, encode_tlp
from oisa.wire.vdesc import encode_vdesc

__all__ = [
    "LAYOUTS",
    "SHAPES",
    "Flow",
    "Transaction",
    "accelerator_profiles",
    "credit_returns",
    "cxl_control_messages",
    "cxl_flits",
    "cxl_mem_messages",
    "cxl_mem_streams",
    "device_mixes",
    "dllps",
    "encoded_frames",
    "fault_schedules",
    "flit_sizes",
    "flits",
    "frames",
    "link_down_times",
    "messages",
    "mutated_bytes",
    "seeded_bytes",
    "tlps",
    "topologies",
    "topology_pairs",
    "traffic_patterns",
    "transactions",
    "vdescs",
]


def _any_bytes(size: int) -> st.SearchStrategy[bytes]:
    return st.binary(min_size=size, max_size=size)


def _choice(values: range | tuple[int, ...]) -> st.SearchStrategy[int]:
    if isinstance(values, range):
        return st.integers(values.start, values.stop - 1)
    return st.sampled_from(values)


@st.composite
def messages(
    draw: st.DrawFn,
    *,
    opcodes: st.SearchStrategy[Opcode] = st.sampled_from(list(Opcode)),
    ids: st.SearchStrategy[int] = st.integers(0, 0xFFFF),
    tags: st.SearchStrategy[int] = st.integers(0, 0xFFFF),
    addresses: st.SearchStrategy[int] = st.integers(0, (1 << ADDRESS_BITS) - 1),
    max_length: st.SearchStrategy[int] = st.just(4096),
    payloads: Callable[[int], st.SearchStrategy[bytes]] | None = None,
) -> Message:
    """Valid OISA messages: legal length, aux and payload for each opcode.

    ``payloads(n)`` gives the strategy for a payload of ``n`` bytes (default: any bytes). A
    caller to whom byte values matter little can draw a seed instead of every byte: a failing
    example with 4 KiB of payload then shrinks in a fraction of the time.
    """
    opcode = draw(opcodes)
    info = OPCODES[opcode]
    limit = draw(max_length)
    lengths = info.lengths
    if isinstance(lengths, range):
        lengths = range(lengths.start, max(lengths.start, min(lengths.stop - 1, limit)) + 1)
    coll = None
    if opcode is Opcode.COLL_REDUCE:
        dtype = draw(st.sampled_from(list(CollDtype)))
        count = draw(st.integers(1, max(1, limit // dtype.itemsize)))
        length = count * dtype.itemsize
        coll = CollExt(draw(st.integers(0, 0xFFFF)), draw(st.integers(1, 0xFFFF)),
                       draw(st.sampled_from(list(CollOp))), dtype)
    else:
        length = draw(_choice(lengths))
    payload = draw((payloads or _any_bytes)(length)) if info.has_payload else b""
    return Message(
        opcode, draw(ids), draw(ids), tag=draw(tags), length=length, address=draw(addresses),
        payload=payload, tc=draw(st.integers(0, 7)), ns=draw(st.booleans()), ro=draw(st.booleans()),
        ido=draw(st.booleans()), ep=draw(st.booleans()), ec=draw(st.booleans()),
        aux=draw(_choice(info.aux_values)), load=draw(st.integers(0, 7)), hops=draw(st.integers(0, 31)),
        coll=coll,
    )


def credit_returns(
    *,
    vcs: st.SearchStrategy[int] = st.integers(0, 7),
    classes: st.SearchStrategy[FcClass] = st.sampled_from(list(FcClass)),
) -> st.SearchStrategy[CreditReturn]:
    return st.builds(CreditReturn, vcs, classes, st.integers(0, 0xFFF), st.integers(0, 0xFFFF))


def flit_sizes() -> st.SearchStrategy[int]:
    """Legal flit sizes: multiples of 32 from 64 to 2048."""
    return st.integers(2, 64).map(lambda n: n * 32)


@st.composite
def flits(
    draw: st.DrawFn,
    *,
    size: st.SearchStrategy[int] = st.just(256),
    kinds: st.SearchStrategy[FlitKind] = st.sampled_from(list(FlitKind)),
    credits: st.SearchStrategy[CreditReturn] | None = None,
) -> tuple[Flit, int]:
    """Valid flits, with the flit size they are valid for: ``(flit, size)``."""
    flit_size = draw(size)
    capacity = flit_size - FLIT_OVERHEAD
    kind = draw(kinds)
    credit = draw(st.none() | (credits or credit_returns()))
    ack_kind = draw(st.sampled_from(list(AckKind)))
    ack_seq = draw(st.integers(0, SEQ_MODULUS - 1))
    if kind is FlitKind.DATA:
        payload = draw(st.binary(max_size=capacity))
        first = draw(st.integers(0, len(payload) - 1)) if payload and draw(st.booleans()) else NO_MESSAGE_START
        return Flit(kind, ControlCode.NONE, draw(st.integers(0, SEQ_MODULUS - 1)), ack_kind, ack_seq, credit,
                    first, payload), flit_size
    code = draw(st.sampled_from([c for c in ControlCode if c is not ControlCode.NONE]))
    entries: list[CreditReturn] = []
    if code in (ControlCode.CREDIT, ControlCode.INIT_FC1, ControlCode.INIT_FC2):
        entries = draw(st.lists(credits or credit_returns(), min_size=1, max_size=capacity // CREDIT_ENTRY_SIZE))
    return Flit(kind, code, 0, ack_kind, ack_seq, credit, NO_MESSAGE_START, b"", entries), flit_size


@st.composite
def mutated_bytes(draw: st.DrawFn, frames: st.SearchStrategy[bytes]) -> bytes:
    """Frames from ``frames`` with a few bytes flipped, dropped, inserted or cut off."""
    data = bytearray(draw(frames))
    for _ in range(draw(st.integers(1, 4))):
        action = draw(st.sampled_from(["flip", "drop", "insert", "truncate", "extend"]))
        if action == "flip" and data:
            index = draw(st.integers(0, len(data) - 1))
            data[index] ^= draw(st.integers(1, 255))
        elif action == "drop" and data:
            del data[draw(st.integers(0, len(data) - 1))]
        elif action == "insert":
            data.insert(draw(st.integers(0, len(data))), draw(st.integers(0, 255)))
        elif action == "truncate" and data:
            del data[draw(st.integers(0, len(data) - 1)):]
        else:
            data += draw(st.binary(min_size=1, max_size=8))
    return bytes(data)


def encoded_frames(fmt: str) -> st.SearchStrategy[tuple[Any, bytes, FormatOptions]]:
    """Valid frames of a ``oisa decode`` format: the object (a Message, Flit, Tlp, ...), its
    bytes, and the options that decode them; for properties of the form decode(encode(x)) == x.

    CXL all-data flits are left out: without the flits before them nothing says what they are.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r} (known: {', '.join(sorted(FORMATS))})")
    plain = FormatOptions()
    if fmt == "oisa-msg":
        return messages(max_length=st.just(512)).map(lambda m: (m, encode_message(m), plain))
    if fmt == "oisa-flit":
        return flits(size=flit_sizes()).map(lambda fs: (fs[0], encode_flit(*fs), FormatOptions(flit_size=fs[1])))
    if fmt == "pcie-tlp":
        return tlps(max_length=st.just(64)).map(lambda t: (t, encode_tlp(t), plain))
    if fmt == "pcie-dllp":
        return dllps().map(lambda d: (d, encode_dllp(d), plain))
    if fmt == "cxl-mem":
        return cxl_mem_messages().map(lambda m: (m, encode_cxl_mem(m), plain))
    if fmt == "vdesc":
        return vdescs(max_length=st.just(512)).map(lambda d: (d, encode_vdesc(d), plain))
    return cxl_flits(kinds=st.sampled_from(["protocol", "control"])).filter(
        lambda f: not isinstance(f, AllDataFlit)).map(
        lambda f: (f, encode_cxl_flit(f), FormatOptions(direction=f.direction.value)))


def frames(fmt: str) -> st.SearchStrategy[tuple[bytes, FormatOptions]]:
    """Valid frames of a ``oisa decode`` format, with the options that decode them."""
    return encoded_frames(fmt).map(lambda frame: frame[1:])
