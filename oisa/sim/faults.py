"""Faults a wire can inject, drawn from the run's seeded randomness.

Bit errors flip real bits of the frame, which the link layer's CRC must then catch; drops,
duplicates and lost control flits exercise its replay, duplicate discard and credit recovery;
``down_at`` cuts the wire for good, which the link layer must turn into a retrain and then a
clear failure.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["FaultModel", "FaultStats", "WireFaults"]

_CONTROL_KIND = 2  # first byte of a control flit


@dataclass(frozen=True)
class FaultModel:
    """Per-frame fault probabilities of one wire. All zero means a perfect wire."""

    ber: float = 0.0  # probability that any one bit is flipped
    drop: float = 0.0  # probability that a frame vanishes
    duplicate: float = 0.0  # probability that a frame arrives twice
    control_drop: float = 0.0  # extra probability that a control flit vanishes
    down_at: int | None = None  # virtual time (ps) from which the wire delivers nothing

    def __post_init__(self) -> None:
        for name in ("ber", "drop", "duplicate", "control_drop"):
            value = getattr(self, name)
            if not 0.0 <= value < 1.0:
                raise ValueError(f"{name} must be a probability from 0 up to (not including) 1, got {value}")
        if self.down_at is not None and self.down_at < 0:
            raise ValueError("down_at must not be negative")

    @property
    def active(self) -> bool:
        return bool(self.ber or self.drop or self.duplicate or self.control_drop or self.down_at is not None)


@dataclass
class FaultStats:
    """What a wire did to the frames it carried."""

    bits_flipped: int = 0
    frames_corrupted: int = 0
    frames_dropped: int = 0
    frames_duplicated: int = 0
    control_dropped: int = 0
    frames_lost_down: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


@dataclass
class WireFaults:
    """A fault model applied to one wire with its own random stream."""

    model: FaultModel
    rng: np.random.Generator
    stats: FaultStats = field(default_factory=FaultStats)

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
        if model.ber:
            frame = self._flip(frame)
        if model.duplicate and rng.random() < model.duplicate:
            stats.frames_duplicated += 1
            return [frame, frame]
        return [frame]

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
