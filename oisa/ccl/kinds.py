"""What each collective is, and one call of it: the ranks, the element count and type, the
reduction, the root, and where its buffers sit.

Sizes mean what they mean in nccl-tests (NVIDIA/nccl-tests ``src/*.cu``, the ``*GetCollByteCount``
and ``*GetBw`` functions): the whole per-rank buffer for all-reduce, broadcast, reduce,
send/receive and all-to-all, the whole gathered buffer for all-gather, the whole scattered buffer
for reduce-scatter. So does bus bandwidth (:attr:`Kind.bus_factor`): the algorithm bandwidth
times the share of the data each rank must move over its links whatever the algorithm, so that
figures compare with the links' speed (nccl-tests ``doc/PERFORMANCE.md``).

Buffers are symmetric: every rank keeps its input at the call's ``base`` address, its output
just after, and the library's scratch space after that, at the same addresses on every card.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from oisa.errors import UsageError

__all__ = ["ALIGN", "DTYPES", "KINDS", "OPS", "Call", "Kind", "aligned", "kind", "normalised_count"]

ALIGN = 1 << 16  # regions start on 64 KiB boundaries
DTYPES: dict[str, np.dtype] = {name: np.dtype(name) for name in (
    "int8", "uint8", "int32", "int64", "float16", "float32", "float64")}
OPS: dict[str, np.ufunc] = {"sum": np.add, "prod": np.multiply, "min": np.minimum, "max": np.maximum}


@dataclass(frozen=True)
class Kind:
    """One collective: what each rank gives and gets, and how nccl-tests counts its traffic.

    ``blocked`` collectives cut their buffer into one block per rank, so their element count is
    rounded down to a multiple of the number of ranks, as nccl-tests does; ``rooted`` ones have
    a root rank (broadcast sends from it, reduce gathers the result in it).
    """

    name: str
    bus_factor: Callable[[int], float]
    reduces: bool
    blocked: bool
    rooted: bool
    summary: str


KINDS: dict[str, Kind] = {k.name: k for k in (
    Kind("allreduce", lambda n: 2 * (n - 1) / n, True, False, False,
         "every rank ends with the reduction of all ranks' buffers"),
    Kind("allgather", lambda n: (n - 1) / n, False, True, False,
         "every rank ends with all ranks' blocks, in rank order"),
    Kind("reducescatter", lambda n: (n - 1) / n, True, True, False,
         "rank r ends with block r of the reduction of all ranks' buffers"),
    Kind("alltoall", lambda n: (n - 1) / n, False, True, False,
         "rank r's block j goes to rank j, which keeps it as its block r"),
    Kind("broadcast", lambda n: 1.0, False, False, True, "every rank ends with the root's buffer"),
    Kind("reduce", lambda n: 1.0, True, False, True, "the root ends with the reduction of all ranks' buffers"),
    Kind("sendrecv", lambda n: 1.0, False, False, False,
         "rank r sends its buffer to rank r+1 and receives rank r-1's (point to point, all at once)"),
)}


def kind(name: str) -> Kind:
    if name not in KINDS:
        raise UsageError(f"no such collective (known: {', '.join(KINDS)})", parameter="collective", value=name)
    return KINDS[name]


def aligned(address: int) -> int:
    return -(-address // ALIGN) * ALIGN


def normalised_count(collective: str, size: int, itemsize: int, ranks: int) -> int:
    """Elements in ``size`` bytes, rounded down to whole blocks for blocked collectives; a size
    that holds no element (no block per rank) is an error naming the least that works."""
    what = kind(collective)
    count = size // itemsize
    if what.blocked:
        count -= count % ranks
    if count <= 0:
        least = itemsize * (ranks if what.blocked else 1)
        raise UsageError(f"holds no element{' per rank' if what.blocked else ''} for {what.name} on {ranks} ranks: "
                         f"the least is {least} B", parameter="size", value=size)
    return count


@dataclass(frozen=True)
class Call:
    """One collective call: ``ranks`` are card ids in ring order, ``root`` a rank index, ``count``
    the elements of nccl-tests' size, ``base`` where its buffers start on every card, ``group``
    the id its in-switch reductions carry (distinct for calls that run at once), ``launchers``
    how many GPUs one host thread launches in a group call (nccl-tests' ``-g``)."""

    collective: str
    ranks: tuple[int, ...]
    count: int
    dtype: str = "float32"
    op: str = "sum"
    root: int = 0
    base: int = 0
    group: int = 1
    launchers: int = 1

    def __post_init__(self) -> None:
        kind(self.collective)
        if self.dtype not in DTYPES:
            raise UsageError(f"expected one of {', '.join(DTYPES)}", parameter="dtype", value=self.dtype)
        if self.op not in OPS:
            raise UsageError(f"expected one of {', '.join(OPS)}", parameter="op", value=self.op)
        if len(self.ranks) < 1 or len(set(self.ranks)) != len(self.ranks):
            raise UsageError("a call needs distinct ranks", parameter="cards", value=list(self.ranks))
        if not 0 <= self.root < len(self.ranks):
            raise UsageError(f"not a rank: there are {len(self.ranks)} (0 to {len(self.ranks) - 1})",
                             parameter="root", value=self.root)
        if self.count <= 0 or (self.kind.blocked and self.count % len(self.ranks)):
            raise UsageError("the element count must be positive (and a multiple of the ranks for blocked "
                             "collectives)", parameter="size", value=self.count)
        if self.launchers < 1:
            raise UsageError("at least one GPU per launching thread", parameter="launchers", value=self.launchers)

    @property
    def kind(self) -> Kind:
        return KINDS[self.collective]

    @property
    def n(self) -> int:
        return len(self.ranks)

    @property
    def itemsize(self) -> int:
        return DTYPES[self.dtype].itemsize

    @property
    def size(self) -> int:
        """Bytes, as nccl-tests counts the call."""
        return self.count * self.itemsize

    @property
    def input_bytes(self) -> int:
        return self.size // self.n if self.collective == "allgather" else self.size

    @property
    def output_bytes(self) -> int:
        """The output region: the whole buffer (reduce-scatter keeps its block at its offset)."""
        return self.size

    @property
    def input(self) -> int:
        return self.base

    @property
    def output(self) -> int:
        return aligned(self.input + self.input_bytes)

    @property
    def scratch(self) -> int:
        """Where the library's own space starts."""
        return aligned(self.output + self.output_bytes)
