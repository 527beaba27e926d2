"""Transfers in timing mode: segments of many messages, no bytes.

In timing mode a card moves a copy as segments (:class:`~oisa.wire.oisa.message.Message` with
``count`` > 1): each stands for ``count`` messages of the card's usual size that travel back to
back. The target answers a segment with one segment of completions, as many as it would send
for those messages one by one. Only the number of events shrinks; everything a segment's
messages would do one by one, the segment must do alike. So its size has three bounds:

* at most :data:`SEGMENT_BYTES`: a segment goes on a wire whole, and whatever queues behind it
  waits for all of it, where data mode would interleave messages from several flows;
* for requests that expect an answer, at most the card's tags over :data:`WINDOW_SEGMENTS`
  times the paths. In data mode each answer frees its tag at once, so the window slides message
  by message over every path: ``tags / paths`` messages per path keep it busy while an answer
  takes up to that many messages' time to come back. A segment is answered only once its last
  message is in, when data mode's answers to its first messages are long back: so the window
  holds, beyond the segments the tags cover, one more per path (the one being answered), and
  covers the round trip as data mode's does. Without it a copy whose answers queue behind its
  target's own copy (every rank of a ring) stalled a round trip per segment: the supernode's
  4-rank ring all-reduce at 4 MiB took 7.4% longer than in data mode;
* a copy that spreads over several equal paths gets a multiple of their number in segments of
  equal size (give or take a message), so that taking paths in turn loads each as data mode's
  message-by-message spraying does.

Segments still pipeline through store-and-forward hops frame by frame (:mod:`oisa.sim.frames`).

A segment not answered within the requester's completion timeout fails its copy, as a request
does in data mode (:mod:`oisa.transaction.requester`): one timer per copy, armed for its oldest
unanswered segment, so a copy to a card that died ends instead of waiting for ever.
"""

from __future__ import annotations

import math
from copy import copy
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from oisa.device.movement import WRITES
from oisa.sim import Port, Signal
from oisa.transaction.ordering import path_free
from oisa.transaction.requester import COMPLETION_TIMEOUT_PS
from oisa.units import format_time
from oisa.wire.oisa import OPCODES, Message, Opcode, Status

if TYPE_CHECKING:
    from oisa.device.card import Card, Transfer

__all__ = ["ANSWERS_WAIT_BEHIND", "SEGMENT_BYTES", "WINDOW_SEGMENTS", "TimingMovement", "TimingTransfer",
           "answer_segment", "answered_bytes", "split"]

# What one segment moves at most: 1.3 us on a 400 Gb/s link. A segment goes on a wire whole, so
# whatever queues behind it waits that long where data mode would interleave messages; its size
# bounds how far the two modes' queueing can differ, and the number of events a copy costs.
SEGMENT_BYTES = 64 * 1024
# Segments of a copy that waits for answers that the tags cover on each path (see the module).
WINDOW_SEGMENTS = 2
# What a card's DMA engines keep queued at a port in timing mode, ahead of the answers it sends
# (data mode keeps 64 KiB: oisa.device.card.TRANSMIT_QUEUE_BYTES). In data mode an answer queued
# behind a copy's requests passes those that wait for the link's credits (the peer's buffer),
# so it seldom waits for all of them; a frame port has no credits and sends in order, so timing
# mode keeps less queued ahead of it: a quarter of a segment. With 64 KiB, a copy's answers
# that queue behind its target's own copy (crossing copies, every rank of a ring) came back a
# microsecond late on the supernode: two crossing 4 MiB copies between an H100-like and an
# MI300X-like card took 5.7% longer than in data mode, and 0.4% with 16 KiB. A copy alone keeps
# its port as busy either way (what it holds goes as soon as the queue drains to this).
ANSWERS_WAIT_BEHIND = 16 * 1024

_COMPLETIONS = {
    Opcode.DMA_WR: Opcode.CPL, Opcode.CXL_MEM_WR: Opcode.CXL_NDR,
    Opcode.DMA_RD: Opcode.CPL_D, Opcode.MEM_RD: Opcode.CPL_D, Opcode.LOAD: Opcode.CPL_D,
    Opcode.CXL_MEM_RD: Opcode.CXL_DRS,
}


def answer_segment(request: Message, node_id: int, max_payload: int) -> Message | None:
    """The completions a target sends for a segment of requests, as one segment (None if posted)."""
    if not OPCODES[request.opcode].expects_completion:
        return None
    opcode = _COMPLETIONS[Opcode(request.opcode)]
    if OPCODES[opcode].has_payload and opcode is not Opcode.CXL_DRS:
        per_request = -(-request.length // max_payload)
        return Message(opcode, node_id, request.src, tag=request.tag, length=min(request.length, max_payload),
                       count=request.count * per_request, tc=request.tc, load=request.load, hops=request.hops)
    length = request.length if opcode in (Opcode.CPL, Opcode.CXL_DRS) else 0  # an NDR answers one line
    return Message(opcode, node_id, request.src, tag=request.tag, length=length, count=request.count, tc=request.tc,
                   load=request.load, hops=request.hops)


@dataclass
class TimingTransfer:
    """One copy, cut into segments; ``next_segments`` hands out what the window allows."""

    opcode: Opcode
    src: int
    dst: int
    address: int
    size: int
    per_message: int
    tags: int  # requests that expect an answer the requester may have outstanding (posted ones take none)
    ro: bool = False  # the requests carry relaxed ordering
    paths: int = 1  # equal paths to the target, which segments are cut into parts over
    path: int | None = None  # the equal path every segment keeps to (a pinned copy, a flush); None: any
    segments: list[Message] = field(default_factory=list)
    window: int = 0  # segments in flight at most (set from the tags)
    outstanding: dict[int, int] = field(default_factory=dict)  # tag -> bytes not yet answered
    next_index: int = 0
    sent_at: dict[int, int] = field(default_factory=dict)  # tag -> when its segment went out
    timer_armed: bool = False
    timed_out: str | None = None  # why the copy failed: a segment went unanswered too long

    def __post_init__(self) -> None:
        whole, rest = divmod(self.size, self.per_message)
        most = max(1, SEGMENT_BYTES // self.per_message)
        if not self.posted:
            most = min(most, max(1, self.tags // (WINDOW_SEGMENTS * self.paths)))
        count = -(-whole // most) if whole else 0
        if self.paths > 1 and whole >= self.paths:
            count = -(-count // self.paths) * self.paths  # a multiple of the paths: each gets as many
        sizes = [whole // count + (index < whole % count) for index in range(count)] if count else []
        address = self.address
        for messages in sizes:
            self.segments.append(Message(self.opcode, self.src, self.dst, length=self.per_message, address=address,
                                         count=messages, ro=self.ro))
            address += messages * self.per_message
        if rest:
            self.segments.append(Message(self.opcode, self.src, self.dst, length=rest, address=address, ro=self.ro))
        if self.posted:
            self.window = len(self.segments)
        else:  # as many as the tags cover, a whole number per path (so that the paths stay evenly
            # loaded), and one more per path: the one being answered (see the module)
            covered = self.tags // max(sizes, default=1)
            self.window = max(1, covered - covered % self.paths if covered >= self.paths else covered)
            self.window += self.paths if covered >= self.paths else 1

    @property
    def posted(self) -> bool:
        return not OPCODES[self.opcode].expects_completion

    @property
    def done(self) -> bool:
        return self.next_index == len(self.segments) and not self.outstanding

    def next_segments(self) -> list[Message]:
        """Segments the window lets go now; the caller gives each its tag, then calls
        :meth:`sent` for those that expect an answer."""
        out: list[Message] = []
        while self.next_index < len(self.segments) and (self.posted or len(self.outstanding) + len(out) < self.window):
            out.append(self.segments[self.next_index])
            self.next_index += 1
        return out

    def sent(self, segment: Message) -> None:
        self.outstanding[segment.tag] = segment.count * segment.length

    def answered(self, completion: Message) -> None:
        """Account for (part of) the answer to a segment; a segment sprayed over several
        paths is answered in parts."""
        left = self.outstanding[completion.tag] - answered_bytes(completion)
        if left > 0:
            self.outstanding[completion.tag] = left
        else:
            del self.outstanding[completion.tag]


def answered_bytes(completion: Message) -> int:
    """Request bytes a completion segment answers (a CXL NDR answers one 64-byte line)."""
    return completion.count * (completion.length or 64)


def split(segment: Message, parts: int, first: int = 0) -> list[Message]:
    """``segment`` as up to ``parts`` segments of whole messages, for as many equal paths.

    Where the messages do not divide evenly, the parts from index ``first`` on (round the end)
    take one more each: a sender that rotates ``first`` by the extras of each segment spreads
    its messages over the paths as one sending them one by one round the paths would.
    """
    parts = min(parts, segment.count)
    base, extra = divmod(segment.count, parts)
    out, address = [], segment.address
    for index in range(parts):
        part = copy(segment)  # a shallow copy: dataclasses.replace costs five times as much here
        part.count = base + ((index - first) % parts < extra)
        part.address = address
        out.append(part)
        address += part.count * segment.length
    return out


class TimingMovement:
    """Copies as segments with no bytes: the timing engine's half of a card.

    What arrives is handled at once, in the arrival's own event, not by waking a task: timing
    mode is for scale, and that saves a task switch per segment.
    """

    moves_bytes = False
    transmit_queue_bytes: int | None = ANSWERS_WAIT_BEHIND

    def __init__(self, card: Card) -> None:
        self.card = card
        self._copies: dict[int, tuple[TimingTransfer, Signal[None]]] = {}  # tag -> its copy, and its progress
        self._next_tag = 0

    def start_tasks(self) -> None:
        """Everything happens in arrival events: no task to start."""

    def receive(self, port: Port, message: Message) -> None:
        self._handle(message)
        port.release(message)

    def start(self, transfer: Transfer, opcode: Opcode, max_size: int) -> None:
        self.card.kernel.spawn(self._copy, transfer, opcode, max_size, name=f"{self.card.name}.{transfer.kind}")

    def egress(self, message: Message) -> Message:
        return message

    def payload(self, address: int, length: int) -> bytes:
        return b""

    def messages_per_send(self, piece: int, remaining: int) -> int:
        """A segment of whole messages, as copies are cut."""
        return min(max(1, SEGMENT_BYTES // piece), remaining // piece)

    async def _copy(self, transfer: Transfer, opcode: Opcode, max_size: int) -> None:
        """A copy as segments: the same requests, sizes and window as data mode, no bytes."""
        card = self.card
        write = transfer.kind in ("write", "store")
        profile = card.profile
        per_message = min(max_size, int(profile.max_payload.value if write else profile.max_read_request.value))
        relaxed = card.plan.relaxed and opcode is card.plan.write
        spreads = transfer.path is None and path_free(Message(opcode, card.node_id, transfer.peer, ro=relaxed))
        paths = max(1, len(card.routes.get(transfer.peer, ()))) if spreads else 1
        copy_ = TimingTransfer(opcode, card.node_id, transfer.peer, transfer.remote_address, transfer.size,
                               per_message, int(profile.tags.value), ro=relaxed, paths=paths)
        progress: Signal[None] = Signal(card.kernel, f"{card.name} segments to card {transfer.peer}")
        copy_.path = None if transfer.path is None else card.path_index(transfer.peer, transfer.path)
        self._send_segments(copy_, progress)
        if not copy_.done:
            await progress.wait()
        if self._timed_out(transfer, copy_):
            return
        if transfer.kind == "write" and card.plan.flush:
            flushed: list[Signal] = []
            flushes: list[TimingTransfer] = []
            for path in card.flush_paths(transfer):
                flush = TimingTransfer(card.plan.read, card.node_id, transfer.peer, transfer.remote_address, 4, 4,
                                       int(card.profile.tags.value), path=path)
                flushes.append(flush)
                flushed.append(Signal(card.kernel, f"{card.name} flush to card {transfer.peer}"))
                self._send_segments(flush, flushed[-1])
            for done in flushed:
                await done.wait()
            if any(self._timed_out(transfer, f) for f in flushes):
                return
        transfer.status = Status.SC
        card.finish(transfer)

    def _timed_out(self, transfer: Transfer, copy_: TimingTransfer) -> bool:
        """End ``transfer`` as failed if ``copy_`` timed out (a completion timeout, as data mode's)."""
        if copy_.timed_out is None:
            return False
        transfer.status, transfer.error, transfer.timed_out = Status.CA, copy_.timed_out, True
        self.card.finish(transfer)
        return True

    def _arm_timeout(self, copy_: TimingTransfer, progress: Signal[None]) -> None:
        if copy_.timer_armed or not copy_.sent_at:
            return
        copy_.timer_armed = True
        oldest = min(copy_.sent_at.values())
        self.card.kernel.call_at(oldest + COMPLETION_TIMEOUT_PS, self._check_timeout, copy_, progress)

    def _check_timeout(self, copy_: TimingTransfer, progress: Signal[None]) -> None:
        copy_.timer_armed = False
        if progress.is_set or not copy_.sent_at:
            return
        now = self.card.kernel.now
        tag, oldest = min(copy_.sent_at.items(), key=lambda item: item[1])
        if now - oldest >= COMPLETION_TIMEOUT_PS:
            copy_.timed_out = (f"completion timeout: no answer to tag {tag} from node {copy_.dst} within "
                               f"{format_time(COMPLETION_TIMEOUT_PS)}")
            progress.set(None)
            return
        self._arm_timeout(copy_, progress)

    def _send_segments(self, copy_: TimingTransfer, progress: Signal[None]) -> None:
        card = self.card
        in_flight = min(copy_.window, len(copy_.segments))
        # enough parts to keep every path busy, and a whole number of parts per path, so that
        # the paths, taking parts in turn, carry equal shares (as data mode's messages do)
        paths = len(card.routes.get(copy_.dst, ()))
        parts = paths // math.gcd(paths, in_flight)
        for segment in copy_.next_segments():
            segment.tag = self._next_tag
            self._next_tag = (self._next_tag + 1) % 65536
            if not copy_.posted:
                copy_.sent(segment)
                copy_.sent_at[segment.tag] = card.kernel.now
                self._copies[segment.tag] = (copy_, progress)
            card.send(segment, parts=parts, path=copy_.path)
        if copy_.done and not progress.is_set:
            progress.set(None)
        elif not copy_.posted:
            self._arm_timeout(copy_, progress)

    def held(self, request: Message) -> None:
        entry = self._copies.get(request.tag)
        if entry is not None:
            entry[0].sent_at.pop(request.tag, None)

    def went_out(self, request: Message) -> None:
        entry = self._copies.get(request.tag)
        if entry is not None and request.tag in entry[0].outstanding:
            copy_, progress = entry
            copy_.sent_at[request.tag] = self.card.kernel.now
            self._arm_timeout(copy_, progress)

    def _handle(self, message: Message) -> None:
        card = self.card
        if message.info.is_request:
            answer = answer_segment(message, card.node_id, int(card.profile.max_payload.value))
            if answer is not None:
                # a request that could take any path was cut already, or is one of many; the
                # answer to one pinned to a path (ordered) may still spread on its way back
                card.send(answer, parts=1 if path_free(message) else None)
            if message.opcode in WRITES:
                card.landed(message.address, message.count * message.length)
            return
        copy_, progress = self._copies[message.tag]
        copy_.answered(message)
        if message.tag not in copy_.outstanding:
            del self._copies[message.tag]
            copy_.sent_at.pop(message.tag, None)
        if copy_.timed_out is None:  # (an answer after the copy timed out is dropped, as a late completion is)
            self._send_segments(copy_, progress)
