"""Sparse device memory: pages come into being when first written.

A 64-card supernode of 80 GB cards would need 5 TB if memory were dense; a workload touches a
few MiB per card, so only the pages it writes are held (numpy arrays of ``PAGE_SIZE`` bytes).
Reading a page never written returns zeros without allocating it.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from oisa.errors import UsageError

__all__ = ["PAGE_SIZE", "SparseMemory"]

PAGE_SIZE = 64 * 1024


class SparseMemory:
    """Byte-addressed memory of ``capacity`` bytes, allocated page by page on first write."""

    def __init__(self, capacity: int, name: str = "memory") -> None:
        self.capacity = capacity
        self.name = name
        self._pages: dict[int, np.ndarray] = {}

    @property
    def resident_bytes(self) -> int:
        """Host memory actually held for this device memory."""
        return len(self._pages) * PAGE_SIZE

    def contains(self, address: int, length: int) -> bool:
        return 0 <= address and length >= 0 and address + length <= self.capacity

    def _check(self, address: int, length: int) -> None:
        if not self.contains(address, length):
            raise UsageError(f"{self.name}: [{address:#x}, {address + length:#x}) is outside "
                             f"its {self.capacity} bytes")

    def _spans(self, address: int, length: int) -> Iterator[tuple[int, int, int, int]]:
        """(page number, offset in page, offset in the caller's buffer, bytes) for each page touched."""
        done = 0
        while done < length:
            page, offset = divmod(address + done, PAGE_SIZE)
            take = min(PAGE_SIZE - offset, length - done)
            yield page, offset, done, take
            done += take

    def write(self, address: int, data: bytes | bytearray | memoryview | np.ndarray) -> None:
        view = np.frombuffer(data, dtype=np.uint8) if not isinstance(data, np.ndarray) else data.view(np.uint8).ravel()
        self._check(address, len(view))
        for page, offset, start, take in self._spans(address, len(view)):
            frame = self._pages.get(page)
            if frame is None:
                frame = self._pages[page] = np.zeros(PAGE_SIZE, dtype=np.uint8)
            frame[offset:offset + take] = view[start:start + take]

    def read(self, address: int, length: int) -> bytes:
        return self.read_array(address, length).tobytes()

    def read_array(self, address: int, length: int) -> np.ndarray:
        self._check(address, length)
        out = np.zeros(length, dtype=np.uint8)
        for page, offset, start, take in self._spans(address, length):
            frame = self._pages.get(page)
            if frame is not None:
                out[start:start + take] = frame[offset:offset + take]
        return out
