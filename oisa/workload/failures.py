"""What failures cost a synchronous training job at cluster scale: rates, mechanism, goodput.

This module owns three things and nothing about frames or routes:

1. **Rates.** One mean time between failures per component class (:data:`CLASSES`), each with its
   source. The rates come from Llama 3 405B's pre-training (Meta, "The Llama 3 Herd of Models",
   arXiv 2407.21783, Table 5: 419 unexpected interruptions on 16,384 H100s in 54 days), each
   class's count divided by the number of such components in that cluster. Where the paper gives
   no count of a component (switches, cables) the divisor is an assumption and says so.
2. **Mechanism.** Which failures stop the job is read from the fabric, not from the class name
   (:func:`inventory`). The rule: a failure *interrupts* the synchronous job when some card loses
   its last instance of something it needs: the card itself, its HBM, its host, its software;
   its only NIC, its NIC's only link, the only leaf switch its NICs reach; its only scale-up
   link or the only scale-up switch (plane) it is joined to; a leaf's only up-link or the only
   switch a leaf's up-links reach. Any other failure only *degrades* the job: the card still
   has another plane, link, NIC or up-link, so its bandwidth through that stage falls by the
   failed element's share (one plane of eight on the OISA supernode: an eighth) until repair,
   and the job goes on. Degradations are counted and their bandwidth-hours reported; they are
   not folded into goodput, which would need the step time under the lost bandwidth.
3. **Goodput.** A seeded failure process (exponential inter-arrival times per class and count,
   drawn from the Run's seed) over a horizon, and a checkpoint/restart timeline on it
   (:func:`simulate`): checkpoint after every ``interval`` of useful work, each write taking
   ``write_s``; an interruption loses the work since the last completed checkpoint and costs
   ``restart_s`` (a failure during a restart starts it again). Goodput is useful work over wall
   time. Beside the best interval the simulation finds: Young's ``sqrt(2 delta M)`` and Daly's
   higher-order optimum, with M the mean time between interruptions of the job.

Assumed throughout, and said again in the README: the job spans every accelerator of the fabric;
spare hosts replace failed ones, so a restart does not wait for repair; software faults scale
with the number of cards; a failure's cost does not depend on when in the step it strikes.
"""

from __future__ import annotations

import itertools
import math
import re
import zlib
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from oisa.config import load_toml
from oisa.errors import ConfigError, UnitError, UsageError
from oisa.fabric import FabricSpec
from oisa.fabric.outages import Outage
from oisa.units import parse_time
from oisa.workload.degradation import Degradation, measure
from oisa.workload.degradation import progress as pace

__all__ = [
    "CLASSES",
    "CROSS_CHECKS",
    "DEFAULT_INTERVALS_S",
    "DEFAULT_REPAIR_S",
    "DEFAULT_RESTART_S",
    "DEFAULT_STATE_BYTES",
    "DEFAULT_WRITE_BPS",
    "LLAMA3",
    "ClusterGoodput",
    "ComponentClass",
    "ExplicitFault",
    "FailureSchedule",
    "FailuresResult",
    "FaultEvent",
    "FaultFile",
    "Group",
    "IntervalGoodput",
    "Inventory",
    "Outcome",
    "cluster_goodput",
    "daly_interval",
    "draw_schedule",
    "goodput_curve",
    "inventory",
    "parse_duration",
    "read_fault_file",
    "read_outages",
    "run_failures",
    "simulate",
    "young_interval",
]

HOUR = 3600.0
_DURATION_UNITS = {"s": 1.0, "min": 60.0, "h": HOUR, "d": 24 * HOUR, "w": 7 * 24 * HOUR}


@dataclass(frozen=True)
class Llama3Cluster:
    """The cluster behind the rates: what was counted, over what, and the counts we divide by."""

    gpus: int = 16_384
    days: float = 54.0
    hosts: int = 2_048  # 8 GPUs per Grand Teton server (Llama 3 paper, section 3.3.1)
    nics: int = 16_384  # one 400G backend NIC per GPU (Llama 3 paper, section 3.3.1)
    # ASSUMPTION: the paper's "network switch/cable" row spread evenly over the edge elements
    # a GPU's traffic depends on: one NIC cable per GPU (16,384) and one ToR per rack of 16 GPUs
    # (two servers per rack under one Minipack2 ToR, Llama 3 paper section 3.3.1), 1,024 ToRs.
    network_elements: int = 16_384 + 16_384 // 16
    source: str = ("Meta, 'The Llama 3 Herd of Models', arXiv 2407.21783, Table 5 (419 unexpected interruptions, "
                   "16,384 H100s, 54 days), as reproduced at https://glennklockwood.com/garden/component-reliability")

    @property
    def hours(self) -> float:
        return self.days * 24


LLAMA3 = Llama3Cluster()


@dataclass(frozen=True)
class ComponentClass:
    """A class of component that fails: its mean time between failures per component, in hours,
    and where that comes from (the Table 5 rows it sums, or the assumption that sets it)."""

    name: str
    mtbf_h: float
    source: str
    assumption: str | None = None

    @property
    def rate_per_h(self) -> float:
        return 1.0 / self.mtbf_h


def _llama(name: str, events: int, per: int, rows: str, assumption: str | None = None) -> ComponentClass:
    """A class whose rate is ``events`` of Table 5 over ``per`` components for 54 days."""
    return ComponentClass(name, per * LLAMA3.hours / events,
                          f"{LLAMA3.source}: {rows}; {events} events over {per:,} components x {LLAMA3.days:g} d",
                          assumption)


_NETWORK = ("ASSUMPTION: no public per-element rate; the Table 5 'network switch/cable' row (35, 8.4%) spread "
            "evenly over the 17,408 edge elements of Llama 3's cluster (16,384 NIC cables and 1,024 ToRs of 16 GPUs)")
_SCALE_UP = ("ASSUMPTION: no public rate isolates scale-up (NVLink-class) links or switches: Table 5 counts NVLink "
             "faults inside 'faulty GPU'; taken at the network row's per-element rate")
CLASSES: dict[str, ComponentClass] = {c.name: c for c in (
    _llama("card", 148 + 19 + 17 + 6 + 6, LLAMA3.gpus,
           "faulty GPU 148 (30.1%, NVLink problems included), GPU SRAM 19 (4.5%), GPU system processor 17 (4.1%), "
           "silent data corruption 6 (1.4%), GPU thermal interface and sensor 6 (1.4%)"),
    _llama("hbm", 72, LLAMA3.gpus, "GPU HBM3 memory 72 (17.2%)"),
    _llama("software", 54 + 7 + 2, LLAMA3.gpus,
           "software bug 54 (12.9%), NCCL watchdog timeouts 7 (1.7%), dependency 2",
           "ASSUMPTION: software faults scale with the number of cards (divided by the GPU count)"),
    _llama("host", 32 + 3 + 3 + 2 + 2 + 2 + 2, LLAMA3.hosts,
           "host maintenance 32 (7.6%), SSD 3, power supply 3, server chassis 2, IO expansion board 2, CPU 2, "
           "system memory 2 (0.5-0.7% each)"),
    _llama("nic", 7, LLAMA3.nics, "network interface card 7 (1.7%)",
           "ASSUMPTION: the card-to-NIC PCIe link fails with its NIC (no rate of its own)"),
    _llama("nic-link", 35, LLAMA3.network_elements, "network switch/cable 35 (8.4%)", _NETWORK),
    _llama("leaf", 35, LLAMA3.network_elements, "network switch/cable 35 (8.4%)", _NETWORK),
    _llama("fabric-switch", 35, LLAMA3.network_elements, "network switch/cable 35 (8.4%)",
           _NETWORK + "; spines and cores taken at a ToR's rate"),
    _llama("fabric-link", 35, LLAMA3.network_elements, "network switch/cable 35 (8.4%)",
           _NETWORK + "; switch-to-switch cables taken at a NIC cable's rate"),
    _llama("scale-up-link", 35, LLAMA3.network_elements, "network switch/cable 35 (8.4%)", _SCALE_UP),
    _llama("scale-up-switch", 35, LLAMA3.network_elements, "network switch/cable 35 (8.4%)", _SCALE_UP),
)}

# Cross-checks, not inputs: the rates above summed over a cluster set against these.
CROSS_CHECKS = (
    ("Kokolis et al., 'Revisiting Reliability in Large-Scale ML Research Clusters', HPCA 2025, arXiv 2410.21680 "
     "(as summarised by https://www.crusoe.ai/resources/blog/autoclusters-minimizing-hardware-failures-in-large-gpu-"
     "clusters): job MTBF about 8 h at 1,024 GPUs and 1.8 h at 16,384 GPUs (A100 research clusters)",
     {1024: 8.0, 16384: 1.8}),
    ("Epoch AI, https://epoch.ai/blog/hardware-failures-wont-limit-ai-scaling: one failure per GPU per 50,000 h "
     "(a back-of-envelope assumption, not a measurement)", {n: 50_000 / n for n in (1024, 16384, 102400)}),
)

# ASSUMPTION: detection, rescheduling onto spares, communicator set-up and checkpoint reload take
# 10 minutes. Purpose-built systems report less: FlashRecovery 150 s on 4,800 devices (arXiv
# 2509.03047), TrainMover about 20 s (OSDI '26, https://uccl-project.github.io/posts/continuum-blog/).
DEFAULT_RESTART_S = 600.0
# Llama 3 paper, section 3.3.4: checkpoints save each GPU's model state, 1 MB to 4 GB per GPU (as
# summarised by https://ai-papers.xuzou.cn/papers/llama3_2024); we take the largest.
DEFAULT_STATE_BYTES = 4 * 10**9
# Llama 3 paper, section 3.3.1: Tectonic sustains 2 TB/s for the 16,384-GPU job, 122 MB/s per GPU.
# ASSUMPTION: storage grows with the cluster, so every card keeps that share at any size.
DEFAULT_WRITE_BPS = 2 * 10**12 * 8 // LLAMA3.gpus
# ASSUMPTION: a failed link, plane or spine that does not stop the job is replaced in 4 hours.
DEFAULT_REPAIR_S = 4 * HOUR


def parse_duration(text: str | int | float, parameter: str, *, positive: bool = True) -> float:
    """Seconds from ``"90s"``, ``"30min"``, ``"2h"``, ``"7d"``, ``"1w"`` (bare numbers: seconds)."""
    if isinstance(text, bool):
        raise UsageError("expected a time such as 30min, 2h or 7d", parameter=parameter, value=text)
    if isinstance(text, (int, float)):
        seconds = float(text)
    else:
        match = re.fullmatch(r"\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*([a-z]*)\s*", text)
        if match is None or (match[2] or "s") not in _DURATION_UNITS:
            raise UsageError("expected a time such as 30min, 2h or 7d (units: s, min, h, d, w)",
                             parameter=parameter, value=text)
        seconds = float(match[1]) * _DURATION_UNITS[match[2] or "s"]
    if not math.isfinite(seconds) or seconds < 0 or (positive and seconds == 0):
        raise UsageError(f"must be {'greater than zero' if positive else 'zero or more'} and finite",
                         parameter=parameter, value=text)
    return seconds


# -- the mechanism: what a fabric has, and what each failure does to the job --------------------

@dataclass(frozen=True)
class Group:
    """Components of one class that fail alike: ``count`` of them; whether one failure interrupts
    the job; else the share of its stage's bandwidth the worst-placed card loses."""

    cls: str
    count: int
    interrupts: bool
    share: float = 0.0

    @property
    def label(self) -> str:
        return f"{self.cls} ({'interrupts' if self.interrupts else f'degrades {self.share:.3g}'})"


@dataclass(frozen=True)
class Inventory:
    """What a fabric is made of (``counts``: cards, servers, NICs, switches and links of each kind,
    planes) and its failure groups, largest effect first."""

    fabric: str
    cards: int
    counts: dict[str, int]
    groups: tuple[Group, ...]

    def interrupt_rate_per_h(self, classes: Mapping[str, ComponentClass]) -> float:
        return sum(g.count * classes[g.cls].rate_per_h for g in self.groups if g.interrupts)

    def mtbi_h(self, classes: Mapping[str, ComponentClass]) -> float:
        """Mean time between interruptions of a job on every card, in hours."""
        rate = self.interrupt_rate_per_h(classes)
        return math.inf if rate == 0 else 1.0 / rate


def inventory(spec: FabricSpec) -> Inventory:
    """Count ``spec``'s components and sort each into groups by the rule of the module docstring."""
    cards = {c.id for c in spec.cards if c.device.role == "accelerator"}
    switches = {s.id for s in spec.switches}
    nic_card = {n.id: n.card for n in spec.nics}
    scale_up_links: dict[int, int] = defaultdict(int)  # card -> its scale-up links
    planes: dict[int, set[int]] = defaultdict(set)  # card -> scale-up switches it is joined to
    card_nics: dict[int, set[int]] = defaultdict(set)
    nic_up: dict[int, list[int]] = defaultdict(list)  # NIC -> switches its links reach
    switch_links: list[tuple[int, int]] = []
    link_kinds: dict[str, int] = defaultdict(int)
    scale_up_switches: set[int] = set()
    for link in spec.links:
        link_kinds[link.kind.value] += 1
        for here, there in ((link.a, link.b), (link.b, link.a)):
            if here in cards and there in switches:
                scale_up_links[here] += 1
                planes[here].add(there)
                scale_up_switches.add(there)
            elif here in cards and there in cards:
                scale_up_links[here] += 1
            elif here in cards and there in nic_card:
                card_nics[here].add(there)
            elif here in nic_card and there in switches:
                nic_up[here].append(there)
        if link.a in switches and link.b in switches:
            switch_links.append((link.a, link.b))
    for nic, card in nic_card.items():
        if card is not None and card in cards:
            card_nics[card].add(nic)
    leaves = {s for ups in nic_up.values() for s in ups}
    tier = _tiers(leaves, switch_links)
    ups: dict[int, list[int]] = defaultdict(list)  # switch -> its links to the tier above
    for a, b in switch_links:
        if a in tier and b in tier and tier[a] != tier[b]:
            low, high = (a, b) if tier[a] < tier[b] else (b, a)
            ups[low].append(high)

    groups: list[Group] = []
    n_cards = len(cards)
    servers = {c.server for c in spec.cards if c.id in cards and c.server is not None}
    groups += [Group("card", n_cards, True), Group("hbm", n_cards, True), Group("software", n_cards, True)]
    groups.append(Group("host", len(servers), True))
    nics_used = [nic for card in cards for nic in card_nics[card]]
    alone = {nic for card in cards if len(card_nics[card]) == 1 for nic in card_nics[card]}
    groups += _split("nic", nics_used, alone, lambda nic: 1 / len(card_nics[nic_card[nic] or -1] or {nic}))
    # A NIC's link to its leaf interrupts when the NIC has no other and is its card's only NIC.
    nic_links = [(nic, i) for nic in nics_used for i in range(len(nic_up[nic]))]
    groups += _split("nic-link", nic_links, {(n, i) for n, i in nic_links if n in alone and len(nic_up[n]) == 1},
                     lambda item: 1 / max(1, len(nic_up[item[0]])))
    only_leaf = {next(iter(reach)) for card in cards
                 if len(reach := {s for nic in card_nics[card] for s in nic_up[nic]}) == 1}
    groups += _split("leaf", sorted(leaves), only_leaf, lambda s: 1 / max(1, len(leaves)))
    upper = sorted(s for s in tier if s not in leaves)
    only_up = {ups[s][0] for s in ups if len(set(ups[s])) == 1}
    up_share: dict[int, float] = defaultdict(float)  # switch -> the most up-link share a switch below loses
    for links_up in ups.values():
        for high in set(links_up):
            up_share[high] = max(up_share[high], links_up.count(high) / len(links_up))
    groups += _split("fabric-switch", upper, only_up, lambda s: up_share[s])
    fabric_links = [(low, i) for low in ups for i in range(len(ups[low]))]
    groups += _split("fabric-link", fabric_links, {(low, 0) for low in ups if len(ups[low]) == 1},
                     lambda item: 1 / len(ups[item[0]]))
    card_links = [(card, i) for card in cards for i in range(scale_up_links[card])]
    groups += _split("scale-up-link", card_links, {(c, 0) for c in cards if scale_up_links[c] == 1},
                     lambda item: 1 / scale_up_links[item[0]])
    only_plane = {next(iter(planes[c])) for c in cards if len(planes[c]) == 1}
    plane_share: dict[int, float] = defaultdict(float)  # plane -> the most a card joined to it loses
    for card in cards:
        for plane in planes[card]:
            plane_share[plane] = max(plane_share[plane], 1 / len(planes[card]))
    groups += _split("scale-up-switch", sorted(scale_up_switches), only_plane, lambda s: plane_share[s])
    counts = {"cards": n_cards, "servers": len(servers), "nics": len(nics_used),
              "scale_up_switches": len(scale_up_switches), "leaves": len(leaves), "fabric_switches": len(upper),
              "planes": max((len(p) for p in planes.values()), default=0)}
    counts.update({f"links_{kind}": n for kind, n in sorted(link_kinds.items())})
    kept = tuple(g for g in groups if g.count)
    return Inventory(spec.name, n_cards, counts, tuple(sorted(kept, key=lambda g: (not g.interrupts, -g.share))))


def _tiers(leaves: set[int], switch_links: Sequence[tuple[int, int]]) -> dict[int, int]:
    """Each scale-out switch's tier: 1 for a leaf, one more than its nearest leaf above that."""
    neighbours: dict[int, list[int]] = defaultdict(list)
    for a, b in switch_links:
        neighbours[a].append(b)
        neighbours[b].append(a)
    tier = dict.fromkeys(leaves, 1)
    frontier = sorted(leaves)
    while frontier:
        nxt = []
        for node in frontier:
            for other in neighbours[node]:
                if other not in tier:
                    tier[other] = tier[node] + 1
                    nxt.append(other)
        frontier = nxt
    return tier


def _split(cls: str, members: Iterable[Any], interrupting: set[Any], share: Callable[[Any], float]) -> list[Group]:
    """Members of ``cls`` in one group that interrupts and groups by the share they degrade."""
    by_share: dict[float, int] = defaultdict(int)
    stopping = 0
    for member in members:
        if member in interrupting:
            stopping += 1
        else:
            by_share[round(share(member), 9)] += 1
    return [Group(cls, stopping, True)] + [Group(cls, n, False, s) for s, n in sorted(by_share.items())]


# -- the failure process -------------------------------------------------------------------------

@dataclass(frozen=True)
class FaultEvent:
    """One failure: at ``at_s``, of member ``index`` of ``group``; repaired at ``repair_s``."""

    at_s: float
    group: int
    index: int
    repair_s: float


@dataclass(frozen=True)
class FailureSchedule:
    horizon_s: float
    events: tuple[FaultEvent, ...]

    def interruptions(self, inv: Inventory) -> np.ndarray:
        return np.array([e.at_s for e in self.events if inv.groups[e.group].interrupts], dtype=float)


def draw_schedule(inv: Inventory, classes: Mapping[str, ComponentClass], horizon_s: float,
                  rng: np.random.Generator, *, repair_s: float = DEFAULT_REPAIR_S,
                  extra: Sequence[ExplicitFault] = ()) -> FailureSchedule:
    """Failures of every group over ``horizon_s``: a Poisson process of rate ``count / MTBF`` each
    (exponential gaps), the failed member drawn uniformly; ``extra`` faults added as given."""
    events: list[FaultEvent] = []
    for index, group in enumerate(inv.groups):
        rate_per_s = group.count * classes[group.cls].rate_per_h / HOUR
        t = 0.0
        while True:
            t += rng.exponential(1.0 / rate_per_s)
            if t >= horizon_s:
                break
            events.append(FaultEvent(t, index, int(rng.integers(group.count)), t + repair_s))
    for fault in extra:
        events.append(fault.event(inv, repair_s))
    return FailureSchedule(horizon_s, tuple(sorted(events, key=lambda e: (e.at_s, e.group, e.index))))


# -- the checkpoint/restart timeline -------------------------------------------------------------

@dataclass(frozen=True)
class Outcome:
    """One timeline: useful work and the wall time it took, and how the rest was spent."""

    interval_s: float
    useful_s: float
    wall_s: float
    interruptions: int
    lost_s: float  # work done and lost to interruptions
    checkpoint_s: float  # time spent writing checkpoints
    restart_s: float  # time spent restarting

    @property
    def goodput(self) -> float:
        return self.useful_s / self.wall_s


def simulate(failures: np.ndarray, horizon_s: float, interval_s: float, write_s: float,
             restart_s: float) -> Outcome:
    """Run the job from 0 to ``horizon_s`` against interruptions at ``failures`` (sorted seconds).

    Cycles of ``interval_s`` work and ``write_s`` checkpoint follow each other; a failure loses
    the work since the last completed checkpoint (a checkpoint cut short is lost too) and starts a
    restart of ``restart_s``; one that strikes during a restart starts it again. Work done when
    the horizon ends counts as useful: nothing interrupted it."""
    if not (interval_s > 0 and write_s >= 0 and restart_s >= 0 and horizon_s > 0):
        raise UsageError("interval, horizon must be > 0 and write, restart times >= 0",
                         parameter=("interval_s", "write_s", "restart_s", "horizon_s"))
    cycle = interval_s + write_s
    useful = lost = writing = 0.0
    start = 0.0  # when the job (re)starts computing
    taken = 0
    for at in failures:
        if at >= horizon_s:
            break
        taken += 1
        if at >= start:  # else it struck during a restart, which begins again
            done, partial = divmod(at - start, cycle)
            useful += done * interval_s
            writing += done * write_s + max(0.0, partial - interval_s)
            lost += min(partial, interval_s)
        start = at + restart_s
    if start < horizon_s:
        done, partial = divmod(horizon_s - start, cycle)
        useful += done * interval_s + min(partial, interval_s)
        writing += done * write_s + max(0.0, partial - interval_s)
    restarting = horizon_s - useful - lost - writing
    return Outcome(interval_s, useful, horizon_s, taken, lost, writing, restarting)


def young_interval(write_s: float, mtbi_s: float) -> float:
    """Young (1974): the interval that minimises lost time to first order, sqrt(2 delta M)."""
    return math.sqrt(2 * write_s * mtbi_s)


def daly_interval(write_s: float, mtbi_s: float) -> float:
    """Daly (2006, 'A higher order estimate of the optimum checkpoint interval for restart
    dumps', FGCS 22(3)): sqrt(2 delta M) [1 + sqrt(delta/2M)/3 + delta/(18M)] - delta while
    delta < 2M, else M."""
    if write_s >= 2 * mtbi_s:
        return mtbi_s
    ratio = write_s / (2 * mtbi_s)
    return math.sqrt(2 * write_s * mtbi_s) * (1 + math.sqrt(ratio) / 3 + ratio / 9) - write_s


# -- the fault file --------------------------------------------------------------------------------

@dataclass(frozen=True)
class ExplicitFault:
    """A failure named in a fault file: member ``index`` of class ``cls`` fails at ``at_s``."""

    cls: str
    at_s: float
    repair_s: float | None
    index: int
    where: str  # the entry, for errors found once a fabric is known

    def event(self, inv: Inventory, default_repair_s: float) -> FaultEvent:
        """This fault as an event of ``inv``'s groups (members numbered through the class's groups)."""
        offset = 0
        for number, group in enumerate(inv.groups):
            if group.cls != self.cls:
                continue
            if self.index < offset + group.count:
                repair = self.repair_s if self.repair_s is not None else self.at_s + default_repair_s
                return FaultEvent(self.at_s, number, self.index - offset, repair)
            offset += group.count
        raise ConfigError(f"index {self.index}: {inv.fabric} has {offset} of class {self.cls!r}", key=self.where)


@dataclass(frozen=True)
class FaultFile:
    classes: dict[str, ComponentClass]
    faults: tuple[ExplicitFault, ...] = field(default=())


def read_fault_file(path: str | Path, base: Mapping[str, ComponentClass] = CLASSES) -> FaultFile:
    """Rates and timed failures from a TOML file: ``[rates.CLASS] mtbf = "50000h"`` with
    ``source`` or ``assumption``, and ``[[fault]] class, at, repair (a time after at), index``."""
    source = str(path)
    doc = load_toml(Path(path)).data
    unknown = sorted(set(doc) - {"rates", "fault"})
    if unknown:
        raise ConfigError("unknown table (expected rates, fault)", source=source, key=unknown[0])
    classes = dict(base)
    rates = doc.get("rates", {})
    if not isinstance(rates, dict):
        raise ConfigError("expected a table of classes", source=source, key="rates")
    for name, entry in rates.items():
        key = f"rates.{name}"
        _known_class(name, source, key, classes)
        if not isinstance(entry, dict) or set(entry) - {"mtbf", "source", "assumption"} or "mtbf" not in entry:
            raise ConfigError("expected mtbf = TIME with source = or assumption = TEXT", source=source, key=key)
        why = entry.get("source") or entry.get("assumption")
        if not isinstance(why, str) or not why.strip():
            raise ConfigError("a rate needs a source or an assumption (a non-empty string)", source=source, key=key)
        mtbf_h = _time(entry["mtbf"], source, f"{key}.mtbf", positive=True) / HOUR
        classes[name] = ComponentClass(name, mtbf_h, str(entry.get("source", "")), entry.get("assumption"))
    faults = doc.get("fault", [])
    if not isinstance(faults, list):
        raise ConfigError("expected [[fault]] entries", source=source, key="fault")
    return FaultFile(classes, tuple(_fault(entry, f"fault[{i}]", source, classes) for i, entry in enumerate(faults)))


def read_outages(path: str | Path) -> tuple[Outage, ...]:
    """The outages of a frame-level run (:mod:`oisa.fabric.outages`) from a TOML file of
    ``[[outage]] component, at, repair, lanes`` entries (times with units: ``"2us"``, ``"1ms"``,
    from the start of the workload). Each entry is checked on its own, naming it; whether the
    component exists is checked against the fabric when the run starts."""
    source = str(path)
    doc = load_toml(Path(path)).data
    unknown = sorted(set(doc) - {"outage"})
    if unknown:
        raise ConfigError("unknown table (expected [[outage]] entries)", source=source, key=unknown[0])
    entries = doc.get("outage", [])
    if not isinstance(entries, list) or not entries:
        raise ConfigError("expected one [[outage]] entry or more", source=source, key="outage")
    return tuple(_outage(entry, f"outage[{i}]", source) for i, entry in enumerate(entries))


def _outage(entry: object, key: str, source: str) -> Outage:
    if not isinstance(entry, dict):
        raise ConfigError("expected a table with component and at", source=source, key=key)
    extra = sorted(set(entry) - {"component", "at", "repair", "lanes"})
    if extra:
        raise ConfigError("unknown key (expected component, at, repair, lanes)", source=source,
                          key=f"{key}.{extra[0]}")
    if "component" not in entry or "at" not in entry:
        raise ConfigError("an outage needs component and at", source=source, key=key)
    times: dict[str, int | None] = {"at": None, "repair": None}
    for name in times:
        if name in entry:
            value = entry[name]
            if isinstance(value, bool) or not isinstance(value, (str, int, float)):
                raise ConfigError(f"{value!r}: expected a time such as 2us or 1ms", source=source, key=f"{key}.{name}")
            if isinstance(value, (int, float)) and value < 0:
                raise ConfigError(f"{value!r} is before zero", source=source, key=f"{key}.{name}")
            try:
                times[name] = parse_time(value, f"{key}.{name}")
            except UnitError as exc:
                raise ConfigError(str(exc).split(": ", 1)[-1], source=source, key=f"{key}.{name}") from None
    lanes = entry.get("lanes")
    try:
        at = times["at"]
        assert at is not None
        return Outage(entry["component"], at, times["repair"], lanes)
    except UsageError as exc:
        raise ConfigError(exc.problem, source=source, key=key) from None


def _fault(entry: object, key: str, source: str, classes: Mapping[str, ComponentClass]) -> ExplicitFault:
    if not isinstance(entry, dict):
        raise ConfigError("expected a table with class and at", source=source, key=key)
    extra = sorted(set(entry) - {"class", "at", "repair", "index"})
    if extra:
        raise ConfigError("unknown key (expected class, at, repair, index)", source=source, key=f"{key}.{extra[0]}")
    if "class" not in entry or "at" not in entry:
        raise ConfigError("a fault needs class and at", source=source, key=key)
    _known_class(entry["class"], source, f"{key}.class", classes)
    at = _time(entry["at"], source, f"{key}.at", positive=False)
    repair = None
    if "repair" in entry:
        repair = _time(entry["repair"], source, f"{key}.repair", positive=False)
        if repair <= at:
            raise ConfigError(f"repair {entry['repair']!r} is not after the failure at {entry['at']!r}",
                              source=source, key=f"{key}.repair")
    index = entry.get("index", 0)
    if isinstance(index, bool) or not isinstance(index, int) or index < 0:
        raise ConfigError(f"{index!r}: expected a member number, 0 or more", source=source, key=f"{key}.index")
    return ExplicitFault(str(entry["class"]), at, repair, index, f"{key}")


def _known_class(name: object, source: str, key: str, classes: Mapping[str, ComponentClass]) -> None:
    if name not in classes:
        raise ConfigError(f"{name!r} is not a component class (one of {', '.join(classes)})", source=source, key=key)


def _time(value: object, source: str, key: str, *, positive: bool) -> float:
    if (isinstance(value, str) and value.strip().startswith("-")) or (
            isinstance(value, (int, float)) and not isinstance(value, bool) and value < 0):
        raise ConfigError(f"{value!r} is before zero", source=source, key=key)
    try:
        return parse_duration(value if isinstance(value, (str, int, float)) else repr(value), key, positive=positive)
    except UsageError as exc:
        raise ConfigError(exc.problem + (f" (got {value!r})" if positive else ""), source=source, key=key) from None


# -- the scenario: goodput against interval and cluster size ------------------------------------

@dataclass(frozen=True)
class IntervalGoodput:
    """Goodput at one checkpoint interval: mean over the replicas, and their least and most."""

    interval_s: float
    goodput: float
    low: float
    high: float


@dataclass(frozen=True)
class ClusterGoodput:
    """One fabric's figures: its inventory, the job's mean time between interruptions, what the
    replicas drew, goodput at the asked intervals, the optima (Young, Daly, the simulation's)."""

    inventory: Inventory
    mtbi_s: float
    expected_interruptions: float
    interruptions: float  # mean drawn per replica
    degradations: float  # mean drawn per replica
    degraded_time: float  # share of the horizon with at least one degradation in force
    degraded_worst: float  # the worst-placed card's lost bandwidth share, averaged over the horizon
    young_s: float
    daly_s: float
    best: IntervalGoodput
    at_young: IntervalGoodput
    at_daly: IntervalGoodput
    rows: tuple[IntervalGoodput, ...]
    measured: tuple[Degradation, ...] = ()  # degradations measured frame by frame (measure_degradation)
    degraded_goodput: float | None = None  # the best goodput, less what degradations cost at the measured pace


@dataclass(frozen=True)
class FailuresResult:
    seed: int
    horizon_s: float
    write_s: float
    restart_s: float
    repair_s: float
    replicas: int
    classes: dict[str, ComponentClass]
    clusters: tuple[ClusterGoodput, ...]


DEFAULT_INTERVALS_S = (300.0, 600.0, 1800.0, HOUR, 3 * HOUR)
_SEARCH_POINTS = 41  # intervals tried, evenly on a log scale from Young/8 to Young*8


def goodput_curve(schedules: Sequence[np.ndarray], horizon_s: float, intervals: Iterable[float], write_s: float,
                  restart_s: float) -> list[IntervalGoodput]:
    """Goodput at each interval over the same schedules (common random numbers keep the
    comparison between intervals free of the noise between schedules)."""
    rows = []
    for interval in intervals:
        figures = [simulate(s, horizon_s, interval, write_s, restart_s).goodput for s in schedules]
        rows.append(IntervalGoodput(interval, float(np.mean(figures)), float(min(figures)), float(max(figures))))
    return rows


def cluster_goodput(spec: FabricSpec, seed: int, *, horizon_s: float, intervals: Sequence[float], write_s: float,
                    restart_s: float, repair_s: float = DEFAULT_REPAIR_S, replicas: int = 8,
                    classes: Mapping[str, ComponentClass] = CLASSES,
                    extra: Sequence[ExplicitFault] = (), measure_degradation: bool = False,
                    comm_share: float = 1.0) -> ClusterGoodput:
    """Draw ``replicas`` failure schedules for ``spec`` from ``seed`` and run the timeline on each.

    With ``measure_degradation``, what a lost plane or a card's lost scale-up link costs is
    measured frame by frame (:mod:`oisa.workload.degradation`) and taken off the best goodput,
    at the pace a step whose collectives take ``comm_share`` of its time keeps (other degradations,
    of the scale-out stages, at their share of the links, which is what they lose)."""
    inv = inventory(spec)
    mtbi_s = inv.mtbi_h(classes) * HOUR
    # One stream per fabric and seed: the same seed gives the same schedules whatever else runs.
    streams = np.random.SeedSequence([seed, _stable_hash(spec.name)]).spawn(replicas)
    drawn = [draw_schedule(inv, classes, horizon_s, np.random.default_rng(s), repair_s=repair_s, extra=extra)
             for s in streams]
    schedules = [d.interruptions(inv) for d in drawn]
    degrading = [[e for e in d.events if not inv.groups[e.group].interrupts] for d in drawn]
    spans = [[(e.at_s, min(e.repair_s, horizon_s), inv.groups[e.group].share) for e in events] for events in degrading]
    young = young_interval(write_s, mtbi_s)
    daly = daly_interval(write_s, mtbi_s)
    search = np.geomspace(young / 8, young * 8, _SEARCH_POINTS) if math.isfinite(young) else np.array([horizon_s])
    curve = goodput_curve(schedules, horizon_s, [float(x) for x in search], write_s, restart_s)
    best = max(curve, key=lambda row: row.goodput)
    at_young, at_daly = goodput_curve(schedules, horizon_s, [min(young, horizon_s), min(daly, horizon_s)],
                                      write_s, restart_s)
    measured: tuple[Degradation, ...] = ()
    degraded = None
    if measure_degradation and inv.counts["planes"] >= 2:
        measured = measure(inv.counts["planes"], seed)
        kept = {d.cls: d.kept for d in measured}
        slowed = [[(e.at_s, min(e.repair_s, horizon_s),
                    1 - pace(kept.get(inv.groups[e.group].cls, 1 - inv.groups[e.group].share), comm_share))
                   for e in events] for events in degrading]
        degraded = best.goodput * (1 - float(np.mean([_worst_over_time(x, horizon_s, weighted=True) for x in slowed])))
    return ClusterGoodput(inv, mtbi_s, horizon_s / mtbi_s, float(np.mean([s.size for s in schedules])),
                          float(np.mean([len(d) for d in degrading])),
                          float(np.mean([_worst_over_time(x, horizon_s, weighted=False) for x in spans])),
                          float(np.mean([_worst_over_time(x, horizon_s, weighted=True) for x in spans])), young, daly,
                          best, at_young, at_daly,
                          tuple(goodput_curve(schedules, horizon_s, intervals, write_s, restart_s)), measured, degraded)


def run_failures(specs: Sequence[FabricSpec], seed: int, *, horizon_s: float = 7 * 24 * HOUR,
                 intervals: Sequence[float] = DEFAULT_INTERVALS_S, write_s: float | None = None,
                 restart_s: float = DEFAULT_RESTART_S, repair_s: float = DEFAULT_REPAIR_S, replicas: int = 8,
                 fault_file: FaultFile | None = None, progress: Callable[[str], None] | None = None,
                 measure_degradation: bool = False, comm_share: float = 1.0) -> FailuresResult:
    """Goodput against checkpoint interval for every fabric of ``specs``; ``write_s`` None takes
    :data:`DEFAULT_STATE_BYTES` over :data:`DEFAULT_WRITE_BPS`."""
    if isinstance(comm_share, bool) or not isinstance(comm_share, (int, float)) or not 0 <= comm_share <= 1:
        raise UsageError("a share of the step's time, from 0 to 1", parameter="comm_share", value=comm_share)
    if isinstance(replicas, bool) or not isinstance(replicas, int) or replicas < 1:
        raise UsageError("expected a number of schedules, 1 or more", parameter="replicas", value=replicas)
    for name, value in (("horizon_s", horizon_s), ("restart_s", restart_s), ("repair_s", repair_s)):
        if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0) or (
                name == "horizon_s" and value == 0):
            raise UsageError("expected a finite time in seconds" + (" above zero" if name == "horizon_s" else ""),
                             parameter=name, value=value)
    for interval in intervals:
        if not (math.isfinite(interval) and 0 < interval <= horizon_s):
            raise UsageError(f"an interval is above zero and at most the horizon ({horizon_s:g} s)",
                             parameter="intervals", value=interval)
    write = write_s if write_s is not None else DEFAULT_STATE_BYTES * 8 / DEFAULT_WRITE_BPS
    classes = fault_file.classes if fault_file else dict(CLASSES)
    extra = fault_file.faults if fault_file else ()
    for fault in extra:
        if fault.at_s >= horizon_s:
            raise ConfigError(f"at {fault.at_s:g} s is beyond the horizon ({horizon_s:g} s)", key=fault.where)
    clusters = []
    for spec in specs:
        clusters.append(cluster_goodput(spec, seed, horizon_s=horizon_s, intervals=intervals, write_s=write,
                                        restart_s=restart_s, repair_s=repair_s, replicas=replicas, classes=classes,
                                        extra=extra, measure_degradation=measure_degradation,
                                        comm_share=comm_share))
        if progress:
            progress(spec.name)
    return FailuresResult(seed, horizon_s, write, restart_s, repair_s, replicas, classes, tuple(clusters))


def _worst_over_time(spans: Sequence[tuple[float, float, float]], horizon_s: float, *, weighted: bool) -> float:
    """Over ``horizon_s``: the share of time some span (start, end, share) is in force, or (weighted)
    the time-average of the largest share in force. A synchronous job goes at the pace of its
    slowest card, so the largest loss, not the sum of losses on different cards, is what it sees."""
    edges = sorted({0.0, horizon_s, *(t for start, end, _ in spans for t in (start, end))})
    total = 0.0
    for left, right in itertools.pairwise(edges):
        shares = [share for start, end, share in spans if start <= left and end >= right]
        if shares:
            total += (right - left) * (max(shares) if weighted else 1.0)
    return total / horizon_s


def _stable_hash(text: str) -> int:
    """A hash of ``text`` that does not change between processes (Python's str hash does)."""
    return zlib.crc32(text.encode("utf-8"))
