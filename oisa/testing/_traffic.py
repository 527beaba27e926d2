"""Strategies for traffic as plain data: requester operations and patterns of copies between cards.

Nothing here runs anything. A :class:`Transaction` is what a test hands a
:class:`~oisa.transaction.Requester`; a traffic pattern is a list of :class:`Flow` that a
test turns into DMA copies on a built fabric. Keeping them as frozen data means Hypothesis
prints a failing example as something a person can read and paste into a regression test.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from hypothesis import strategies as st

from oisa.transaction import Operation, Requester
from oisa.wire.oisa import ADDRESS_BITS, Opcode

__all__ = ["SHAPES", "Flow", "Transaction", "traffic_patterns", "transactions"]

Kind = Literal["write", "read"]

# The requests a requester can be asked to split a copy into, by direction. Atomics and
# messages are not copies; CXL.mem moves whole 64-byte lines only, handled below.
_WRITE_OPCODES = (Opcode.DMA_WR, Opcode.MEM_WR, Opcode.STORE, Opcode.CXL_MEM_WR)
_READ_OPCODES = (Opcode.DMA_RD, Opcode.MEM_RD, Opcode.LOAD, Opcode.CXL_MEM_RD)
_LINE_OPCODES = (Opcode.CXL_MEM_WR, Opcode.CXL_MEM_RD)
_LINE = 64  # ... which move exactly one line per request


@dataclass(frozen=True)
class Transaction:
    """One requester operation: write ``data`` at ``address`` or read ``size`` bytes there,
    in requests of ``opcode``; ``relaxed`` writes carry relaxed ordering (PCIe Attr RO)."""

    kind: Kind
    opcode: Opcode
    address: int
    size: int
    relaxed: bool = False
    data: bytes = b""  # what a write writes (``size`` bytes); empty for a read

    def submit(self, requester: Requester, dst: int) -> Operation:
        """Hand this operation to ``requester``, addressed to node ``dst``."""
        if self.kind == "write":
            return requester.submit_write(dst, self.address, self.data, opcode=self.opcode, relaxed=self.relaxed)
        return requester.submit_read(dst, self.address, self.size, opcode=self.opcode)


def seeded_bytes(size: int) -> st.SearchStrategy[bytes]:
    """``size`` random bytes drawn from a seed: as random as :func:`st.binary` for a codec, but a
    4 KiB payload costs Hypothesis one integer to draw and to shrink."""
    return st.integers(0, 2**32 - 1).map(lambda seed: np.random.default_rng(seed).bytes(size))


@st.composite
def transactions(
    draw: st.DrawFn,
    *,
    kinds: st.SearchStrategy[Kind] = st.sampled_from(["write", "read"]),
    opcodes: Callable[[Kind], st.SearchStrategy[Opcode]] | None = None,
    sizes: st.SearchStrategy[int] = st.integers(1, 16 * 1024),
    addresses: st.SearchStrategy[int] = st.integers(0, (1 << 40) - 1),
    relaxed: st.SearchStrategy[bool] = st.booleans(),
    payloads: Callable[[int], st.SearchStrategy[bytes]] = seeded_bytes,
) -> Transaction:
    """Operations a requester must split and issue correctly: a write or a read of ``sizes``
    bytes at ``addresses``, in requests of an opcode ``opcodes(kind)`` offers (default: any
    copy opcode of that direction, CXL.mem included).

    Sizes may cross 4 KiB pages and the opcode's own limit, so splitting is exercised. CXL.mem
    opcodes move whole lines: their address is aligned down and their size rounded up to 64
    bytes. ``relaxed`` applies to writes only (reads carry no RO in oisa).
    """
    kind = draw(kinds)
    allowed = _WRITE_OPCODES if kind == "write" else _READ_OPCODES
    opcode = draw(opcodes(kind) if opcodes is not None else st.sampled_from(allowed))
    if opcode not in allowed:
        raise ValueError(f"{opcode.name} is not a {kind} request a copy can be made of")
    address, size = draw(addresses), draw(sizes)
    lines = opcode in _LINE_OPCODES
    if lines:
        size = -(-size // _LINE) * _LINE
    address = min(address, (1 << ADDRESS_BITS) - size)
    if lines:
        address -= address % _LINE
    is_write = kind == "write"
    return Transaction(kind, opcode, address, size, relaxed=is_write and draw(relaxed),
                       data=draw(payloads(size)) if is_write else b"")


# -- traffic patterns -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Flow:
    """One copy of a traffic pattern: card ``src`` writes ``size`` bytes to card ``dst`` (or,
    for ``"read"``, fetches them from it), submitted ``start_ps`` after the pattern starts."""

    src: int
    dst: int
    kind: Kind
    size: int
    start_ps: int = 0


SHAPES = ("incast", "all_to_all", "permutation", "hotspot", "random_pairs")
"""Named traffic shapes: ``incast`` (every other card into one), ``all_to_all`` (every ordered
pair), ``permutation`` (each card to one other, each card receiving once), ``hotspot`` (most
flows into one card, the rest anywhere) and ``random_pairs`` (independent random pairs)."""


def _pairs(draw: st.DrawFn, shape: str, cards: Sequence[int], max_flows: int) -> list[tuple[int, int]]:
    if shape == "incast":
        target = draw(st.sampled_from(cards))
        return [(src, target) for src in cards if src != target]
    if shape == "all_to_all":
        return [(src, dst) for src in cards for dst in cards if src != dst]
    if shape == "permutation":
        order = draw(st.permutations(cards))
        return [(src, order[(index + 1) % len(order)]) for index, src in enumerate(order)]  # a derangement
    pair = st.sampled_from(cards).flatmap(
        lambda src: st.tuples(st.just(src), st.sampled_from([c for c in cards if c != src])))
    if shape == "hotspot":
        target = draw(st.sampled_from(cards))
        into = st.sampled_from([c for c in cards if c != target]).map(lambda src: (src, target))
        return draw(st.lists(st.one_of(into, into, into, pair), min_size=1, max_size=max_flows))
    if shape == "random_pairs":
        return draw(st.lists(pair, min_size=1, max_size=max_flows))
    raise ValueError(f"unknown traffic shape {shape!r} (known: {', '.join(SHAPES)})")


@st.composite
def traffic_patterns(
    draw: st.DrawFn,
    *,
    cards: st.SearchStrategy[Sequence[int]],
    shapes: st.SearchStrategy[str] = st.sampled_from(SHAPES),
    kinds: st.SearchStrategy[Kind] = st.sampled_from(["write", "read"]),
    sizes: st.SearchStrategy[int] = st.integers(1, 64 * 1024),
    start_offsets: st.SearchStrategy[int] = st.one_of(st.just(0), st.integers(0, 2_000_000)),
    max_flows: int = 12,
) -> list[Flow]:
    """A list of copies between ``cards`` (at least two card ids), in one of ``shapes``.

    Every flow draws its own direction, size and start offset (ps after the pattern starts;
    offset 0 is weighted so that many flows start together, which is what stresses credits
    and queues). ``max_flows`` bounds the shapes that draw their pairs (``hotspot``,
    ``random_pairs``); the others take as many pairs as the shape has, so keep ``cards``
    small for ``all_to_all``.
    """
    ids = list(draw(cards))
    if len(set(ids)) < 2:
        raise ValueError("a traffic pattern needs at least two distinct cards")
    pairs = _pairs(draw, draw(shapes), ids, max_flows)
    return [Flow(src, dst, draw(kinds), draw(sizes), draw(start_offsets)) for src, dst in pairs]
