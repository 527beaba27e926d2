"""Running a plan on the flow engine: operations started when their dependencies are done,
transfers as flows in the fluid, collectives by their phases.

Time advances from event to event: the earliest of the timers (an operation that ends at a known
time, a transfer's bytes landing, a phase's step ending) and the next flow to drain. Between
events every flow drains at its max-min fair rate; the rates are recomputed once per instant at
which flows start or drain.

What runs where, as on the frame-level engines (:mod:`oisa.workload.execute`):

* a send or read holds one of its card's DMA engines (they serve transfers first come first
  served) from when it starts moving until it is confirmed; a send is done when its bytes have
  landed, or when confirmed if it asks to be; a read when its data is in;
* reductions, copies and streams queue on their card's memory, compute on its compute units,
  first come first served, at the profile's rates; a delay is a delay;
* an in-switch contribution is done once sent; once every member of its reduction has sent, one
  flow stands for all of their contributions and the results, pipelined through the switch
  (:meth:`~oisa.flow.network.Network.contributions`); an await is done once its range has landed;
* a collective runs its phases in order, each repeated: a repetition hands all its flows to
  their cards at once, streams its memory bytes on its ranks alongside, and ends when the last
  byte has landed and the memory is done, plus its latency. In a queued phase (a direct
  exchange: one transfer per flow, all issued at its start) a card moves as many of its flows
  at once as it has DMA engines, sharing its links equally among them, in the order the phase
  lists them, and takes the next when one has landed and been confirmed (:class:`_Gate`), as
  its engines take the transfers the operations would have given them: a direct all-to-all
  card does not pour all its flows at once into receivers that other cards' first flows are
  filling.

When a collective is the only operation of the plan under way, no flow is in flight and its
ranks' memory is idle, nothing else can happen until it is done: one repetition of its phase is
then computed alone and the remaining ones skipped over in one step (a ring all-reduce of
102,400 ranks repeats one pattern 204,798 times). It is the same arithmetic as running them one
by one, which a test checks (``fast_forward=False`` runs them one by one).

A phase's identical flows (the same pair of nodes, path and size: a pair's lanes, which a
10,240-card tree's streaming phase repeats six times over for 330,000 flows) are routed and
filled as one flow that stands for them all (:class:`~oisa.flow.fluid.Fluid`'s multiplicity):
the same rates, computed over a sixth of the entries. A test holds it equal to filling them one
by one (``merge=False``). That is exact where the flows have no owner to queue behind: in an
interleaved phase (a pipelined tree's or chain's pieces, which a card's channels send in turn,
so its flows share its ports side by side) and not in others, where a card sends whole flows
oldest first and identical ones would queue apart.
"""

from __future__ import annotations

import heapq
import itertools
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from oisa.device.landing import RangeWatches
from oisa.errors import SimulationError, UsageError
from oisa.fabric.spec import FabricSpec
from oisa.flow.fluid import Fluid
from oisa.flow.network import FlowBatch, Network
from oisa.plan import (
    Await,
    Collective,
    Compute,
    Contribute,
    Copy,
    Delay,
    Execution,
    Phase,
    Plan,
    Read,
    Reduce,
    Send,
    Stream,
)
from oisa.units import S

__all__ = ["ENTRY_BYTES", "FlowRun", "run_plan"]

ENTRY_BYTES = 96  # what one (flow, resource) entry costs in memory through routing, the fluid and max-min
FIRST_REQUESTS = 64 * 1024  # a read's data starts once requests for this much have gone: the least a
# timing-mode segment asks for (oisa.device.timing.SEGMENT_BYTES), the requests it sends before it waits
_ENTRIES_PER_FLOW = 16  # what a flow's route takes, at most, on the catalog's fabrics (both directions)


@dataclass(frozen=True)
class FlowRun:
    """What the flow engine made of a plan: its timings (over the plan as given: a collective is
    one operation), the wire bytes, frames and messages its transfers put on every link they
    crossed, and how many times rates were computed (``events``) and repetitions skipped."""

    execution: Execution
    wire_bytes: float
    frames: float
    messages: float
    events: int
    skipped: int


def run_plan(spec: FabricSpec, plan: Plan, *, seed: int = 0, fast_forward: bool = True,
             memory_limit: int | None = None, merge: bool = True, pauses: bool = True) -> FlowRun:
    """Run ``plan`` on ``spec`` from time 0. ``memory_limit`` (bytes) refuses, before it is
    routed, a phase whose flows would take more; ``merge=False`` fills a phase's identical
    flows one by one instead of as one (the same arithmetic, for checking it); ``pauses=False``
    leaves PFC's pause coupling out (fair shares only: what it adds, measured)."""
    return _Executor(spec, plan, seed, fast_forward, memory_limit, merge, pauses).run()


@dataclass(frozen=True)
class _PhaseFlows:
    """A phase's flows that move bytes, routed: ``batch``, their ``sizes`` and the cards they
    leave (``owners``); each stands for ``multiplicity`` identical flows."""

    batch: FlowBatch
    sizes: np.ndarray
    owners: np.ndarray
    multiplicity: np.ndarray

    @property
    def counted(self) -> np.ndarray:
        """The bytes each flow moves, with all it stands for."""
        return self.sizes * self.multiplicity


class _Gate:
    """Flows handed to their cards at once, which move as many at a time as each card has DMA
    engines: ``ids`` (consecutive fluid ids, in the order their cards take them), ``owners``
    (the card of each, or a switch, which takes all at once) and ``engines`` (per owner id).
    :attr:`parked` marks those that wait; :meth:`next` gives, for flows whose engines are free
    again, the ones their cards take next. The flows a card's engines move share its links
    equally (its requesters take turns at its ports), not oldest first."""

    def __init__(self, ids: np.ndarray, owners: np.ndarray, engines: dict[int, int]) -> None:
        self._first = int(ids[0]) if len(ids) else 0
        self._owners = owners
        order = np.lexsort((np.arange(len(ids)), owners))  # by owner, then in order
        self._queue = ids[order]
        sorted_owners = owners[order]
        starts = np.flatnonzero(np.r_[True, sorted_owners[1:] != sorted_owners[:-1]])
        ends = np.r_[starts[1:], len(order)]
        self._next: dict[int, int] = {}
        self._end: dict[int, int] = {}
        parked_sorted = np.zeros(len(order), dtype=bool)
        for start, end in zip(starts.tolist(), ends.tolist()):
            owner = int(sorted_owners[start])
            first = min(end, start + engines.get(owner, end - start))
            parked_sorted[first:end] = True
            self._next[owner], self._end[owner] = first, end
        self.parked = np.zeros(len(order), dtype=bool)
        self.parked[order] = parked_sorted

    def next(self, freed: np.ndarray) -> np.ndarray:
        """The parked flows that start as flows ``freed`` free their engines."""
        taken: list[np.ndarray] = []
        for owner, count in zip(*np.unique(self._owners[freed - self._first], return_counts=True)):
            owner = int(owner)
            first = self._next[owner]
            last = min(self._end[owner], first + int(count))
            if last > first:
                taken.append(self._queue[first:last])
                self._next[owner] = last
        return np.concatenate(taken) if taken else np.zeros(0, dtype=np.int64)


@dataclass(eq=False)
class _Task:
    """Flows that finish together: ``done(end)`` runs once the last has landed, ``end`` being
    the latest landing; ``gate`` holds back those their cards' engines have not taken yet."""

    done: Callable[[float], None]
    left: int = 0
    end: float = -np.inf
    gate: _Gate | None = None


@dataclass(eq=False)
class _Reduction:
    members: int
    switch: int
    size: int
    ranks: list[int] = field(default_factory=list)
    results: list[tuple[int, int]] = field(default_factory=list)  # (rank, result address)


class _Executor:
    def __init__(self, spec: FabricSpec, plan: Plan, seed: int, fast_forward: bool, memory_limit: int | None,
                 merge: bool = True, pauses: bool = True) -> None:
        self.spec = spec
        self.plan = plan
        self.network = Network(spec, seed, pauses=pauses)
        self.fluid = Fluid(self.network.capacity, self.network.tail, self.network.pauses)
        self.fast_forward = fast_forward
        self.merge = merge
        self.memory_limit = memory_limit
        self.now = 0.0
        self.end = 0.0
        self._timers: list[tuple[float, int, Callable[..., None], tuple]] = []
        self._sequence = 0
        count = len(plan.ops)
        self.waiting = [len(op.deps) for op in plan.ops]
        self.dependents = plan.dependents()
        self.started = np.full(count, -1.0)
        self.finished = np.full(count, -1.0)
        self.left = count
        self.running = 0  # operations started and not finished
        self.tasks: list[_Task] = []
        self.flow_task = np.zeros(0, np.int64)
        self.flow_landing = np.zeros(0)
        self.flow_settling = np.zeros(0)  # per flow: from its last byte leaving until its engine is free
        self._engines_free: dict[int, int] = {}
        self._engine_queue: dict[int, deque[tuple[int, Send | Read]]] = {}
        self._memory_free = np.zeros(len(self.network.memory_bps))  # by card id: when its memory is done
        self._compute_free: dict[int, float] = {}
        self._watched = {op.rank for op in plan.ops if isinstance(op, Await)}
        self._watches: dict[int, RangeWatches] = {}
        self._reductions: dict[tuple[int, int, int], _Reduction] = {}
        self._iteration_times: dict[int, float] = {}
        self._phase_batches: dict[int, _PhaseFlows] = {}
        self.wire_bytes = self.frames = self.messages = 0.0
        self.skipped = 0
        self.solo_events = 0

    # -- the loop ------------------------------------------------------------------------------------

    def run(self) -> FlowRun:
        for index in [index for index, waiting in enumerate(self.waiting) if waiting == 0]:
            self._start(index)  # (the list is made first: starting one may start others, once)
        fluid = self.fluid
        while True:
            drain_at = self.now + fluid.next_drain()
            timer_at = self._timers[0][0] if self._timers else np.inf
            if not np.isfinite(drain_at) and not np.isfinite(timer_at):
                break
            if drain_at <= timer_at:
                fluid.advance(drain_at - self.now)
                self.now = drain_at
                drained = fluid.drained()
                fluid.remove(drained)
                self._drained(drained)
            else:
                fluid.advance(timer_at - self.now)
                self.now = timer_at
                while self._timers and self._timers[0][0] <= self.now:
                    _, _, call, args = heapq.heappop(self._timers)
                    call(*args)
        if self.left:
            stuck = [i for i in range(len(self.plan.ops)) if self.finished[i] < 0]
            raise SimulationError(f"the plan stalled with {self.left} operations unfinished, the first operation "
                                  f"{stuck[0]} ({type(self.plan.ops[stuck[0]]).__name__}): what it waits for never "
                                  f"happens")
        end = max(self.end, float(self.finished.max(initial=0.0)))
        execution = Execution(self.plan, 0, round(end), np.rint(self.started).astype(np.int64),
                              np.rint(self.finished).astype(np.int64))
        return FlowRun(execution, self.wire_bytes, self.frames, self.messages, self.fluid.recomputed + self.solo_events,
                       self.skipped)

    def _at(self, time: float, call: Callable[..., None], *args: object) -> None:
        self._sequence += 1
        heapq.heappush(self._timers, (time, self._sequence, call, args))

    def _start(self, index: int) -> None:
        op = self.plan.ops[index]
        self.started[index] = self.now
        self.running += 1
        _STARTERS[type(op)](self, index, op)

    def _finish(self, index: int) -> None:
        self.finished[index] = self.now
        self.left -= 1
        self.running -= 1
        for dependent in self.dependents[index]:
            self.waiting[dependent] -= 1
            if self.waiting[dependent] == 0:
                self._start(dependent)

    def _finish_at(self, index: int, time: float) -> None:
        if time <= self.now:
            self._finish(index)
        else:
            self._at(time, self._finish, index)

    # -- flows -----------------------------------------------------------------------------------------

    def _launch(self, batch: FlowBatch, sizes: np.ndarray, task: _Task, owner: np.ndarray | int = -1, *,
                counted: bool = True, gated: bool = False, multiplicity: np.ndarray | None = None) -> None:
        """Start ``batch``'s flows of ``sizes`` bytes now, finishing into ``task``; ``owner`` is
        the card (or cards, flow by flow) they leave by (-1: none); ``gated``: each card takes
        them as its DMA engines free (:class:`_Gate`); each flow stands for ``multiplicity``
        identical ones (:meth:`Fluid.add`). Their wire bytes count unless ``counted`` is False
        (a read's first requests, which its data's flows carry too)."""
        if counted:
            self._count(batch, sizes if multiplicity is None else sizes * multiplicity, 1)
        parked = None
        if gated:
            owners = np.broadcast_to(np.asarray(owner, dtype=np.int64), (len(sizes),))
            ids = np.arange(self.fluid.count, self.fluid.count + len(sizes))
            task.gate = _Gate(ids, owners, self._engines_of(owners))
            parked, owner = task.gate.parked, -1
        ids = self.fluid.add(batch.flow, batch.resource, batch.weight, sizes, batch.cap, owner, parked, multiplicity)
        if len(self.flow_task) < self.fluid.count:
            grown = max(self.fluid.count, 2 * len(self.flow_task), 64)
            self.flow_task = np.resize(self.flow_task, grown)
            self.flow_landing = np.resize(self.flow_landing, grown)
            self.flow_settling = np.resize(self.flow_settling, grown)
        self.flow_task[ids] = len(self.tasks)
        self.flow_landing[ids] = batch.landing_ps
        self.flow_settling[ids] = batch.landing_ps + batch.answer_ps
        task.left = len(ids)
        self.tasks.append(task)

    def _engines_of(self, owners: np.ndarray) -> dict[int, int]:
        """The DMA engines of each card among ``owners`` (switches are not gated)."""
        cards = self.network.card_ids
        return {owner: self.network.card(owner).dma_engines for owner in np.unique(owners).tolist() if owner in cards}

    def _count(self, batch: FlowBatch, sizes: np.ndarray, repeats: int) -> None:
        on_links = batch.resource < self.network.links  # a switch's reduction units are no wire
        wire = np.bincount(batch.flow[on_links], batch.weight[on_links], minlength=len(sizes))
        self.wire_bytes += repeats * float(np.dot(wire, sizes))
        self.frames += repeats * float(np.dot(batch.frames, sizes))
        self.messages += repeats * float(np.dot(batch.messages, sizes))

    def _drained(self, ids: np.ndarray) -> None:
        if not len(ids):
            return
        tasks = self.flow_task[ids]
        self._ungate(ids, tasks)
        landed = self.now + self.flow_landing[ids]
        order = np.argsort(tasks, kind="stable")
        tasks, landed = tasks[order], landed[order]
        unique, first, counts = np.unique(tasks, return_index=True, return_counts=True)
        latest = np.maximum.reduceat(landed, first)
        for task_id, count, end in zip(unique.tolist(), counts.tolist(), latest.tolist()):
            task = self.tasks[task_id]
            task.left -= count
            task.end = max(task.end, end)
            if task.left == 0:
                task.done(task.end)

    def _ungate(self, ids: np.ndarray, tasks: np.ndarray) -> None:
        """Flows ``ids`` (of ``tasks``) drained: once each is settled (landed and confirmed, as
        a transfer holds its engine), its card's engine takes the next flow of its gate."""
        for task_id in np.unique(tasks).tolist():
            gate = self.tasks[task_id].gate
            if gate is not None:
                drained = ids[tasks == task_id]
                for at, freed in _by_time(self.now + self.flow_settling[drained], drained):
                    self._at(at, self._engines_freed, gate, freed)

    def _engines_freed(self, gate: _Gate, freed: np.ndarray) -> None:
        self.fluid.start(gate.next(freed))

    # -- transfers ---------------------------------------------------------------------------------------

    def _transfer(self, index: int, op: Send | Read) -> None:
        if op.size <= 0:
            self._finish(index)
            return
        free = self._engines_free.get(op.rank)
        if free is None:
            free = self.network.card(op.rank).dma_engines
        if free == 0:
            self._engine_queue.setdefault(op.rank, deque()).append((index, op))
            return
        self._engines_free[op.rank] = free - 1
        self._move(index, op)

    def _move(self, index: int, op: Send | Read) -> None:
        """``op`` holds a DMA engine from now: a write's data leaves its card; a read's requests
        leave first, and the data leaves the peer once the first of them has arrived, each in
        its turn behind what its card was asked to send before (the owner of its flows)."""
        pinned = -1 if op.path is None else op.path
        sizes = np.array([float(op.size)])
        if isinstance(op, Read):
            requests, data = self.network.reads(np.array([op.rank]), np.array([op.peer]), pinned)
            task = _Task(lambda landed: self._moved(index, op, landed, 0.0))
            first = np.minimum(sizes, FIRST_REQUESTS)
            then = _Task(lambda asked: self._at(asked, self._launch, data, sizes, task, op.peer))
            self._launch(requests, first, then, op.rank, counted=False)
            return
        batch = self.network.writes(np.array([op.rank]), np.array([op.peer]), pinned)
        self._launch(batch, sizes, _Task(lambda landed: self._moved(index, op, landed, float(batch.answer_ps[0]))),
                     op.rank)

    def _moved(self, index: int, op: Send | Read, landed: float, answer: float) -> None:
        """``op``'s last byte lands at ``landed``; a write is confirmed ``answer`` later."""
        settled = landed + answer
        self.end = max(self.end, settled)
        if isinstance(op, Send):
            if op.peer in self._watched:
                self._at(landed, self._landed, op.peer, op.remote, op.size)
            self._finish_at(index, settled if op.confirmed else landed)
        else:
            self._finish_at(index, landed)
        self._at(settled, self._engine_free, op.rank)

    def _engine_free(self, rank: int) -> None:
        queue = self._engine_queue.get(rank)
        if queue:
            index, op = queue.popleft()
            self._move(index, op)
        else:
            self._engines_free[rank] = self._engines_free.get(rank, 0) + 1

    def _landed(self, rank: int, address: int, size: int) -> None:
        self._watches_of(rank).landed(address, size)

    def _watches_of(self, rank: int) -> RangeWatches:
        watches = self._watches.get(rank)
        if watches is None:
            watches = self._watches[rank] = RangeWatches()
        return watches

    # -- memory, compute, delays ---------------------------------------------------------------------

    def _memory_done(self, rank: int, size: float) -> float:
        start = max(self.now, self._memory_free[rank])
        done = start + _serialisation(size, int(self.network.memory_bps[rank]))
        self._memory_free[rank] = done
        return done

    def _memories_done(self, ranks: np.ndarray, size: float) -> float:
        """:meth:`_memory_done` for many ranks at once; when the last is done."""
        start = np.maximum(self.now, self._memory_free[ranks])
        done = start + np.ceil(size * 8 * S / self.network.memory_bps[ranks])
        self._memory_free[ranks] = done
        return float(done.max(initial=self.now))

    def _memory(self, index: int, op: Reduce | Copy | Stream) -> None:
        if op.size <= 0 or (isinstance(op, Copy) and op.target == op.source):
            self._finish(index)
            return
        self._finish_at(index, self._memory_done(op.rank, op.memory_bytes))

    def _compute(self, index: int, op: Compute) -> None:
        rates = self.network.card(op.rank).compute
        if op.dtype not in rates:
            card = self.spec.card(op.rank)
            raise UsageError(f"{card.name} ({card.device.name}) has no such rate (it has: {', '.join(sorted(rates))})",
                             parameter="dtype", value=op.dtype)
        start = max(self.now, self._compute_free.get(op.rank, 0.0))
        done = start + int(-(-op.flops * S // rates[op.dtype]))
        self._compute_free[op.rank] = done
        self._finish_at(index, done)

    def _delay(self, index: int, op: Delay) -> None:
        self._finish_at(index, self.now + op.duration_ps)

    # -- in-switch reductions ---------------------------------------------------------------------------

    def _contribute(self, index: int, op: Contribute) -> None:
        key = (op.switch, op.group, op.result)
        reduction = self._reductions.setdefault(key, _Reduction(op.members, op.switch, op.size))
        reduction.ranks.append(op.rank)
        self._finish(index)
        if len(reduction.ranks) == reduction.members:
            del self._reductions[key]
            batch = self.network.contributions(np.array(reduction.ranks), reduction.switch, reduction.size)
            self._launch(batch, np.array([float(reduction.size)]),
                         _Task(lambda landed: self._reduced(reduction, op.result, landed)))

    def _reduced(self, reduction: _Reduction, result: int, landed: float) -> None:
        self.end = max(self.end, landed)
        for rank in reduction.ranks:
            self._at(landed, self._landed, rank, result, reduction.size)

    def _await(self, index: int, op: Await) -> None:
        self._watches_of(op.rank).add(op.address, op.size, f"operation {index} (await on card {op.rank})",
                                      lambda: self._finish(index))

    # -- collectives ------------------------------------------------------------------------------------

    def _collective(self, index: int, op: Collective) -> None:
        # a timer even without latency: whatever else starts at this instant starts first
        self._at(self.now + op.start_latency_ps, self._repeat, index, op, 0, 0)

    def _repeat(self, index: int, op: Collective, phase_index: int, iteration: int) -> None:
        """Repetition ``iteration`` of phase ``phase_index`` of collective ``index`` starts now."""
        while phase_index < len(op.phases) and iteration >= op.phases[phase_index].repeat:
            phase_index, iteration = phase_index + 1, 0
        if phase_index == len(op.phases):
            self._finish(index)
            return
        phase = op.phases[phase_index]
        flows = self._phase_batch(phase)
        ranks = np.asarray(phase.memory_ranks, dtype=np.int64)
        alone = self.running == 1 and self.fluid.live == 0 and bool(np.all(self._memory_free[ranks] <= self.now))
        if self.fast_forward and phase.repeat - iteration > 1 and alone:
            duration, memory = self._iteration_time(phase, flows, ranks)
            skip = phase.repeat - iteration
            self._count(flows.batch, flows.counted, skip)
            self.skipped += skip
            if phase.memory_bytes:
                self._memory_free[ranks] = self.now + (skip - 1) * duration + memory
            self._at(self.now + skip * duration, self._repeat, index, op, phase_index, phase.repeat)
            return
        memory_done = self._memories_done(ranks, phase.memory_bytes) if phase.memory_bytes else self.now
        next_call = (self._repeat, index, op, phase_index, iteration + 1)

        def ended(landed: float) -> None:
            self._at(max(landed, memory_done) + phase.latency_ps, *next_call)

        if len(flows.sizes):
            self._launch(flows.batch, flows.sizes, _Task(ended), -1 if phase.interleaved else flows.owners,
                         gated=phase.queued, multiplicity=flows.multiplicity)
        else:
            ended(self.now)

    def _phase_batch(self, phase: Phase) -> _PhaseFlows:
        """The flows of ``phase`` that move bytes, routed once per run and capped at its
        ``rate_cap``, their sizes and the cards they leave (which send them in the order the phase
        lists them); in an interleaved phase, identical ones as one standing for them all."""
        key = id(phase)
        found = self._phase_batches.get(key)
        if found is None:
            flows = phase.flows
            moving = np.flatnonzero(flows.size > 0)
            multiplicity = np.ones(len(moving))
            if self.merge and phase.interleaved and not phase.queued:
                kinds, multiplicity = _kinds(flows.src[moving], flows.dst[moving], flows.path[moving],
                                             flows.size[moving])
                moving = moving[kinds]
            if self.memory_limit is not None and len(moving) * _ENTRIES_PER_FLOW * ENTRY_BYTES > self.memory_limit:
                raise UsageError(f"a phase of {len(moving):,} flows would take about "
                                 f"{len(moving) * _ENTRIES_PER_FLOW * ENTRY_BYTES / 2**30:.1f} GiB to route, more "
                                 f"than this run may take ({self.memory_limit / 2**30:.1f} GiB)", parameter="plan")
            batch = self.network.transfers(flows.src[moving], flows.dst[moving], flows.path[moving])
            owners = flows.src[moving]
            if phase.rate_cap > 0:
                cap = self._copy_caps(owners, phase.rate_cap / S) if phase.queued else phase.rate_cap / S
                batch = replace(batch, cap=np.minimum(batch.cap, cap))
            found = self._phase_batches[key] = _PhaseFlows(batch, flows.size[moving].astype(np.float64), owners,
                                                           multiplicity)
        return found

    def _copy_caps(self, owners: np.ndarray, cap: float) -> np.ndarray:
        """Each flow's cap where every transfer of a phase is copied at ``cap`` from its start:
        all of a card's copies run at once, while its engines move only some of its flows at a
        time, so those that move may go as fast as the copies of all its flows together allow
        (a card that sends one flow per engine or fewer: ``cap`` itself)."""
        cards, inverse, counts = np.unique(owners, return_inverse=True, return_counts=True)
        engines = self._engines_of(cards)
        width = np.array([max(1.0, count / engines.get(card, count)) for card, count
                          in zip(cards.tolist(), counts.tolist())])
        return cap * width[inverse.reshape(-1)]

    def _iteration_time(self, phase: Phase, flows: _PhaseFlows, ranks: np.ndarray) -> tuple[float, np.ndarray]:
        """One repetition of ``phase`` alone on idle cards: its duration, and the time each of
        its memory ranks takes to stream its bytes."""
        key = id(phase)
        memory = np.ceil(phase.memory_bytes * 8 * S / self.network.memory_bps[ranks])
        landed = self._iteration_times.get(key)
        if landed is None:
            batch, sizes, owners = flows.batch, flows.sizes, flows.owners
            fluid = Fluid(self.network.capacity, self.network.tail, self.network.pauses)
            gate = _Gate(np.arange(len(sizes)), owners, self._engines_of(owners) if phase.queued else {})
            owner = -1 if phase.queued or phase.interleaved else owners
            fluid.add(batch.flow, batch.resource, batch.weight, sizes, batch.cap, owner, gate.parked,
                      flows.multiplicity)
            settling = batch.landing_ps + batch.answer_ps
            now, landed = 0.0, 0.0
            frees: list[tuple[float, int, np.ndarray]] = []  # (when, order, flows whose engines free then)
            order = itertools.count()
            while fluid.live or frees:
                step = fluid.next_drain()
                if frees and frees[0][0] < now + step:
                    at, _, freed = heapq.heappop(frees)
                    fluid.advance(at - now)
                    now = at
                    fluid.start(gate.next(freed))
                    continue
                if not np.isfinite(step):
                    raise SimulationError("a phase's flows stopped moving")
                fluid.advance(step)
                now += step
                drained = fluid.drained()
                fluid.remove(drained)
                for at, freed in _by_time(now + settling[drained], drained):
                    heapq.heappush(frees, (at, next(order), freed))
                landed = max(landed, float(np.max(now + batch.landing_ps[drained], initial=0.0)))
            self.solo_events += fluid.recomputed
            self._iteration_times[key] = landed
        return max(landed, float(memory.max(initial=0.0))) + phase.latency_ps, memory


def _kinds(src: np.ndarray, dst: np.ndarray, path: np.ndarray, size: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A phase's flows by kind, identical ones (the same ``src``, ``dst``, ``path`` and ``size``)
    one kind, in the order of their first flow: the index of each kind's first flow and how many
    flows each kind has."""
    if len(src) < 2:
        return np.arange(len(src)), np.ones(len(src))
    rows = np.stack([src.astype(np.float64), dst.astype(np.float64), path.astype(np.float64),
                     size.astype(np.float64)], axis=1)
    _, first, counts = np.unique(rows, axis=0, return_index=True, return_counts=True)
    order = np.argsort(first, kind="stable")
    return first[order], counts[order].astype(np.float64)


def _by_time(times: np.ndarray, ids: np.ndarray) -> list[tuple[float, np.ndarray]]:
    """``ids`` grouped by their ``times``, earliest first."""
    unique, inverse = np.unique(times, return_inverse=True)
    inverse = inverse.reshape(-1)
    return [(float(at), ids[inverse == index]) for index, at in enumerate(unique.tolist())]


def _serialisation(size: float, rate_bps: int) -> float:
    """Whole picoseconds to stream ``size`` bytes at ``rate_bps``, rounded up, as the frame engines do."""
    return float(-((-int(size) * 8 * S) // rate_bps))


_STARTERS: dict[type, Callable[[_Executor, int, Any], None]] = {
    Send: _Executor._transfer, Read: _Executor._transfer, Reduce: _Executor._memory, Copy: _Executor._memory,
    Stream: _Executor._memory, Compute: _Executor._compute, Delay: _Executor._delay,
    Contribute: _Executor._contribute, Await: _Executor._await, Collective: _Executor._collective,
}
