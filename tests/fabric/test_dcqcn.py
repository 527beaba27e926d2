"""RoCE NICs: DCQCN's reaction to CNPs, and go-back-N delivering every byte when switches drop."""

from __future__ import annotations

import pytest

from oisa.fabric import load_fabric
from oisa.fabric.dcqcn import RoceNic, _Flow
from oisa.fabric.ethernet_config import DCQCN_PAPER, DcqcnConfig
from oisa.fabric.roce import RoceDomain
from oisa.sim import Kernel
from oisa.sim.ethernet import EthernetPort
from oisa.workload.incast import incast_cards, run_traffic
from oisa.workload.run import Run

LINE = 400_000_000_000


def _nic(config: DcqcnConfig | None = None) -> RoceNic:
    kernel = Kernel(0)
    port = EthernetPort(kernel, rate_bps=LINE, latency_ps=0, framing=lambda m: (1, 100), head_bytes=64, name="p",
                        mtu=4096)
    return RoceNic(kernel, port, config or DcqcnConfig(), RoceDomain(), reliable=False)


def test_a_cnp_cuts_the_rate_by_half_alpha_and_fast_recovery_halves_the_distance_back():
    nic = _nic(DCQCN_PAPER)
    flow = _Flow(LINE)
    nic._cut(flow)  # alpha starts at 1: the rate halves
    assert flow.rate_bps == pytest.approx(LINE / 2)
    assert flow.target_bps == LINE
    assert flow.alpha == pytest.approx(1.0)  # (1 - g) * 1 + g
    flow.timer_rounds = 1
    nic._increase(flow)
    assert flow.rate_bps == pytest.approx(LINE * 3 / 4)
    nic._cut(flow)
    assert flow.rate_bps == pytest.approx(LINE * 3 / 8)  # alpha still near 1 after a second CNP
    assert flow.target_bps == pytest.approx(LINE * 3 / 4)


def test_additive_then_hyper_increase_raise_the_target_after_fast_recovery():
    config = DCQCN_PAPER
    nic = _nic(config)
    flow = _Flow(LINE)
    nic._cut(flow)
    nic._cut(flow)
    target = flow.target_bps
    flow.timer_rounds = config.fast_recovery + 1
    nic._increase(flow)
    assert flow.target_bps == pytest.approx(target + config.rate_ai_bps)
    flow.byte_rounds = config.fast_recovery + 2
    flow.timer_rounds = config.fast_recovery + 3
    before = flow.target_bps
    nic._increase(flow)
    assert flow.target_bps == pytest.approx(before + 2 * config.rate_hai_bps)


def _incast(overrides: dict[str, object], *, engine: str = "timing", size: int = 1 << 20, senders: int = 4):
    spec = load_fabric("switched-64", {"servers": senders + 1, "cards_per_server": 1, "devices": ["mi300x-like"]},
                       overrides=overrides)
    receiver, chosen, _ = incast_cards(spec, senders)
    run = Run(engine=engine).settled(engine, allowed=(engine,), workload="incast")
    return run_traffic(spec, run, [(s, receiver, size) for s in chosen], victim=None, pattern="incast")


def test_connectx_cuts_at_most_once_per_interval_and_keeps_the_target_through_a_burst_of_cnps():
    """As ConnectX firmware runs DCQCN: a second CNP within rate_reduce_monitor_period waits for
    it to pass; cuts with no increase between them leave the target where it was; a cut after an
    increase clamps the target to the current rate."""
    config = DcqcnConfig()
    nic = _nic(config)
    flow = _Flow(LINE)
    seen = {}

    async def scenario() -> None:
        nic._congestion_notified(flow)
        seen["first"] = (flow.rate_bps, flow.target_bps)
        nic._congestion_notified(flow)  # within the interval: it waits
        seen["waiting"] = (nic.counters.rate_cuts, flow.cut_pending)
        await nic.kernel.sleep(config.rate_decrease_interval_ps)
        seen["second"] = (nic.counters.rate_cuts, flow.target_bps)
        nic._increase(flow)
        seen["raised"] = flow.rate_bps
        await nic.kernel.sleep(config.rate_decrease_interval_ps)
        nic._congestion_notified(flow)
        seen["clamped"] = flow.target_bps

    nic.kernel.run(scenario)
    assert seen["first"] == (pytest.approx(LINE / 2), LINE)
    assert seen["waiting"] == (1, True)
    assert seen["second"] == (2, LINE)  # no increase between the cuts: the target stays
    assert seen["clamped"] == pytest.approx(seen["raised"])  # raised since the last cut: the target clamps


def test_alpha_rises_in_a_period_with_a_cnp_and_decays_in_one_without():
    config = DcqcnConfig()
    nic = _nic(config)
    flow = _Flow(LINE)
    nic._congestion_notified(flow)
    flow.alpha = 0.5
    flow.cnp_in_period = True
    nic._alpha_timer(flow)
    assert flow.alpha == pytest.approx(0.5 * (1 - config.g) + config.g)
    nic._alpha_timer(flow)
    assert flow.alpha == pytest.approx((0.5 * (1 - config.g) + config.g) * (1 - config.g))


def test_dcqcn_answers_marks_with_cnps_and_cuts_the_senders_rates():
    result = _incast({}, senders=6)
    assert result.counters["ecn_marks"] > 0
    assert result.counters["cnps"] > 0
    assert result.counters["drops"] == 0


def test_with_dcqcn_turned_off_marks_bring_no_cnps():
    result = _incast({"parameters.nic.dcqcn.enabled": False})
    assert result.counters["ecn_marks"] > 0
    assert result.counters["cnps"] == 0


SHALLOW = {"parameters.ethernet_switch.pfc.enabled": False, "parameters.ethernet_switch.buffer.total": "256KiB",
           "parameters.ethernet_switch.ecn.kmin": "5KiB", "parameters.ethernet_switch.ecn.kmax": "100KiB"}


def test_without_pfc_a_shallow_buffer_drops_and_go_back_n_delivers_every_byte():
    result = _incast(SHALLOW, engine="data", size=256 << 10)
    assert result.counters["drops"] > 0
    assert result.counters["retransmits"] >= result.counters["drops"]
    assert result.checked is True


def test_without_pfc_timing_mode_recovers_too():
    result = _incast(SHALLOW, size=1 << 20)
    assert result.counters["drops"] > 0 and result.counters["pauses_sent"] == 0
    assert len(result.flows.times_ps) == 4


def test_the_dcqcn_benchmark_groups_windows_by_active_flows_and_measures_them(load_benchmark, capsys):
    """benchmarks/dcqcn.py, run small: one flow alone uses the link whole and fairly; with more,
    each phase's row has its windows, its use of the link and its Jain index."""
    bench = load_benchmark("dcqcn")
    assert bench.main(["--size", "8MiB", "--join", "60", "--sets", "connectx"]) == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines()[2:]]
    assert rows and all(row[0] == "connectx" and row[1] in ("joining", "leaving") for row in rows)
    alone = next(row for row in rows if row[1] == "joining" and row[2] == "1")
    assert float(alone[4].rstrip("%")) > 95 and float(alone[5]) == 1.0
    assert any(int(row[2]) == 4 for row in rows)
    with pytest.raises(SystemExit):
        bench.main(["--sets", "nonesuch"])
