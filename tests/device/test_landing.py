"""Landing watches: a card learns that peers' writes have filled a range, whenever they came."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from oisa.device.landing import LandingWatches
from oisa.errors import UsageError
from oisa.sim import Kernel


def test_a_watch_fires_once_every_byte_has_landed():
    watches = LandingWatches(Kernel())
    signal = watches.add(100, 50, "w")
    watches.landed(90, 30)  # 20 bytes inside, 10 before the range
    assert not signal.is_set
    watches.landed(120, 40)
    assert signal.is_set


def test_bytes_that_landed_before_the_watch_count_once():
    watches = LandingWatches(Kernel())
    watches.landed(0, 64)
    watches.landed(32, 64)  # overlaps: 96 distinct bytes
    assert watches.add(0, 96, "early").is_set
    later = watches.add(0, 96, "again")  # the early bytes were claimed by the first watch
    assert not later.is_set


def test_overlapping_watches_are_refused():
    watches = LandingWatches(Kernel())
    watches.add(0, 100, "first")
    with pytest.raises(UsageError, match="overlaps"):
        watches.add(50, 100, "second")


@given(pieces=st.lists(st.integers(1, 40), min_size=1, max_size=20), data=st.data())
def test_a_watch_fires_exactly_when_its_range_is_covered_whenever_it_was_added(pieces, data):
    """Disjoint writes (each byte is written once, as the contract says) in any order, with the
    watch added at any point: it fires exactly when its range is covered."""
    offsets = [sum(pieces[:i]) for i in range(len(pieces))]
    order = data.draw(st.permutations(range(len(pieces))))
    total = sum(pieces)
    start = data.draw(st.integers(0, total - 1))
    size = data.draw(st.integers(1, total - start + 20))
    watch_at = data.draw(st.integers(0, len(pieces)))
    watches, signal, covered = LandingWatches(Kernel()), None, set()
    for step, index in enumerate(order):
        if step == watch_at:
            signal = watches.add(start, size, "w")
        watches.landed(offsets[index], pieces[index])
        covered |= set(range(offsets[index], offsets[index] + pieces[index]))
    if signal is None:
        signal = watches.add(start, size, "w")
    assert signal.is_set == (set(range(start, start + size)) <= covered)
