"""RoCE as deployed, as properties: PFC never drops, go-back-N delivers everything a lossy fabric
drops, PFC's victims show in the report, and the supernode's credits make neither drops nor
victims. (DCQCN's fairness within 10% is not among them: with the published defaults on 400 Gb/s
links, two flows on one bottleneck stay 20-30% apart for the first milliseconds; see the report
of issue 20.)

Every example runs an incast (or random flows) on a small switched fabric built from switched-64
(one card per server, each server's card behind its own NIC, one leaf): few examples, each a full
frame-level run.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from oisa.fabric import FabricSpec, load_fabric
from oisa.workload.incast import incast_cards, run_traffic
from oisa.workload.run import Run

FEW = settings(max_examples=max(3, settings.default.max_examples // 20), deadline=None)
KIB = 1 << 10


def _switched(servers: int, **overrides: object) -> FabricSpec:
    return load_fabric("switched-64", {"servers": servers, "cards_per_server": 1, "devices": ["mi300x-like"]},
                       overrides=overrides or None)


def _run(engine: str, seed: int = 0) -> Run:
    return Run(engine=engine, seed=seed).settled(engine, allowed=(engine,), workload="roce property")


@FEW
@given(flows=st.lists(st.tuples(st.integers(0, 4), st.integers(0, 4), st.integers(4, 1024)), min_size=1, max_size=8)
       .filter(lambda flows: all(src != dst for src, dst, _ in flows)),
       xoff=st.integers(16, 128), seed=st.integers(0, 2**16))
def test_with_pfc_on_no_frame_is_ever_dropped(flows, xoff, seed):
    spec = _switched(5, **{"parameters.ethernet_switch.pfc.xoff": f"{xoff}KiB",
                           "parameters.ethernet_switch.pfc.xon": f"{xoff - 8}KiB"})
    cards = [c.id for c in spec.cards if c.device.role == "accelerator"]
    traffic = [(cards[src], cards[dst], size * KIB) for src, dst, size in flows]
    result = run_traffic(spec, _run("timing", seed), traffic, victim=None, pattern="random")
    assert result.counters["drops"] == 0
    assert len(result.flows.times_ps) == len(traffic)


@settings(max_examples=max(2, settings.default.max_examples // 40), deadline=None)
@given(senders=st.integers(2, 4), size=st.sampled_from([128 * KIB, 256 * KIB]), buffer=st.sampled_from([96, 160]))
def test_with_pfc_off_a_shallow_buffer_drops_and_every_byte_is_still_delivered(senders, size, buffer):
    spec = _switched(senders + 1, **{"parameters.ethernet_switch.pfc.enabled": False,
                                     "parameters.ethernet_switch.buffer.total": f"{buffer}KiB",
                                     "parameters.ethernet_switch.ecn.kmax": "64KiB"})
    receiver, chosen, _ = incast_cards(spec, senders)
    result = run_traffic(spec, _run("data"), [(s, receiver, size) for s in chosen], victim=None, pattern="incast")
    assert result.counters["drops"] > 0
    assert result.counters["retransmits"] >= result.counters["drops"]
    assert result.checked is True  # every byte landed where it was written, once


@FEW
@given(senders=st.integers(2, 4))
def test_a_victim_sharing_a_paused_port_is_slowed_by_pfc_and_on_the_supernode_only_by_its_links(senders):
    """The victim writes from the first incast sender to an idle card. On the switched fabric the
    incast's pauses stop the sender's NIC, victim included: it takes more than twice as long as
    alone, beyond what sharing its sender's link with one incast flow costs, and the report's
    counters show the pauses. On the supernode, the same pattern drops nothing and the victim is
    slowed no more than sharing its sender's links makes it (2x and a margin)."""
    size = 1 << 20
    switched = load_fabric("switched-64", {"servers": senders + 1})
    receiver, chosen, idle = incast_cards(switched, senders)
    assert idle is not None
    result = run_traffic(switched, _run("timing"), [(s, receiver, size) for s in chosen],
                         victim=(chosen[0], idle, size), pattern="incast")
    assert result.counters["pauses_sent"] > 0 and result.counters["paused_ps"] > 0
    assert result.victim_slowdown is not None and result.victim_slowdown > 2.0
    supernode = load_fabric("supernode-64", {"servers": senders + 1})
    receiver, chosen, idle = incast_cards(supernode, senders)
    assert idle is not None
    calm = run_traffic(supernode, _run("timing"), [(s, receiver, size) for s in chosen],
                       victim=(chosen[0], idle, size), pattern="incast")
    assert calm.counters["drops"] == 0 and calm.counters["pauses_sent"] == 0
    assert calm.victim_slowdown is not None and calm.victim_slowdown <= 2.2
    assert result.victim_slowdown > calm.victim_slowdown
