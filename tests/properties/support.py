"""Running a traffic pattern on a fabric and recording what the properties need.

A pattern's flows become DMA copies on disjoint memory regions (so every byte has one writer
and can be checked), each submitted at its start offset. In data mode the run also records,
per card, the messages it sent in order and the messages that arrived for it in order, and,
once traffic has settled, the state of every link-layer end.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np
from hypothesis import settings
from hypothesis import strategies as st

from oisa.config import Figure
from oisa.device.card import Card, Transfer
from oisa.fabric import Fabric, FabricSpec, Mode
from oisa.sim import LinkPort
from oisa.sim.faults import FaultModel
from oisa.sim.observe import Observer
from oisa.sim.ports import Port
from oisa.testing.strategies import Flow, fault_schedules
from oisa.units import US, S
from oisa.wire.oisa import Message
from oisa.workload import ENGINES, Run
from oisa.workload._run import all_of

FAULTS = st.none() | fault_schedules(ber=st.floats(0, 1e-5), drop=st.floats(0, 0.02), duplicate=st.floats(0, 0.02),
                                     control_drop=st.floats(0, 0.1))
"""No faults, or denser ones than the strategy's defaults: runs of a few KiB carry few flits."""
DATA_MODE = settings(max_examples=max(5, settings.default.max_examples // 4))
"""Data-mode properties run a quarter of the profile's examples: each moves real bytes through
the link layer, and the timing-mode ones cover the shapes at the full count."""
REGION = 1 << 20  # each flow's bytes sit at flow index x 1 MiB, at both ends: regions never overlap
SETTLE_PS = 200 * US  # after the last copy: long enough for ACKs, credit returns and polls to land


class TrafficStalled(AssertionError):
    """Traffic was still moving (or waiting) when the bound on its virtual time ran out."""


@dataclass(frozen=True)
class LinkEnd:
    """One link-layer end once traffic has settled."""

    name: str
    credits: dict[str, tuple[float, float]]  # what we may still send, by (vc, class)
    advertised: dict[str, tuple[float, float]]  # what the peer gave at initialisation (inf: unlimited)
    occupancy: dict[str, tuple[int, int]]  # what we still hold of the peer's messages
    unacknowledged: int
    waiting: int


@dataclass
class TrafficRun:
    flows: list[Flow]
    transfers: list[Transfer]
    end_ps: int  # when the last copy finished
    verified: list[bool] | None  # per flow, data mode only
    sent: dict[int, list[tuple[str, Message]]] = field(default_factory=dict)  # card -> (path, message) in send order
    arrived: dict[int, list[Message]] = field(default_factory=dict)  # card -> messages for it, in arrival order
    link_ends: list[LinkEnd] = field(default_factory=list)
    faults: dict[str, int] = field(default_factory=dict)

    def finish_ps(self) -> list[int]:
        """When each flow finished, from the start of the pattern."""
        return [t.finished_ps for t in self.transfers]


class CreditWatch(Observer):
    """Every credit count a sending end reported; none may ever be negative."""

    def __init__(self) -> None:
        self.lowest: dict[str, float] = {}
        self.reports = 0

    def link_state(self, link: str, time_ps: int, credits: dict[str, float], replay_occupancy: int) -> None:
        self.reports += 1
        for key, value in credits.items():
            name = f"{link} {key}"
            self.lowest[name] = min(self.lowest.get(name, value), value)


def bound_ps(spec: FabricSpec, flows: list[Flow]) -> int:
    """A generous bound on a pattern's virtual time: every byte of it carried four times over,
    one after another, on the fabric's slowest link, after the last start, plus 200 us."""
    slowest = min(link.rate_bps for link in spec.links)
    total = sum(flow.size for flow in flows)
    return max(flow.start_ps for flow in flows) + 4 * total * 8 * S // slowest + 200 * US


def run_traffic(spec: FabricSpec, flows: list[Flow], *, seed: int = 0, faults: FaultModel | None = None,
                mode: Mode = "data", record: bool = False, settle: bool = False,
                observer: Observer | None = None) -> TrafficRun:
    """Run ``flows`` on a fresh instance of ``spec``. ``record`` keeps the messages each card
    sent and received; ``settle`` waits :data:`SETTLE_PS` after the last copy and then
    snapshots every link-layer end. Raises :class:`TrafficStalled` past :func:`bound_ps`."""
    how = Run(seed=seed, engine=mode, faults=faults, observer=observer)
    return ENGINES[mode].execute(spec, how, _traffic, flows, record, settle, bound_ps(spec, flows))


async def _traffic(fabric: Fabric, how: Run, flows: list[Flow], record: bool, settle: bool,
                   bound: int) -> TrafficRun:
    kernel = fabric.kernel
    await fabric.bring_up()
    run = TrafficRun(flows, [], 0, None)
    if record:
        for card in fabric.cards.values():
            _record(card, run)
    expected = _fill(fabric, flows) if how.moves_bytes else None
    transfers: list[Transfer | None] = [None] * len(flows)

    async def copy(index: int, flow: Flow) -> None:
        await kernel.sleep(flow.start_ps)
        card, address = fabric.card(flow.src), index * REGION
        post = card.post_write if flow.kind == "write" else card.post_read
        transfers[index] = await post(flow.dst, address, address, flow.size).wait()

    async def watchdog() -> None:
        await kernel.sleep(bound)
        pending = [f for f, t in zip(flows, transfers) if t is None]
        if pending:
            raise TrafficStalled(f"{len(pending)} of {len(flows)} flows unfinished after {bound} ps: {pending[:4]}")

    kernel.spawn(watchdog, name="traffic.watchdog")
    await all_of(kernel, [(copy, (index, flow)) for index, flow in enumerate(flows)])
    run.transfers = [t for t in transfers if t is not None]
    run.end_ps = kernel.now
    for flow, transfer in zip(flows, run.transfers):
        assert transfer.ok, f"{flow} failed: {transfer.error}"
    if expected is not None:
        run.verified = [_landed(fabric, index, flow, data) for index, (flow, data) in enumerate(zip(flows, expected))]
    if settle:
        await kernel.sleep(SETTLE_PS)
        run.link_ends = [_snapshot(port) for link in fabric.links for port in link.ports if isinstance(port, LinkPort)]
    run.faults = fabric.fault_totals()
    return run


def _fill(fabric: Fabric, flows: list[Flow]) -> list[np.ndarray]:
    """Random bytes at the end each flow copies from."""
    out = []
    for index, flow in enumerate(flows):
        data = fabric.kernel.rng.integers(0, 256, flow.size, dtype=np.uint8)
        fabric.card(flow.src if flow.kind == "write" else flow.dst).memory.write(index * REGION, data)
        out.append(data)
    return out


def _landed(fabric: Fabric, index: int, flow: Flow, data: np.ndarray) -> bool:
    """The copy is where it should be, and the original is untouched."""
    ends = (fabric.card(flow.src), fabric.card(flow.dst))
    return all(np.array_equal(card.memory.read_array(index * REGION, flow.size), data) for card in ends)


def _record(card: Card, run: TrafficRun) -> None:
    """Wrap the card's boundary: what it hands each of its ports (each port is the first hop of
    one path), and what arrives for it, in arrival order (the order its movement handles them)."""
    sent, arrived = run.sent.setdefault(card.node_id, []), run.arrived.setdefault(card.node_id, [])
    for port in card.ports:
        port.send = _recording(port.send, port.name, sent)  # type: ignore[method-assign]
    receive = card.receive

    def recorded_receive(port: Port, message: Message, head_ps: int, tail_ps: int) -> None:
        arrived.append(message)
        receive(port, message, head_ps, tail_ps)

    card.receive = recorded_receive  # type: ignore[method-assign]


def _recording(send: Callable[..., None], path: str, sent: list[tuple[str, Message]]) -> Callable[..., None]:
    def recorded_send(message: Message, tail_ready_ps: int | None = None) -> None:
        sent.append((path, message))
        send(message, tail_ready_ps)

    return recorded_send


def _snapshot(port: LinkPort) -> LinkEnd:
    endpoint = port.endpoint
    keys = endpoint.credit_keys()

    def name(key: tuple[int, object]) -> str:
        return f"vc{key[0]}.{getattr(key[1], 'name', key[1])}"

    return LinkEnd(
        port.name,
        credits={name(k): endpoint.send_credits(k) for k in keys},
        advertised={name(k): tuple(float("inf") if v == 0 else float(v) for v in endpoint.advertised(k))
                    for k in keys},  # type: ignore[misc]
        occupancy={name(k): endpoint.receive_occupancy(k) for k in keys},
        unacknowledged=endpoint.unacknowledged,
        waiting=endpoint.waiting,
    )


def inversions(sent: list[tuple[str, Message]], arrived: list[Message]) -> list[tuple[Message, Message, bool]]:
    """``(later, earlier, same_path)`` for each pair of one sender's messages to one receiver
    where ``later`` was sent after ``earlier`` and arrived before it. Identical messages are
    matched in order; every message sent must arrive exactly once."""
    def key(m: Message) -> tuple[int | bool, ...]:
        return (m.opcode, m.src, m.dst, m.tag, m.address, m.length, m.tc, m.ro, m.ido)

    positions: dict[tuple[int | bool, ...], list[int]] = defaultdict(list)
    for position, message in enumerate(arrived):
        positions[key(message)].append(position)
    taken: dict[tuple[int | bool, ...], int] = defaultdict(int)
    order: list[tuple[int, str, Message]] = []  # (arrival position, path, message) in send order
    for path, message in sent:
        k = key(message)
        assert taken[k] < len(positions[k]), f"{message} was sent and never arrived"
        order.append((positions[k][taken[k]], path, message))
        taken[k] += 1
    assert sum(taken.values()) == len(arrived), "messages arrived that were never sent"
    out = []
    for j, (arrived_j, path_j, later) in enumerate(order):
        for arrived_i, path_i, earlier in order[:j]:
            if arrived_j < arrived_i:
                out.append((later, earlier, path_i == path_j))
    return out


def scaled(spec: FabricSpec, *, rate: float = 1.0, latency: float = 1.0) -> FabricSpec:
    """``spec`` with every link's lane rate multiplied by ``rate``, and every link's and every
    switch's and NIC's latency by ``latency``: the same fabric, faster or slower."""
    def times(figure: Figure, factor: float) -> Figure:
        return replace(figure, value=int(int(figure.value) * factor))

    links = tuple(replace(link, lane_rate=times(link.lane_rate, rate), latency=times(link.latency, latency))
                  for link in spec.links)
    switches = tuple(replace(s, latency=times(s.latency, latency)) for s in spec.switches)
    nics = tuple(replace(n, latency=times(n.latency, latency)) for n in spec.nics)
    return replace(spec, links=links, switches=switches, nics=nics).check()


def cross_server(spec: FabricSpec, flow: Flow) -> bool:
    return spec.card(flow.src).server != spec.card(flow.dst).server


def accelerators(spec: FabricSpec) -> list[int]:
    """The cards traffic runs between: hosts and memory pools only serve memory."""
    return [card.id for card in spec.cards if card.device.role == "accelerator"]
