"""Incast and all-to-all: the traffic that fills switch buffers, and what the fabric did about it.

An **incast** has ``senders`` cards write ``size`` bytes each to one receiver at the same
instant; a **victim** flow, from the first sender to a card nobody else writes to, starts with
them: on a switched fabric with PFC, the pauses that stop the first sender's NIC stop the victim
with it, although its own receiver is idle (head-of-line blocking); its completion is compared
with the same flow run alone. An **all-to-all** has every card of a set write ``size`` bytes to
every other.

Each flow's completion time is measured from the start (p50 and p99 over the flows), and the
RoCE counters of the run are summed over the fabric: PFC pauses sent and received and the time
ports spent paused, the deepest egress queue, ECN marks, CNPs, drops and retransmissions. A
fabric without Ethernet buffers reports them all zero. In data mode every byte is checked where
it landed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from oisa.errors import UsageError, VerificationError
from oisa.fabric import Fabric, FabricSpec
from oisa.fabric.roce import ROCE_COUNTERS, roce_totals
from oisa.plan import PlanBuilder, Send
from oisa.workload.engines import Outcome, _plan_run
from oisa.workload.run import Run

__all__ = ["FlowTimes", "IncastResult", "IncastScenario", "alltoall_cards", "incast_cards", "roce_counters",
           "run_incast_scenario", "run_traffic"]


_STRIDE = 1 << 24  # each sender's bytes land at their own offset of the receiver's memory


@dataclass(frozen=True)
class FlowTimes:
    """Completion times (ps from the start) of a set of flows."""

    times_ps: tuple[int, ...]

    @property
    def p50_ps(self) -> int:
        return int(np.percentile(self.times_ps, 50, method="lower")) if self.times_ps else 0

    @property
    def p99_ps(self) -> int:
        return int(np.percentile(self.times_ps, 99, method="higher")) if self.times_ps else 0

    @property
    def last_ps(self) -> int:
        return max(self.times_ps, default=0)


@dataclass(frozen=True)
class IncastResult:
    """One traffic pattern's run: its flows' completion times and the fabric's RoCE counters."""

    fabric: str
    pattern: str
    engine: str
    flows: FlowTimes
    victim_ps: int | None  # the victim's completion beside the pattern (None: no victim)
    victim_alone_ps: int | None  # the same flow alone
    counters: dict[str, int] = field(default_factory=dict)
    checked: bool | None = None  # data mode: every byte where it should be

    @property
    def victim_slowdown(self) -> float | None:
        if self.victim_ps is None or not self.victim_alone_ps:
            return None
        return self.victim_ps / self.victim_alone_ps


def incast_cards(spec: FabricSpec, senders: int) -> tuple[int, list[int], int | None]:
    """The receiver, the senders and the victim's receiver of an incast: the receiver is the first
    card of the first server, the senders the first card of each other server (so that each
    crosses the fabric, not a PCIe switch in its own server) and, where cards are left, the
    card the victim writes to: the first card that is neither (the receiver's server's second
    card, where it has one), which no incast flow reaches."""
    accelerators = {card.id for card in spec.cards if card.device.role == "accelerator"}
    servers = spec.servers() or {card: [card] for card in accelerators}
    groups = [group for _, cards in sorted(servers.items()) if (group := sorted(set(cards) & accelerators))]
    if senders < 1 or senders > len(groups) - 1:
        raise UsageError(f"an incast on {spec.name} takes 1 to {len(groups) - 1} senders (one per other server)",
                         parameter="senders", value=senders)
    receiver = groups[0][0]
    chosen = [group[0] for group in groups[1:senders + 1]]
    spare = [card for group in groups for card in group if card != receiver and card not in chosen]
    return receiver, chosen, (spare[0] if spare else None)


def roce_counters(fabric: Fabric) -> dict[str, int]:
    """The RoCE counters of a built fabric, summed (``max_queue_bytes``: the deepest egress queue);
    all zero on a fabric without Ethernet buffers or RoCE NICs."""
    totals = roce_totals(fabric.forwarders.values(), (p for link in fabric.links for p in link.ports), fabric.roce_nics)
    return totals if totals is not None else dict.fromkeys(ROCE_COUNTERS, 0)


def run_traffic(spec: FabricSpec, run: Run, flows: list[tuple[int, int, int]], *, victim: tuple[int, int, int] | None,
                pattern: str) -> IncastResult:
    """Run ``flows`` ((source, destination, bytes), all starting at once) and the ``victim`` beside
    them, then the victim alone; ``run`` must have its engine settled."""
    times, victim_ps, counters, checked = _run_once(spec, run, flows, victim)
    alone = None
    if victim is not None:
        alone = _run_once(spec, run, [], victim)[1]
    return IncastResult(spec.name, pattern, run.executor.name, FlowTimes(tuple(times)), victim_ps, alone, counters,
                        checked)


def _run_once(spec: FabricSpec, run: Run, flows: list[tuple[int, int, int]],
              victim: tuple[int, int, int] | None) -> tuple[list[int], int | None, dict[str, int], bool | None]:
    builder = PlanBuilder()
    offsets: dict[int, int] = {}
    placed: list[tuple[int, int, int, int]] = []  # source, destination, bytes, offset at the destination
    for src, dst, size in [*flows, *([victim] if victim else [])]:
        offset = offsets.get(dst, 0)
        offsets[dst] = offset + _STRIDE * (-(-size // _STRIDE))
        placed.append((src, dst, size, offset))
        builder.add(Send(rank=src, peer=dst, size=size, local=0, remote=offset))
    plan = builder.build()

    def prepare(fabric: Fabric) -> dict[int, np.ndarray]:
        sources = {}
        for src, *_ in placed:
            if src not in sources:
                largest = max(s for a, _, s, _ in placed if a == src)
                sources[src] = fabric.kernel.rng.integers(0, 256, largest, dtype=np.uint8)
                fabric.card(src).memory.write(0, sources[src])
        return sources

    def check(fabric: Fabric, sources: dict[int, np.ndarray]) -> bool:
        for src, dst, size, offset in placed:
            if not np.array_equal(fabric.card(dst).memory.read_array(offset, size), sources[src][:size]):
                raise VerificationError(f"card {dst} holds different bytes from those card {src} wrote to it")
        return True

    async def work(fabric: Fabric, run: Run) -> tuple[Outcome, dict[str, int]]:
        outcome = await _plan_run(fabric, run, plan, prepare, check)
        return outcome, roce_counters(fabric)

    outcome, counters = run.frame_engine.execute(spec, run, work)
    execution = outcome.execution
    times = [int(execution.finished[index] - execution.start_ps) for index in range(len(plan.ops))]
    victim_ps = times.pop() if victim is not None else None
    return times, victim_ps, counters, outcome.checked


@dataclass(frozen=True)
class IncastScenario:
    """``oisa scenario incast``: an incast with its victim and an all-to-all, on each fabric."""

    seed: int
    senders: int
    size: int
    alltoall_cards: int
    alltoall_size: int
    rows: tuple[tuple[IncastResult, IncastResult], ...]  # per fabric: (incast, all-to-all)


def alltoall_cards(spec: FabricSpec, cards: int) -> list[int]:
    """``cards`` accelerators for an all-to-all, one per server in turn (so that most pairs cross
    the fabric), then the servers' next cards."""
    accelerators = {card.id for card in spec.cards if card.device.role == "accelerator"}
    servers = spec.servers() or {card: [card] for card in accelerators}
    groups = [sorted(set(group) & accelerators) for _, group in sorted(servers.items())]
    order = [group[i] for i in range(max(map(len, groups), default=0)) for group in groups if i < len(group)]
    if not 2 <= cards <= len(order):
        raise UsageError(f"an all-to-all on {spec.name} takes 2 to {len(order)} cards", parameter="cards",
                         value=cards)
    return order[:cards]


def run_incast_scenario(specs: list[FabricSpec], run: Run, *, senders: int = 8, size: int = 2 << 20,
                        cards: int = 8, pair_size: int = 512 << 10,
                        progress: Callable[[str], None] | None = None) -> IncastScenario:
    """On each fabric (timing mode): ``senders`` cards write ``size`` bytes each to one receiver
    while a victim writes ``size`` from the first sender to an idle card; then ``cards`` cards write
    ``pair_size`` bytes to every other."""
    run = run.settled("timing", allowed=("timing", "data"), workload="incast scenario")
    rows = []
    for spec in specs:
        receiver, chosen, idle = incast_cards(spec, senders)
        victim = (chosen[0], idle, size) if idle is not None else None
        incast = run_traffic(spec, run, [(s, receiver, size) for s in chosen], victim=victim, pattern="incast")
        if progress is not None:
            progress(f"{spec.name} incast")
        group = alltoall_cards(spec, cards)
        flows = [(a, b, pair_size) for a in group for b in group if a != b]
        alltoall = run_traffic(spec, run, flows, victim=None, pattern="all-to-all")
        if progress is not None:
            progress(f"{spec.name} all-to-all")
        rows.append((incast, alltoall))
    return IncastScenario(run.seed, senders, size, cards, pair_size, tuple(rows))
