"""Hypothesis strategies for VDESC descriptors, the vendor format of :mod:`oisa.wire.vdesc.descriptor`.

As the other strategies: keyword-only parameters that are themselves strategies, and every value
generated valid for the format as :func:`~oisa.wire.vdesc.descriptor.check_vdesc` enforces it. Feed the
encoded bytes through ``oisa.testing.strategies.mutated_bytes`` for frames that are almost valid::

    from hypothesis import given, strategies as st
    from oisa.testing._vdesc import vdescs
    from oisa.wire.vdesc import VdescType

    @given(vdescs(kinds=st.just(VdescType.COPY_WRITE), txn_ids=st.integers(0, 0xFFFF)))
    def test_my_adapter(descriptor): ...
"""

from __future__ import annotations

from hypothesis import strategies as st

from oisa.wire.vdesc import (
    ADDRESS_BITS,
    MAX_LENGTH,
    VDESC_TYPES,
    ReduceDtype,
    ReduceExt,
    ReduceOp,
    Vdesc,
    VdescStatus,
    VdescType,
)

__all__ = ["vdescs"]


@st.composite
def vdescs(
    draw: st.DrawFn,
    *,
    kinds: st.SearchStrategy[VdescType] = st.sampled_from(list(VdescType)),
    ids: st.SearchStrategy[int] = st.integers(0, 0xFFFF),
    txn_ids: st.SearchStrategy[int] = st.integers(0, 0xFFFF_FFFF),
    addresses: st.SearchStrategy[int] = st.integers(0, (1 << ADDRESS_BITS) - 1),
    max_length: st.SearchStrategy[int] = st.just(MAX_LENGTH),
    dtypes: st.SearchStrategy[ReduceDtype] = st.sampled_from(list(ReduceDtype)),
) -> Vdesc:
    """Valid descriptors: a legal length, payload, status and code for each type.

    ``max_length`` caps ``length`` where a test does not need 4 KiB (a type whose shortest
    legal length is above the cap keeps its shortest); ``dtypes`` picks REDUCE element types.
    """
    info = VDESC_TYPES[draw(kinds)]
    limit = draw(max_length)
    reduce = None
    if info.kind is VdescType.REDUCE:
        dtype = draw(dtypes)
        length = dtype.itemsize * draw(st.integers(1, max(1, limit // dtype.itemsize)))
        reduce = ReduceExt(draw(st.integers(0, 0xFFFF)), draw(st.integers(1, 0xFFFF)),
                           draw(st.sampled_from(list(ReduceOp))), dtype)
    elif isinstance(info.lengths, range):
        start = info.lengths.start
        length = draw(st.integers(start, max(start, min(info.lengths.stop - 1, limit))))
    else:
        length = draw(st.sampled_from(info.lengths))
    payload = draw(st.binary(min_size=length, max_size=length)) if info.has_payload else b""
    return Vdesc(
        info.kind, draw(ids), draw(ids), txn_id=draw(txn_ids), length=length, address=draw(addresses),
        payload=payload, priority=draw(st.integers(0, 7)), fence=draw(st.booleans()), id_order=draw(st.booleans()),
        poison=draw(st.booleans()), early_ack=draw(st.booleans()), no_snoop=draw(st.booleans()),
        status=draw(st.sampled_from(list(VdescStatus))) if info.response else VdescStatus.OK,
        code=draw(st.integers(0, 0xFF)) if info.kind is VdescType.NOTIFY else 0,
        congestion=draw(st.integers(0, 7)), hops=draw(st.integers(0, 31)), reduce=reduce,
    )
