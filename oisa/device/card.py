"""The emulated GPU: sparse memory, DMA engines and ports onto the fabric, as trio tasks.

A card runs one task that serves its ports (requests addressed to it are executed against its
memory by the transaction layer's completer; completions go to its requester) and one task per
DMA engine, each taking transfer jobs from a shared queue. Workloads call :meth:`Card.dma_write`
and :meth:`Card.dma_read` and get back when and how the transfer finished.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from oisa.device.memory import SparseMemory
from oisa.device.profile import DeviceProfile
from oisa.errors import SimulationError
from oisa.sim import Inbox, Kernel, LinkPort, Signal
from oisa.transaction import Completer, Operation, OperationCompleted, OperationFailed, Requester
from oisa.wire.message import Message
from oisa.wire.opcodes import Status

__all__ = ["Card", "Transfer"]


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

    @property
    def ok(self) -> bool:
        return self.status is Status.SC


class Card:
    """One emulated GPU with id ``node_id`` built from ``profile``."""

    def __init__(self, kernel: Kernel, node_id: int, profile: DeviceProfile, name: str | None = None) -> None:
        self.kernel = kernel
        self.node_id = node_id
        self.profile = profile
        self.name = name or f"card{node_id}"
        self.memory = SparseMemory(profile.capacity, f"{self.name} memory")
        self.requester = Requester(node_id, max_payload=int(profile.max_payload.value),
                                   max_read_request=int(profile.max_read_request.value),
                                   tags=int(profile.tags.value))
        self.completer = Completer(node_id, self.memory, max_payload=int(profile.max_payload.value))
        self.ports: list[LinkPort] = []
        self.routes: dict[int, LinkPort] = {}
        self._arrivals: Inbox[tuple[LinkPort, list[Message]]] = Inbox(kernel, f"{self.name} ports")
        self._jobs: Inbox[Transfer] = Inbox(kernel, f"{self.name} DMA queue")
        self._operations: dict[Operation, Transfer] = {}

    def attach(self, port: LinkPort) -> None:
        port.on_messages = lambda port, messages: self._arrivals.put((port, messages))
        self.ports.append(port)

    def start(self) -> None:
        """Start the card's tasks in the running kernel."""
        self.kernel.spawn(self._serve_ports, name=f"{self.name}.ports")
        for engine in range(int(self.profile.dma_engines.value)):
            self.kernel.spawn(self._dma_engine, name=f"{self.name}.dma{engine}")

    # -- what workloads call -------------------------------------------------------------------

    async def dma_write(self, peer: int, remote_address: int, local_address: int, size: int) -> Transfer:
        """Copy ``size`` bytes of local memory to ``peer``'s memory; return when all are acknowledged."""
        return await self._submit(Transfer("write", peer, remote_address, local_address, size))

    async def dma_read(self, peer: int, remote_address: int, local_address: int, size: int) -> Transfer:
        """Copy ``size`` bytes of ``peer``'s memory into local memory; return when all have arrived."""
        return await self._submit(Transfer("read", peer, remote_address, local_address, size))

    async def _submit(self, transfer: Transfer) -> Transfer:
        transfer.submitted_ps = self.kernel.now
        transfer.done = Signal(self.kernel, f"{self.name} {transfer.kind} to card {transfer.peer}")
        self._jobs.put(transfer)
        await transfer.done.wait()
        return transfer

    # -- tasks -----------------------------------------------------------------------------------

    async def _dma_engine(self) -> None:
        while True:
            transfer = await self._jobs.get()
            transfer.started_ps = self.kernel.now
            if transfer.kind == "write":
                data = self.memory.read(transfer.local_address, transfer.size)
                op = self.requester.submit_write(transfer.peer, transfer.remote_address, data)
            else:
                op = self.requester.submit_read(transfer.peer, transfer.remote_address, transfer.size)
            self._operations[op] = transfer
            self._issue()
            assert transfer.done is not None
            await transfer.done.wait()

    async def _serve_ports(self) -> None:
        while True:
            for port, batch in await self._arrivals.get_all():
                for message in batch:
                    self._receive(message)
                    port.release(message)
            self._issue()

    def _receive(self, message: Message) -> None:
        if message.dst != self.node_id:
            raise SimulationError(f"{self.name} received a message for node {message.dst}; cards do not forward")
        if message.info.is_request:
            for completion in self.completer.handle(message):
                self.send(completion)
            return
        for event in self.requester.receive_completion(message):
            self._finish(event)

    def _finish(self, event: OperationCompleted | OperationFailed) -> None:
        transfer = self._operations.pop(event.operation)
        transfer.finished_ps = self.kernel.now
        if isinstance(event, OperationFailed):
            transfer.status, transfer.error = event.status, event.reason
        else:
            transfer.status = Status.SC
            if transfer.kind == "read":
                assert event.operation.result is not None
                self.memory.write(transfer.local_address, event.operation.result)
        assert transfer.done is not None
        transfer.done.set(None)

    def _issue(self) -> None:
        for request in self.requester.next_requests():
            self.send(request)

    def send(self, message: Message) -> None:
        port = self.routes.get(message.dst)
        if port is None:
            raise SimulationError(f"{self.name} has no route to node {message.dst}")
        port.send(message)

