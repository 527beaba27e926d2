"""Quality of service on a link: traffic classes mapped to virtual channels, and which channel's
message goes next when several wait.

What it owns: :class:`QosPolicy` (the traffic class of each virtual channel, and the channels'
weights) and :class:`VcArbiter`, the egress arbitration between channels that both frame-level
engines use: the link layer's endpoint per message (data mode), and the timing engine's frame
ports per part of a segment (:mod:`oisa.sim.arbitrated`), so the two modes share one rule. What
it must not know: time, trio, or what a message is for; it sees channel numbers and byte counts.

The model is PCIe's (PCI Express Base Specification 5.0, section 2.5, Virtual Channel and
Traffic Class mechanisms, and section 7.9.1, the VC Extended Capability): a message carries one
of 8 traffic classes (TC, 3 bits); a per-link TC/VC map puts each class in one virtual channel;
each channel has credits of its own (:mod:`oisa.link.credits`, keyed by channel and flow-control
class), so a channel out of credits blocks no other; and at every egress port an arbiter picks
the channel that sends next, by strict priority (the highest channel first) or by weighted round
robin. PCIe's WRR is a table of 32 to 128 phases, one TLP per phase, whatever its size; we
weigh bytes instead, by deficit round robin (M. Shreedhar and G. Varghese, "Efficient fair
queuing using deficit round robin", SIGCOMM 1995): each turn a waiting channel earns ``weight x
QUANTUM_BYTES`` and sends messages while its earnings cover them, so that channels share a busy
link in proportion to their weights in bytes, not in messages. That choice, and UALink's
arbitration being likewise per virtual channel (UALink 200G 1.0's transaction layer has separate
request and response channels; its weighting between tenants is not public), are assumptions.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["QUANTUM_BYTES", "TRAFFIC_CLASSES", "QosPolicy", "VcArbiter"]

TRAFFIC_CLASSES = 8  # a message's traffic class has 3 bits, as PCIe's TC
# What a channel earns per turn for each unit of weight: one message of the largest payload a
# card sends (4 KiB, PCIe's largest Max_Payload_Size), so that any channel sends at least one
# message per turn, and a victim waits behind at most one such message per heavier channel.
QUANTUM_BYTES = 4096


@dataclass(frozen=True)
class QosPolicy:
    """Traffic classes in virtual channels, and how the channels share a link.

    ``tc_to_vc[tc]`` is the channel of traffic class ``tc``; ``weights[vc]`` the channel's share
    under ``weighted`` arbitration (deficit round robin), ignored under ``strict`` (the highest
    channel first, as far as credits allow).
    """

    tc_to_vc: tuple[int, ...]
    weights: tuple[int, ...]
    arbitration: str = "weighted"

    def __post_init__(self) -> None:
        if len(self.tc_to_vc) != TRAFFIC_CLASSES or not all(0 <= vc < len(self.weights) for vc in self.tc_to_vc):
            raise ValueError(f"tc_to_vc maps each of the {TRAFFIC_CLASSES} traffic classes to one of the "
                             f"{len(self.weights)} channels")
        if not 1 <= len(self.weights) <= TRAFFIC_CLASSES or not all(isinstance(w, int) and w >= 1
                                                                   for w in self.weights):
            raise ValueError("1 to 8 channels, each with a weight of 1 or more")
        if self.arbitration not in ("weighted", "strict"):
            raise ValueError(f"arbitration is 'weighted' or 'strict', not {self.arbitration!r}")

    @property
    def vcs(self) -> int:
        return len(self.weights)

    @classmethod
    def for_classes(cls, weights: Mapping[int, int], arbitration: str = "weighted") -> QosPolicy:
        """A channel for each traffic class named in ``weights`` (class -> weight), in the order
        of the classes, so a higher class has a higher channel (what strict priority serves
        first); classes not named share channel 0 with weight 1, as PCIe maps TC0 to VC0."""
        named = sorted(weights)
        if not all(0 <= tc < TRAFFIC_CLASSES for tc in named):
            raise ValueError(f"traffic classes are 0 to {TRAFFIC_CLASSES - 1}")
        unnamed = 0 if 0 in weights or len(named) == TRAFFIC_CLASSES else 1
        channel = {tc: index + unnamed for index, tc in enumerate(named)}
        tc_to_vc = tuple(channel.get(tc, 0) for tc in range(TRAFFIC_CLASSES))
        return cls(tc_to_vc, (1,) * unnamed + tuple(weights[tc] for tc in named), arbitration)

    def as_dict(self) -> dict[str, object]:
        return {"policy": self.arbitration, "tc_to_vc": list(self.tc_to_vc), "vc_weights": list(self.weights),
                "quantum_bytes": QUANTUM_BYTES}


class VcArbiter:
    """Picks the channel that sends next among those with a message ready (see the module)."""

    def __init__(self, policy: QosPolicy) -> None:
        self.strict = policy.arbitration == "strict"
        self.quantum = [weight * QUANTUM_BYTES for weight in policy.weights]
        self._deficit = [0] * policy.vcs
        self._turn = 0

    def pick(self, ready: Mapping[int, int]) -> int:
        """The channel to send from, given ``ready`` (channel -> bytes of its next message; not
        empty); the bytes are charged to the channel."""
        if self.strict:
            return max(ready)
        deficit, count = self._deficit, len(self._deficit)
        while True:
            vc = self._turn
            size = ready.get(vc)
            if size is not None:
                if deficit[vc] >= size:
                    deficit[vc] -= size
                    return vc
                deficit[vc] += self.quantum[vc]
            else:
                deficit[vc] = 0  # a channel with nothing to send keeps no earnings (DRR's rule)
            self._turn = (vc + 1) % count
