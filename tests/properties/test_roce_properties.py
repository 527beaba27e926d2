"""RoCE as deployed, as properties: PFC never drops, go-back-N delivers everything a lossy fabric
drops, DCQCN shares one bottleneck fairly, PFC's victims show in the report, and the supernode's
credits make neither drops nor victims.

Every example runs an incast (or random flows) on a small switched fabric built from switched-64
(one card per server, each server's card behind its own NIC, one leaf): few examples, each a full
frame-level run.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from oisa.fabric import FabricSpec, load_fabric
from oisa.fabric.ethernet_config import DCQCN_PAPER
from oisa.workload.incast import incast_cards, run_traffic
from oisa.workload.run import Run
from tests.fabric.roce_support import bottleneck_shares

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
                                     "parameters.ethernet_switch.ecn.kmin": "5KiB",
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


WINDOW_PS = 50_000_000  # 50 us
SETTLED_PS = WINDOW_PS  # the stated time: from the end of the first 50 us on


def _fair_share_misses(spec: FabricSpec, senders: int, size: int, seed: int) -> list[float]:
    """How far (as a fraction) each flow's throughput at the bottleneck falls from its fair share
    (what one flow alone gets, over ``senders``), in every whole 50 us window from SETTLED_PS until
    the first flow is done."""
    receiver, chosen, _ = incast_cards(spec, senders)
    alone = bottleneck_shares(spec, chosen[:1], receiver, [8 << 20], window_ps=WINDOW_PS, seed=seed)
    capacity = max(alone.gbps(chosen[0], w) for w in range(1, len(alone.delivered[chosen[0]]) - 1))
    shares = bottleneck_shares(spec, chosen, receiver, [size] * senders, window_ps=WINDOW_PS, seed=seed)
    last = min(shares.finished_ps) // WINDOW_PS  # the window the first flow ends in is not whole
    windows = range(SETTLED_PS // WINDOW_PS, last)
    assert len(windows) >= 3, "too short a run to judge"
    fair = capacity / senders
    return [abs(shares.gbps(card, w) - fair) / fair for card in chosen for w in windows]


@settings(max_examples=max(2, settings.default.max_examples // 30), deadline=None)
@given(senders=st.integers(2, 6), seed=st.integers(0, 2**16))
def test_dcqcn_brings_flows_on_one_bottleneck_within_ten_percent_of_fair_share_after_50_us(senders, seed):
    """switched-64 as shipped (ConnectX DCQCN defaults, the switch's RoCE-mode ECN, PFC): N
    senders writing 16 MiB between them to one card share its NIC's link within 10% of a fair
    share in every 50 us window from 50 us until the first is done."""
    misses = _fair_share_misses(_switched(senders + 1), senders, (16 << 20) // senders, seed)
    assert max(misses) <= 0.10


def test_the_papers_40g_parameters_miss_fair_share_at_400g():
    """The check above can fail: with the DCQCN paper's 40 Gb/s parameters and its switch
    thresholds at 400 Gb/s, two flows stray beyond 10% of their fair share."""
    paper = {f"parameters.nic.dcqcn.{key}": value for key, value in {
        "cnp_interval": f"{DCQCN_PAPER.cnp_interval_ps}ps", "g": DCQCN_PAPER.g,
        "alpha_timer": f"{DCQCN_PAPER.alpha_timer_ps}ps", "rate_timer": f"{DCQCN_PAPER.rate_timer_ps}ps",
        "byte_counter": DCQCN_PAPER.byte_counter, "fast_recovery": DCQCN_PAPER.fast_recovery,
        "rate_ai": f"{DCQCN_PAPER.rate_ai_bps}bps", "rate_hai": f"{DCQCN_PAPER.rate_hai_bps}bps",
        "min_rate": f"{DCQCN_PAPER.min_rate_bps}bps", "rate_decrease_interval": "0ps",
        "clamp_target_always": True}.items()}
    paper |= {"parameters.ethernet_switch.ecn.kmin": "5KB", "parameters.ethernet_switch.ecn.kmax": "200KB"}
    misses = _fair_share_misses(_switched(3, **paper), 2, 16 << 20, 0)
    assert max(misses) > 0.10
