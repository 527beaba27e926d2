"""An execution graph as a plan: every rank's nodes as operations on its card, collectives
joined across their process groups, sends joined to their receives.

Each rank's nodes become operations on the card the rank runs on (the fabric's accelerators in id
order, unless the caller places ranks otherwise). The k-th collective a rank runs in a process
group is the same call as every other member's k-th in it (what NCCL requires of a communicator);
it becomes one :class:`~oisa.plan.Collective` planned by the collective library the cards run,
which starts once every member's dependencies are done. The library tunes a group's first call
of each size; a later group of the same shape (see :func:`_shape`) takes that choice. The k-th
send from rank a to rank b with tag t is matched with b's k-th receive from a with tag t: the
receive is done once the send's bytes have landed. Compute with FLOPs and memory bytes is a
roofline (both queued, on the card's compute units and on its memory; done when both are), with
FLOPs taking ``1 / efficiency`` times the card's peak time; compute with only a measured
duration holds the compute units that long.

Ranks that disagree (a collective of another kind or size at the same place in a group, a send
nobody receives, collectives in an order that deadlocks) are one :class:`~oisa.errors.ConfigError`
naming the rank's file, the node and the field.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from oisa.ccl import DTYPES, Call, Topology, normalised_count
from oisa.ccl.topology import DIRECT, NET, SWITCH
from oisa.errors import ConfigError, UsageError
from oisa.fabric import FabricSpec
from oisa.graph.model import ExecutionGraph, Kind, Node, Where
from oisa.plan import Collective, Compute, Delay, Op, Plan, PlanBuilder, Read, Send, Stream
from oisa.units import S
from oisa.workload.collectives import plan_call

__all__ = ["COMM_DTYPE", "Lowered", "Unit", "lower"]

COMM_DTYPE = "float16"  # what collectives move: 2-byte elements, as bf16 training does (the library prices bytes)
_REGION = 1 << 20  # address space a send's or memory node's buffer is given on the frame-level engines


@dataclass(frozen=True)
class Unit:
    """What one plan-level operation stands for: the graph nodes ``(rank, node id)`` it runs
    (several for a collective), the plan operations that stand for it (``done`` finishes last)
    and the units it waits for."""

    members: tuple[tuple[int, int], ...]
    kind: Kind
    ops: tuple[int, ...]
    done: int
    deps: tuple[int, ...]
    label: str


@dataclass(frozen=True)
class Lowered:
    """A graph's plan and what each unit of it stands for; ``unit_of[(rank, id)]`` is a node's
    unit, ``cards[r]`` rank r's card."""

    plan: Plan
    units: tuple[Unit, ...]
    unit_of: dict[tuple[int, int], int]
    cards: tuple[int, ...]
    choices: dict[str, int]  # algorithm/protocol the library chose, counted over the graph's collectives


def lower(spec: FabricSpec, graph: ExecutionGraph, cards: Sequence[int], *, precision: str, efficiency: float,
          calibration: str | None = None, distinct_buffers: bool = True) -> Lowered:
    """``graph`` as a plan on ``spec``, rank r on card ``cards[r]``. ``distinct_buffers`` gives
    every transfer buffers of its own (the frame-level engines count landed bytes by address);
    without it, identical collectives share one planning (the flow engine ignores addresses)."""
    if len(cards) < len(graph):
        raise UsageError(f"the graph has {len(graph)} ranks; fabric {spec.name} has {len(cards)} cards to run them",
                         parameter="graph", value=graph.name)
    cards = tuple(cards[:len(graph)])
    for rank in graph.ranks:
        device = spec.card(cards[rank.rank]).device
        if precision not in device.compute:
            raise UsageError(f"{spec.card(cards[rank.rank]).name} ({device.name}) has no such rate (it has: "
                             f"{', '.join(sorted(device.compute))})", parameter="precision", value=precision)
    builder = _Builder(spec, graph, cards, precision, efficiency, calibration, distinct_buffers)
    return builder.build()


class _Builder:
    def __init__(self, spec: FabricSpec, graph: ExecutionGraph, cards: tuple[int, ...], precision: str,
                 efficiency: float, calibration: str | None, distinct: bool) -> None:
        self.spec, self.graph, self.cards = spec, graph, cards
        self.precision, self.efficiency, self.calibration, self.distinct = precision, efficiency, calibration, distinct
        self.plan = PlanBuilder()
        self.units: list[Unit] = []
        self.unit_of: dict[tuple[int, int], int] = {}
        self.topologies: dict[tuple[int, ...], Topology] = {}
        self.planned: dict[tuple[str, tuple[int, ...], int], tuple[Collective, str]] = {}
        self.decided: dict[tuple[object, ...], tuple[str, str, int]] = {}  # a group's shape -> the tuner's choice
        self.choices: dict[str, int] = {}
        self.base = 0
        self.hosts = {c.server: c.id for c in spec.cards if c.device.role == "host"}
        self.pools = [c.id for c in spec.cards if c.device.role == "memory"]

    # -- matching nodes across ranks ---------------------------------------------------------------

    def build(self) -> Lowered:
        orders = [rank.order() for rank in self.graph.ranks]
        groups: dict[tuple[str, int], list[tuple[int, Node]]] = {}
        sends: dict[tuple[int, int, int, int], tuple[int, Node]] = {}
        recvs: dict[tuple[int, int, int, int], tuple[int, Node]] = {}
        for rank, order in zip(self.graph.ranks, orders):
            seen: dict[object, int] = {}
            for node in order:
                if node.kind is Kind.COLLECTIVE:
                    index = seen[node.group] = seen.get(node.group, -1) + 1
                    groups.setdefault((node.group, index), []).append((rank.rank, node))
                elif node.kind in (Kind.SEND, Kind.RECV):
                    src, dst = (rank.rank, node.peer) if node.kind is Kind.SEND else (node.peer, rank.rank)
                    pair = (node.kind, src, dst, node.tag)
                    index = seen[pair] = seen.get(pair, -1) + 1
                    (sends if node.kind is Kind.SEND else recvs)[(src, dst, node.tag, index)] = (rank.rank, node)
        self._check_collectives(groups)
        self._check_pairs(sends, recvs)
        # units: a collective's members share one; every other node is its own
        keys: dict[tuple[int, int], tuple[object, ...]] = {}
        for (group, index), members in groups.items():
            for member, node in members:
                keys[(member, node.id)] = ("collective", group, index)
        members_of: dict[tuple[object, ...], list[tuple[int, Node]]] = {}
        for rank, order in zip(self.graph.ranks, orders):
            for node in order:
                key = keys.get((rank.rank, node.id), ("node", rank.rank, node.id))
                members_of.setdefault(key, []).append((rank.rank, node))
        sender_of = {(recv_rank, recv.id): (sends[key][0], sends[key][1].id)
                     for key, (recv_rank, recv) in recvs.items()}
        self._schedule(members_of, keys, sender_of)
        return Lowered(self.plan.build(), tuple(self.units), self.unit_of, self.cards, self.choices)

    def _check_collectives(self, groups: dict[tuple[str, int], list[tuple[int, Node]]]) -> None:
        for (group, index), members in groups.items():
            ranks = self.graph.group(group)
            first_rank, first = members[0]
            for rank, node in members[1:]:
                for name, field in (("collective", "comm_type"), ("size", "comm_size")):
                    if getattr(node, name) != getattr(first, name):
                        raise ConfigError(f"collective {index} of process group {group!r} is "
                                          f"{getattr(node, name)} here and {getattr(first, name)} on rank {first_rank} "
                                          f"(node {first.id})", source=self.graph.ranks[rank].where,
                                          key=f"node {node.id} {field}")
            if len(members) < len(ranks):
                absent = sorted(set(ranks) - {rank for rank, _ in members})[0]
                raise ConfigError(f"rank {absent} runs {index} collective(s) in process group {group!r}; rank "
                                  f"{first_rank} runs more (its node {first.id} has no partner there)",
                                  source=self.graph.ranks[absent].where, key="pg_name")

    def _check_pairs(self, sends: dict[tuple[int, int, int, int], tuple[int, Node]],
                     recvs: dict[tuple[int, int, int, int], tuple[int, Node]]) -> None:
        for mine, theirs, what, other in ((sends, recvs, "send", "receive"), (recvs, sends, "receive", "send")):
            for key, (rank, node) in mine.items():
                src, dst, tag, index = key
                if key not in theirs:
                    raise ConfigError(f"{what} {index} from rank {src} to rank {dst} with tag {tag} has no matching "
                                      f"{other} on rank {dst if what == 'send' else src}",
                                      source=self.graph.ranks[rank].where,
                                      key=f"node {node.id} {'comm_dst' if what == 'send' else 'comm_src'}")
                partner = theirs[key][1]
                if what == "send" and partner.size != node.size:
                    raise ConfigError(f"sends {node.size} B; rank {dst} receives {partner.size} B (its node "
                                      f"{partner.id})", source=self.graph.ranks[rank].where,
                                      key=f"node {node.id} comm_size")

    def _schedule(self, members_of: dict[tuple[object, ...], list[tuple[int, Node]]],
                  keys: dict[tuple[int, int], tuple[object, ...]],
                  sender_of: dict[tuple[int, int], tuple[int, int]]) -> None:
        """Emit units in an order where every dependency comes first (breadth-first from the
        ranks' first nodes, in rank order: deterministic); a unit that never becomes ready waits
        in a cycle across ranks."""
        def key_of(rank: int, node_id: int) -> tuple[object, ...]:
            return keys.get((rank, node_id), ("node", rank, node_id))

        deps_of: dict[tuple[object, ...], list[tuple[object, ...]]] = {}
        for key, members in members_of.items():
            deps: dict[tuple[object, ...], None] = {}  # ordered, without repeats
            for rank, node in members:
                for dep in node.deps:
                    deps[key_of(rank, dep)] = None
                if node.kind is Kind.RECV:
                    deps[key_of(*sender_of[(rank, node.id)])] = None
            deps.pop(key, None)
            deps_of[key] = list(deps)
        waiting = {key: len(before) for key, before in deps_of.items()}
        dependents: dict[tuple[object, ...], list[tuple[object, ...]]] = {}
        for key, before in deps_of.items():
            for earlier in before:
                dependents.setdefault(earlier, []).append(key)
        ready = deque(key for key in members_of if waiting[key] == 0)
        index_of: dict[tuple[object, ...], int] = {}
        while ready:
            key = ready.popleft()
            index_of[key] = self._emit(members_of[key], tuple(sorted(index_of[d] for d in deps_of[key])))
            for dependent in dependents.get(key, ()):
                waiting[dependent] -= 1
                if waiting[dependent] == 0:
                    ready.append(dependent)
        if len(index_of) < len(members_of):
            stuck = next(key for key in members_of if key not in index_of)
            rank, node = members_of[stuck][0]
            raise ConfigError(f"node {node.id} ({node.name!r}) can never start: the ranks wait for each other in a "
                              f"cycle (collectives, or sends and receives, in orders that deadlock)",
                              source=self.graph.ranks[rank].where, key=f"node {node.id} data_deps/ctrl_deps")

    # -- operations ----------------------------------------------------------------------------------

    def _emit(self, members: list[tuple[int, Node]], unit_deps: tuple[int, ...]) -> int:
        deps = tuple(self.units[d].done for d in unit_deps)
        rank, node = members[0]
        ops = self._ops(rank, node, members, deps)
        unit = Unit(tuple((r, n.id) for r, n in members), node.kind, ops, ops[-1], unit_deps, node.name or node.kind)
        self.units.append(unit)
        for member in unit.members:
            self.unit_of[member] = len(self.units) - 1
        return len(self.units) - 1

    def _add(self, op: Op) -> int:
        return self.plan.add(op)

    def _ops(self, rank: int, node: Node, members: list[tuple[int, Node]], deps: tuple[int, ...]) -> tuple[int, ...]:
        card = self.cards[rank]
        if node.kind is Kind.COMPUTE:
            return self._compute(card, node, deps)
        if node.kind is Kind.COLLECTIVE:
            return self._collective(node, members, deps)
        if node.kind is Kind.SEND:
            return (self._add(Send(card, self.cards[node.peer], node.size, self._region(), self._region(), deps)),)
        if node.kind in (Kind.LOAD, Kind.STORE):
            return self._memory(rank, card, node, deps)
        return (self._add(Delay(card, 0, deps)),)  # a receive (its send is among deps) or a marker

    def _compute(self, card: int, node: Node, deps: tuple[int, ...]) -> tuple[int, ...]:
        if node.host:
            return (self._add(Delay(card, node.duration_ps, deps)),)
        if not node.flops and not node.memory_bytes:
            rate = int(self.spec.card(card).device.compute[self.precision].value)
            return (self._add(Compute(card, node.duration_ps * rate / S, self.precision, deps)),)
        ops = []
        if node.flops:
            ops.append(self._add(Compute(card, node.flops / self.efficiency, self.precision, deps)))
        if node.memory_bytes:
            ops.append(self._add(Stream(card, node.memory_bytes, deps)))
        if len(ops) > 1:
            ops.append(self._add(Delay(card, 0, tuple(ops))))
        return tuple(ops)

    def _collective(self, node: Node, members: list[tuple[int, Node]], deps: tuple[int, ...]) -> tuple[int, ...]:
        ranks = self.graph.group(node.group)
        cards = tuple(self.cards[r] for r in ranks)
        if len(cards) == 1:
            return (self._add(Delay(cards[0], 0, deps)),)
        kind = "allreduce" if node.collective == "barrier" else node.collective
        itemsize = DTYPES[COMM_DTYPE].itemsize
        size = itemsize * len(cards) if node.collective == "barrier" else max(node.size, itemsize * len(cards))
        try:
            count = normalised_count(kind, size, itemsize, len(cards))
        except UsageError as exc:
            rank, _ = members[0]
            raise ConfigError(str(exc), source=self.graph.ranks[rank].where, key=f"node {node.id} comm_size") from None
        key = (kind, cards, count)
        known = None if self.distinct else self.planned.get(key)
        if known is None:
            topology = self.topologies.get(cards)
            if topology is None:
                topology = self.topologies[cards] = Topology(self.spec, cards)
            call = Call(kind, cards, count, COMM_DTYPE, "sum", base=self.base, group=len(self.units) % 60000 + 1)
            shape = _shape(self.spec, call, topology)
            decided = self.decided.get(shape)
            if decided is None:
                planned = plan_call(self.spec, call, calibration=self.calibration, topology=topology)
                decision = planned.decision
                self.decided[shape] = (decision.algorithm, decision.protocol, decision.channels)
            else:
                algorithm, protocol, channels = decided
                planned = plan_call(self.spec, call, algorithm=algorithm, protocol=protocol, channels=channels,
                                    calibration=self.calibration, topology=topology)
            if self.distinct:
                self.base = planned.end
            known = self.planned[key] = (planned.collective,
                                         f"{kind} {planned.decision.algorithm}/{planned.decision.protocol}")
        collective, choice = known
        self.choices[choice] = self.choices.get(choice, 0) + 1
        return (self._add(replace(collective, deps=deps)),)

    def _memory(self, rank: int, card: int, node: Node, deps: tuple[int, ...]) -> tuple[int, ...]:
        if node.where is Where.LOCAL:
            return (self._add(Stream(card, node.memory_bytes, deps)),)
        peer = self._where(rank, card, node)
        if node.kind is Kind.LOAD:
            return (self._add(Read(card, peer, node.memory_bytes, self._region(), self._region(), deps)),)
        return (self._add(Send(card, peer, node.memory_bytes, self._region(), self._region(), deps, confirmed=True)),)

    def _where(self, rank: int, card: int, node: Node) -> int:
        if node.where is Where.PEER:
            return self.cards[node.peer]
        if node.where is Where.HOST:
            host = self.hosts.get(self.spec.card(card).server)
            if host is None:
                raise ConfigError(f"rank {rank}'s card {self.spec.card(card).name} has no host in its server on fabric "
                                  f"{self.spec.name}", source=self.graph.ranks[rank].where,
                                  key=f"node {node.id} mem_location")
            return host
        if not self.pools:
            raise ConfigError(f"fabric {self.spec.name} has no memory pool", source=self.graph.ranks[rank].where,
                              key=f"node {node.id} mem_location")
        return self.pools[rank % len(self.pools)]

    def _region(self) -> int:
        if not self.distinct:
            return 0
        start = self.base
        self.base += _REGION
        return start



def _shape(spec: FabricSpec, call: Call, topology: Topology) -> tuple[object, ...]:
    """What the tuner's choice for ``call`` depends on, so that a group of the same shape on other
    cards (the next server's tensor-parallel group, the next rail's data-parallel one) takes the
    choice once made instead of pricing every algorithm, protocol and channel count again: the
    collective and its size, each member's device, which members share a server, and the route
    from the first member to each other and from each to the next (its kind, paths, latency and
    the rates of the links it loads). Checking this costs two routes per member, where tuning
    prices every candidate's flows over the whole group."""
    ranks = len(call.ranks)
    cards = [spec.card(card) for card in call.ranks]
    servers: dict[int | None, int] = {}
    pattern = tuple(servers.setdefault(card.server, len(servers)) for card in cards)
    members = np.asarray(call.ranks, dtype=np.int64)
    src = np.concatenate([np.zeros(ranks - 1, dtype=np.int64), np.arange(ranks)])
    dst = np.concatenate([np.arange(1, ranks), (np.arange(ranks) + 1) % ranks])
    routed = topology.routes(members[src], members[dst])  # all at once: a data-parallel group has hundreds
    capacity = topology.capacities[routed.resource].tolist()
    per_byte = routed.per_byte.tolist()
    loads: list[list[tuple[float, float]]] = [[] for _ in src]
    for flow, entry in zip(routed.flow.tolist(), zip(capacity, per_byte, strict=True), strict=True):
        loads[flow].append(entry)
    kinds = np.where(routed.direct, 0, np.where(routed.network, 2, 1)).tolist()
    routes = tuple(((DIRECT, SWITCH, NET)[kind], latency, stores, tuple(sorted(entries)))
                   for kind, latency, stores, entries in zip(kinds, routed.latency_ps.tolist(), routed.stores.tolist(),
                                                              loads, strict=True))
    return (call.collective, call.count, tuple(card.device.name for card in cards), pattern, routes)
