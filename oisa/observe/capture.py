"""Packet captures: what a run put on its links and through its cards' adapters, as pcapng.

A :class:`Capture` is an :class:`~oisa.sim.observe.Observer` that writes every frame it sees
into a pcapng file that Wireshark and tshark read, decoded by the dissector oisa ships
(``oisa wireshark-plugin``; layout in ``specs/captures.md``):

* one interface per wire (one direction of a link), named as the emulation names it
  (``card0->plane0``), and one per card and native family for the frames crossing its adapter
  (``card0:pcie``);
* link types from the private-use range (LINKTYPE_USER0-15), one per kind of bytes
  (:data:`LINKTYPES`), so a capture needs no Wireshark set-up beyond the dissector;
* timestamps in virtual nanoseconds from the start of the run (``if_tsresol`` 9): a frame is
  stamped when its first bit leaves, a native frame when it crosses the adapter.

What a wire delivers is what is captured: a frame corrupted by the bit error rate as it
arrived (its CRC then fails in Wireshark), a duplicated frame twice, a lost frame not at all.

Packets are written in time order. A frame link may schedule a message to start after
messages queued in front of it, so records wait in a heap and are written once the emulation's
clock has passed them (every hook that carries the current time moves the mark); the rest are
written on :meth:`Capture.close`. dpkt's pcapng block classes encode every block (little-endian);
its ``Writer`` is not used, as it wants every interface before the first packet and stamps a
packet at time zero with the wall clock, which would break determinism.
"""

from __future__ import annotations

import fnmatch
import heapq
import struct
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, BinaryIO

from dpkt import pcapng

from oisa.errors import UsageError
from oisa.sim.observe import Observer
from oisa.units import format_time
from oisa.wire.oisa import COLL_EXT_SIZE, HEADER_SIZE, Message, encode_message

__all__ = [
    "LINKTYPES",
    "NATIVE_LINKTYPES",
    "Capture",
    "LinkSelector",
    "Linktype",
    "interface_names",
    "link_selector",
]


@dataclass(frozen=True)
class Linktype:
    """A pcapng link type of ours: its number (LINKTYPE_USERn) and what its packets hold."""

    name: str
    number: int
    summary: str

    @property
    def user(self) -> str:
        return f"USER{self.number - 147}"


OISA_FLIT = Linktype("oisa-flit", 147, "OISA link flits as the wire carries them: header, payload, CRC-32")
PCIE_TLP = Linktype("pcie-tlp", 148, "native PCIe TLPs crossing a card's pcie-tlp adapter")
CXL_MEM = Linktype("cxl-mem", 149, "native CXL.mem messages (oisa's standalone framing) crossing a card's adapter")
VENDOR = Linktype("vendor", 150, "native frames of vendor-format adapters: VDESC descriptors for oisa's own")
OISA_MSG = Linktype("oisa-msg", 151, "whole OISA messages: on links without a link layer (PCIe and Ethernet "
                                     "links of a switched fabric, every link in timing mode), and native frames "
                                     "of cards that speak OISA")

LINKTYPES: dict[str, Linktype] = {t.name: t for t in (OISA_FLIT, PCIE_TLP, CXL_MEM, VENDOR, OISA_MSG)}
NATIVE_LINKTYPES: dict[str, Linktype] = {"pcie": PCIE_TLP, "cxl": CXL_MEM, "vendor": VENDOR, "oisa": OISA_MSG}
"""The link type of each native family a device profile may declare."""

_NS_RESOLUTION = bytes([9])  # if_tsresol: 10**-9 s
_INBOUND, _OUTBOUND = 1, 2  # epb_flags direction, as the card sees it
_EPB_FLAGS = 2  # the option code of epb_flags


def _options(*options: tuple[int, bytes]) -> list[pcapng.PcapngOptionLE]:
    """A block's options, ended as pcapng requires (none at all: an empty list)."""
    if not options:
        return []
    return [*(pcapng.PcapngOptionLE(code=code, data=data) for code, data in options),
            pcapng.PcapngOptionLE(code=pcapng.PCAPNG_OPT_ENDOFOPT)]


def native_interface(card: str, family: str) -> str:
    return f"{card}:{family}"


def interface_names(spec: Any) -> list[str]:
    """Every interface a run of ``spec`` (a :class:`~oisa.fabric.FabricSpec`) can capture on:
    both directions of each link, then each card's native interface."""
    wires = [name for link in spec.links for name in spec.wire_names(link)]
    return wires + [native_interface(card.name, card.device.native) for card in spec.cards]


LinkSelector = Callable[[str], bool]


def link_selector(patterns: Sequence[str] | None, names: Iterable[str]) -> LinkSelector:
    """Which interfaces to capture: those matching any of the glob ``patterns`` (all if none).

    A pattern that matches none of ``names`` is a mistake worth stopping for (a typo would
    otherwise give an empty capture), so it raises :class:`~oisa.errors.UsageError`.
    """
    if not patterns:
        return lambda name: True
    known = list(names)
    for pattern in patterns:
        if not pattern or not fnmatch.filter(known, pattern):
            shown = ", ".join(known[:6]) + (", ..." if len(known) > 6 else "")
            raise UsageError(f"--pcap-links pattern {pattern!r} matches no link (links: {shown})")
    chosen = frozenset(name for name in known if any(fnmatch.fnmatchcase(name, p) for p in patterns))
    return chosen.__contains__


@dataclass(order=True)
class _Record:
    time_ps: int
    order: int
    interface: str
    linktype: Linktype
    data: bytes
    comment: str | None = None
    direction: int | None = None


class Capture(Observer):
    """Write what a run does to ``path`` as pcapng; interfaces not ``select``-ed are skipped.

    The file is opened at once, so an unwritable path fails before the run starts.
    """

    def __init__(self, path: str | Path, *, select: LinkSelector | None = None, comment: str | None = None) -> None:
        self.path = Path(path)
        self.select = select or (lambda name: True)
        try:
            self._file: BinaryIO | None = open(self.path, "wb")
        except OSError as exc:
            raise UsageError(f"cannot write capture {str(path)!r}: {exc.strerror or exc}") from None
        options = [(pcapng.PCAPNG_OPT_SHB_USERAPPL, b"oisa")]
        if comment:
            options.append((pcapng.PCAPNG_OPT_COMMENT, comment.encode()))
        self._file.write(bytes(pcapng.SectionHeaderBlockLE(opts=_options(*options))))
        self._interfaces: dict[str, int] = {}
        self._pending: list[_Record] = []
        self._order = 0
        self._now = 0
        self.packets = 0

    # -- the hooks --------------------------------------------------------------------------------

    def frame(self, link: str, start_ps: int, end_ps: int, arrival_ps: int, frame: bytes) -> None:
        # a link port transmits as soon as its wire is free, so a flit starts now: move the mark
        self._advance(start_ps)
        if self.select(link):
            self._add(start_ps, link, OISA_FLIT, frame)

    def message(self, link: str, start_ps: int, end_ps: int, arrival_ps: int, message: Message, frames: int,
                wire_bytes: int) -> None:
        if not self.select(link):
            return
        data, size = message_bytes(message)
        comment = (f"{frames} frame{'s' if frames != 1 else ''}, {wire_bytes} bytes on the wire; "
                   f"tail arrives {format_time(arrival_ps)}")
        if message.count != 1:
            comment += (f"; timing-mode segment: {message.count} messages like this one, "
                        f"{message.count * size} bytes; payload not captured")
        elif len(data) < size:
            comment += f"; timing mode: {size}-byte message, payload not captured"
        self._add(start_ps, link, OISA_MSG, data, comment)

    def native(self, card: str, native: str, time_ps: int, outbound: bool, frame: bytes) -> None:
        self._advance(time_ps)
        name = native_interface(card, native)
        if self.select(name):
            self._add(time_ps, name, NATIVE_LINKTYPES[native], frame, direction=_OUTBOUND if outbound else _INBOUND)

    def link_state(self, link: str, time_ps: int, credits: dict[str, float], replay_occupancy: int) -> None:
        self._advance(time_ps)

    def forwarded(self, node: str, time_ps: int, message: Any) -> None:
        self._advance(time_ps)

    def transfer(self, card: str, transfer: Any) -> None:
        self._advance(transfer.finished_ps)

    def close(self) -> None:
        """Write what is still waiting and close the file (again: nothing happens)."""
        if self._file is None:
            return
        self._flush(None)
        self._file.close()
        self._file = None

    # -- writing ------------------------------------------------------------------------------------

    def _add(self, time_ps: int, interface: str, linktype: Linktype, data: bytes, comment: str | None = None,
             direction: int | None = None) -> None:
        self._order += 1
        heapq.heappush(self._pending, _Record(time_ps, self._order, interface, linktype, data, comment, direction))

    def _advance(self, now_ps: int) -> None:
        """The emulation's clock reached ``now_ps``: nothing later can be stamped earlier."""
        if now_ps > self._now:
            self._now = now_ps
            if self._pending and self._pending[0].time_ps < now_ps:
                self._flush(now_ps)

    def _flush(self, before_ps: int | None) -> None:
        pending = self._pending
        while pending and (before_ps is None or pending[0].time_ps < before_ps):
            self._write(heapq.heappop(pending))

    def _write(self, record: _Record) -> None:
        interface_id = self._interfaces.get(record.interface)
        assert self._file is not None
        if interface_id is None:
            interface_id = self._interfaces[record.interface] = len(self._interfaces)
            self._file.write(bytes(pcapng.InterfaceDescriptionBlockLE(
                linktype=record.linktype.number, snaplen=0, opts=_options(
                    (pcapng.PCAPNG_OPT_IF_NAME, record.interface.encode()),
                    (pcapng.PCAPNG_OPT_IF_DESCRIPTION, record.linktype.summary.encode()),
                    (pcapng.PCAPNG_OPT_IF_TSRESOL, _NS_RESOLUTION)))))
        options = []
        if record.comment:
            options.append((pcapng.PCAPNG_OPT_COMMENT, record.comment.encode()))
        if record.direction is not None:
            options.append((_EPB_FLAGS, struct.pack("<I", record.direction)))
        ns = record.time_ps // 1000
        self._file.write(bytes(pcapng.EnhancedPacketBlockLE(
            iface_id=interface_id, ts_high=ns >> 32, ts_low=ns & 0xFFFFFFFF, pkt_data=record.data,
            opts=_options(*options))))
        self.packets += 1


def message_bytes(message: Message) -> tuple[bytes, int]:
    """The bytes of ``message`` as the wire codec writes them, and its full length.

    A timing-mode message carries no payload (and a segment stands for ``count`` messages):
    its header is written alone; its ``length`` field and the packet comment say what it stood
    for. (dpkt writes a packet's original length as its captured length, so the pcapng field
    that would say so cannot.)
    """
    payload = message.length if message.info.has_payload else 0
    if message.count == 1 and len(message.payload) == payload:
        data = encode_message(message)
        return data, len(data)
    header = HEADER_SIZE + (COLL_EXT_SIZE if message.coll is not None else 0)
    return encode_message(replace(message, count=1, payload=bytes(payload)))[:header], header + payload
