"""Timelines: a run written as a Perfetto trace (native TrackEvent protobuf) to open at ui.perfetto.dev.

:class:`Timeline` is an :class:`~oisa.sim.observe.Observer`; hand it to ``run_p2p(...,
observer=...)`` (or ``oisa run --trace FILE``) and it writes, under one root track named after
the fabric:

* a track per device (card, switch, NIC). A card's track holds its DMA transfers as slices,
  submission to completion (transfers that overlap go to extra "DMA lane" child tracks, since
  slices on one track must nest); a switch's or NIC's holds an instant per message it forwards;
* under each device, a track per link direction it transmits on: on OISA links that run the
  link layer a slice per flit on the wire (``data``, ``replay``, ``duplicate``, ``corrupt`` or
  the control flit's code); on frame links (PCIe, Ethernet, any link in timing mode) a slice
  per message, named by opcode, with its frames and wire bytes as arguments;
* under each OISA link direction, counter tracks of the sender's credits (``credits
  vc0.posted.data`` ...) and its replay buffer's occupancy in flits;
* under each Ethernet link direction of a buffered switch, counter tracks of its egress queue
  (bytes) and of how many priorities PFC has paused; a switch's drops are instants on it;
* flows (arrows) that follow each message hop by hop across links and switches.

Time: virtual time is integer picoseconds, Perfetto's timestamps are integer nanoseconds, and
Perfetto has no finer unit. Every timestamp is the picosecond time rounded to the nearest
nanosecond, start and end alike, so slices that touch in virtual time touch in the trace and
never overlap, and a duration is off by less than a nanosecond (a 256-byte flit at 800 Gb/s,
2.56 ns, shows as 2 or 3 ns). Transfers carry their exact picosecond times as arguments.

Flows: a message is known on the wire by its header (opcode, source, destination, tag, address,
length, segment count), decoded from the flits with the wire codec. The first hop of a message
that has more than one opens a flow with the next number from a counter; every switch or NIC
passes the number on (a queue per node and header, so identical headers in flight keep their
order) and the hop into the destination ends it. Event order is deterministic in virtual time,
so the numbers are too. On link-layer links the flow joins the flit in which the message ends.

Size: strings are interned (event and argument names are sent once), and packets go to the file
a chunk at a time (one ``TraceProtoBuilder`` per chunk, serialised and dropped), so the trace
is never held in memory; a concatenation of serialised ``Trace`` messages is a ``Trace``.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Protocol

from perfetto.protos.perfetto.trace.perfetto_trace_pb2 import (
    CounterDescriptor,
    TracePacket,
    TrackDescriptor,
    TrackEvent,
)
from perfetto.trace_builder.proto_builder import TraceProtoBuilder

from oisa.errors import FrameError, UsageError
from oisa.link.framing import StreamUnpacker
from oisa.sim.observe import Observer
from oisa.units import NS, format_rate, format_time
from oisa.wire.oisa import SEQ_MODULUS, ControlCode, FlitKind, Message, Opcode, decode_flit

__all__ = ["CHUNK_PACKETS", "OISA_LINK", "SEQUENCE_ID", "FabricView", "LinkView", "Timeline", "timestamp_ns",
           "trace_paths"]

SEQUENCE_ID = 1  # every packet is on one sequence: the interned strings are shared by all
CHUNK_PACKETS = 1024  # packets held before a chunk goes to the file (about 1 KiB of memory each)
_HALF = SEQ_MODULUS // 2
_BEGIN, _END, _INSTANT, _COUNTER = (TrackEvent.TYPE_SLICE_BEGIN, TrackEvent.TYPE_SLICE_END, TrackEvent.TYPE_INSTANT,
                                   TrackEvent.TYPE_COUNTER)
_NEEDS_STATE = TracePacket.SEQ_NEEDS_INCREMENTAL_STATE

Identity = tuple[int, int, int, int, int, int, int]
OISA_LINK = "oisa"  # the kind of link that carries OISA flits (oisa.fabric.LinkKind.OISA, a StrEnum)


class LinkView(Protocol):
    """What a timeline reads of one link of a fabric (a :class:`~oisa.fabric.LinkSpec` fits)."""

    @property
    def a(self) -> int: ...
    @property
    def b(self) -> int: ...
    @property
    def kind(self) -> str: ...
    @property
    def flit_size(self) -> int: ...
    @property
    def rate_bps(self) -> int: ...
    @property
    def latency_ps(self) -> int: ...


class FabricView(Protocol):
    """What a timeline reads of the fabric it draws (a :class:`~oisa.fabric.FabricSpec` fits): a
    protocol rather than the class, because observers sit below the fabric layer and must not
    import it."""

    @property
    def name(self) -> str: ...
    @property
    def links(self) -> Sequence[LinkView]: ...
    def node_names(self) -> dict[int, str]: ...


def timestamp_ns(time_ps: int) -> int:
    """A virtual time in picoseconds as a Perfetto timestamp: nanoseconds, rounded to nearest."""
    return (time_ps + NS // 2) // NS


def trace_paths(path: str | Path, labels: Sequence[str]) -> list[Path]:
    """One trace file per run of a comparison: ``out.perfetto`` and fabrics ``supernode-64``,
    ``switched-64`` give ``out.supernode-64.perfetto`` and ``out.switched-64.perfetto``
    (``-a``, ``-b``... added to labels that repeat). Characters a file name should not hold
    become ``_``."""
    path = Path(path)
    if len(set(labels)) < len(labels):
        labels = [f"{label}-{chr(ord('a') + index)}" for index, label in enumerate(labels)]
    return [path.with_name(f"{path.stem}.{re.sub(r'[^A-Za-z0-9._-]', '_', label)}{path.suffix}") for label in labels]


def _identity(message: Message) -> Identity:
    return (message.opcode, message.src, message.dst, message.tag, message.address, message.length, message.count)


@dataclass(frozen=True)
class _Direction:
    """One direction of a link of the fabric, as the trace shows it."""

    sender: int
    receiver: int
    rank: int  # place among its sender's tracks: the order of the fabric's links
    flit_size: int
    about: str


class _Wire:
    """What the trace knows of one link direction that runs the link layer: the receiver's
    expected sequence number and message stream, so flits decode as the receiver sees them."""

    def __init__(self, flit_size: int) -> None:
        self.flit_size = flit_size
        self.expected = 0  # next sequence number the receiver takes
        self.next_new = 0  # one past the highest sequence number sent so far
        self.last_start = -1
        self.unpacker = StreamUnpacker()


class Timeline(Observer):
    """Writes the run it observes to ``path`` as a Perfetto trace; ``spec`` is the fabric run.

    The file is created at once, so an unwritable path fails before the run starts, with a
    :class:`~oisa.errors.UsageError` naming it; it is held open only once there is something to
    write. :meth:`close` (``run_p2p`` calls it, even when the run fails) writes what is left.
    """

    draws_spans = True

    def __init__(self, path: str | Path, spec: FabricView, *, chunk_packets: int = CHUNK_PACKETS) -> None:
        self.path = Path(path)
        self._open("wb").close()  # fail now, not after the run, if the path cannot be written
        self._file: IO[bytes] | None = None  # opened when the first chunk is ready, so a run refused
        self._closed = False  # before it starts leaves no file open
        self.spec = spec
        self.packets = 0
        self._chunk_packets = chunk_packets
        self._builder = TraceProtoBuilder()
        self._buffered = 0
        self._names = spec.node_names()
        self._node_by_name = {name: node for node, name in self._names.items()}
        self._node_rank = {node: rank for rank, node in enumerate(self._names)}  # cards, switches, NICs
        self._directions: dict[str, _Direction] = {}
        for index, link in enumerate(spec.links):
            about = (f"{link.kind} link, {format_rate(link.rate_bps / 8)}, {format_time(link.latency_ps)} latency"
                     + (f", {link.flit_size}-byte flits" if link.kind == OISA_LINK else ""))
            for direction, (here, there) in enumerate(((link.a, link.b), (link.b, link.a))):
                name = f"{self._names[here]}->{self._names[there]}"
                self._directions[name] = _Direction(here, there, 2 * index + direction, link.flit_size, about)
        self._tracks: dict[str, int] = {}
        self._interned: dict[tuple[str, str], int] = {}
        self._wires: dict[str, _Wire] = {}
        self._counters: dict[int, int] = {}
        self._lanes: dict[str, list[int]] = {}  # card -> when each DMA lane is free again (ps)
        self._owners: dict[str, int] = {}  # what spans are shown for (ranks), by place after the devices
        self._arriving: dict[tuple[str, Identity], deque[int]] = {}
        self._leaving: dict[tuple[str, Identity], deque[int]] = {}
        self._next_flow = 1
        self._root = self._track("", spec.name, None, 0, ordered=True,
                                 description=f"oisa fabric {spec.name}: devices, and under each the links it sends on")

    # -- observer hooks ------------------------------------------------------------------------

    def frame(self, link: str, start_ps: int, end_ps: int, arrival_ps: int, frame: bytes) -> None:
        wire = self._wires.get(link)
        if wire is None:
            wire = self._wires[link] = _Wire(self._directions[link].flit_size)
        duplicate = start_ps == wire.last_start
        wire.last_start = start_ps
        flows: list[int] = []
        ends: list[int] = []
        args: tuple[tuple[str, int], ...] = ()
        try:
            flit = decode_flit(frame, wire.flit_size)
        except FrameError:
            name = "corrupt"
        else:
            if flit.kind is FlitKind.DATA:
                seq = flit.seq
                args = (("seq", seq),)
                fresh = (seq - wire.next_new) % SEQ_MODULUS < _HALF
                if fresh:
                    wire.next_new = (seq + 1) % SEQ_MODULUS
                name = "data" if fresh else "replay"
                if seq == wire.expected:  # the receiver takes it, as LinkEndpoint does
                    wire.expected = (seq + 1) % SEQ_MODULUS
                    for message in wire.unpacker.feed(flit.payload):
                        self._hop(link, message, flows, ends)
            else:
                name = ControlCode(flit.code).name
        if duplicate:  # the wire delivered this frame twice (a fault): the second copy
            name = "duplicate"
        self._slice(self._link_track(link), start_ps, end_ps, name, args, flows, ends)

    def message(self, link: str, start_ps: int, end_ps: int, arrival_ps: int, message: Any, frames: int,
                wire_bytes: int) -> None:
        flows: list[int] = []
        ends: list[int] = []
        self._hop(link, message, flows, ends)
        args = (("frames", frames), ("bytes", wire_bytes), ("src", message.src), ("dst", message.dst),
                ("tag", message.tag), ("count", message.count))
        self._slice(self._link_track(link), start_ps, end_ps, Opcode(message.opcode).name, args, flows, ends)

    def link_state(self, link: str, time_ps: int, credits: dict[str, float], replay_occupancy: int) -> None:
        parent = self._link_track(link)
        self._count(f"{link} replay buffer", parent, "flits", time_ps, replay_occupancy)
        for key, value in credits.items():
            if value != float("inf"):  # unlimited credits (completions) are no curve worth drawing
                self._count(f"{link} credits {key}", parent, "credits", time_ps, int(value))

    def ethernet_queue(self, link: str, time_ps: int, queued_bytes: int, paused: int) -> None:
        parent = self._link_track(link)
        self._count(f"{link} queue", parent, "bytes", time_ps, queued_bytes)
        self._count(f"{link} paused priorities", parent, "priorities", time_ps, paused)

    def dropped(self, node: str, time_ps: int, message: Any) -> None:
        track = self._node_track(self._node_by_name[node])
        self._event(track, time_ps, _INSTANT, f"drop {Opcode(message.opcode).name}",
                    (("src", message.src), ("dst", message.dst), ("tag", message.tag)))

    def forwarded(self, node: str, time_ps: int, message: Any) -> None:
        identity = _identity(message)
        flow = self._take(self._arriving, (node, identity))
        self._leaving.setdefault((node, identity), deque()).append(flow)
        self._instant(self._node_track(self._node_by_name[node]), time_ps, Opcode(message.opcode).name,
                      (("src", message.src), ("dst", message.dst), ("tag", message.tag)), flow)

    def transfer(self, card: str, transfer: Any) -> None:
        lanes = self._lanes.setdefault(card, [])
        # Transfers are reported as they finish; a lane is free for one that started after the
        # lane's last transfer finished (slices on one track must nest, never overlap).
        lane = next((i for i, free in enumerate(lanes) if free <= transfer.submitted_ps), len(lanes))
        if lane == len(lanes):
            lanes.append(0)
        lanes[lane] = transfer.finished_ps
        track = self._node_track(self._node_by_name[card])
        if lane:
            track = self._track(f"{card} lane {lane}", f"{card} DMA lane {lane + 1}", track, -1 - lane,
                                description="transfers that overlap earlier ones")
        args = (("peer", transfer.peer), ("size", transfer.size), ("submitted_ps", transfer.submitted_ps),
                ("started_ps", transfer.started_ps), ("finished_ps", transfer.finished_ps),
                ("ok", int(transfer.ok)))
        self._slice(track, transfer.submitted_ps, transfer.finished_ps, f"DMA {transfer.kind}", args, (), ())

    def span(self, owner: str, lane: str, start_ps: int, end_ps: int, name: str,
             args: Iterable[tuple[str, int]] = ()) -> None:
        """A slice named ``name`` on track ``lane`` of ``owner`` (a rank, say, under a root
        track of that name after the fabric's devices): what a workload shows of its own
        operations. Give the slices of one lane in order of their start: one that overlaps the
        lane's last goes to an extra lane below it, since slices on one track must nest."""
        place = self._owners.setdefault(owner, len(self._names) + len(self._owners))
        owner_track = self._track(f"span {owner}", owner, self._root, place, ordered=True)
        lanes = self._lanes.setdefault(f"span {owner} {lane}", [])
        index = next((i for i, free in enumerate(lanes) if free <= start_ps), len(lanes))
        if index == len(lanes):
            lanes.append(0)
        lanes[index] = end_ps
        label = lane if index == 0 else f"{lane} {index + 1}"
        track = self._track(f"span {owner} {label}", label, owner_track, index)
        self._slice(track, start_ps, end_ps, name, args, (), ())

    def close(self) -> None:
        if self._closed:
            return
        self._flush()
        if self._file is not None:
            self._file.close()
        self._closed = True

    # -- flows ---------------------------------------------------------------------------------

    def _hop(self, link: str, message: Message, flows: list[int], ends: list[int]) -> None:
        """Add the flow ``message`` follows to the slice that carries it over ``link``."""
        direction = self._directions[link]
        sender, receiver = direction.sender, direction.receiver
        identity = _identity(message)
        if message.src == sender:
            if message.dst == receiver:
                return  # one hop: no arrow to draw
            flow = self._next_flow
            self._next_flow += 1
        else:
            flow = self._take(self._leaving, self._leaving_key(self._names[sender], identity))
        if message.dst == receiver:
            ends.append(flow)
        else:
            flows.append(flow)
            self._arriving.setdefault((self._names[receiver], identity), deque()).append(flow)

    def _leaving_key(self, node: str, identity: Identity) -> tuple[str, Identity]:
        """Where the flow of a message leaving ``node`` waits: under its own header, or, for the
        first part of a segment an Ethernet port cut into MTU-sized parts (oisa.sim.ethernet),
        under the segment's (the same header but for the count); later parts start flows of their own."""
        key = (node, identity)
        if key in self._leaving:
            return key
        for waiting in self._leaving:
            if waiting[0] == node and waiting[1][:6] == identity[:6] and waiting[1][6] > identity[6]:
                return waiting
        return key

    def _take(self, queues: dict[tuple[str, Identity], deque[int]], key: tuple[str, Identity]) -> int:
        """The oldest flow waiting under ``key``; a new one if none is (a message a switch made)."""
        queue = queues.get(key)
        if not queue:
            flow = self._next_flow
            self._next_flow += 1
            return flow
        flow = queue.popleft()
        if not queue:
            del queues[key]
        return flow

    # -- tracks --------------------------------------------------------------------------------

    def _node_track(self, node: int) -> int:
        name = self._names[node]
        return self._track(name, name, self._root, self._node_rank[node], ordered=True)

    def _link_track(self, link: str) -> int:
        direction = self._directions[link]
        return self._track(link, link, self._node_track(direction.sender), direction.rank, description=direction.about)

    def _track(self, key: str, name: str, parent: int | None, rank: int, *, ordered: bool = False,
               description: str = "", unit: str = "") -> int:
        """The uuid of track ``key``, its descriptor written the first time it is asked for."""
        uuid = self._tracks.get(key)
        if uuid is not None:
            return uuid
        uuid = self._tracks[key] = len(self._tracks) + 1
        packet = self._packet()
        track = packet.track_descriptor
        track.uuid = uuid
        track.name = name
        if description:
            track.description = description
        if parent is not None:
            track.parent_uuid = parent
            track.sibling_order_rank = rank
        if ordered:
            track.child_ordering = TrackDescriptor.EXPLICIT
        if unit:
            track.counter.unit = CounterDescriptor.UNIT_COUNT
            track.counter.unit_name = unit
        return uuid

    # -- events --------------------------------------------------------------------------------

    def _slice(self, track: int, start_ps: int, end_ps: int, name: str, args: Iterable[tuple[str, int]],
               flows: Iterable[int], ends: Iterable[int]) -> None:
        begin = self._event(track, start_ps, _BEGIN, name, args)
        begin.flow_ids.extend(flows)
        begin.terminating_flow_ids.extend(ends)
        end = self._packet()
        end.timestamp = timestamp_ns(end_ps)
        end.track_event.type = _END
        end.track_event.track_uuid = track

    def _instant(self, track: int, time_ps: int, name: str, args: Iterable[tuple[str, int]], flow: int) -> None:
        self._event(track, time_ps, _INSTANT, name, args).flow_ids.append(flow)

    def _count(self, name: str, parent: int, unit: str, time_ps: int, value: int) -> None:
        track = self._track(name, name, parent, 0, unit=unit)
        if self._counters.get(track) == value:
            return
        self._counters[track] = value
        packet = self._packet()
        packet.timestamp = timestamp_ns(time_ps)
        event = packet.track_event
        event.type = _COUNTER
        event.track_uuid = track
        event.counter_value = value

    def _event(self, track: int, time_ps: int, kind: int, name: str, args: Iterable[tuple[str, int]]) -> TrackEvent:
        packet = self._packet()
        packet.timestamp = timestamp_ns(time_ps)
        event = packet.track_event
        event.type = kind
        event.track_uuid = track
        event.name_iid = self._intern(packet, "event", name)
        for key, value in args:
            annotation = event.debug_annotations.add()
            annotation.name_iid = self._intern(packet, "arg", key)
            annotation.int_value = value
        return event

    def _intern(self, packet: TracePacket, table: str, text: str) -> int:
        """The interned id of ``text``; the first use defines it in ``packet``, which is then
        before every later use in the file, as Perfetto requires."""
        iid = self._interned.get((table, text))
        if iid is None:
            iid = self._interned[(table, text)] = len(self._interned) + 1
            interned = packet.interned_data
            entry = (interned.event_names if table == "event" else interned.debug_annotation_names).add()
            entry.iid = iid
            entry.name = text
        return iid

    def _open(self, mode: str) -> IO[bytes]:
        try:
            return open(self.path, mode)  # the caller closes it
        except OSError as exc:
            raise UsageError(f"cannot write the trace to {self.path}: {exc.strerror or exc}") from None

    def _packet(self) -> TracePacket:
        if self._closed:
            raise UsageError(f"the trace {self.path} is closed")
        if self._buffered >= self._chunk_packets:
            self._flush()
        packet = self._builder.add_packet()
        packet.trusted_packet_sequence_id = SEQUENCE_ID
        if self.packets == 0:
            packet.first_packet_on_sequence = True
            packet.sequence_flags = TracePacket.SEQ_INCREMENTAL_STATE_CLEARED
        else:
            packet.sequence_flags = _NEEDS_STATE
        self.packets += 1
        self._buffered += 1
        return packet

    def _flush(self) -> None:
        if self._buffered:
            if self._file is None:
                self._file = self._open("ab")
            self._file.write(self._builder.serialize())
            self._builder = TraceProtoBuilder()
            self._buffered = 0
