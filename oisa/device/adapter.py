"""The device-adapter interface: how a card's native transactions become OISA and back.

A GPU vendor plugs its device into an OISA supernode by writing one :class:`DeviceAdapter`:
the bytes its device puts on its native interface for each kind of transaction, how those
bytes read as OISA messages, and which transactions it uses for bulk copies. The emulated card
calls its adapter on every message that crosses its boundary, in both directions, so the
adapter's codec and the limits of its native format act on all of the card's traffic:

* a message the card sends is encoded into the native frame (:meth:`to_native`) and read back
  as OISA (:meth:`from_native`) before it enters the fabric;
* a message arriving for the card is encoded into the native frame the device would receive,
  if its native format can carry it; operations the native format cannot express (a DMA write
  with completion arriving at a PCIe device, say) end in the card's OISA endpoint, which does
  them on the card's memory directly, as the OISA bridge chip in front of such a device would.

Adapters are found by name through the ``oisa.devices`` entry-point group
(:mod:`oisa.device.registry`); oisa's built-in adapters register there too.

Whatever else an adapter's code raises (a plug-in's KeyError, say) comes out of its
constructor, :meth:`~DeviceAdapter.transfer_plan`, :meth:`~DeviceAdapter.to_native` and
:meth:`~DeviceAdapter.from_native` as :class:`~oisa.errors.AdapterError` naming the adapter and
the method, so that a run ends in one line that says whose bug it is, and the conformance kit
and the fuzzer report it as a finding. Every subclass gets that guard when it is defined.
"""

from __future__ import annotations

import enum
import functools
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from oisa.errors import AdapterError, BridgeError, OisaError
from oisa.wire.oisa import OPCODES, Message, Opcode

if TYPE_CHECKING:
    from oisa.device.profile import DeviceProfile

__all__ = ["Capability", "DeviceAdapter", "TransferPlan"]


class Capability(enum.StrEnum):
    """What a card can start through its native interface."""

    DMA = "dma"  # bulk copies to and from peers
    LOAD_STORE = "load_store"  # fine-grained loads and stores to peer memory
    ATOMICS = "atomics"  # FetchAdd, Swap, CAS on peer memory
    CXL_MEM = "cxl_mem"  # CXL.mem line reads and writes
    MESSAGES = "messages"  # PCIe-style messages
    EARLY_COMPLETION = "early_completion"  # accepts completions given early by a switch
    COLLECTIVE_OFFLOAD = "collective_offload"  # contributions to in-switch reductions


@dataclass(frozen=True)
class TransferPlan:
    """How a card moves bulk data: which request it uses and how big each may be.

    A posted write (MEM_WR) gives no completion; the card then reads the last word back
    (``flush``), which cannot overtake the writes, to know they have landed. With ``relaxed``
    the writes carry relaxed ordering (PCIe Attr RO, as GPUs set it on bulk copies), so they may
    pass one another and take every equal path; the card then flushes every path.
    """

    write: Opcode
    read: Opcode
    max_write: int
    max_read: int
    relaxed: bool = False

    @property
    def flush(self) -> bool:
        return not OPCODES[self.write].expects_completion


class DeviceAdapter(ABC):
    """One card's bridge between its native transactions and OISA messages.

    Subclasses set the class attributes and implement the three methods. An instance serves
    one card (``card_id``) and may keep state, such as the requests it has seen, that its
    native format needs to rebuild completions.
    """

    name: ClassVar[str]
    native: ClassVar[str]  # native protocol family: "pcie", "cxl", "vendor" or "oisa"
    summary: ClassVar[str]
    capabilities: ClassVar[frozenset[Capability]]
    profiles: ClassVar[tuple[str, ...]] = ()  # TOML profiles a plug-in ships: "package:path/in/package.toml"
    # The integrity check every native frame carries over all its bytes ("CRC-32C"), if any: a
    # frame with any byte changed must then be refused with FrameError (ADP-INTEGRITY-001).
    integrity: ClassVar[str | None] = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for method in _GUARDED:
            if method in cls.__dict__:
                setattr(cls, method, _guarded(cls.__dict__[method], method))

    def __init__(self, card_id: int, profile: DeviceProfile) -> None:
        self.card_id = card_id
        self.profile = profile
        self.frames_out = 0
        self.frames_in = 0
        self.native_bytes = 0
        self.terminated = 0  # arriving messages its native format cannot carry, done by the endpoint
        self.on_frame: Callable[[bool, bytes], None] | None = None  # sees each native frame (outbound?, bytes)

    @abstractmethod
    def transfer_plan(self) -> TransferPlan:
        """Which requests this card uses for bulk copies, and their largest sizes."""

    @abstractmethod
    def to_native(self, message: Message) -> bytes:
        """The native frame that carries ``message`` across this card's boundary.

        Raises :class:`~oisa.errors.BridgeError` naming what cannot cross.
        """

    @abstractmethod
    def from_native(self, frame: bytes) -> Message:
        """The OISA message a native frame of this card stands for."""

    # -- used by the card ---------------------------------------------------------------------

    def egress(self, message: Message) -> Message:
        """A message the card sends, as it leaves through the native interface.

        A request the native format cannot carry is an error of the card (it cannot start
        what it cannot say); a completion it cannot carry answers a request that ended in the
        OISA endpoint, which sends the completion itself.
        """
        try:
            frame = self.to_native(message)
        except BridgeError:
            if message.info.is_request:
                raise
            self.terminated += 1
            return message
        self.frames_out += 1
        self.native_bytes += len(frame)
        if self.on_frame is not None:
            self.on_frame(True, frame)
        return self.from_native(frame)

    def ingress(self, message: Message) -> Message:
        """A message arriving for the card, as the device receives it natively, or as it is if
        the native format cannot carry it (the endpoint then does it itself)."""
        try:
            frame = self.to_native(message)
        except BridgeError:
            self.terminated += 1
            return message
        self.frames_in += 1
        self.native_bytes += len(frame)
        if self.on_frame is not None:
            self.on_frame(False, frame)
        return self.from_native(frame)


_GUARDED = ("__init__", "transfer_plan", "to_native", "from_native")


def _guarded(function: Callable[..., Any], method: str) -> Callable[..., Any]:
    """``function`` (an adapter's ``method``), with anything it raises other than an oisa error
    turned into AdapterError. An overriding method that calls its parent's is guarded twice;
    the inner guard's AdapterError passes the outer one unchanged."""

    @functools.wraps(function)
    def guarded(self: DeviceAdapter, *args: Any, **kwargs: Any) -> Any:
        try:
            return function(self, *args, **kwargs)
        except OisaError:
            raise
        except Exception as exc:
            raise AdapterError(getattr(type(self), "name", type(self).__name__), method, exc) from exc

    return guarded
