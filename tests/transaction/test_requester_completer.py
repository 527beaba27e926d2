"""Requester and completer, sans-IO: splitting, tags, completion matching, errors."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from oisa.device import SparseMemory
from oisa.errors import RemoteProtocolError
from oisa.transaction import Completer, OperationCompleted, OperationFailed, Requester
from oisa.transaction.requester import split_at_boundaries
from oisa.wire import Message, Opcode, Status


@given(st.integers(0, 1 << 20), st.integers(1, 20_000), st.sampled_from([64, 128, 256, 512, 4096]))
def test_pieces_cover_the_range_without_crossing_boundaries(address, length, max_size):
    pieces = split_at_boundaries(address, length, max_size)
    assert pieces[0][0] == address
    assert sum(n for _, n in pieces) == length
    for (a, n), (b, _) in zip(pieces, pieces[1:]):
        assert a + n == b
    for a, n in pieces:
        assert 0 < n <= max_size
        assert a // 4096 == (a + n - 1) // 4096
        assert a // max_size == (a + n - 1) // max_size


def loopback(requester, completer):
    """Run requests through the completer until nothing is outstanding; return the events."""
    events = []
    while True:
        requests = requester.next_requests()
        if not requests:
            return events
        for request in requests:
            for completion in completer.handle(request):
                events += requester.receive_completion(completion)


@given(st.binary(min_size=1, max_size=20_000), st.integers(0, 10_000), st.integers(1, 8),
       st.sampled_from([256, 4096]), st.sampled_from([64, 256, 4096]))
def test_a_write_then_a_read_returns_the_bytes(data, address, tags, max_payload, completer_payload):
    memory = SparseMemory(1 << 20)
    requester = Requester(0, max_payload=max_payload, max_read_request=4096, tags=tags)
    completer = Completer(1, memory, max_payload=completer_payload)
    write = requester.submit_write(1, address, data)
    read = requester.submit_read(1, address, len(data))
    events = loopback(requester, completer)
    assert [type(e) for e in events] == [OperationCompleted, OperationCompleted]
    assert [e.operation for e in events] == [write, read]
    assert bytes(read.result) == data
    assert requester.outstanding == 0


def test_tags_limit_what_is_outstanding():
    requester = Requester(0, max_payload=256, max_read_request=256, tags=4)
    requester.submit_read(1, 0, 4096)
    assert len(requester.next_requests()) == 4
    assert requester.next_requests() == []


def test_a_read_outside_memory_fails_with_unsupported_request():
    requester = Requester(0, max_payload=256, max_read_request=4096, tags=8)
    completer = Completer(1, SparseMemory(4096), max_payload=256)
    op = requester.submit_read(1, 4000, 200)
    [event] = loopback(requester, completer)
    assert isinstance(event, OperationFailed)
    assert (event.operation, event.status) == (op, Status.UR)
    assert completer.unsupported == 1


def test_a_completion_nobody_asked_for_is_the_peers_fault():
    requester = Requester(0, max_payload=256, max_read_request=4096, tags=8)
    with pytest.raises(RemoteProtocolError, match="unexpected completion"):
        requester.receive_completion(Message(Opcode.CPL_D, 1, 0, tag=3, length=4, payload=b"abcd"))


def test_completions_echo_the_requests_telemetry():
    completer = Completer(1, SparseMemory(4096), max_payload=256)
    [cpl] = completer.handle(Message(Opcode.DMA_RD, 0, 1, tag=9, length=8, load=5, hops=2))
    assert (cpl.opcode, cpl.tag, cpl.load, cpl.hops, cpl.dst) == (Opcode.CPL_D, 9, 5, 2, 0)
