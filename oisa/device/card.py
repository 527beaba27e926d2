"""The emulated GPU: sparse memory, DMA engines and ports onto the fabric, as trio tasks.

A card runs one task that serves its ports (requests addressed to it are executed against its
memory by the transaction layer's completer; completions go to its requester) and one task per
DMA engine, each taking transfer jobs from a shared queue. Every message crossing the card's
boundary goes through its device adapter (:mod:`oisa.device.adapter`), so the card speaks its
native format on its side. Workloads call :meth:`Card.dma_write`, :meth:`Card.dma_read` and
:meth:`Card.compute`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from oisa.device.adapter import Capability, DeviceAdapter
from oisa.device.landing import LandingWatches
from oisa.device.memory import SparseMemory
from oisa.device.profile import DeviceProfile
from oisa.device.registry import adapter as registered_adapter
from oisa.device.timing import MAX_SEGMENTS, SEGMENT_BYTES, TimingTransfer, answer_segment, split
from oisa.errors import SimulationError, UsageError
from oisa.sim import Inbox, Kernel, LinkPort, Port, Signal
from oisa.transaction import Completer, Operation, OperationCompleted, OperationFailed, Requester
from oisa.transaction.ordering import path_free
from oisa.units import S, serialisation_ps
from oisa.wire.oisa import CollDtype, CollExt, CollOp, Message, Opcode, Status

__all__ = ["Card", "Transfer"]

_FLUSH_BYTES = 4
_LOAD_STORE_BYTES = 256  # the most one LOAD or STORE carries
_REDUCE_MESSAGE_BYTES = 4096  # the most one COLL_REDUCE carries
_WRITES = frozenset({Opcode.MEM_WR, Opcode.STORE, Opcode.DMA_WR, Opcode.CXL_MEM_WR})


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
    then a card with one port uses that one. With ``timing``, copies move as segments and no
    bytes (:mod:`oisa.device.timing`).
    """

    def __init__(self, kernel: Kernel, node_id: int, profile: DeviceProfile, name: str | None = None, *,
                 timing: bool = False) -> None:
        self.kernel = kernel
        self.node_id = node_id
        self.profile = profile
        self.name = name or f"card{node_id}"
        self.adapter: DeviceAdapter = registered_adapter(profile.adapter).cls(node_id, profile)
        self.plan = self.adapter.transfer_plan()
        self.memory = SparseMemory(profile.capacity, f"{self.name} memory")
        self.requester = Requester(node_id, max_payload=int(profile.max_payload.value),
                                   max_read_request=int(profile.max_read_request.value),
                                   tags=int(profile.tags.value))
        self.completer = Completer(node_id, self.memory, max_payload=int(profile.max_payload.value))
        self.timing = timing
        self.ports: list[Port] = []
        self.routes: dict[int, list[Port]] = {}
        self.route: Callable[[Message], Port] = self._only_port
        self._arrivals: Inbox[tuple[Port, list[Message]]] = Inbox(kernel, f"{self.name} ports")
        self.messages_sent = 0  # messages (a timing-mode segment counts as all it stands for)
        self._timing_tags: dict[int, TimingTransfer] = {}
        self._timing_progress: dict[int, Signal[None]] = {}
        self._next_timing_tag = 0
        self._jobs: Inbox[Transfer] = Inbox(kernel, f"{self.name} DMA queue")
        self._operations: dict[Operation, Transfer] = {}
        self._flushes: dict[Operation, int | None] = {}  # flush read -> the path it must take (None: any)
        self._timeout_armed = False
        self._watches = LandingWatches(kernel)

    def attach(self, port: Port) -> None:
        if isinstance(port, LinkPort):
            port.on_messages = lambda port, messages: self._arrivals.put((port, messages))
        elif self.timing:
            # Timing mode is for scale: what arrives is handled at once, in the arrival's own
            # event, not by waking the port task (one task switch per segment saved).
            port.on_arrival = lambda port, message, tail: self._take([(port, [message])])
        else:
            port.on_arrival = lambda port, message, tail: self._arrivals.put((port, [message]))
        self.ports.append(port)

    def start(self) -> None:
        """Start the card's tasks in the running kernel."""
        observer = self.kernel.observer
        if observer is not None:
            self.adapter.on_frame = lambda outbound, frame: observer.native(
                self.name, self.adapter.native, self.kernel.now, outbound, frame)
        self.kernel.spawn(self._serve_ports, name=f"{self.name}.ports")
        for engine in range(int(self.profile.dma_engines.value)):
            self.kernel.spawn(self._dma_engine, name=f"{self.name}.dma{engine}")

    # -- what workloads call -------------------------------------------------------------------

    async def dma_write(self, peer: int, remote_address: int, local_address: int, size: int) -> Transfer:
        """Copy ``size`` bytes of local memory to ``peer``'s memory; return when they have landed."""
        return await self.post_write(peer, remote_address, local_address, size).wait()

    async def dma_read(self, peer: int, remote_address: int, local_address: int, size: int) -> Transfer:
        """Copy ``size`` bytes of ``peer``'s memory into local memory; return when all have arrived."""
        return await self.post_read(peer, remote_address, local_address, size).wait()

    def post_write(self, peer: int, remote_address: int, local_address: int, size: int) -> Transfer:
        """Queue a DMA write and return at once; ``await transfer.wait()`` when it matters."""
        return self._queue(Transfer("write", peer, remote_address, local_address, size))

    def post_read(self, peer: int, remote_address: int, local_address: int, size: int) -> Transfer:
        """Queue a DMA read and return at once; ``await transfer.wait()`` when it matters."""
        return self._queue(Transfer("read", peer, remote_address, local_address, size))

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
            length, count = min(piece, size - offset), 1
            if self.timing and length == piece:  # a segment of whole messages, as for copies
                count = min(max(1, SEGMENT_BYTES // piece), (size - offset) // piece)
            payload = b"" if self.timing else self.memory.read(local_address + offset, length)
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

    async def _dma_engine(self) -> None:
        while True:
            transfer = await self._jobs.get()
            transfer.started_ps = self.kernel.now
            self._start(transfer)
            assert transfer.done is not None
            await transfer.done.wait()

    def _start(self, transfer: Transfer) -> None:
        opcode, max_size = self._request_shape(transfer.kind)
        if self.timing:
            self.kernel.spawn(self._timing_copy, transfer, opcode, max_size, name=f"{self.name}.{transfer.kind}")
            return
        if transfer.kind in ("write", "store"):
            data = self.memory.read(transfer.local_address, transfer.size)
            op = self.requester.submit_write(transfer.peer, transfer.remote_address, data, opcode=opcode,
                                             max_size=max_size, relaxed=self.plan.relaxed and opcode is self.plan.write)
        else:
            op = self.requester.submit_read(transfer.peer, transfer.remote_address, transfer.size, opcode=opcode,
                                            max_size=max_size)
        self._operations[op] = transfer
        self._issue()

    def _request_shape(self, kind: str) -> tuple[Opcode, int]:
        """The request a transfer of ``kind`` is made of, and the most bytes one may carry."""
        plan = self.plan
        return {"write": (plan.write, plan.max_write), "read": (plan.read, plan.max_read),
                "store": (Opcode.STORE, _LOAD_STORE_BYTES), "load": (Opcode.LOAD, _LOAD_STORE_BYTES)}[kind]

    async def _serve_ports(self) -> None:
        while True:
            self._take(await self._arrivals.get_all())

    def _take(self, arrivals: list[tuple[Port, list[Message]]]) -> None:
        for port, batch in arrivals:
            for message in batch:
                self._receive(message)
                port.release(message)
        self._issue()

    def _receive(self, message: Message) -> None:
        if message.dst != self.node_id:
            raise SimulationError(f"{self.name} received a message for node {message.dst}; cards do not forward")
        if self.timing:
            self._receive_segment(message)
            return
        message = self.adapter.ingress(message)
        if message.info.is_request:
            for completion in self.completer.handle(message):
                self.send(completion)
            if message.opcode in _WRITES:
                self._watches.landed(message.address, message.length)
            return
        for event in self.requester.receive_completion(message):
            self._finish(event)

    def _finish(self, event: OperationCompleted | OperationFailed) -> None:
        transfer = self._operations.pop(event.operation)
        flushed = event.operation in self._flushes
        self._flushes.pop(event.operation, None)
        if isinstance(event, OperationFailed):
            transfer.status, transfer.error = event.operation.status, event.reason
        elif transfer.kind == "write" and self.plan.flush and not flushed:
            # Posted writes give no completion: read the last bytes back down every path the
            # writes may have taken; a read cannot pass the writes before it on its path, so
            # the completions prove they have all landed.
            size = min(_FLUSH_BYTES, transfer.size)
            paths = self._flush_paths(transfer.peer)
            transfer.flushes_left = paths
            for path in range(paths):
                flush = self.requester.submit_read(transfer.peer, transfer.remote_address + transfer.size - size, size,
                                                   opcode=self.plan.read)
                self._operations[flush] = transfer
                self._flushes[flush] = path if paths > 1 else None
            return
        elif flushed and transfer.flushes_left > 1:
            transfer.flushes_left -= 1
            return
        else:
            transfer.status = Status.SC
            if transfer.kind in ("read", "load"):
                assert event.operation.result is not None
                self.memory.write(transfer.local_address, event.operation.result)
        self._done(transfer)

    def _done(self, transfer: Transfer) -> None:
        transfer.finished_ps = self.kernel.now
        if self.kernel.observer is not None:
            self.kernel.observer.transfer(self.name, transfer)
        assert transfer.done is not None
        transfer.done.set(None)

    def _issue(self) -> None:
        while True:  # finishing a posted write may submit its flush read: issue until quiet
            requests, finished = self.requester.next_requests(self.kernel.now)
            for request in requests:
                operation = self.requester.operation(request.tag) if self._flushes else None
                self.send(request, path=None if operation is None else self._flushes.get(operation))
            for event in finished:
                self._finish(event)
            if not requests and not finished:
                break
        self._arm_timeout()

    def _arm_timeout(self) -> None:
        oldest = self.requester.oldest_issue()
        if oldest is not None and not self._timeout_armed:
            self._timeout_armed = True
            self.kernel.call_at(oldest + self.requester.completion_timeout_ps, self._check_timeouts)

    def _check_timeouts(self) -> None:
        self._timeout_armed = False
        for event in self.requester.expire(self.kernel.now):
            self._finish(event)
        self._arm_timeout()

    def send(self, message: Message, *, parts: int | None = None, path: int | None = None) -> None:
        """Send ``message`` towards its destination, down the ``path``-th of the equal paths if
        given (a flush read), else down the one the fabric's chooser picks.

        A timing-mode segment stands for messages that would each take their own path: it is cut
        into up to ``parts`` parts (default: one per path) that the paths share out. A copy of
        few segments needs that to use every path; one of many spreads over the paths segment
        by segment, and cutting would only cost events.
        """
        crossed = message if self.timing else self.adapter.egress(message)
        self.messages_sent += crossed.count
        if path is not None:
            self.routes[crossed.dst][path].send(crossed)
            return
        paths = len(self.routes.get(crossed.dst, ()))
        cut = paths if parts is None else min(parts, paths)
        if cut > 1 and crossed.count > 1 and path_free(crossed):
            for part in split(crossed, cut):
                self.route(part).send(part)
            return
        self.route(crossed).send(crossed)

    # -- timing mode -------------------------------------------------------------------------------

    async def _timing_copy(self, transfer: Transfer, opcode: Opcode, max_size: int) -> None:
        """A copy as segments: the same requests, sizes and window as data mode, no bytes."""
        write = transfer.kind in ("write", "store")
        per_message = min(max_size, int(self.profile.max_payload.value if write else self.profile.max_read_request.value))
        # segments times the parts they are cut into (one per path) stay within MAX_SEGMENTS
        max_segments = max(1, MAX_SEGMENTS // max(1, len(self.routes.get(transfer.peer, ()))))
        copy = TimingTransfer(opcode, self.node_id, transfer.peer, transfer.remote_address, transfer.size, per_message,
                              window=0, ro=self.plan.relaxed and opcode is self.plan.write, max_segments=max_segments)
        # Segments in flight: as many as the tags cover, and never fewer than two, so that a
        # segment larger than the tags' reach still streams behind the one before it instead of
        # waiting a round trip (the tags themselves would be recycled as completions return).
        copy.window = max(2, int(self.profile.tags.value) * per_message // copy.segment_bytes)
        progress: Signal[None] = Signal(self.kernel, f"{self.name} segments to card {transfer.peer}")
        self._send_segments(copy, progress)
        if not copy.done:
            await progress.wait()
        if transfer.kind == "write" and self.plan.flush:
            flushed = []
            paths = self._flush_paths(transfer.peer)
            for path in range(paths):
                flush = TimingTransfer(self.plan.read, self.node_id, transfer.peer, transfer.remote_address, 4, 4,
                                       window=1)
                flushed.append(Signal(self.kernel, f"{self.name} flush to card {transfer.peer}"))
                self._send_segments(flush, flushed[-1], path=path if paths > 1 else None)
            for progress in flushed:
                await progress.wait()
        transfer.status = Status.SC
        self._done(transfer)

    def _flush_paths(self, peer: int) -> int:
        """How many flush reads a posted write to ``peer`` needs: one per path it may have taken."""
        return max(1, len(self.routes.get(peer, ()))) if self.plan.relaxed else 1

    def _send_segments(self, copy: TimingTransfer, progress: Signal[None], path: int | None = None) -> None:
        in_flight = len(copy.segments) if copy.posted else min(copy.window, len(copy.segments))
        parts = -(-len(self.routes.get(copy.dst, ())) // in_flight)  # enough to keep every path busy
        for segment in copy.next_segments():
            segment.tag = self._next_timing_tag
            self._next_timing_tag = (self._next_timing_tag + 1) % 65536
            if not copy.posted:
                copy.sent(segment)
                self._timing_tags[segment.tag] = copy
                self._timing_progress[segment.tag] = progress
            self.send(segment, parts=parts, path=path)
        if copy.done and not progress.is_set:
            progress.set(None)

    def _receive_segment(self, message: Message) -> None:
        if message.info.is_request:
            answer = answer_segment(message, self.node_id, int(self.profile.max_payload.value))
            if answer is not None:
                # a request that could take any path was cut already, or is one of many; the
                # answer to one pinned to a path (ordered) may still spread on its way back
                self.send(answer, parts=1 if path_free(message) else None)
            if message.opcode in _WRITES:
                self._watches.landed(message.address, message.count * message.length)
            return
        copy = self._timing_tags[message.tag]
        progress = self._timing_progress[message.tag]
        copy.answered(message)
        if message.tag not in copy.outstanding:
            del self._timing_tags[message.tag], self._timing_progress[message.tag]
        self._send_segments(copy, progress)

    def _only_port(self, message: Message) -> Port:
        if len(self.ports) != 1:
            raise SimulationError(f"{self.name} has {len(self.ports)} ports and no route to node {message.dst}")
        return self.ports[0]
