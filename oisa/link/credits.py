"""Credit-based flow control, per virtual channel and class, as PCIe does it.

The receiver advertises how many message headers and 16-byte data units it can buffer for each
(virtual channel, class); an advertisement of 0 means "infinite" (endpoints do this for the
completions of their own requests). From then on it reports, cumulatively, how many credits it
has *allocated* (the initial ones plus every one freed since); the sender counts how many it
has *consumed*, and may send a message only while ``consumed + needed <= limit``. Cumulative
counts make a lost credit return harmless: the next one carries the whole truth. On the wire
the counts are modulo 4096 (headers) and 65536 (data units); each side keeps unbounded integers
and reconstructs them from the wire value, which is unambiguous because a side is never more
than half the modulus behind.
"""

from __future__ import annotations

from dataclasses import dataclass

from oisa.errors import RemoteProtocolError
from oisa.wire.oisa import CreditReturn, FcClass, Message

__all__ = ["DATA_CREDIT_BYTES", "DATA_MODULUS", "HDR_MODULUS", "MAX_MESSAGE_CREDITS", "CreditKey", "ReceiveCredits",
           "SendCredits", "credits_needed", "unwrap"]

DATA_CREDIT_BYTES = 16
HDR_MODULUS = 1 << 12
DATA_MODULUS = 1 << 16
MAX_MESSAGE_CREDITS = 4096 // DATA_CREDIT_BYTES  # the data credits of the largest message

CreditKey = tuple[int, FcClass]  # (virtual channel, class)


def credits_needed(message: Message) -> tuple[int, int]:
    """Header and data credits one message takes: one header, its payload in 16-byte units."""
    return 1, -(-len(message.payload) // DATA_CREDIT_BYTES)


def unwrap(wire_value: int, last: int, modulus: int) -> int:
    """The unbounded count whose residue is ``wire_value``, at or after ``last``.

    A value more than half the modulus ahead is really behind: a stale return, which changes
    nothing.
    """
    ahead = (wire_value - last) % modulus
    return last + ahead if ahead <= modulus // 2 else last


@dataclass
class _Limit:
    hdr: int
    data: int
    infinite_hdr: bool
    infinite_data: bool


class SendCredits:
    """The sender's side: what the peer allows and what we have used."""

    def __init__(self) -> None:
        self._limit: dict[CreditKey, _Limit] = {}
        self._consumed: dict[CreditKey, list[int]] = {}
        self.initial: dict[CreditKey, tuple[int, int]] = {}

    def advertise(self, entry: CreditReturn) -> None:
        """Take one entry of the peer's INIT_FC advertisement (repeats are harmless)."""
        key = (entry.vc, entry.fc_class)
        if key not in self._limit:
            self._limit[key] = _Limit(entry.hdr, entry.data, entry.hdr == 0, entry.data == 0)
            self._consumed[key] = [0, 0]
            self.initial[key] = (entry.hdr, entry.data)

    def knows(self, keys: list[CreditKey]) -> bool:
        return all(key in self._limit for key in keys)

    def update(self, entry: CreditReturn) -> None:
        """Take a cumulative credit return; returns that go backwards are stale and ignored."""
        limit = self._limit.get((entry.vc, entry.fc_class))
        if limit is None:
            raise RemoteProtocolError(f"credit return for VC {entry.vc} {entry.fc_class.name}, which was never "
                                      f"advertised")
        if not limit.infinite_hdr:
            limit.hdr = unwrap(entry.hdr, limit.hdr, HDR_MODULUS)
        if not limit.infinite_data:
            limit.data = unwrap(entry.data, limit.data, DATA_MODULUS)

    def can_send(self, key: CreditKey, hdr: int, data: int) -> bool:
        limit, used = self._limit[key], self._consumed[key]
        return ((limit.infinite_hdr or used[0] + hdr <= limit.hdr)
                and (limit.infinite_data or used[1] + data <= limit.data))

    def consume(self, key: CreditKey, hdr: int, data: int) -> None:
        used = self._consumed[key]
        used[0] += hdr
        used[1] += data

    def available(self, key: CreditKey) -> tuple[float, float]:
        """Credits left (``inf`` where infinite); never negative while the protocol holds."""
        limit, used = self._limit[key], self._consumed[key]
        return (float("inf") if limit.infinite_hdr else limit.hdr - used[0],
                float("inf") if limit.infinite_data else limit.data - used[1])


class ReceiveCredits:
    """The receiver's side: what we advertised, what arrived, what the consumer has freed."""

    def __init__(self, buffers: dict[CreditKey, tuple[int, int]]) -> None:
        self.initial = dict(buffers)
        self.finite = [key for key, (hdr, data) in self.initial.items() if hdr or data]  # keys with a limit
        self._allocated = {key: list(value) for key, value in buffers.items()}
        self._received = {key: [0, 0] for key in buffers}
        self._on_wire: dict[CreditKey, CreditReturn] = {}  # current() of keys not released since
        self.changed: set[CreditKey] = set()

    @property
    def keys(self) -> list[CreditKey]:
        return list(self.initial)

    def advertisement(self) -> list[CreditReturn]:
        return [CreditReturn(vc, cls, hdr, data) for (vc, cls), (hdr, data) in self.initial.items()]

    def current(self, key: CreditKey) -> CreditReturn:
        """The cumulative allocation for ``key``, as it goes on the wire (kept until it changes:
        every data flit carries one)."""
        entry = self._on_wire.get(key)
        if entry is None:
            hdr, data = self._allocated[key]
            entry = self._on_wire[key] = CreditReturn(key[0], key[1], hdr % HDR_MODULUS, data % DATA_MODULUS)
        return entry

    def arrived(self, key: CreditKey, hdr: int, data: int) -> None:
        """Account for a message taking buffer space; more than we advertised is the peer's fault."""
        received = self._received[key]
        received[0] += hdr
        received[1] += data
        initial_hdr, initial_data = self.initial[key]
        allocated = self._allocated[key]
        if (initial_hdr and received[0] > allocated[0]) or (initial_data and received[1] > allocated[1]):
            raise RemoteProtocolError(f"receive buffer overflow on VC {key[0]} {key[1].name}: the peer sent "
                                      f"beyond the credits it was given")

    def release(self, key: CreditKey, hdr: int, data: int) -> None:
        """The consumer is done with a message: its space is free again."""
        initial_hdr, initial_data = self.initial[key]
        allocated = self._allocated[key]
        if initial_hdr:
            allocated[0] += hdr
        if initial_data:
            allocated[1] += data
        if initial_hdr or initial_data:
            self.changed.add(key)
            self._on_wire.pop(key, None)

    def occupancy(self, key: CreditKey) -> tuple[int, int]:
        """Header and data units held in the buffer now (received and not yet released)."""
        initial_hdr, initial_data = self.initial[key]
        received, allocated = self._received[key], self._allocated[key]
        return (received[0] - (allocated[0] - initial_hdr) if initial_hdr else 0,
                received[1] - (allocated[1] - initial_data) if initial_data else 0)
