"""Running a plan on a frame-level engine: every operation started the instant its
dependencies are done, on the cards of a built fabric.

The data and timing engines share this: a :class:`~oisa.plan.Plan` is expanded to its
primitive operations and each becomes what a card does. A send is a DMA write (or, if it says
so, the sender's stores, which wait for no DMA engine), done when its bytes have landed at the
peer (a watch over the range, as a kernel polling a flag learns it), or, if ``confirmed``, when
the sender's completion or flush has come back; a read is a DMA
read; a reduction, copy or stream queues its bytes on the card's memory, and compute on its
compute units, first come first served; an in-switch contribution is sent at once, and whoever
needs its result awaits it landing (the switches learn each group's members from the plan's
contributions before it starts). Everything runs in callbacks: no task per operation. (Stores
are handed to one task per sending card, which issues them: a card starts the task that times a
store, and tasks can only be started from a task.)

Moving bytes is the cards' business (their :class:`~oisa.device.movement.Movement`); the
executor only reduces and copies data in memory when the run moves real bytes. The plan must
give each byte of a receiving range one writer while it is watched (what the collective
library's plans do), so that landing can be counted by address.

A transfer that fails ends the plan at once, with a typed error: a completion timeout (a peer
that never answered, most often a card that died: :mod:`oisa.fabric.outages`) as
:class:`~oisa.errors.CompletionTimeout` saying who waited for whom, which cards had failed by
then and whose part of the plan is unfinished. A plan that stalls instead (posted writes to a
card that died, which nothing answers) ends in the kernel's deadlock report, which lists the
operations still waiting and what for.
"""

from __future__ import annotations

import functools
from collections import deque
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np

from oisa.device.card import Card, Transfer
from oisa.errors import (
    AccessDenied,
    CompletionTimeout,
    SimulationDeadlock,
    SimulationError,
    UsageError,
    VerificationError,
)
from oisa.fabric import Fabric
from oisa.fabric.nodes import Forwarder
from oisa.fabric.outages import failover_of
from oisa.plan import (
    Await,
    Collective,
    Compute,
    Contribute,
    Copy,
    Delay,
    Execution,
    Plan,
    Read,
    Reduce,
    Send,
    Stream,
)
from oisa.sim import Inbox, Signal
from oisa.units import format_time
from oisa.wire.oisa import CollDtype, CollOp, Status

__all__ = ["DTYPES", "OPS", "execute"]

_REFUSED = (Status.UR, Status.CA)  # what a tenancy's checks answer a refused request with

DTYPES: dict[str, tuple[type[np.generic], CollDtype]] = {
    "int8": (np.int8, CollDtype.INT8), "uint8": (np.uint8, CollDtype.UINT8), "int32": (np.int32, CollDtype.INT32),
    "int64": (np.int64, CollDtype.INT64), "float16": (np.float16, CollDtype.FLOAT16),
    "float32": (np.float32, CollDtype.FLOAT32), "float64": (np.float64, CollDtype.FLOAT64),
}
OPS: dict[str, tuple[np.ufunc, CollOp]] = {
    "sum": (np.add, CollOp.SUM), "prod": (np.multiply, CollOp.PROD), "min": (np.minimum, CollOp.MIN),
    "max": (np.maximum, CollOp.MAX),
}


async def execute(fabric: Fabric, plan: Plan, *, data: bool) -> Execution:
    """Run ``plan`` on ``fabric`` (already started) from now; with ``data``, reductions and
    copies also compute real values in the cards' memory."""
    expanded, origin = plan.expansion()
    runner = _Executor(fabric, expanded, data, _set_up_groups(fabric, expanded))
    execution = await runner.run()
    return replace(execution, origin=origin)


GROUP_IDS = 1 << 16  # a COLL_REDUCE's group field is 16 bits (specs/captures.md)


def _set_up_groups(fabric: Fabric, plan: Plan) -> dict[tuple[int, int], int]:
    """Tell every switch a plan contributes to which cards each of its groups has (the cards that
    contribute to it, to whom it writes the results), and say by which id the switch knows each
    of the plan's groups: ``(switch, the plan's group) -> id``.

    A plan numbers its groups on its own; the switch is shared (several jobs, several plans at
    once), so ids are handed out per switch as SHARP's aggregation manager hands out a group per
    communicator: a group keeps the plan's number while no other set of members holds it, and
    the same plan group with the same members always gets the same id back (a training step's
    buckets reuse theirs)."""
    members: dict[tuple[int, int], set[int]] = {}
    for op in plan.ops:
        if isinstance(op, Contribute):
            members.setdefault((op.switch, op.group), set()).add(op.rank)
    ids: dict[tuple[int, int], int] = {}
    for (switch, group), cards in members.items():
        forwarder = fabric.forwarders.get(switch)
        if forwarder is None or not forwarder.reduction:
            raise UsageError(f"node {switch} is no switch that reduces: contributions cannot go to it",
                             parameter="plan")
        ids[(switch, group)] = _group_id(forwarder, group, sorted(cards))
    return ids


def _group_id(forwarder: Forwarder, group: int, cards: list[int]) -> int:
    """The id ``forwarder`` knows the plan group ``group`` of ``cards`` by, claimed if new."""
    key = (group, tuple(cards))
    known = forwarder.group_ids.get(key)
    if known is not None:
        return known
    taken = forwarder.groups
    chosen = group if group not in taken else next((i for i in range(1, GROUP_IDS) if i not in taken), None)
    if chosen is None:
        raise SimulationError(f"{forwarder.name}: all {GROUP_IDS - 1} collective group ids are in use")
    forwarder.group_ids[key] = chosen
    taken[chosen] = cards
    return chosen


class _Executor:
    def __init__(self, fabric: Fabric, plan: Plan, data: bool, group_ids: dict[tuple[int, int], int]) -> None:
        self.fabric = fabric
        self.group_ids = group_ids
        self.kernel = fabric.kernel
        self.plan = plan
        self.data = data
        count = len(plan.ops)
        self.waiting = [len(op.deps) for op in plan.ops]
        self.dependents = plan.dependents()
        self.started = np.full(count, -1, dtype=np.int64)
        self.finished = np.full(count, -1, dtype=np.int64)
        self.left = count
        self.transfers: list[tuple[int, int, Transfer]] = []  # (operation, its card, the transfer)
        self.done: Signal[None] = Signal(self.kernel, f"a plan of {count} operations")
        self._ready: deque[int] = deque()
        self._draining = False
        self.failure: tuple[int, int, Transfer] | None = None  # the first transfer that failed
        self.kernel.waiting_reports.append(self._waiting)
        self.kernel.deadlock_details.append(self._deadlock_details)
        self._start_ps = self.kernel.now
        storing = sorted({op.rank for op in plan.ops if isinstance(op, Send) and op.stores})
        self._stores: dict[int, Inbox[tuple[int, Send]]] = {
            rank: Inbox(self.kernel, f"{fabric.card(rank).name} stores to issue") for rank in storing}

    async def run(self) -> Execution:
        start = self.kernel.now
        for rank, queue in self._stores.items():
            self.kernel.spawn(self._issue_stores, self._card(rank), queue, name=f"{self._card(rank).name}.stores")
        if self.left == 0:
            self.done.set(None)
        self._ready.extend(index for index, waiting in enumerate(self.waiting) if waiting == 0)
        self._drain()
        await self.done.wait()
        if self.failure is not None:
            raise self._failed(*self.failure, start)
        for index, rank, transfer in self.transfers:
            await transfer.wait()
            if not transfer.ok and self.fabric.refusals is not None and transfer.status in _REFUSED:
                raise AccessDenied(f"operation {index}, a {transfer.kind} from card {rank} to card {transfer.peer} "
                                   f"at {transfer.remote_address:#x}, was refused: {transfer.error} (refused so far: "
                                   f"{self.fabric.refusals.as_dict()})", code=transfer.status)
            if not transfer.ok:
                raise VerificationError(f"operation {index}, a {transfer.kind} from card "
                                        f"{rank} to card {transfer.peer}, failed: "
                                        f"{transfer.error}")
        return Execution(self.plan, start, self.kernel.now, self.started, self.finished)

    def _track(self, index: int, rank: int, transfer: Transfer) -> None:
        """Keep ``transfer`` (operation ``index``'s, issued by card ``rank``); if it fails, the
        plan ends then."""
        self.transfers.append((index, rank, transfer))
        assert transfer.done is not None
        transfer.done.then(functools.partial(self._transfer_done, index, rank, transfer))

    def _transfer_done(self, index: int, rank: int, transfer: Transfer) -> None:
        if transfer.ok or self.failure is not None or not transfer.timed_out:
            return  # (other failures are reported once the plan is done, as they always were)
        self.failure = (index, rank, transfer)
        if not self.done.is_set:
            self.done.set(None)

    def _failed(self, index: int, rank: int, transfer: Transfer, start: int) -> CompletionTimeout:
        """The error a plan ends with when ``transfer`` (operation ``index``) timed out."""
        failover = failover_of(self.fabric)
        failed = tuple(sorted(failover.failed_cards)) if failover is not None else ()
        incomplete = self._incomplete()
        return CompletionTimeout(
            f"operation {index}, a {transfer.kind} from card {rank} to card {transfer.peer}, failed at "
            f"{format_time(self.kernel.now - start)} into the plan: {transfer.error}"
            + (f"; cards failed by then: {', '.join(map(str, failed))}" if failed else "")
            + f"; unfinished work on cards {', '.join(map(str, incomplete))}",
            requester=rank, peer=transfer.peer, at_ps=self.kernel.now - start, failed=failed, incomplete=incomplete)

    def _deadlock_details(self, deadlock: SimulationDeadlock) -> None:
        """What the plan can say of a deadlock that stopped it: when, who had failed, what is unfinished."""
        if self.done.is_set:
            return
        failover = failover_of(self.fabric)
        deadlock.at_ps = self.kernel.now - self._start_ps
        deadlock.failed = tuple(sorted(failover.failed_cards)) if failover is not None else ()
        deadlock.incomplete = self._incomplete()

    def _incomplete(self) -> tuple[int, ...]:
        """The cards whose part of the plan has not finished: an operation of theirs, or one
        writing to them, has not."""
        cards: set[int] = set()
        for index, op in enumerate(self.plan.ops):
            if self.finished[index] < 0:
                if isinstance(op, Collective):  # (an expanded plan has none; its ranks, if it had)
                    cards.update(op.ranks)
                    continue
                cards.add(op.rank)
                if isinstance(op, (Send, Read)):
                    cards.add(op.peer)
        return tuple(sorted(cards))

    def _waiting(self) -> list[str]:
        """For a deadlock report: the operations started and not finished, and what each waits for."""
        if self.done.is_set:
            return []
        lines = []
        for index, op in enumerate(self.plan.ops):
            if self.started[index] >= 0 and self.finished[index] < 0:
                if isinstance(op, Send):
                    what = (f"send of {op.size} B from card {op.rank} waiting for them to land at card {op.peer} "
                            f"({op.remote:#x})")
                elif isinstance(op, Read):
                    what = f"read of {op.size} B by card {op.rank} waiting for card {op.peer} to answer"
                elif isinstance(op, Await):
                    what = f"card {op.rank} waiting for {op.size} B to land at {op.address:#x}"
                elif isinstance(op, Collective):
                    what = f"a collective of cards {', '.join(map(str, op.ranks))}"
                else:
                    what = f"{type(op).__name__.lower()} on card {op.rank}"
                lines.append(f"operation {index}: {what}")
        unstarted = int(np.count_nonzero(self.started < 0))
        shown = lines[:8] + ([f"{len(lines) - 8} more operations waiting"] if len(lines) > 8 else [])
        return shown + ([f"{unstarted} operations never started (their dependencies did not finish)"]
                        if unstarted else [])

    def _drain(self) -> None:
        """Start every ready operation, in id order of readiness (deterministic)."""
        if self._draining:
            return
        self._draining = True
        try:
            while self._ready:
                self._start(self._ready.popleft())
        finally:
            self._draining = False

    def _finish(self, index: int) -> None:
        self.finished[index] = self.kernel.now
        self.left -= 1
        for dependent in self.dependents[index]:
            self.waiting[dependent] -= 1
            if self.waiting[dependent] == 0:
                self._ready.append(dependent)
        if self.left == 0 and not self.done.is_set:  # (set already if a transfer failed)
            self.done.set(None)
        self._drain()

    def _finish_at(self, index: int, time_ps: int) -> None:
        self.kernel.call_at(time_ps, self._finish, index)

    def _start(self, index: int) -> None:
        op = self.plan.ops[index]
        self.started[index] = self.kernel.now
        _STARTERS[type(op)](self, index, op)

    def _card(self, rank: int) -> Card:
        return self.fabric.card(rank)

    # -- one starter per kind of operation --------------------------------------------------------

    def _send(self, index: int, op: Send) -> None:
        if op.size <= 0:
            self._finish_at(index, self.kernel.now)
            return
        landed = None if op.confirmed else self._card(op.peer).watch(op.remote, op.size)
        if op.stores:
            assert landed is not None
            landed.then(functools.partial(self._finish, index))
            self._stores[op.rank].put((index, op))
            return
        transfer = self._card(op.rank).post_write(op.peer, op.remote, op.local, op.size, path=op.path)
        self._track(index, op.rank, transfer)
        assert transfer.done is not None
        (transfer.done if landed is None else landed).then(functools.partial(self._finish, index))

    async def _issue_stores(self, card: Card, queue: Inbox[tuple[int, Send]]) -> None:
        while True:
            for index, op in await queue.get_all():
                self._track(index, op.rank, card.store(op.peer, op.remote, op.local, op.size))

    def _read(self, index: int, op: Read) -> None:
        if op.size <= 0:
            self._finish_at(index, self.kernel.now)
            return
        transfer = self._card(op.rank).post_read(op.peer, op.remote, op.local, op.size, path=op.path)
        self._track(index, op.rank, transfer)
        assert transfer.done is not None
        transfer.done.then(functools.partial(self._finish, index))

    def _reduce(self, index: int, op: Reduce) -> None:
        card = self._card(op.rank)
        if op.size <= 0:
            self._finish_at(index, self.kernel.now)
            return
        self.kernel.call_at(card.memory_done_at(op.memory_bytes), self._reduced, index, op)

    def _reduced(self, index: int, op: Reduce) -> None:
        if self.data:
            card, numpy_type = self._card(op.rank), DTYPES[op.dtype][0]
            arrays = [card.memory.read_array(source, op.size).view(numpy_type) for source in op.sources]
            card.memory.write(op.target, functools.reduce(OPS[op.op][0], arrays).astype(numpy_type))
        self._finish(index)

    def _copy(self, index: int, op: Copy) -> None:
        card = self._card(op.rank)
        if op.size <= 0 or op.target == op.source:
            self._finish_at(index, self.kernel.now)
            return
        self.kernel.call_at(card.memory_done_at(op.memory_bytes), self._copied, index, op)

    def _copied(self, index: int, op: Copy) -> None:
        if self.data:
            card = self._card(op.rank)
            card.memory.write(op.target, card.memory.read(op.source, op.size))
        self._finish(index)

    def _stream(self, index: int, op: Stream) -> None:
        self._finish_at(index, self._card(op.rank).memory_done_at(op.memory_bytes))

    def _compute(self, index: int, op: Compute) -> None:
        self._finish_at(index, self._card(op.rank).compute_done_at(op.flops, op.dtype))

    def _delay(self, index: int, op: Delay) -> None:
        self._finish_at(index, self.kernel.now + op.duration_ps)

    def _contribute(self, index: int, op: Contribute) -> None:
        group = self.group_ids[(op.switch, op.group)]
        self._card(op.rank).contribute(op.switch, group, op.members, op.result, op.local, op.size, OPS[op.op][1],
                                       DTYPES[op.dtype][1])
        self._finish_at(index, self.kernel.now)

    def _await(self, index: int, op: Await) -> None:
        self._card(op.rank).watch(op.address, op.size).then(functools.partial(self._finish, index))


_STARTERS: dict[type, Callable[[_Executor, int, Any], None]] = {
    Send: _Executor._send, Read: _Executor._read, Reduce: _Executor._reduce, Copy: _Executor._copy,
    Stream: _Executor._stream, Compute: _Executor._compute, Delay: _Executor._delay,
    Contribute: _Executor._contribute, Await: _Executor._await,
}

