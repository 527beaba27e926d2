"""Who may touch what: a tenancy's policy as the hardware of a shared supernode enforces it.

A :class:`Policy` says which tenant owns each card, which cards may reach each other (the
partitions) and which memory windows of which cards each tenant may read or write. It is
enforced where real interconnects enforce it, never by the requester's good will:

* **At the destination adapter** (:class:`CardGuard`): a request from a card is checked
  against the windows its tenant holds on this card before the completer sees it, as an
  IOMMU checks a device's DMA against its page tables (Intel VT-d specification, ch. 3 "DMA
  Remapping", https://www.intel.com/content/www/us/en/content-details/774206/) and as a CXL
  device decodes a host physical address only inside its programmed HDM decoders (CXL 2.0
  specification §8.2.5.12 "CXL HDM Decoder Capability Structure"; an address no decoder claims
  is not memory of the device). A refused read or write is answered with Completer Abort, the
  PCIe status a completer gives a request it refuses by its own rules (PCIe Base 6.0 §2.3.1,
  request handling rules); a posted write is dropped. Nothing refused is ever read from or
  written to memory.
* **At the ingress switch port** (:class:`SwitchGuard`): the port knows the one card behind it
  and drops any frame whose source ID is not that card, PCIe ACS Source Validation (PCIe Base
  6.0 §6.12.1.1; https://www.plda.com/pcie-glossary/acs: "ACS Source Validation ... implemented
  in core for downstream ports"). The same port refuses traffic to a card outside the source's
  partition, as NVIDIA's fabric manager programs NVSwitch routing so that GPUs of different
  partitions cannot exchange NVLink traffic (Fabric Manager for NVIDIA NVSwitch Systems,
  DU-09883-001, ch. 4 "Shared NVSwitch Virtualization Model"). A refused non-posted request is
  answered with Unsupported Request (our choice: the partition hides the card, as if nothing
  answered at its ID), so its requester fails at once rather than after its completion timeout.
* Where two cards are linked directly, with no switch between, the destination card's port
  does the switch's two checks itself.

Sources that are not cards (a switch writing the result of an in-switch reduction) are the
fabric's own elements, programmed by its manager, and pass. Every refusal is counted in
:class:`Refusals`, which the run reports.

What this module must not know: how a tenancy is written down (:mod:`oisa.fabric.tenancy`
reads it), nor which engine runs.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field

from oisa.wire.oisa import Message, Opcode, Status

__all__ = ["CardGuard", "Policy", "Refusals", "SwitchGuard", "Verdict", "Window", "access_of"]

_READS = frozenset({Opcode.MEM_RD, Opcode.LOAD, Opcode.DMA_RD, Opcode.CXL_MEM_RD})
_WRITES = frozenset({Opcode.MEM_WR, Opcode.STORE, Opcode.DMA_WR, Opcode.CXL_MEM_WR})
# read-modify-write: an atomic returns the old value and may write; an invalidate takes the line exclusively
_BOTH = frozenset({Opcode.FETCH_ADD, Opcode.SWAP, Opcode.CAS, Opcode.CXL_MEM_INV})
_CXL_LINE = 64


@dataclass(frozen=True)
class Window:
    """A grant: ``tenant`` may read and/or write ``size`` bytes of ``card``'s memory from ``base``."""

    tenant: str
    card: int
    base: int
    size: int
    read: bool
    write: bool

    @property
    def end(self) -> int:
        return self.base + self.size

    @property
    def access(self) -> str:
        return ("r" if self.read else "") + ("w" if self.write else "")


@dataclass(frozen=True)
class Policy:
    """A tenancy as the enforcement points need it: the card -> tenant and card -> partition
    maps, and every window. A card in no partition reaches no other card."""

    tenant_of: Mapping[int, str]
    partition_of: Mapping[int, int]
    windows: tuple[Window, ...]

    def same_partition(self, a: int, b: int) -> bool:
        partition = self.partition_of.get(a)
        return partition is not None and partition == self.partition_of.get(b)

    def windows_of(self, tenant: str, card: int) -> list[Window]:
        return sorted((w for w in self.windows if w.tenant == tenant and w.card == card), key=lambda w: w.base)

    def permits(self, src: int, dst: int, address: int, size: int, *, read: bool, write: bool) -> bool:
        """Whether card ``src``'s tenant holds windows on ``dst`` covering ``[address, address +
        size)`` with the access asked (adjacent windows of one tenant cover together)."""
        tenant = self.tenant_of.get(src)
        if tenant is None:
            return False
        reached = address
        for window in self.windows_of(tenant, dst):
            if (read and not window.read) or (write and not window.write):
                continue
            if window.base <= reached < window.end:
                reached = window.end
            if reached >= address + size:
                return True
        return False


def access_of(request: Message) -> tuple[int, int, bool, bool]:
    """The bytes a request touches at its destination and how: (address, size, reads, writes)."""
    opcode = Opcode(request.opcode)
    if opcode in (Opcode.CXL_MEM_RD, Opcode.CXL_MEM_WR, Opcode.CXL_MEM_INV):
        size = _CXL_LINE
    elif opcode is Opcode.CAS:
        size = request.length // 2
    else:
        size = request.length
    return request.address, max(1, size), opcode in _READS or opcode in _BOTH, opcode in _WRITES or opcode in _BOTH


@dataclass
class Refusals:
    """What the enforcement points refused, over the whole fabric."""

    window: int = 0  # requests outside the tenant's windows, answered Completer Abort (or dropped, if posted)
    partition: int = 0  # messages to a card of another partition, refused at the ingress port or the card
    spoofed: int = 0  # frames whose source ID is not the card behind the port they came in on, dropped

    def as_dict(self) -> dict[str, int]:
        return {"window": self.window, "partition": self.partition, "spoofed": self.spoofed}

    @property
    def total(self) -> int:
        return self.window + self.partition + self.spoofed


class Verdict(enum.Enum):
    """What an enforcement point does with a message."""

    PASS = "pass"
    DROP = "drop"  # spoofed: dropped without an answer (the claimed source is a lie)
    REFUSE_UR = "refuse_ur"  # across partitions: answered Unsupported Request if it expects an answer
    REFUSE_CA = "refuse_ca"  # outside the windows: answered Completer Abort if it expects an answer

    @property
    def status(self) -> Status:
        return Status.CA if self is Verdict.REFUSE_CA else Status.UR


@dataclass
class SwitchGuard:
    """A switch's ingress checks: ``card_on_port`` maps ``id(port)`` of each port facing a card
    to that card."""

    policy: Policy
    refusals: Refusals
    cards: frozenset[int]
    card_on_port: dict[int, int] = field(default_factory=dict)

    def screen(self, port: object, message: Message) -> Verdict:
        behind = self.card_on_port.get(id(port))
        if behind is None:
            return Verdict.PASS  # from another switch, which checked it where it entered
        return _ingress(self.policy, self.refusals, self.cards, behind, message)


@dataclass
class CardGuard:
    """A card's checks on what arrives: the ingress checks on ports linked straight to another
    card (``card_on_port``), then, for requests, the windows of the source's tenant."""

    card_id: int
    policy: Policy
    refusals: Refusals
    cards: frozenset[int]
    card_on_port: dict[int, int] = field(default_factory=dict)

    def screen(self, port: object, message: Message) -> Verdict:
        behind = self.card_on_port.get(id(port))
        if behind is not None:
            verdict = _ingress(self.policy, self.refusals, self.cards, behind, message)
            if verdict is not Verdict.PASS:
                return verdict
        if message.src not in self.cards or not message.info.is_request or message.opcode is Opcode.COLL_REDUCE:
            return Verdict.PASS
        if not self.policy.same_partition(message.src, self.card_id):
            self.refusals.partition += 1
            return Verdict.REFUSE_UR
        address, size, read, write = access_of(message)
        if not self.policy.permits(message.src, self.card_id, address, size, read=read, write=write):
            self.refusals.window += 1
            return Verdict.REFUSE_CA
        return Verdict.PASS


def _ingress(policy: Policy, refusals: Refusals, cards: frozenset[int], behind: int, message: Message) -> Verdict:
    """The checks of a port whose far end is card ``behind``: source validation, then partitions.
    Partitions are checked on requests: a completion answers a request that was let through,
    or is the refusal of one (which must reach its requester across the partition)."""
    if message.src != behind:
        refusals.spoofed += 1
        return Verdict.DROP
    if message.info.is_request and message.dst in cards and not policy.same_partition(behind, message.dst):
        refusals.partition += 1
        return Verdict.REFUSE_UR
    return Verdict.PASS
