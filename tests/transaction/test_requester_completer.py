"""Requester and completer, sans-IO: splitting, tags, completion matching, errors."""

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from oisa.device import SparseMemory
from oisa.transaction import Completer, OperationCompleted, OperationFailed, Requester
from oisa.transaction.requester import split_at_boundaries
from oisa.wire.oisa import Message, Opcode, Status


@given(st.integers(0, 1 << 20), st.integers(1, 20_000), st.sampled_from([64, 128, 256, 512, 4096]))
def test_pieces_cover_the_range_without_crossing_boundaries(address, length, max_size):
    pieces = split_at_boundaries(address, length, max_size)
    assert pieces[0][0] == address
    assert sum(n for _, n in pieces) == length
    for (a, n), (b, _) in itertools.pairwise(pieces):
        assert a + n == b
    for a, n in pieces:
        assert 0 < n <= max_size
        assert a // 4096 == (a + n - 1) // 4096
        assert a // max_size == (a + n - 1) // max_size


def loopback(requester, completer):
    """Run requests through the completer until nothing is outstanding; return the events."""
    events = []
    while True:
        requests, finished = requester.next_requests(0)
        events += finished
        if not requests:
            return events
        for request, _ in requests:
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
    assert len(requester.next_requests(0)[0]) == 4
    assert requester.next_requests(0) == ([], [])


def test_a_read_outside_memory_fails_with_unsupported_request():
    requester = Requester(0, max_payload=256, max_read_request=4096, tags=8)
    completer = Completer(1, SparseMemory(4096), max_payload=256)
    op = requester.submit_read(1, 4000, 200)
    [event] = loopback(requester, completer)
    assert isinstance(event, OperationFailed)
    assert (event.operation, event.status) == (op, Status.UR)
    assert completer.unsupported == 1


def test_a_completion_nobody_asked_for_is_counted_and_dropped():
    """PCIe's Unexpected Completion: discarded, an advisory non-fatal error, and the requester goes on."""
    requester = Requester(0, max_payload=256, max_read_request=4096, tags=8)
    assert requester.receive_completion(Message(Opcode.CPL_D, 1, 0, tag=3, length=4, payload=b"abcd")) == []
    assert requester.unexpected_completions == 1 and requester.outstanding == 0


def test_completions_echo_the_requests_telemetry():
    completer = Completer(1, SparseMemory(4096), max_payload=256)
    [cpl] = completer.handle(Message(Opcode.DMA_RD, 0, 1, tag=9, length=8, load=5, hops=2))
    assert (cpl.opcode, cpl.tag, cpl.load, cpl.hops, cpl.dst) == (Opcode.CPL_D, 9, 5, 2, 0)


@pytest.mark.parametrize(("opcode", "operands", "before", "after", "old"), [
    (Opcode.FETCH_ADD, (5).to_bytes(4, "little"), 10, 15, 10),
    (Opcode.FETCH_ADD, (1).to_bytes(8, "little"), 2**64 - 1, 0, 2**64 - 1),
    (Opcode.SWAP, (7).to_bytes(8, "little"), 3, 7, 3),
    (Opcode.CAS, (3).to_bytes(4, "little") + (9).to_bytes(4, "little"), 3, 9, 3),
    (Opcode.CAS, (4).to_bytes(4, "little") + (9).to_bytes(4, "little"), 3, 3, 3),
])
def test_atomics_run_at_the_target_and_return_the_old_value(opcode, operands, before, after, old):
    size = len(operands) // 2 if opcode is Opcode.CAS else len(operands)
    memory = SparseMemory(1 << 16)
    memory.write(0x40, before.to_bytes(size, "little"))
    requester = Requester(0, max_payload=256, max_read_request=4096, tags=4)
    op = requester.submit_atomic(1, 0x40, operands, opcode=opcode)
    [event] = loopback(requester, Completer(1, memory, max_payload=256))
    assert isinstance(event, OperationCompleted)
    assert int.from_bytes(op.result, "little") == old
    assert int.from_bytes(memory.read(0x40, size), "little") == after


def test_cxl_lines_round_trip_and_misaligned_lines_are_refused():
    memory = SparseMemory(1 << 16)
    requester = Requester(0, max_payload=4096, max_read_request=4096, tags=8)
    completer = Completer(1, memory, max_payload=256)
    data = bytes(range(128))
    requester.submit_write(1, 0x100, data, opcode=Opcode.CXL_MEM_WR)
    read = requester.submit_read(1, 0x100, 128, opcode=Opcode.CXL_MEM_RD)
    events = loopback(requester, completer)
    assert [type(e) for e in events] == [OperationCompleted, OperationCompleted]
    assert bytes(read.result) == data
    with pytest.raises(ValueError, match="aligned to 64"):
        requester.submit_read(1, 0x110, 64, opcode=Opcode.CXL_MEM_RD)


def test_posted_writes_complete_as_they_are_sent():
    requester = Requester(0, max_payload=256, max_read_request=4096, tags=1)
    op = requester.submit_write(1, 0, bytes(600), opcode=Opcode.MEM_WR)
    requests, events = requester.next_requests(0)
    assert [m.length for m, _ in requests] == [256, 256, 88] and {o for _, o in requests} == {op}
    assert events == [OperationCompleted(op)] and requester.outstanding == 0


def test_an_unanswered_request_times_out_and_a_late_answer_is_dropped():
    requester = Requester(0, max_payload=256, max_read_request=256, tags=2, completion_timeout_ps=1000)
    op = requester.submit_read(1, 0, 64)
    [(request, _)], _ = requester.next_requests(0)
    assert requester.expire(999) == []
    [event] = requester.expire(1000)
    assert isinstance(event, OperationFailed) and event.operation is op and event.status is None
    assert "completion timeout" in event.reason
    late = Message(Opcode.CPL_D, 1, 0, tag=request.tag, length=64, payload=bytes(64))
    assert requester.receive_completion(late) == [] and requester.late_completions == 1


def test_a_completion_from_another_completer_is_unexpected_and_dropped():
    requester = Requester(0, max_payload=256, max_read_request=4096, tags=8)
    op = requester.submit_read(1, 0, 4)
    [(request, _)], _ = requester.next_requests(0)
    forged = Message(Opcode.CPL_D, 2, 0, tag=request.tag, length=4, address=0, payload=b"evil")
    assert requester.receive_completion(forged) == [] and requester.unexpected_completions == 1
    genuine = Message(Opcode.CPL_D, 1, 0, tag=request.tag, length=4, address=0, payload=b"good")
    [event] = requester.receive_completion(genuine)
    assert isinstance(event, OperationCompleted) and bytes(op.result) == b"good"
