"""A card's memory as a calendar of busy times (oisa/device/bandwidth.py): work fills the first
idle time from when it is needed, so work needed later never holds up work needed now."""

from hypothesis import given
from hypothesis import strategies as st

from oisa.device.bandwidth import MemoryBandwidth

RATE = 8 * 10**12  # 1 byte per ps: a piece of work's size in bytes is its time in ps


def test_work_needed_later_does_not_hold_up_work_needed_now():
    memory = MemoryBandwidth(RATE)
    assert memory.book(0, 500, needed_ps=1_000) == 1_500  # a read whose answer leaves at 1,000 ps
    assert memory.book(0, 300) == 300  # a reduction asked for now fits before it
    assert memory.book(0, 900) == 1_700  # 700 ps before the read, the rest after it


def test_arrivals_keep_their_order_and_may_use_idle_time_in_the_past():
    memory = MemoryBandwidth(RATE)
    memory.book(0, 100)
    # eight messages of 10 bytes that arrived over the last 200 ps: written as they came in
    assert memory.arrival(300, 10, 8, 200) == 310  # the last is done one message's time after its tail
    assert memory.arrival(305, 0, 1, 0) == 310  # a read request after them waits for them


@given(st.lists(st.tuples(st.integers(0, 10_000), st.integers(1, 2_000)), min_size=1, max_size=40))
def test_the_memory_does_all_the_work_and_never_two_pieces_at_once(pieces):
    memory = MemoryBandwidth(RATE)
    ends = [memory.book(start, size) for start, size in pieces]
    busy = sum(end - start for start, end in zip(memory._starts, memory._ends))
    assert busy == sum(size for _, size in pieces)  # spans never overlap, and hold every piece
    assert all(a < b for a, b in zip(memory._ends, memory._starts[1:]))  # disjoint, in order, not touching
    for (start, size), end in zip(pieces, ends):
        assert end >= start + size  # no piece is done before it could be


def test_work_booked_far_ahead_never_lets_the_memory_forget_the_present():
    memory = MemoryBandwidth(RATE)
    for index in range(300):  # enough busy spans for the calendar to drop old ones
        memory.book(10 * index, 5)
    memory.book(2_990, 1, needed_ps=2 * 10**9)  # data that leaves two milliseconds from now
    assert memory.book(2_990, 5) == 3_000  # still waits for the span from 2,990 to 2,995
