import numpy as np
import pytest

from oisa.device.memory import PAGE_SIZE, SparseMemory
from oisa.errors import UsageError


def test_untouched_memory_reads_as_zero_and_costs_nothing():
    memory = SparseMemory(80 << 30)
    assert memory.read(12345, 8) == bytes(8)
    assert memory.resident_bytes == 0


def test_writes_spanning_pages_read_back():
    memory = SparseMemory(1 << 30)
    data = np.arange(3 * PAGE_SIZE, dtype=np.uint8)
    memory.write(PAGE_SIZE - 10, data)
    assert np.array_equal(memory.read_array(PAGE_SIZE - 10, len(data)), data)
    assert memory.resident_bytes == 4 * PAGE_SIZE


def test_access_outside_capacity_is_refused():
    memory = SparseMemory(4096)
    with pytest.raises(UsageError, match="outside"):
        memory.write(4090, b"12345678")
