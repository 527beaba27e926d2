"""How a card moves bytes, chosen once when the card is built: the engine's part inside a card.

A :class:`~oisa.device.card.Card` owns what every engine shares (memory, DMA queue and engines,
landing watches, routes, the in-switch contributions it starts). What differs between the data
and the timing engine is behind :class:`Movement`: how a queued transfer becomes requests, what
an arriving message does, and what a message looks like when it leaves the card. The card
calls its movement and never asks which one it has.

:class:`DataMovement` is the byte-exact one: every message crosses the device adapter into its
native format and back, the transaction layer's requester and completer split, tag and answer
requests against real memory, and a posted write is proven landed by flush reads. The timing
engine's movement lives with its segments in :mod:`oisa.device.timing`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from oisa.sim import Inbox, Port
from oisa.transaction import Completer, Operation, OperationCompleted, OperationFailed, Requester
from oisa.wire.oisa import Message, Opcode, Status

if TYPE_CHECKING:
    from oisa.device.card import Card, Transfer

__all__ = ["WRITES", "DataMovement", "Movement"]

FLUSH_BYTES = 4  # what a flush read asks for: the last bytes of the write it proves
WRITES = frozenset({Opcode.MEM_WR, Opcode.STORE, Opcode.DMA_WR, Opcode.CXL_MEM_WR})


class Movement(Protocol):
    """The engine-specific half of a card."""

    moves_bytes: bool
    transmit_queue_bytes: int | None
    """What a card's DMA engines keep queued at a port ahead of its answers (None: the card's
    :data:`~oisa.device.card.TRANSMIT_QUEUE_BYTES`)."""

    def start_tasks(self) -> None:
        """Start whatever tasks this movement needs in the running kernel."""

    def receive(self, port: Port, message: Message) -> None:
        """A message for this card arrived on ``port``."""

    def start(self, transfer: Transfer, opcode: Opcode, max_size: int) -> None:
        """Begin moving ``transfer`` as requests of ``opcode`` of at most ``max_size`` bytes."""

    def egress(self, message: Message) -> Message:
        """``message`` as it leaves the card (through the adapter, where bytes are real)."""

    def payload(self, address: int, length: int) -> bytes:
        """The bytes at ``address`` a message built by the card carries (none without bytes)."""

    def messages_per_send(self, piece: int, remaining: int) -> int:
        """How many messages of ``piece`` bytes one send may stand for (1 where bytes are real)."""

    def held(self, request: Message) -> None:
        """``request``, which expects an answer, waits in the card's DMA engines behind earlier
        requests for its port, which it may not pass: its completion clock stops until
        :meth:`went_out`. PCIe starts a request's Completion Timeout timer when it is
        transmitted (Base Specification 6.0, section 2.8), and a held request may wait behind
        megabytes of the same card's posted writes."""

    def went_out(self, request: Message) -> None:
        """``request``, held back, has now gone to its port: its completion clock starts now."""


class DataMovement:
    """Real bytes through the adapter and the transaction layer."""

    moves_bytes = True
    transmit_queue_bytes: int | None = None

    def __init__(self, card: Card) -> None:
        profile = card.profile
        self.card = card
        # One requester per DMA engine, each with its own window of ``tags`` requests in a tag
        # range of its own (so completions find it), as each engine tracks its own outstanding
        # requests: a slow peer of one copy does not starve the copies other engines run. The
        # cores' loads and stores are few and go through the first engine's requester. (Four
        # engines of 256 tags fill a PCIe-native card's 10-bit tag space.)
        tags = int(profile.tags.value)
        self.requesters = [Requester(card.node_id, max_payload=int(profile.max_payload.value),
                                     max_read_request=int(profile.max_read_request.value), tags=tags,
                                     first_tag=index * tags) for index in range(card.dma_engines)]
        self._tags = tags
        self.completer = Completer(card.node_id, card.memory, max_payload=int(profile.max_payload.value))
        self._arrivals: Inbox[tuple[Port, Message]] = Inbox(card.kernel, f"{card.name} ports")
        self._operations: dict[Operation, Transfer] = {}
        self._flushes: set[Operation] = set()  # the flush reads among the operations
        self._paths: dict[Operation, int | None] = {}  # operation -> the path its requests keep to (None: any)
        self._timeout_armed = False

    def start_tasks(self) -> None:
        self.card.kernel.spawn(self._serve_ports, name=f"{self.card.name}.ports")

    def receive(self, port: Port, message: Message) -> None:
        self._arrivals.put((port, message))

    async def _serve_ports(self) -> None:
        while True:
            for port, message in await self._arrivals.get_all():
                self._handle(message)
                port.release(message)
            self._issue()

    def _handle(self, message: Message) -> None:
        card = self.card
        message = card.adapter.ingress(message)
        if message.info.is_request:
            for completion in self.completer.handle(message):
                card.send(completion)
            if message.opcode in WRITES:
                card.landed(message.address, message.length)
            return
        engine = message.tag // self._tags
        if engine >= len(self.requesters):  # a tag none of our engines hands out: an Unexpected Completion
            self.requesters[0].unexpected_completions += 1
            return
        for event in self.requesters[engine].receive_completion(message):
            self._finish(event)

    @property
    def unexpected_completions(self) -> int:
        """Completions dropped because they answered no outstanding request of this card's."""
        return sum(requester.unexpected_completions for requester in self.requesters)

    def _requester(self, transfer: Transfer) -> Requester:
        return self.requesters[transfer.engine or 0]

    def start(self, transfer: Transfer, opcode: Opcode, max_size: int) -> None:
        card = self.card
        requester = self._requester(transfer)
        if transfer.kind in ("write", "store"):
            data = card.memory.read(transfer.local_address, transfer.size)
            op = requester.submit_write(transfer.peer, transfer.remote_address, data, opcode=opcode,
                                             max_size=max_size,
                                             relaxed=card.plan.relaxed and opcode is card.plan.write)
        else:
            op = requester.submit_read(transfer.peer, transfer.remote_address, transfer.size, opcode=opcode,
                                       max_size=max_size)
        self._operations[op] = transfer
        if transfer.path is not None:
            self._paths[op] = card.path_index(transfer.peer, transfer.path)
        self._issue()

    def egress(self, message: Message) -> Message:
        return self.card.adapter.egress(message)

    def payload(self, address: int, length: int) -> bytes:
        return self.card.memory.read(address, length)

    def messages_per_send(self, piece: int, remaining: int) -> int:
        return 1

    def held(self, request: Message) -> None:
        for requester in self.requesters:
            requester.held(request.tag)

    def went_out(self, request: Message) -> None:
        now = self.card.kernel.now
        for requester in self.requesters:
            requester.transmitted(request.tag, now)
        self._arm_timeout()

    def _finish(self, event: OperationCompleted | OperationFailed) -> None:
        card = self.card
        transfer = self._operations.pop(event.operation)
        flushed = event.operation in self._flushes
        self._flushes.discard(event.operation)
        self._paths.pop(event.operation, None)
        if isinstance(event, OperationFailed):
            if transfer.status is None:  # the first failure is what the transfer reports
                transfer.status, transfer.error = event.operation.status, event.reason
                transfer.timed_out = event.status is None  # (the requester's completion timeout)
            if flushed and transfer.flushes_left > 1:  # the other paths' flush reads are still out
                transfer.flushes_left -= 1
                return
        elif transfer.kind == "write" and card.plan.flush and not flushed:
            # Posted writes give no completion: read the last bytes back down every path the
            # writes may have taken; a read cannot pass the writes before it on its path, so
            # the completions prove they have all landed.
            size = min(FLUSH_BYTES, transfer.size)
            paths = card.flush_paths(transfer)
            transfer.flushes_left = len(paths)
            for path in paths:
                last = transfer.remote_address + transfer.size - size
                flush = self._requester(transfer).submit_read(transfer.peer, last, size, opcode=card.plan.read)
                self._operations[flush] = transfer
                self._flushes.add(flush)
                self._paths[flush] = path
            return
        elif flushed and transfer.flushes_left > 1:
            transfer.flushes_left -= 1
            return
        elif transfer.status is not None:
            pass  # a flush read of another path failed: the transfer ends with that failure
        else:
            transfer.status = Status.SC
            if transfer.kind in ("read", "load"):
                assert event.operation.result is not None
                card.memory.write(transfer.local_address, event.operation.result)
        card.finish(transfer)

    def _issue(self) -> None:
        card = self.card
        busy = True
        while busy:  # finishing a posted write may submit its flush read: issue until quiet
            busy = False
            for requester in self.requesters:
                requests, finished = requester.next_requests(card.kernel.now)
                for request, operation in requests:
                    card.send(request, path=self._paths.get(operation) if self._paths else None)
                for event in finished:
                    self._finish(event)
                busy = busy or bool(requests or finished)
        self._arm_timeout()

    def _arm_timeout(self) -> None:
        issued = [oldest for oldest in (r.oldest_issue() for r in self.requesters) if oldest is not None]
        if issued and not self._timeout_armed:
            self._timeout_armed = True
            self.card.kernel.call_at(min(issued) + self.requesters[0].completion_timeout_ps, self._check_timeouts)

    def _check_timeouts(self) -> None:
        self._timeout_armed = False
        for requester in self.requesters:
            for event in requester.expire(self.card.kernel.now):
                self._finish(event)
        self._arm_timeout()
