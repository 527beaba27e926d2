"""Hypothesis strategies for PCIe TLPs and DLLPs, for ``oisa.testing.strategies`` to re-export.

As the other strategies: keyword-only parameters that are themselves strategies, and every
value generated valid for the specification as :mod:`oisa.wire.pcie.tlp` enforces it, plus the
byte-enable rules it leaves to the transaction layer (a one-DW request has Last DW BE 0000,
longer ones contiguous enables). Feed the encoded bytes through
``oisa.testing.strategies.mutated_bytes`` for frames that are almost valid.
"""

from __future__ import annotations

from hypothesis import strategies as st

from oisa.wire.pcie import (
    ATOMIC_LENGTHS,
    DLLP_LAYOUT_FIELDS,
    DLLP_TYPES,
    MAX_DATA_DW,
    TLP_TYPES,
    CplStatus,
    Dllp,
    DllpType,
    Layout,
    LengthUse,
    Tlp,
    TlpGroup,
    TlpType,
)

__all__ = ["dllps", "tlps"]

_FIRST_BE = (0xF, 0xE, 0xC, 0x8)  # contiguous up to the end of the first double word
_LAST_BE = (0x1, 0x3, 0x7, 0xF)  # contiguous from the start of the last double word


@st.composite
def tlps(
    draw: st.DrawFn,
    *,
    kinds: st.SearchStrategy[TlpType] = st.sampled_from(list(TlpType)),
    max_length: st.SearchStrategy[int] = st.just(MAX_DATA_DW),
    ids: st.SearchStrategy[int] = st.integers(0, 0xFFFF),
    tags: st.SearchStrategy[int] = st.integers(0, 0x3FF),
    digests: st.SearchStrategy[bool] = st.booleans(),
) -> Tlp:
    """Valid TLPs of the given kinds; ``max_length`` caps Length (in double words) to keep
    payloads small where a test does not need 4 KiB."""
    kind = draw(kinds)
    info = TLP_TYPES[kind]
    restricted = info.group in (TlpGroup.IO, TlpGroup.CONFIG)  # TC, Attr, AT, LN, TH must be 0
    if info.group is TlpGroup.CONFIG:
        attr = draw(st.sampled_from((0, 4)))  # only IDO is allowed
    else:
        attr = 0 if restricted else draw(st.integers(0, 7))
    th = draw(st.booleans()) and not restricted
    tlp = Tlp(
        kind, tc=0 if restricted else draw(st.integers(0, 7)), attr=attr, ln=draw(st.booleans()) and not restricted,
        th=th, td=draw(digests), ep=draw(st.booleans()), at=0 if restricted else draw(st.integers(0, 3)),
        tag=draw(tags),
    )
    limit = max(1, min(MAX_DATA_DW, draw(max_length)))
    if info.length_use is not LengthUse.RESERVED:
        tlp.length = draw(_lengths(info.group, info.mnemonic, limit))
    _fill_layout(draw, tlp, info.layout, info.group, ids)
    if info.group in (TlpGroup.MEMORY, TlpGroup.ATOMIC):
        tlp.ph = draw(st.integers(0, 3)) if th else 0
        tlp.address = draw(_addresses(tlp, info.layout, info.group, info.mnemonic))
    if info.has_data:
        tlp.data = draw(st.binary(min_size=tlp.length * 4, max_size=tlp.length * 4))
    return tlp


def _lengths(group: TlpGroup, mnemonic: str, limit: int) -> st.SearchStrategy[int]:
    if group in (TlpGroup.IO, TlpGroup.CONFIG):
        return st.just(1)
    if group is TlpGroup.ATOMIC:
        return st.sampled_from(ATOMIC_LENGTHS[mnemonic])
    return st.integers(1, limit)


def _fill_layout(draw: st.DrawFn, tlp: Tlp, layout: Layout, group: TlpGroup, ids: st.SearchStrategy[int]) -> None:
    if layout is Layout.COMPLETION:
        tlp.completer_id, tlp.requester_id = draw(ids), draw(ids)
        tlp.status = draw(st.sampled_from(list(CplStatus)))
        tlp.bcm, tlp.byte_count = draw(st.booleans()), draw(st.integers(1, 4096))
        tlp.lower_address = draw(st.integers(0, 0x7F))
        return
    tlp.requester_id = draw(ids)
    if layout is Layout.MESSAGE:
        tlp.message_code, tlp.routing = draw(st.integers(0, 0xFF)), draw(st.integers(0, 7))
        tlp.message_data = draw(st.binary(min_size=8, max_size=8))
        return
    if group is not TlpGroup.ATOMIC:  # AtomicOps leave the byte enables at 0
        if tlp.length == 1:
            tlp.first_be = draw(st.integers(0, 0xF))
        else:
            tlp.first_be, tlp.last_be = draw(st.sampled_from(_FIRST_BE)), draw(st.sampled_from(_LAST_BE))
    if layout is Layout.CONFIG:
        tlp.completer_id = draw(ids)
        tlp.ext_register, tlp.register = draw(st.integers(0, 0xF)), draw(st.integers(0, 0x3F))
    elif layout is Layout.IO:
        tlp.address = draw(st.integers(0, (1 << 30) - 1)) * 4


def _addresses(tlp: Tlp, layout: Layout, group: TlpGroup, mnemonic: str) -> st.SearchStrategy[int]:
    """Double-word addresses the request may use: the data stay within one 4 KiB page, and
    AtomicOps are aligned to their operand. A 4DW header may carry any 64-bit address."""
    bits = 64 if layout is Layout.REQUEST64 else 32
    pages = st.integers(0, (1 << (bits - 12)) - 1)
    if group is TlpGroup.ATOMIC:
        operand = tlp.length * 2 if mnemonic == "CAS" else tlp.length * 4
        return st.builds(lambda page, slot: page << 12 | slot * operand, pages, st.integers(0, 4096 // operand - 1))
    last_slot = 1024 - tlp.length
    return st.builds(lambda page, slot: page << 12 | slot * 4, pages, st.integers(0, last_slot))


@st.composite
def dllps(
    draw: st.DrawFn,
    *,
    kinds: st.SearchStrategy[DllpType] = st.sampled_from(list(DllpType)),
    vcs: st.SearchStrategy[int] = st.integers(0, 7),
) -> Dllp:
    """Valid DLLPs of the given types; ``vcs`` chooses the VC of flow-control DLLPs."""
    kind = draw(kinds)
    layout = DLLP_TYPES[kind].layout
    widths = dict(seq=12, hdr_scale=2, hdr_fc=8, data_scale=2, data_fc=12, feature_support=23, data=24)
    values: dict[str, object] = {}
    for name in DLLP_LAYOUT_FIELDS[layout]:
        if name == "vc":
            values[name] = draw(vcs)
        elif name == "feature_ack":
            values[name] = draw(st.booleans())
        else:
            values[name] = draw(st.integers(0, (1 << widths[name]) - 1))
    return Dllp(kind, **values)  # type: ignore[arg-type]

