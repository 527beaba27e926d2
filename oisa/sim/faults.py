"""Faults a wire can inject, drawn from the run's seeded randomness.

Bit errors flip real bits of the frame, which the link layer's CRC must then catch; drops,
duplicates and lost control flits exercise its replay, duplicate discard and credit recovery;
``down_at`` cuts the wire for good, which the link layer must turn into a retrain and then a
clear failure.

Two faults are an attacker's, not the channel's: ``tamper`` changes a byte of a data flit's
payload and ``substitute`` puts an earlier data flit, renumbered, in the place of the one sent;
both recompute the CRC, as an interposer on the link would, so only an encrypted link's MAC
(:mod:`oisa.link.security`) can tell. PCIe IDE's threat model is that interposer (PCIe Base 6.0
§6.33: IDE protects against physical attacks on the link).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from oisa.wire.crc import crc32

__all__ = ["FaultModel", "FaultStats", "WireFaults"]

_CONTROL_KIND = 2  # first byte of a control flit
_DATA_KIND = 1  # ... and of a data flit
# The flit's layout (oisa.wire.oisa.flit: FLIT_HEADER): 16 header bytes, the payload, a 4-byte CRC;
# bytes 12-13 of the header say how many payload bytes are in use, 14-15 where the first message starts.
_HEADER = 16
_USED = slice(12, 14)


@dataclass(frozen=True)
class FaultModel:
    """Per-frame fault probabilities of one wire. All zero means a perfect wire."""

    ber: float = 0.0  # probability that any one bit is flipped
    drop: float = 0.0  # probability that a frame vanishes
    duplicate: float = 0.0  # probability that a frame arrives twice
    control_drop: float = 0.0  # extra probability that a control flit vanishes
    down_at: int | None = None  # virtual time (ps) from which the wire delivers nothing
    tamper: float = 0.0  # probability that an attacker changes a data flit's payload byte, CRC recomputed
    substitute: float = 0.0  # probability that an attacker sends an earlier data flit instead, renumbered

    def __post_init__(self) -> None:
        for name in ("ber", "drop", "duplicate", "control_drop", "tamper", "substitute"):
            value = getattr(self, name)
            if not 0.0 <= value < 1.0:
                raise ValueError(f"{name} must be a probability from 0 up to (not including) 1, got {value}")
        if self.down_at is not None and self.down_at < 0:
            raise ValueError("down_at must not be negative")

    @property
    def active(self) -> bool:
        return bool(self.ber or self.drop or self.duplicate or self.control_drop or self.down_at is not None
                    or self.tamper or self.substitute)


@dataclass
class FaultStats:
    """What a wire did to the frames it carried."""

    bits_flipped: int = 0
    frames_corrupted: int = 0
    frames_dropped: int = 0
    frames_duplicated: int = 0
    control_dropped: int = 0
    frames_lost_down: int = 0
    frames_tampered: int = 0
    frames_substituted: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


@dataclass
class WireFaults:
    """A fault model applied to one wire with its own random stream."""

    model: FaultModel
    rng: np.random.Generator
    stats: FaultStats = field(default_factory=FaultStats)
    _captured: bytes | None = None  # the attacker's copy of an earlier data flit

    def apply(self, frame: bytes, now: int) -> list[bytes]:
        """What arrives when ``frame`` is sent at ``now``: nothing, it, a changed copy, or two."""
        model, stats, rng = self.model, self.stats, self.rng
        if model.down_at is not None and now >= model.down_at:
            stats.frames_lost_down += 1
            return []
        if model.drop and rng.random() < model.drop:
            stats.frames_dropped += 1
            return []
        if model.control_drop and frame[0] == _CONTROL_KIND and rng.random() < model.control_drop:
            stats.control_dropped += 1
            return []
        if frame[0] == _DATA_KIND and (model.tamper or model.substitute):
            frame = self._attack(frame)
        if model.ber:
            frame = self._flip(frame)
        if model.duplicate and rng.random() < model.duplicate:
            stats.frames_duplicated += 1
            return [frame, frame]
        return [frame]

    def _attack(self, frame: bytes) -> bytes:
        """``frame`` (a data flit) as an attacker on the wire passes it on, CRC made right again."""
        model, rng = self.model, self.rng
        captured, self._captured = self._captured, frame
        fresh = captured is not None and captured[2:4] != frame[2:4]  # not a replay of the very same flit
        if model.substitute and fresh and captured is not None and rng.random() < model.substitute:
            self.stats.frames_substituted += 1
            data = bytearray(frame)  # the link-level fields (sequence, ACK, credits) of the flit now due,
            data[_USED.start:-4] = captured[_USED.start:-4]  # carrying an earlier flit's payload
            return _with_crc(data)
        used = int.from_bytes(frame[_USED], "big")
        if model.tamper and used and rng.random() < model.tamper:
            self.stats.frames_tampered += 1
            data = bytearray(frame)
            data[_HEADER + int(rng.integers(0, used))] ^= 1 + int(rng.integers(0, 255))
            return _with_crc(data)
        return frame

    def _flip(self, frame: bytes) -> bytes:
        bits = len(frame) * 8
        count = int(self.rng.binomial(bits, self.model.ber))
        if not count:
            return frame
        data = bytearray(frame)
        for bit in self.rng.choice(bits, size=count, replace=False):
            data[bit // 8] ^= 0x80 >> (bit % 8)
        self.stats.bits_flipped += count
        self.stats.frames_corrupted += 1
        return bytes(data)


def _with_crc(data: bytearray) -> bytes:
    """A flit whose last four bytes are made the CRC-32 of the rest again (an attacker's fix-up)."""
    data[-4:] = crc32(bytes(data[:-4])).to_bytes(4, "big")
    return bytes(data)
