"""Reading a timeline back: a Perfetto trace file as tables of tracks, slices, counters and flows.

Perfetto's own reader, the trace processor, is a native program the ``perfetto`` package
downloads on first use; where it cannot (no network), this module reads the file with the
package's bundled protobuf classes and applies the rules the trace processor applies to
TrackEvent data, so tests and pictures can check a trace offline:

* interned strings are looked up per packet sequence, in file order, and forgotten when a
  packet says it cleared the sequence's state;
* events are sorted by timestamp, ties kept in file order; on each track a slice-begin opens a
  slice, a slice-end closes the latest one still open (so slices on a track must nest), an
  instant is a slice of no duration, a counter event sets the value of a counter track;
* flows: an id in ``flow_ids`` joins the previous slice that carried it to this one and stays
  open; one in ``terminating_flow_ids`` joins and ends.

What the trace processor would refuse or repair silently (an unknown track or interned id, an
end with nothing open, a slice on a counter track, a slice never closed) is listed in
``problems``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from google.protobuf.message import DecodeError
from perfetto.protos.perfetto.trace.perfetto_trace_pb2 import Trace, TracePacket, TrackEvent

from oisa.errors import FrameError, UsageError

__all__ = ["Slice", "TimelineTables", "Track", "read_timeline"]


@dataclass(frozen=True)
class Track:
    uuid: int
    name: str
    parent: int | None
    counter: bool
    description: str = ""


@dataclass
class Slice:
    id: int
    track: int
    name: str
    ts: int  # ns
    dur: int  # ns; 0 for an instant
    depth: int
    args: dict[str, int | str]


@dataclass
class TimelineTables:
    tracks: dict[int, Track] = field(default_factory=dict)
    slices: list[Slice] = field(default_factory=list)
    counters: dict[int, list[tuple[int, float]]] = field(default_factory=dict)  # track -> (ns, value)
    flows: list[tuple[int, int]] = field(default_factory=list)  # (slice id, slice id), in time order
    problems: list[str] = field(default_factory=list)

    def track(self, name: str) -> Track:
        found = [t for t in self.tracks.values() if t.name == name]
        if len(found) != 1:
            raise UsageError(f"{len(found)} tracks are named {name!r}")
        return found[0]

    def on(self, name: str) -> list[Slice]:
        """Slices on the track called ``name``, in time order."""
        uuid = self.track(name).uuid
        return [s for s in self.slices if s.track == uuid]

    def children(self, uuid: int) -> list[Track]:
        return [t for t in self.tracks.values() if t.parent == uuid]


@dataclass
class _Event:
    ts: int
    order: int
    packet: int
    event: TrackEvent
    name: str
    args: dict[str, int | str]


def read_timeline(path: str | Path) -> TimelineTables:
    """Read the trace at ``path``; :class:`~oisa.errors.FrameError` if it is no Perfetto trace."""
    data = Path(path).read_bytes()
    try:
        trace = Trace.FromString(data)
    except DecodeError as exc:
        raise FrameError(f"not a Perfetto trace: {exc}", fmt="perfetto-trace") from None
    tables = TimelineTables()
    events = _tokenise(trace.packet, tables)
    events.sort(key=lambda e: (e.ts, e.order))
    _parse(events, tables)
    return tables


def _tokenise(packets: list[TracePacket], tables: TimelineTables) -> list[_Event]:
    """File order: track descriptors, interned strings, and the events with their strings."""
    interned: dict[int, dict[str, dict[int, str]]] = {}
    events: list[_Event] = []
    for index, packet in enumerate(packets):
        strings = interned.setdefault(packet.trusted_packet_sequence_id, {"event": {}, "arg": {}})
        if packet.sequence_flags & TracePacket.SEQ_INCREMENTAL_STATE_CLEARED:
            strings["event"].clear()
            strings["arg"].clear()
        if packet.HasField("interned_data"):
            strings["event"].update((e.iid, e.name) for e in packet.interned_data.event_names)
            strings["arg"].update((e.iid, e.name) for e in packet.interned_data.debug_annotation_names)
        if packet.HasField("track_descriptor"):
            d = packet.track_descriptor
            track = Track(d.uuid, d.name, d.parent_uuid if d.HasField("parent_uuid") else None, d.HasField("counter"),
                          d.description)
            if tables.tracks.setdefault(d.uuid, track) != track:
                tables.problems.append(f"packet {index}: track {d.uuid} described twice, differently")
        if packet.HasField("track_event"):
            event = packet.track_event
            name = event.name
            if event.HasField("name_iid"):
                name = strings["event"].get(event.name_iid, "")
                if not name:
                    tables.problems.append(f"packet {index}: unknown event name iid {event.name_iid}")
            args: dict[str, int | str] = {}
            for annotation in event.debug_annotations:
                key = strings["arg"].get(annotation.name_iid) if annotation.HasField("name_iid") else annotation.name
                if key is None:
                    tables.problems.append(f"packet {index}: unknown argument name iid {annotation.name_iid}")
                    continue
                args[key] = annotation.int_value if annotation.HasField("int_value") else annotation.string_value
            events.append(_Event(packet.timestamp, len(events), index, event, name, args))
    return events


def _parse(events: list[_Event], tables: TimelineTables) -> None:
    """Time order: slices nest per track, counters take values, flows join slices."""
    open_slices: dict[int, list[Slice]] = {}
    flow_heads: dict[int, int] = {}
    for e in events:
        event = e.event
        track = tables.tracks.get(event.track_uuid)
        if track is None:
            tables.problems.append(f"packet {e.packet}: event on undescribed track {event.track_uuid}")
            continue
        if event.type == TrackEvent.TYPE_COUNTER:
            if not track.counter:
                tables.problems.append(f"packet {e.packet}: counter value on slice track {track.name!r}")
                continue
            value = event.double_counter_value if event.HasField("double_counter_value") else event.counter_value
            tables.counters.setdefault(track.uuid, []).append((e.ts, value))
            continue
        if track.counter:
            tables.problems.append(f"packet {e.packet}: slice event on counter track {track.name!r}")
            continue
        stack = open_slices.setdefault(track.uuid, [])
        if event.type == TrackEvent.TYPE_SLICE_END:
            if not stack:
                tables.problems.append(f"packet {e.packet}: slice end on {track.name!r} with no slice open")
                continue
            done = stack.pop()
            done.dur = e.ts - done.ts
            continue
        row = Slice(len(tables.slices), track.uuid, e.name, e.ts, 0, len(stack), e.args)
        tables.slices.append(row)
        if event.type == TrackEvent.TYPE_SLICE_BEGIN:
            stack.append(row)
        for flow in event.flow_ids:
            if flow in flow_heads:
                tables.flows.append((flow_heads[flow], row.id))
            flow_heads[flow] = row.id
        for flow in event.terminating_flow_ids:
            if flow in flow_heads:
                tables.flows.append((flow_heads.pop(flow), row.id))
    for stack in open_slices.values():
        for row in stack:
            tables.problems.append(f"slice {row.name!r} on {tables.tracks[row.track].name!r} never ends")
