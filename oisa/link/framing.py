"""The message stream inside data flits.

Messages travel as one continuous byte stream per link: the sender packs whatever messages are
queued into the next flit's payload, back to back, and a message that does not fit continues
in the next flit. So short messages share a flit (OISA's "aggregation" of short packets into
long ones, without a separate aggregation step) and a 4 KiB message wastes no padding. The flit
header's ``first_msg`` marks where the first message starting in a flit begins, so a capture
can be read from any flit. The link layer below guarantees in-order, exactly-once delivery of
flits, which is all the unpacker needs.
"""

from __future__ import annotations

from collections import deque

from oisa.wire.oisa import HEADER_SIZE, NO_MESSAGE_START, Message, decode_message, message_size

__all__ = ["StreamPacker", "StreamUnpacker"]


class StreamPacker:
    """Cuts queued messages (already encoded) into flit payloads."""

    def __init__(self) -> None:
        self._queue: deque[bytes] = deque()
        self._offset = 0  # bytes of the head message already sent
        self.queued_bytes = 0

    def __len__(self) -> int:
        return len(self._queue)

    def push(self, encoded: bytes) -> None:
        self._queue.append(encoded)
        self.queued_bytes += len(encoded)

    def next_payload(self, capacity: int) -> tuple[bytes, int]:
        """Up to ``capacity`` stream bytes and the offset of the first message starting in them."""
        parts: list[bytes] = []
        room = capacity
        first = NO_MESSAGE_START
        queue = self._queue
        while room and queue:
            head = queue[0]
            if self._offset == 0 and first == NO_MESSAGE_START:
                first = capacity - room
            take = min(room, len(head) - self._offset)
            parts.append(head[self._offset:self._offset + take] if take != len(head) else head)
            room -= take
            self._offset += take
            if self._offset == len(head):
                queue.popleft()
                self._offset = 0
        sent = capacity - room
        self.queued_bytes -= sent
        return b"".join(parts), first


class StreamUnpacker:
    """Reassembles messages from flit payloads received in order."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    @property
    def pending_bytes(self) -> int:
        """Bytes of a message that has started but not finished arriving."""
        return len(self._buffer)

    def feed(self, payload: bytes) -> list[Message]:
        """Add one flit's payload; return the messages it completed (decoded and checked)."""
        buffer = self._buffer
        buffer += payload
        out: list[Message] = []
        offset = 0
        while len(buffer) - offset >= HEADER_SIZE:
            if len(buffer) - offset < message_size(buffer[offset:offset + 12]):
                break
            message, offset = decode_message(buffer, offset)
            out.append(message)
        if offset:
            del buffer[:offset]
        return out
