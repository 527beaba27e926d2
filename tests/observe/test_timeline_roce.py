"""Perfetto timelines of a RoCE incast: egress queue depth and PFC pauses as counters, drops as instants."""

from oisa.fabric import load_fabric
from oisa.observe import Timeline, read_timeline
from oisa.workload.incast import incast_cards, run_traffic
from oisa.workload.run import Run


def _traced(tmp_path, overrides):
    spec = load_fabric("switched-64", {"servers": 4, "cards_per_server": 1, "devices": ["mi300x-like"]},
                       overrides=overrides)
    receiver, senders, _ = incast_cards(spec, 3)
    path = tmp_path / "incast.perfetto"
    run = Run(engine="timing", observer=Timeline(path, spec)).settled("timing", allowed=("timing",), workload="x")
    result = run_traffic(spec, run, [(s, receiver, 512 << 10) for s in senders], victim=None, pattern="incast")
    tables = read_timeline(path)
    assert tables.problems == []
    return result, tables


def test_pauses_and_queue_depth_are_counter_tracks_of_the_links(tmp_path):
    result, tables = _traced(tmp_path, {})
    assert result.counters["pauses_received"] > 0
    paused = [t for t in tables.tracks.values() if t.name.endswith("->leaf paused priorities")]
    assert paused and any(value > 0 for t in paused for _, value in tables.counters.get(t.uuid, []))
    queue = tables.track("leaf->s0.gpu0.nic queue")
    assert max(value for _, value in tables.counters[queue.uuid]) > 0


def test_drops_are_instants_on_the_switch(tmp_path):
    result, tables = _traced(tmp_path, {"parameters.ethernet_switch.pfc.enabled": False,
                                        "parameters.ethernet_switch.buffer.total": "128KiB",
                                        "parameters.ethernet_switch.ecn.kmin": "5KiB",
                                        "parameters.ethernet_switch.ecn.kmax": "64KiB"})
    drops = [s for s in tables.on("leaf") if s.name.startswith("drop ")]
    assert result.counters["drops"] > 0 and len(drops) == result.counters["drops"]
