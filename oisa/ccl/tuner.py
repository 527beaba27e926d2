"""The tuner: every algorithm, protocol and channel count the library may use for a call, priced
by its cost model (:mod:`oisa.ccl.cost`), and the cheapest taken, as NCCL's ``topoGetAlgoInfo``
(``src/enqueue.cc``) takes the least ``ncclTopoGetAlgoTime``.

Channel counts follow NCCL: at most the library's ``channels.max``, and a call uses fewer
channels while each would get less than the protocol's threshold of bytes (``nc`` decremented
while ``nBytes < nc * nt * threshold`` in ``topoGetAlgoInfo``; for LL the threshold grows with
the ranks). Among the counts left it prices powers of two and multiples of the rings (or trees)
the topology offers, counts that spread evenly over them (NCCL's search and duplication yield
such counts), and keeps the cheapest. A direct exchange gives every peer a channel of its own,
as NCCL's peer-to-peer channels do (``p2pnChannelsPerPeer``, ``src/init.cc``), so it runs at most
``channels.max`` over the peers.

A caller may force any of the three, as ``NCCL_ALGO``, ``NCCL_PROTO`` and ``NCCL_MIN_NCHANNELS``
(with ``NCCL_MAX_NCHANNELS`` the same) do; the others are still tuned. The decision records what
was priced and at what time, so that a report can say why.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from oisa.ccl.algorithms import REGISTRY, algorithms_of, launch_floor_ps, start_latency_ps
from oisa.ccl.channels import ring_orders, server_paths, tree_count
from oisa.ccl.cost import PhaseCost, estimate_ps, phase_costs
from oisa.ccl.kinds import Call
from oisa.ccl.library import Library
from oisa.ccl.schedule import Context, Flowbook, protocol
from oisa.ccl.topology import Topology
from oisa.errors import UsageError

__all__ = ["Candidate", "Decision", "channel_options", "price", "tune"]

_POWERS = (1, 2, 4, 8, 16, 32, 64, 128, 256)


@dataclass(frozen=True)
class Candidate:
    """One choice the tuner priced: ``time_ps`` by the model (None with the ``reason`` it could
    not run)."""

    algorithm: str
    protocol: str
    channels: int
    time_ps: float | None
    reason: str | None = None


@dataclass(frozen=True)
class Decision:
    """What the tuner chose for a call and what it compared: for every algorithm and protocol
    the best channel count and its time, and the algorithms that could not run, with why."""

    library: str
    algorithm: str
    protocol: str
    channels: int
    time_ps: float
    candidates: tuple[Candidate, ...]
    forced: tuple[str, ...]

    @property
    def reason(self) -> str:
        priced = [c for c in self.candidates if c.time_ps is not None]
        forced = f"; {', '.join(self.forced)} as asked" if self.forced else ""
        return (f"the least modelled time of {len(priced)} choices priced by {self.library}'s cost model"
                f"{forced}")


def channel_options(call: Call, topology: Topology, library: Library, algorithm: str, protocol_name: str) -> list[int]:
    """The channel counts the tuner prices for ``algorithm`` with ``protocol_name``."""
    top = library.value("channels.max")
    if library.has(f"algorithms.{algorithm}.max_channels"):
        top = min(top, library.value(f"algorithms.{algorithm}.max_channels"))
    threshold = library.value(f"protocols.{protocol_name}.channel_threshold")
    if protocol_name in library.per_rank_threshold:
        threshold *= call.n
    top = max(1, min(top, call.size // max(1, threshold)))
    if algorithm == "direct":
        top = max(1, top // (call.n - 1))
    ways = _ways(topology, algorithm)
    options = {c for c in _POWERS if c <= top}
    if ways > 1:
        options |= {k * ways for k in range(1, top // ways + 1)}
    return sorted(c for c in options if c <= ways or c % ways == 0)


def _ways(topology: Topology, algorithm: str) -> int:
    """The different rings or trees an algorithm's channels can follow."""
    if algorithm == "ring":
        return len(ring_orders(topology))
    if algorithm == "tree":
        return tree_count(topology)
    if algorithm == "hierarchical":
        groups = topology.server_groups
        return len(server_paths(len(groups[0]), topology.meshed(groups[0])))
    return 1


def _costs(call: Call, topology: Topology, library: Library, algorithm: str, protocol_name: str,
           channels: int) -> tuple[PhaseCost, ...]:
    """The phases' costs of one choice, kept with the topology: they depend on the protocol's
    efficiency and chunk, not on the figures a calibration fits (the phases' rate caps do, and
    are priced again from their shapes)."""
    proto = protocol(library, protocol_name, channels, algorithm)
    key = (call, algorithm, protocol_name, channels, proto.efficiency, proto.chunk)
    cache = topology.priced
    if key not in cache:
        ctx = Context(call, topology, proto, channels)
        book = Flowbook(call, topology, proto)
        REGISTRY[(call.collective, algorithm)].flows(ctx, book)
        cache[key] = phase_costs(topology, tuple(book.phases), tuple(book.shapes), proto)
    return cache[key]


def price(call: Call, topology: Topology, library: Library, algorithm: str, protocol_name: str,
          channels: int) -> float:
    """The model's time (ps) for one choice."""
    costs = _costs(call, topology, library, algorithm, protocol_name, channels)
    return max(float(launch_floor_ps(library, call)),
               estimate_ps(library, call, algorithm, protocol_name, channels, costs,
                           start_latency_ps(library, call, algorithm, protocol_name)))


def _in_range(library: Library, call: Call, offered: tuple[str, ...]) -> tuple[str, ...]:
    """The protocols the library lets a call of this size use (RCCL limits LL and LL128 to size
    ranges, ``llProtoRanges`` in its tuning.cc); Simple is always allowed."""
    return tuple(p for p in offered if not library.has(f"protocols.{p}.max_size")
                 or call.size <= library.value(f"protocols.{p}.max_size") or p == "simple")


def unavailable(call: Call, topology: Topology, library: Library, algorithm: str) -> str | None:
    """Why ``algorithm`` cannot run ``call`` here (None if it can)."""
    if (call.collective, algorithm) not in REGISTRY:
        return f"{call.collective} has no {algorithm} algorithm"
    if algorithm not in library.algorithms:
        return f"{library.name} does not offer it"
    if len(algorithms_of(call.collective)) > 1:  # point-to-point collectives have no other way
        if algorithm in library.one_gpu_per_thread and call.launchers > 1:
            return f"{library.name} runs it only where a thread drives one GPU (here {call.launchers} per thread)"
        key = f"algorithms.{algorithm}.max_size"
        if library.has(key) and call.size > library.value(key):
            return f"{library.name} runs it only up to {library.value(key)} B"
    proto = protocol(library, library.protocols_of(algorithm)[0], 1, algorithm)
    return REGISTRY[(call.collective, algorithm)].available(Context(call, topology, proto, 1))


def tune(call: Call, topology: Topology, library: Library, *, algorithm: str | None = None,
         protocol_name: str | None = None, channels: int | None = None) -> Decision:
    """The cheapest way to run ``call``, within what the caller forced."""
    names = algorithms_of(call.collective)
    if algorithm is not None and algorithm not in names:
        raise UsageError(f"{call.collective} has no such algorithm (it has: {', '.join(names)}, auto)",
                         parameter="algorithm", value=algorithm)
    most = library.value("channels.max")
    if channels is not None and not 1 <= channels <= most:
        raise UsageError(f"{library.name} runs 1 to {most} channels", parameter="channels", value=channels)
    candidates: list[Candidate] = []
    best: Candidate | None = None
    for name in (algorithm,) if algorithm is not None else names:
        why = unavailable(call, topology, library, name)
        offered = library.protocols_of(name)
        if why is None and protocol_name is not None and protocol_name not in offered:
            why = f"{library.name} runs it with {', '.join(offered)} only"
        if why is not None:
            candidates.append(Candidate(name, protocol_name or "-", channels or 0, None, why))
            continue
        for proto in (protocol_name,) if protocol_name is not None else _in_range(library, call, offered):
            counts = [channels] if channels is not None else channel_options(call, topology, library, name, proto)
            timed = [(price(call, topology, library, name, proto, count), count) for count in counts]
            time_ps, count = min(timed)
            choice = Candidate(name, proto, count, time_ps)
            candidates.append(choice)
            if best is None or time_ps < best.time_ps:  # type: ignore[operator]
                best = choice
    if best is None:
        reasons = "; ".join(f"{c.algorithm}: {c.reason}" for c in candidates)
        forced = "algorithm" if algorithm is not None else "protocol" if protocol_name is not None else "cards"
        raise UsageError(f"no way to run {call.collective} here ({reasons})", parameter=forced,
                         value=algorithm or protocol_name)
    forced_names = tuple(name for name, value in (("algorithm", algorithm), ("protocol", protocol_name),
                                                  ("channels", channels)) if value is not None)
    assert best.time_ps is not None and math.isfinite(best.time_ps)
    return Decision(library.name, best.algorithm, best.protocol, best.channels, best.time_ps, tuple(candidates),
                    forced_names)
