"""Perfetto timelines: written during a run, read back, and checked against the run's own report.

Perfetto's trace processor is a native binary that the ``perfetto`` package downloads on first
use, which this machine and CI cannot do, so the traces are read back with
:func:`oisa.observe.timeline_read.read_timeline`: the package's protobuf classes plus the
trace processor's rules for TrackEvent data (interning, nesting per track, flows). Every
reading also checks that nothing in the file breaks those rules (``problems``).
"""

from collections import Counter
from types import SimpleNamespace

import pytest
from perfetto.protos.perfetto.trace.perfetto_trace_pb2 import Trace

from oisa.cli import main
from oisa.errors import FrameError, UsageError
from oisa.fabric import LinkKind, load_fabric
from oisa.observe import OISA_LINK, Timeline, TimelineTables, read_timeline, timestamp_ns, trace_paths
from oisa.sim.faults import FaultModel
from oisa.sim.observe import Observer, Observers
from oisa.wire.oisa import ControlCode, Opcode
from oisa.workload import Run, run_p2p

FLIT_NAMES = {"data", "replay", "duplicate", "corrupt"} | {code.name for code in ControlCode}
OPCODE_NAMES = {op.name for op in Opcode}


def traced(tmp_path, name, *, seed=0, mode="auto", faults=None, **options):
    spec = load_fabric(name)
    path = tmp_path / f"{name}.perfetto"
    result = run_p2p(spec, Run(seed=seed, engine=mode, faults=faults, observer=Timeline(path, spec)), **options)
    tables = read_timeline(path)
    assert tables.problems == []
    return spec, result, tables


def link_slices(spec, tables: TimelineTables):
    links = {f"{a}->{b}" for link in spec.links
             for a, b in ((spec.node_names()[link.a], spec.node_names()[link.b]),
                          (spec.node_names()[link.b], spec.node_names()[link.a]))}
    return [s for s in tables.slices if tables.tracks[s.track].name in links]


def check_transfers(spec, result, tables):
    """One slice per DMA transfer on the writer's track, its times those of the report."""
    transfers = tables.on(spec.card(result.src).name)
    assert [s.name for s in transfers] == ["DMA write", "DMA read"]
    for row, phase in zip(transfers, (result.write, result.read)):
        exact = row.args["finished_ps"] - row.args["submitted_ps"]
        assert exact == phase.time_ps
        assert row.ts == timestamp_ns(row.args["submitted_ps"])
        assert row.dur == timestamp_ns(row.args["finished_ps"]) - timestamp_ns(row.args["submitted_ps"])
        assert abs(row.dur * 1000 - phase.time_ps) < 1000  # rounded to the nearest ns, both ends
        assert row.args["size"] == result.size and row.args["ok"] == 1


def test_pair_trace_has_every_flit_transfer_and_counter_of_the_run(tmp_path):
    spec, result, tables = traced(tmp_path, "pair", size=64 << 10, seed=2)
    check_transfers(spec, result, tables)

    flits = link_slices(spec, tables)
    names = Counter(s.name for s in flits)
    assert set(names) <= FLIT_NAMES
    assert len(flits) == result.frames + result.bringup_frames  # the trace shows bring-up too
    assert names["data"] + names["replay"] == result.link["flits_sent"] + result.link["flits_replayed"]
    assert len(flits) - names["data"] - names["replay"] == result.link["control_sent"] + result.bringup_frames

    root = tables.track("pair")
    assert {t.name for t in tables.children(root.uuid)} == {"card0", "card1"}
    for sender, receiver in (("card0", "card1"), ("card1", "card0")):
        link = tables.track(f"{sender}->{receiver}")
        assert link.parent == tables.track(sender).uuid
        counters = {t.name: t for t in tables.children(link.uuid)}
        assert set(counters) == {f"{sender}->{receiver} replay buffer"} | {
            f"{sender}->{receiver} credits vc0.{cls}.{kind}" for cls in ("posted", "non_posted")
            for kind in ("hdr", "data")}
        assert all(t.counter for t in counters.values())
        replay = [value for _, value in tables.counters[counters[f"{sender}->{receiver} replay buffer"].uuid]]
        assert max(replay) > 0 and min(replay) >= 0
    assert tables.flows == []  # every message of a pair makes one hop: nothing to join


def test_supernode_flows_follow_every_message_through_its_switch(tmp_path):
    spec, result, tables = traced(tmp_path, "supernode-64", size=16 << 10, seed=1)
    check_transfers(spec, result, tables)
    assert len(link_slices(spec, tables)) == result.frames + result.bringup_frames

    switches = {s.name for s in spec.switches}
    instants = [s for s in tables.slices if tables.tracks[s.track].name in switches]
    assert len(instants) == result.messages  # card -> switch -> card: each message forwarded once
    assert {s.name for s in instants} <= OPCODE_NAMES and all(s.dur == 0 for s in instants)
    # Each forwarded message: an arrow from the flit it arrived in to the switch, and one on
    # from the switch to the flit it leaves in, on the link towards its destination.
    assert len(tables.flows) == 2 * len(instants)
    by_id = {s.id: s for s in tables.slices}
    for a, b in tables.flows:
        first, second = tables.tracks[by_id[a].track].name, tables.tracks[by_id[b].track].name
        assert first.endswith(f"->{second}") or second.startswith(f"{first}->")
        assert by_id[a].ts <= by_id[b].ts


def test_frame_links_give_a_slice_per_message_with_its_frames(tmp_path):
    spec, result, tables = traced(tmp_path, "switched-64", size=1 << 20, mode="timing")
    check_transfers(spec, result, tables)
    messages = link_slices(spec, tables)
    assert {s.name for s in messages} <= OPCODE_NAMES
    assert sum(s.args["frames"] for s in messages) == result.frames + result.bringup_frames
    forwarders = {n.name for n in (*spec.switches, *spec.nics)}
    instants = [s for s in tables.slices if tables.tracks[s.track].name in forwarders]
    assert instants and len(tables.flows) == 2 * len(instants)


def test_faults_show_as_corrupt_duplicate_and_replayed_flits(tmp_path):
    faults = FaultModel(ber=1e-6, drop=1e-3, duplicate=1e-3)
    spec, result, tables = traced(tmp_path, "pair", size=256 << 10, seed=3, faults=faults)
    assert result.link["replays"] and result.faults["frames_dropped"] and result.faults["frames_duplicated"]
    names = Counter(s.name for s in link_slices(spec, tables))
    # The trace shows what arrives: a dropped frame is not there, a duplicated one twice.
    assert sum(names.values()) == (result.frames + result.bringup_frames - result.faults["frames_dropped"]
                                   + result.faults["frames_duplicated"])
    faulted = result.faults["frames_corrupted"] + result.faults["frames_duplicated"]
    assert names["corrupt"] + names["duplicate"] == faulted
    assert names["replay"] > 0


def test_the_same_seed_writes_the_same_bytes_and_tracing_changes_nothing(tmp_path):
    spec = load_fabric("pair")
    untraced = run_p2p(spec, Run(seed=4), size=16 << 10)
    results = [run_p2p(spec, Run(seed=4, observer=Timeline(tmp_path / f"{i}.perfetto", spec)), size=16 << 10)
               for i in range(2)]
    assert results[0] == results[1] == untraced
    assert (tmp_path / "0.perfetto").read_bytes() == (tmp_path / "1.perfetto").read_bytes()


def test_packets_reach_the_file_during_the_run_not_all_at_the_end(tmp_path):
    spec = load_fabric("pair")
    path = tmp_path / "chunks.perfetto"
    timeline = Timeline(path, spec, chunk_packets=64)
    sizes = []

    class Probe(Observer):
        def transfer(self, card, transfer):
            sizes.append((timeline.packets, path.stat().st_size))

    run_p2p(spec, Run(observer=Observers([timeline, Probe()])), size=64 << 10)
    (packets_then, bytes_then), _ = sizes
    assert packets_then > 64 and bytes_then > 0
    assert path.stat().st_size > bytes_then


def test_transfers_that_overlap_go_to_lanes_of_their_own(tmp_path):
    path = tmp_path / "lanes.perfetto"
    timeline = Timeline(path, load_fabric("pair"))
    for submitted, finished in ((0, 5000), (1000, 7000), (6000, 9000)):  # reported as they finish
        timeline.transfer("card0", SimpleNamespace(kind="write", peer=1, size=64, submitted_ps=submitted,
                                                   started_ps=submitted, finished_ps=finished, ok=True))
    timeline.close()
    tables = read_timeline(path)
    assert tables.problems == []
    assert [(s.ts, s.dur) for s in tables.on("card0")] == [(0, 5), (6, 3)]
    assert [(s.ts, s.dur) for s in tables.on("card0 DMA lane 2")] == [(1, 6)]
    assert tables.track("card0 DMA lane 2").parent == tables.track("card0").uuid


def test_cli_run_writes_a_trace_and_the_same_report(tmp_path, capsys):
    path = tmp_path / "run.perfetto"
    assert main(["run", "pair", "--size", "16KiB", "--json"]) == 0
    plain = capsys.readouterr().out
    assert main(["run", "pair", "--size", "16KiB", "--json", "--trace", str(path)]) == 0
    assert capsys.readouterr().out == plain
    assert [s.name for s in read_timeline(path).on("card0")] == ["DMA write", "DMA read"]


def test_cli_compare_writes_one_trace_per_fabric(tmp_path, capsys):
    assert main(["compare", "pair", "mesh-8", "--size", "4KiB", "--trace", str(tmp_path / "cmp.perfetto")]) == 0
    capsys.readouterr()
    for name in ("pair", "mesh-8"):
        assert read_timeline(tmp_path / f"cmp.{name}.perfetto").track(name)
    assert [p.name for p in trace_paths("x/t.perfetto", ["pair", "pair"])] == ["t.pair-a.perfetto", "t.pair-b.perfetto"]
    assert trace_paths("t", ["my fabric/1"])[0].name == "t.my_fabric_1"


@pytest.mark.parametrize(("where", "status", "fragment"), [
    ("no-such-dir/t.perfetto", 2, "cannot write the trace to"),
    (".", 2, "is a directory"),
])
def test_an_unwritable_trace_path_is_one_line(tmp_path, capsys, where, status, fragment):
    assert main(["run", "pair", "--size", "4KiB", "--trace", str(tmp_path / where)]) == status
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and err.startswith("oisa: error: ") and fragment in err


def test_a_refused_run_leaves_an_empty_trace_and_no_file_open(tmp_path, capsys):
    path = tmp_path / "refused.perfetto"
    assert main(["run", "pair", "--src", "0", "--dst", "0", "--trace", str(path)]) == 2
    assert "--src 0, --dst 0: the same card" in capsys.readouterr().err
    assert path.read_bytes() == b"" and read_timeline(path).slices == []


@pytest.mark.parametrize(("fabric", "kind"), [("pair", LinkKind.OISA), ("host-pcie", LinkKind.PCIE)])
def test_link_tracks_say_what_the_link_is_and_only_oisa_links_have_flits(tmp_path, fabric, kind):
    assert OISA_LINK == LinkKind.OISA  # observe cannot import the fabric's enum: its value, pinned here
    spec = load_fabric(fabric)
    path = tmp_path / f"{fabric}.perfetto"
    run_p2p(spec, Run(observer=Timeline(path, spec), seed=1), size=4096)
    about = {p.track_descriptor.name: p.track_descriptor.description
             for p in Trace.FromString(path.read_bytes()).packet if p.HasField("track_descriptor")}
    [link] = spec.links
    for name in spec.wire_names(link):
        assert about[name].startswith(f"{kind.value} link, ")
        assert about[name].endswith(f", {link.flit_size}-byte flits") == (kind is LinkKind.OISA)


def test_errors_name_the_file(tmp_path):
    with pytest.raises(UsageError, match="cannot write the trace to"):
        Timeline(tmp_path / "missing" / "t.perfetto", load_fabric("pair"))
    garbage = tmp_path / "garbage.perfetto"
    garbage.write_bytes(b"\xff" * 40)
    with pytest.raises(FrameError, match="not a Perfetto trace"):
        read_timeline(garbage)
