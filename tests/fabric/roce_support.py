"""Small RoCE fabrics and an incast on them, for the tests of oisa.fabric.roce and its properties."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from oisa.fabric import Fabric, FabricSpec, load_fabric
from oisa.fabric.roce import EthernetSwitch
from oisa.plan import PlanBuilder, Send
from oisa.sim.ethernet import EthernetPort
from oisa.workload.engines import ENGINES, Outcome, _plan_run
from oisa.workload.run import Run


def small_switched(senders: int, *, chain: bool = False, **parameters: Any) -> FabricSpec:
    """``senders + 1`` servers of one card each on one leaf. With ``chain``, a second leaf hangs
    off the first: the receiver and every other sender are on it, so the second leaf's port to the
    receiver is the bottleneck and the link between the leaves carries the first leaf's senders."""
    spec = load_fabric("switched-64", {"servers": senders + 1, "cards_per_server": 1, "devices": ["mi300x-like"],
                                       **parameters})
    if not chain:
        return spec
    leaf = spec.switches[-1]
    second = replace(leaf, id=leaf.id + 1, name="leaf2")
    moved = {n.id for index, n in enumerate(sorted(spec.nics, key=lambda n: n.card or 0)) if index % 2 == 0}
    links = []
    for link in spec.links:
        nic = link.a if link.b == leaf.id else link.b if link.a == leaf.id else None
        links.append(replace(link, a=nic, b=second.id) if nic in moved else link)
    links.append(replace(links[-1], a=leaf.id, b=second.id))
    return replace(spec, switches=(*spec.switches, second), links=tuple(links)).check()


@dataclass
class Incast:
    fabric: Fabric
    outcome: Outcome

    @property
    def switch(self) -> EthernetSwitch:
        return next(f for f in self.fabric.forwarders.values() if isinstance(f, EthernetSwitch))

    @property
    def ports(self) -> list[EthernetPort]:
        return [p for link in self.fabric.links for p in link.ports if isinstance(p, EthernetPort)]

    @property
    def duration_ps(self) -> int:
        return self.outcome.execution.duration_ps


def incast(spec: FabricSpec, *, size: int, engine: str = "timing", seed: int = 0) -> Incast:
    """Every card but the first writes ``size`` bytes to the first, all at once."""
    builder = PlanBuilder()
    receiver = spec.cards[0].id
    for index, card in enumerate(spec.cards[1:], start=1):
        builder.add(Send(rank=card.id, peer=receiver, size=size, local=0, remote=index * size))
    plan = builder.build()
    run = Run(engine=engine, seed=seed).settled(engine, allowed=(engine,), workload="incast")

    async def work(fabric: Fabric, run: Run) -> Incast:
        return Incast(fabric, await _plan_run(fabric, run, plan, None, None))

    return ENGINES[engine].execute(spec, run, work)


@dataclass
class Shares:
    """What each sender delivered to one receiver, window by window: the bottleneck's sharing."""

    window_ps: int
    delivered: dict[int, list[int]]  # sender -> payload bytes that reached the receiver's NIC per window
    finished_ps: list[int]  # each sender's flow, when it was done
    started_ps: list[int]
    counters: dict[str, int]

    def gbps(self, sender: int, window: int) -> float:
        row = self.delivered[sender]
        return (row[window] if window < len(row) else 0) * 8 / (self.window_ps * 1e-12) / 1e9


def bottleneck_shares(spec: FabricSpec, senders: list[int], receiver: int, sizes: list[int], *, window_ps: int,
                      starts_ps: list[int] | None = None, seed: int = 0) -> Shares:
    """Every sender writes its size to ``receiver`` (from its start, 0 if none given), in timing
    mode; the payload that reaches the receiving NIC is counted per sender per window."""
    from oisa.fabric.dcqcn import RoceNic
    from oisa.plan import Delay
    from oisa.workload.incast import roce_counters

    builder = PlanBuilder()
    offset = 0
    for index, (card, size) in enumerate(zip(senders, sizes, strict=True)):
        start = (starts_ps or [0] * len(senders))[index]
        deps = (builder.add(Delay(rank=card, duration_ps=start)),) if start else ()
        builder.add(Send(rank=card, peer=receiver, size=size, local=0, remote=offset, deps=deps))
        offset += size
    plan = builder.build()
    run = Run(engine="timing", seed=seed).settled("timing", allowed=("timing",), workload="bottleneck shares")
    delivered: dict[int, list[int]] = {card: [] for card in senders}

    async def work(fabric: Fabric, run: Run) -> tuple[Outcome, dict[str, int]]:
        nics: list[RoceNic] = fabric.roce_nics
        name = next(n.name for n in spec.nics if n.card == receiver)
        nic = next(n for n in nics if n.port.name.startswith(f"{name}->"))
        intake = nic.port.intake

        def count(port: Any, message: Any, head_ps: int, tail_ps: int) -> None:
            if message.dst == receiver and message.src in delivered and message.length:
                row = delivered[message.src]
                window = tail_ps // window_ps
                row.extend([0] * (window + 1 - len(row)))
                row[window] += message.length * message.count
            intake(port, message, head_ps, tail_ps)

        nic.port.intake = count
        outcome = await _plan_run(fabric, run, plan, None, None)
        return outcome, roce_counters(fabric)

    outcome, counters = ENGINES["timing"].execute(spec, run, work)
    execution = outcome.execution
    sends = [index for index, op in enumerate(plan.ops) if isinstance(op, Send)]
    finished = [int(execution.finished[index] - execution.start_ps) for index in sends]
    return Shares(window_ps, delivered, finished, list(starts_ps or [0] * len(senders)), counters)

