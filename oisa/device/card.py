"""The emulated GPU: sparse memory, DMA engines and ports onto the fabric, as trio tasks.

A card runs one task per DMA engine, each taking transfer jobs from a shared queue, and keeps
what every engine shares: its memory, the watches that tell a workload a peer's data has
landed, its routes, and the in-switch contributions it starts. How a transfer becomes messages
and what an arriving message does is its :class:`~oisa.device.movement.Movement`, chosen when
the card is built: byte-exact through the device adapter and the transaction layer (the data
engine), or segments with no bytes (the timing engine). Workloads call :meth:`Card.dma_write`,
:meth:`Card.dma_read` and :meth:`Card.compute`; this module must not know which engine runs.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from oisa.config import Figure
from oisa.device.adapter import Capability, DeviceAdapter
from oisa.device.bandwidth import MemoryBandwidth
from oisa.device.isolation import CardGuard, Verdict
from oisa.device.landing import LandingWatches
from oisa.device.memory import SparseMemory
from oisa.device.movement import WRITES, DataMovement, Movement
from oisa.device.profile import DeviceProfile
from oisa.device.registry import adapter as registered_adapter
from oisa.device.timing import SEGMENT_BYTES, split
from oisa.errors import SimulationError, UsageError
from oisa.sim import Inbox, Kernel, Port, Signal
from oisa.transaction import refusal
from oisa.transaction.ordering import path_free
from oisa.units import S, serialisation_ps
from oisa.wire.oisa import CollDtype, CollExt, CollOp, Message, Opcode, Status

__all__ = ["Card", "Transfer"]

_LOAD_STORE_BYTES = 256  # the most one LOAD or STORE carries
_REDUCE_MESSAGE_BYTES = 4096  # the most one COLL_REDUCE carries
_UNPACED = frozenset({Opcode.LOAD, Opcode.STORE})  # a core's requests: no DMA engine holds them back
# What an arriving message asks of the card's memory, per message: a write lands its payload, read
# data lands (a read request's data is read as its answer leaves; a completion without data asks nothing)
_MEMORY_WORK = WRITES | {Opcode.CPL_D, Opcode.CXL_DRS}
# What carries bytes read from the card's own memory as it leaves: a copy's data, contributions to
# an in-switch reduction, and the answers to the reads it serves
_SENDS_LOCAL_DATA = WRITES | {Opcode.COLL_REDUCE, Opcode.CPL_D, Opcode.CXL_DRS}
TRANSMIT_QUEUE_BYTES = Figure(SEGMENT_BYTES, assumption="a card's DMA engines issue requests while their port's "
                              "transmit queue holds less than 64 KiB (1.3 us at 400 Gb/s): PCIe and OISA-class "
                              "links grant a few to some tens of kilobytes of credits, so an engine cannot run "
                              "further ahead; no vendor publishes its engines' issue depth; 64 KiB is the timing "
                              "engine's segment, so both engines hold a copy back alike")


@dataclass(eq=False)
class Transfer:
    """One DMA job and, once it has finished, its outcome."""

    kind: str  # "write" (local -> remote) or "read" (remote -> local)
    peer: int
    remote_address: int
    local_address: int
    size: int
    submitted_ps: int = 0
    started_ps: int = 0
    finished_ps: int = 0
    status: Status | None = None
    error: str | None = None
    done: Signal[None] | None = field(default=None, repr=False)
    flushes_left: int = field(default=0, repr=False)  # a posted write's flush reads not yet answered
    path: int | None = None  # the equal path (channel) its requests keep to; None: the fabric spreads them
    engine: int | None = None  # the DMA engine that runs it; None: issued at once by a core (loads, stores)
    timed_out: bool = False  # it failed because a request of it was not answered within the completion timeout

    @property
    def ok(self) -> bool:
        return self.status is Status.SC

    async def wait(self) -> Transfer:
        """Return this transfer once it has finished."""
        assert self.done is not None, "the transfer was never submitted"
        await self.done.wait()
        return self


class Card:
    """One emulated GPU with id ``node_id`` built from ``profile``.

    ``route`` picks the port a message leaves by (the fabric sets it, from ``routes``); until
    then a card with one port uses that one. ``movement`` is the engine's half of the card
    (:mod:`oisa.device.movement`): real bytes by default, or the timing engine's segments.
    """

    forwards = False  # a card is an endpoint: what arrives is for it
    cut_through = False

    def __init__(self, kernel: Kernel, node_id: int, profile: DeviceProfile, name: str | None = None, *,
                 movement: Callable[[Card], Movement] = DataMovement) -> None:
        self.kernel = kernel
        self.node_id = node_id
        self.profile = profile
        self.name = name or f"card{node_id}"
        self.adapter: DeviceAdapter = registered_adapter(profile.adapter).cls(node_id, profile)
        self.plan = self.adapter.transfer_plan()
        self.memory = SparseMemory(profile.capacity, f"{self.name} memory")
        self.ports: list[Port] = []
        self.routes: dict[int, list[Port]] = {}
        self._split_first: dict[int, int] = {}  # per destination: the part that next takes an odd message
        self._held: dict[Port, deque[Message]] = {}  # DMA requests waiting for their port's queue to drain
        self.route: Callable[[Message], Port] = self._only_port
        self.messages_sent = 0  # messages (a timing-mode segment counts as all it stands for)
        self._jobs: Inbox[Transfer] = Inbox(kernel, f"{self.name} DMA queue")
        self._watches = LandingWatches(kernel)
        # everything that touches the memory shares its bandwidth (oisa.device.bandwidth)
        self.memory_bandwidth = MemoryBandwidth(int(profile.memory_bandwidth.value))  # the figure is in bits/s
        self._compute_free_at = 0  # ... and the compute units
        self.movement = movement(self)
        self.guard: CardGuard | None = None  # a tenancy's checks on what arrives (oisa.device.isolation)
        self.failed_at: int | None = None  # when the card died (stopped answering), if it has
        self.dropped = 0  # messages that reached it, or that it was to send, after it died
        self.intercept: Callable[[Port, Message], bool] | None = None  # takes what reaches a failed port (outages)
        # the traffic class every message this card sends carries on the fabric (0: the default
        # class): a job's, when several jobs share the fabric (oisa.workload.jobs), for QoS
        self.traffic_class = 0

    def attach(self, port: Port) -> None:
        port.attach(self)
        self.ports.append(port)

    def start(self) -> None:
        """Start the card's tasks in the running kernel."""
        observer = self.kernel.observer
        if observer is not None:
            self.adapter.on_frame = lambda outbound, frame: observer.native(
                self.name, self.adapter.native, self.kernel.now, outbound, frame)
        self.movement.start_tasks()
        for engine in range(self.dma_engines):
            self.kernel.spawn(self._dma_engine, engine, name=f"{self.name}.dma{engine}")

    @property
    def dma_engines(self) -> int:
        return int(self.profile.dma_engines.value)

    # -- what workloads call -------------------------------------------------------------------

    async def dma_write(self, peer: int, remote_address: int, local_address: int, size: int) -> Transfer:
        """Copy ``size`` bytes of local memory to ``peer``'s memory; return when they have landed."""
        return await self.post_write(peer, remote_address, local_address, size).wait()

    async def dma_read(self, peer: int, remote_address: int, local_address: int, size: int) -> Transfer:
        """Copy ``size`` bytes of ``peer``'s memory into local memory; return when all have arrived."""
        return await self.post_read(peer, remote_address, local_address, size).wait()

    def post_write(self, peer: int, remote_address: int, local_address: int, size: int, *,
                   path: int | None = None) -> Transfer:
        """Queue a DMA write and return at once; ``await transfer.wait()`` when it matters.
        ``path`` keeps its requests to one of the equal paths to ``peer`` (a channel)."""
        return self._queue(Transfer("write", peer, remote_address, local_address, size, path=path))

    def post_read(self, peer: int, remote_address: int, local_address: int, size: int, *,
                  path: int | None = None) -> Transfer:
        """Queue a DMA read and return at once; ``await transfer.wait()`` when it matters."""
        return self._queue(Transfer("read", peer, remote_address, local_address, size, path=path))

    async def load(self, peer: int, remote_address: int, local_address: int, size: int) -> Transfer:
        """A fine-grained load (64-256 B) from ``peer``'s memory, as a core issues it: not queued
        behind DMA copies. Returns when the data is in local memory."""
        return await self._now(Transfer("load", peer, remote_address, local_address, size)).wait()

    def store(self, peer: int, remote_address: int, local_address: int, size: int) -> Transfer:
        """A fine-grained store (64-256 B) to ``peer``'s memory, issued at once. Stores are
        posted: the transfer is done once sent; :meth:`watch` at the peer sees it land."""
        return self._now(Transfer("store", peer, remote_address, local_address, size))

    async def compute(self, operations: float, dtype: str) -> int:
        """Spend the time ``operations`` take at this card's rate for ``dtype``; return it (ps)."""
        rates = self.profile.compute
        if dtype not in rates:
            raise UsageError(f"{self.name} ({self.profile.name}) has no {dtype} rate "
                             f"(it has: {', '.join(sorted(rates))})")
        duration = int(-(-operations * S // int(rates[dtype].value)))
        await self.kernel.sleep(duration)
        return duration

    async def stream_memory(self, size: int) -> int:
        """Spend the time moving ``size`` bytes through this card's memory takes (a local copy
        or reduction reads and writes); return it (ps)."""
        duration = serialisation_ps(size, int(self.profile.memory_bandwidth.value))  # the figure is in bits/s
        await self.kernel.sleep(duration)
        return duration

    def memory_done_at(self, size: int) -> int:
        """Book ``size`` bytes of local memory traffic (reads and writes of a copy or a
        reduction) from now, in the memory's idle time, at the card's memory bandwidth; return
        when it is done (ps). It shares the memory with everything else that touches it
        (:mod:`oisa.device.bandwidth`): the copies that land here, the reads it answers, the data
        its copies send."""
        return self.memory_bandwidth.book(self.kernel.now, size)

    def compute_done_at(self, operations: float, dtype: str) -> int:
        """Queue ``operations`` at this card's rate for ``dtype`` behind the compute already
        queued (the card runs one kernel at a time); return when they are done (ps)."""
        rates = self.profile.compute
        if dtype not in rates:
            raise UsageError(f"{self.name} ({self.profile.name}) has no such rate (it has: "
                             f"{', '.join(sorted(rates))})", parameter="dtype", value=dtype)
        start = max(self.kernel.now, self._compute_free_at)
        self._compute_free_at = start + int(-(-operations * S // int(rates[dtype].value)))
        return self._compute_free_at

    def watch(self, address: int, size: int) -> Signal[None]:
        """A signal set once peers have written ``size`` bytes into ``[address, address + size)``
        of this card's memory: how a receiver learns that data has landed (as a flag polled by
        a kernel would tell it). Watched ranges must not overlap."""
        return self._watches.add(address, size, f"{self.name} waiting for {size} B at {address:#x}")

    def contribute(self, switch: int, group: int, members: int, result_address: int, local_address: int,
                   size: int, op: CollOp, dtype: CollDtype) -> None:
        """Send ``size`` bytes of local memory to ``switch`` as contributions to an in-switch
        reduction of ``group``; the switch writes the result to ``result_address`` of every member.

        Only a card whose adapter declares ``collective_offload`` can start one.
        """
        if Capability.COLLECTIVE_OFFLOAD not in self.adapter.capabilities:
            raise UsageError(f"{self.name} ({self.profile.name}, adapter {self.adapter.name}) cannot start in-switch "
                             f"reductions: its adapter lacks the collective_offload capability")
        extension = CollExt(group, members, op, dtype)
        piece = _REDUCE_MESSAGE_BYTES - _REDUCE_MESSAGE_BYTES % dtype.itemsize
        offset = 0
        while offset < size:
            length = min(piece, size - offset)
            count = self.movement.messages_per_send(piece, size - offset) if length == piece else 1
            payload = self.movement.payload(local_address + offset, length)
            self.send(Message(Opcode.COLL_REDUCE, self.node_id, switch, length=length, address=result_address + offset,
                              payload=payload, coll=extension, count=count))
            offset += count * length

    def _queue(self, transfer: Transfer) -> Transfer:
        transfer.submitted_ps = self.kernel.now
        transfer.done = Signal(self.kernel, f"{self.name} {transfer.kind} to card {transfer.peer}")
        self._jobs.put(transfer)
        return transfer

    def _now(self, transfer: Transfer) -> Transfer:
        transfer.submitted_ps = transfer.started_ps = self.kernel.now
        transfer.done = Signal(self.kernel, f"{self.name} {transfer.kind} to card {transfer.peer}")
        self._start(transfer)
        return transfer

    # -- tasks -----------------------------------------------------------------------------------

    async def _dma_engine(self, engine: int) -> None:
        while True:
            transfer = await self._jobs.get()
            transfer.started_ps = self.kernel.now
            transfer.engine = engine
            self._start(transfer)
            assert transfer.done is not None
            await transfer.done.wait()

    def _start(self, transfer: Transfer) -> None:
        opcode, max_size = self._request_shape(transfer.kind)
        self.movement.start(transfer, opcode, max_size)

    def _request_shape(self, kind: str) -> tuple[Opcode, int]:
        """The request a transfer of ``kind`` is made of, and the most bytes one may carry."""
        plan = self.plan
        return {"write": (plan.write, plan.max_write), "read": (plan.read, plan.max_read),
                "store": (Opcode.STORE, _LOAD_STORE_BYTES), "load": (Opcode.LOAD, _LOAD_STORE_BYTES)}[kind]

    # -- what the fabric and the movement call ----------------------------------------------------

    def fail(self) -> None:
        """The card dies (a fault schedule's ``card`` failure): from now on it answers nothing,
        sends nothing, and none of its transfers finishes; its links stay up, as those of a GPU
        that hangs do, so only a requester's completion timeout tells its peers."""
        self.failed_at = self.kernel.now
        self.dropped += sum(len(held) for held in self._held.values())  # what its DMA engines held back dies too
        self._held.clear()

    def receive(self, port: Port, message: Message, head_ps: int, tail_ps: int) -> None:
        if self.failed_at is not None:
            self.dropped += 1
            port.release(message)
            return
        if self.intercept is not None and self.intercept(port, message):
            return
        if message.dst != self.node_id:
            raise SimulationError(f"{self.name} received a message for node {message.dst}; cards do not forward")
        if self.guard is not None:
            verdict = self.guard.screen(port, message)
            if verdict is not Verdict.PASS:
                # refused before the movement sees it: nothing is read or written, nothing lands
                port.release(message)
                if verdict is not Verdict.DROP:
                    for answer in refusal(message, verdict.status, responder=self.node_id):
                        self.kernel.call_at(self.kernel.now, self.send, answer)
                return
        per_message = message.length if message.opcode in _MEMORY_WORK else 0
        span = serialisation_ps((message.count - 1) * message.wire_size, port.rate_bps) if message.count > 1 else 0
        done = self.memory_bandwidth.arrival(self.kernel.now, per_message, message.count, span)
        if done > self.kernel.now:  # handled once the memory has done its part (and what came before)
            self.kernel.call_at(done, self._handle, port, message)
        else:
            self.movement.receive(port, message)

    def _handle(self, port: Port, message: Message) -> None:
        if self.failed_at is not None:  # it died while the memory was busy with the message
            self.dropped += 1
            port.release(message)
            return
        self.movement.receive(port, message)

    def committed(self, message: Message) -> None:
        """A card keeps no buffer for what it sent: nothing to free."""

    def landed(self, address: int, size: int) -> None:
        """Peers' writes filled ``size`` bytes at ``address``: count them towards the watches."""
        self._watches.landed(address, size)

    def finish(self, transfer: Transfer) -> None:
        """``transfer`` is done (its status set): stamp it, tell the observer, wake its waiters
        (unless the card has died: then nothing it started ever finishes)."""
        if self.failed_at is not None:
            return
        transfer.finished_ps = self.kernel.now
        if self.kernel.observer is not None:
            self.kernel.observer.transfer(self.name, transfer)
        assert transfer.done is not None
        transfer.done.set(None)

    def flush_paths(self, transfer: Transfer) -> list[int | None]:
        """The paths a posted write's flush reads take: one per path its writes may have taken
        (None: the one path ordered writes keep to)."""
        if transfer.path is not None:
            return [self.path_index(transfer.peer, transfer.path)]
        paths = len(self.routes.get(transfer.peer, ())) if self.plan.relaxed else 1
        return list(range(paths)) if paths > 1 else [None]

    def path_index(self, peer: int, path: int) -> int:
        """Channel ``path`` as an index among the equal paths to ``peer`` (channels wrap round)."""
        return path % max(1, len(self.routes.get(peer, ())))

    def send(self, message: Message, *, parts: int | None = None, path: int | None = None) -> None:
        """Send ``message`` towards its destination, down the ``path``-th of the equal paths if
        given (a flush read), else down the one the fabric's chooser picks.

        A timing-mode segment stands for messages that would each take their own path: it is cut
        into up to ``parts`` parts (default: one per path) that the paths share out. A copy of
        few segments needs that to use every path; one of many spreads over the paths segment
        by segment, and cutting would only cost events.
        """
        if self.failed_at is not None:
            self.dropped += 1
            return
        paced = message.info.is_request and message.opcode not in _UNPACED  # what its adapter makes of it may not say
        crossed = self.movement.egress(message)
        if self.traffic_class:
            crossed.tc = self.traffic_class
        self.messages_sent += crossed.count
        if path is not None:
            self._transmit(self.routes[crossed.dst][self.path_index(crossed.dst, path)], crossed, paced)
            return
        paths = len(self.routes.get(crossed.dst, ()))
        cut = paths if parts is None else min(parts, paths)
        if cut > 1 and crossed.count > 1 and path_free(crossed):
            # The paths take the parts in turn; the parts that carry a segment's odd messages move
            # on each time, as the next message sent one by one would take the next path. Left in
            # place, one path took them all (a 16-message segment over 3 paths: 6, 5, 5 every time).
            first = self._split_first.get(crossed.dst, 0)
            pieces = split(crossed, cut, first)
            self._split_first[crossed.dst] = (first + crossed.count) % len(pieces)
            for piece in pieces:
                self._transmit(self.route(piece), piece, paced)
            return
        self._transmit(self.route(crossed), crossed, paced)

    def _transmit(self, port: Port, message: Message, paced: bool) -> None:
        """Hand ``message`` to ``port``, or, if it is a DMA engine's request (``paced``) and the port's
        transmit queue is already :data:`TRANSMIT_QUEUE_BYTES` deep, hold it (behind what is held
        for that port already) until the queue has drained to that depth.

        A DMA engine issues requests only as fast as its port takes them (PCIe and OISA links
        give credits for a few kilobytes): the rest of a copy waits in the engine, not in a
        queue at the port. So a core's store (a protocol's flag or credit) and a completion
        wait behind at most that much of a copy, never behind the whole of it; a store sent
        behind a megabyte of data in one queue would hold up the peer that waits for it, a
        step per store, whenever data flows both ways."""
        if not paced:
            self._hand(port, message)
            return
        held = self._held.get(port)
        if held is None:
            if port.queue_delay() <= self._transmit_ahead(port):
                self._hand(port, message)
                return
            held = self._held[port] = deque()
            self._drain_later(port)
        held.append(message)
        if message.info.expects_completion:
            self.movement.held(message)

    def _hand(self, port: Port, message: Message) -> None:
        """Hand ``message`` to ``port``; the local data it carries is read from memory as it starts
        to leave (booked from then, not waited for: the engine reads ahead of its port)."""
        if message.opcode in _SENDS_LOCAL_DATA:
            now = self.kernel.now
            self.memory_bandwidth.book(now, message.count * message.length, needed_ps=now + port.queue_delay())
        port.send(message)

    def _transmit_ahead(self, port: Port) -> int:
        ahead = self.movement.transmit_queue_bytes
        return serialisation_ps(int(TRANSMIT_QUEUE_BYTES.value) if ahead is None else ahead, port.rate_bps)

    def _drain_later(self, port: Port) -> None:
        wait = port.queue_delay() - self._transmit_ahead(port)
        self.kernel.call_at(self.kernel.now + max(1, wait), self._drain, port)

    def _drain(self, port: Port) -> None:
        held = self._held.get(port)
        if held is None:  # the card failed while this wake was pending
            return
        ahead = self._transmit_ahead(port)
        while held and port.queue_delay() <= ahead:
            message = held.popleft()
            self._hand(port, message)
            if message.info.expects_completion:
                self.movement.went_out(message)
        if held:
            self._drain_later(port)
        else:
            del self._held[port]

    def _only_port(self, message: Message) -> Port:
        if len(self.ports) != 1:
            raise SimulationError(f"{self.name} has {len(self.ports)} ports and no route to node {message.dst}")
        return self.ports[0]
