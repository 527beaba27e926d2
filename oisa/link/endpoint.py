"""One end of an OISA link, sans-IO: messages in, flits out; flits in, messages out.

This first version frames the message stream into sequenced, CRC-protected data flits and
checks them on receive. Replay, acknowledgements and credits build on it in the link-layer
work; the interface (``queue`` / ``next_frame`` / ``receive_frame``, time passed in) stays.
"""

from __future__ import annotations

from dataclasses import dataclass

from oisa.errors import RemoteProtocolError
from oisa.link.framing import StreamPacker, StreamUnpacker
from oisa.wire.codec import decode_flit, encode_flit, encode_message
from oisa.wire.flit import FLIT_OVERHEAD, SEQ_MODULUS, Flit, FlitKind, check_flit_size
from oisa.wire.message import Message

__all__ = ["LinkEndpoint", "LinkStats"]


@dataclass
class LinkStats:
    """What crossed this end of the link, counted as the link layer sees it."""

    flits_sent: int = 0
    flits_received: int = 0
    messages_sent: int = 0
    messages_received: int = 0
    message_bytes_sent: int = 0


class LinkEndpoint:
    """Frames queued messages into data flits and reassembles received flits into messages."""

    def __init__(self, *, flit_size: int = 256) -> None:
        self.flit_size = check_flit_size(flit_size)
        self.capacity = flit_size - FLIT_OVERHEAD
        self.stats = LinkStats()
        self._packer = StreamPacker()
        self._unpacker = StreamUnpacker()
        self._next_seq = 0
        self._expected_seq = 0

    @property
    def has_pending(self) -> bool:
        """True while queued message bytes wait for a flit."""
        return bool(self._packer.queued_bytes)

    def queue(self, message: Message) -> None:
        encoded = encode_message(message)
        self._packer.push(encoded)
        self.stats.messages_sent += 1
        self.stats.message_bytes_sent += len(encoded)

    def next_frame(self, now: int) -> bytes | None:
        """The next flit to put on the wire, or None if there is nothing to send."""
        if not self._packer.queued_bytes:
            return None
        payload, first = self._packer.next_payload(self.capacity)
        flit = Flit(FlitKind.DATA, seq=self._next_seq, first_msg=first, payload=payload)
        self._next_seq = (self._next_seq + 1) % SEQ_MODULUS
        self.stats.flits_sent += 1
        return encode_flit(flit, self.flit_size)

    def receive_frame(self, frame: bytes, now: int) -> list[Message]:
        """Check and unpack one received flit; return the messages it completed."""
        flit = decode_flit(frame, self.flit_size)
        if flit.seq != self._expected_seq:
            raise RemoteProtocolError(f"flit sequence {flit.seq} arrived, {self._expected_seq} was expected")
        self._expected_seq = (self._expected_seq + 1) % SEQ_MODULUS
        self.stats.flits_received += 1
        messages = self._unpacker.feed(flit.payload)
        self.stats.messages_received += len(messages)
        return messages
