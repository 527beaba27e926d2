"""Outages in the frame-level engines (issue 21, items 2 and 3): detection, rerouting, dead cards,
and what a collective does when ranks die."""

from __future__ import annotations

import pytest

from oisa.errors import CompletionTimeout, ConfigError, RankFailed, SimulationDeadlock, UsageError
from oisa.fabric import load_fabric
from oisa.fabric.outages import Failover, Outage, detection_ps, resolve
from oisa.plan import Plan, Send
from oisa.sim.faults import FaultModel
from oisa.transaction.requester import COMPLETION_TIMEOUT_PS, COMPLETION_TIMEOUT_VALUES, completion_timeout_range
from oisa.units import US, MiB
from oisa.workload import Run
from oisa.workload.collectives import run_collective
from oisa.workload.failures import read_outages
from oisa.workload.p2p import run_p2p
from oisa.workload.recovery import after

SUPERNODE = load_fabric("supernode-64")


@pytest.mark.parametrize("down_at", [300_000, 1_000_000])
def test_detection_time_is_when_the_link_layer_declares_the_link_down(down_at: int) -> None:
    """The link layer itself, its wire cut mid-transfer, goes FAILED about detection_ps later
    (within one replay timeout: the timer runs from the last flit sent, not from the cut)."""
    spec = load_fabric("pair")
    with pytest.raises(Exception) as caught:
        run_p2p(spec, Run(engine="data", faults=FaultModel(down_at=down_at)), size=MiB)
    message = str(caught.value)
    went_down = float(message.split("went down at ")[1].split(" us")[0]) * US
    elapsed = went_down - down_at  # (down_at counts from time 0, before pair's 0.21 us of link bring-up)
    assert abs(elapsed - detection_ps(spec.links[0])) < 300_000  # the README: within 0.3 us
    assert detection_ps(SUPERNODE.links[0]) == 5_329_920  # the README: 5.33 us on supernode-64's links


def _slopes(outages: tuple[Outage, ...]) -> tuple[float, float]:
    """Picoseconds per extra byte of a write, and of a read, between card 0 and card 4 (the
    difference of two sizes: the fixed costs, detection's included, cancel)."""
    small, large = (run_p2p(SUPERNODE, Run(engine="timing", outages=outages), src=0, dst=4, size=size)
                    for size in (8 * MiB, 24 * MiB))
    return ((large.write.time_ps - small.write.time_ps) / (16 * MiB),
            (large.read.time_ps - small.read.time_ps) / (16 * MiB))


@pytest.mark.parametrize("at", [0, 8 * US])
def test_a_lost_plane_leaves_seven_eighths_of_the_bandwidth(at: int) -> None:
    """Lost before the transfer or during it: once detected, the other seven planes carry it."""
    whole, lost = _slopes(()), _slopes((Outage("plane3", at),))
    assert whole[0] / lost[0] == pytest.approx(7 / 8, rel=0.02)
    assert whole[1] / lost[1] == pytest.approx(7 / 8, rel=0.02)


def test_a_link_down_training_to_one_lane_halves_it() -> None:
    """Every one of card 0's 2-lane links down to 1 lane: its writes and reads go at half the rate."""
    narrow = tuple(Outage(f"s0.gpu0->plane{plane}", 0, lanes=1) for plane in range(8))
    whole, half = _slopes(()), _slopes(narrow)
    assert whole[0] / half[0] == pytest.approx(1 / 2, rel=0.02)
    assert whole[1] / half[1] == pytest.approx(1 / 2, rel=0.02)


@pytest.mark.parametrize("engine", ["data", "timing"])
def test_a_plane_failing_mid_collective_is_routed_around_and_the_run_completes(engine: str) -> None:
    run = Run(engine=engine, outages=(Outage("plane3", 2 * US),))
    result = run_collective(SUPERNODE, "allreduce", run, size=256 * 1024, cards=[0, 1, 4, 5], algorithm="ring")
    assert result.verified is (True if engine == "data" else None)
    assert result.outages is not None
    [event] = result.outages["events"]
    assert event["failed_ps"] == 2 * US
    assert event["detected_ps"] == 2 * US + detection_ps(SUPERNODE.links[0])
    assert result.outages["resent"] > 0  # what went into the plane before detection left again


def test_data_and_timing_agree_under_a_plane_failure() -> None:
    times = [run_collective(SUPERNODE, "allreduce", Run(engine=engine, outages=(Outage("plane3", 2 * US),)),
                            size=256 * 1024, cards=[0, 1, 4, 5], algorithm="ring").time_ps
             for engine in ("data", "timing")]
    assert times[1] == pytest.approx(times[0], rel=0.02)


def test_after_detection_no_route_uses_the_failed_plane() -> None:
    from oisa.fabric import FIDELITIES, build
    from oisa.sim import Kernel

    kernel = Kernel(0)
    fabric = build(SUPERNODE, kernel, None, FIDELITIES["timing"])
    failover = Failover(fabric, (Outage("plane5", 0),))
    plane = next(s.id for s in SUPERNODE.switches if s.name == "plane5")

    async def idle(_: object = None) -> None:
        await fabric.bring_up()
        await kernel.sleep(2 * detection_ps(SUPERNODE.links[0]))

    kernel.run(idle)
    dead_ports = {id(port) for link in fabric.links if plane in (link.spec.a, link.spec.b) for port in link.ports}
    for node in [*fabric.cards.values(), *(f for f in fabric.forwarders.values() if f.node_id != plane)]:
        for ports in node.routes.values():
            assert ports and not any(id(port) in dead_ports for port in ports)
    assert plane in failover.down_nodes


@pytest.mark.parametrize("engine", ["data", "timing"])
def test_a_request_to_a_dead_card_ends_in_a_completion_timeout(engine: str) -> None:
    with pytest.raises(CompletionTimeout) as caught:
        run_p2p(SUPERNODE, Run(engine=engine, outages=(Outage("s1.gpu0", 0),)), src=0, dst=4, size=64 * 1024)
    timeout = caught.value
    assert (timeout.requester, timeout.peer, timeout.failed) == (0, 4, (4,))
    # the write's first request went out at once: it failed one completion timeout later
    assert COMPLETION_TIMEOUT_PS <= timeout.at_ps < COMPLETION_TIMEOUT_PS + 10 * US
    assert "completion timeout" in str(timeout)


def test_the_completion_timeout_is_one_pcie_allows() -> None:
    assert completion_timeout_range(COMPLETION_TIMEOUT_PS) == [(0b0000, "default"), (0b0101, "B")]  # 50 ms
    assert completion_timeout_range(5 * 10**9) == [(0b0000, "default"), (0b0010, "A")]  # 5 ms
    assert completion_timeout_range(2 * 10**12) == [(0b1010, "C")]  # 2 s
    assert {name for name, _, _ in COMPLETION_TIMEOUT_VALUES.values()} == {"default", "A", "B", "C", "D"}
    with pytest.raises(ValueError, match="none of PCIe's ranges"):
        completion_timeout_range(10 * US)


def test_a_deadlock_report_names_who_waits_for_what() -> None:
    """A dead card's sends never land: the receiver waits for ever, and the report says so."""
    from oisa.workload.engines import ENGINES

    plan = Plan((Send(rank=4, peer=0, size=4096, local=0, remote=0x10000),))
    run = Run(engine="data", outages=(Outage("s1.gpu0", 0),))
    with pytest.raises(SimulationDeadlock, match=r"operation 0: send of 4096 B from card 4 waiting for them to land "
                                                 r"at card 0 \(0x10000\)"):
        ENGINES["data"].run_plan(SUPERNODE, run, plan)


@pytest.mark.parametrize("engine", ["data", "timing"])
def test_a_collective_with_dead_ranks_aborts_naming_them(engine: str) -> None:
    outages = (Outage("s1.gpu0", 3 * US), Outage("s2.gpu1", 4 * US))
    with pytest.raises(RankFailed) as caught:
        run_collective(SUPERNODE, "allreduce", Run(engine=engine, outages=outages), size=64 * 1024,
                       cards=[0, 1, 4, 5, 8, 9])
    failed = caught.value
    assert (failed.ranks, failed.cards) == ((2, 5), (4, 9))
    assert COMPLETION_TIMEOUT_PS <= failed.detected_ps < COMPLETION_TIMEOUT_PS + 10 * US
    assert set(failed.incomplete) == set(range(6))  # an all-reduce: no rank's result is whole


def test_a_collective_shrinks_to_the_survivors_and_completes_with_numpys_result() -> None:
    result = run_collective(SUPERNODE, "allreduce", Run(engine="data", outages=(Outage("s1.gpu0", 3 * US),)),
                            size=64 * 1024, cards=[0, 1, 4, 5], on_failure="shrink")
    assert result.ranks == (0, 1, 5) and result.failed_cards == (4,)
    assert result.verified is True
    assert result.detected_ps is not None and result.time_ps > result.detected_ps


def test_a_rooted_collective_whose_root_died_cannot_shrink() -> None:
    with pytest.raises(RankFailed, match="card 4"):
        run_collective(SUPERNODE, "broadcast", Run(engine="timing", outages=(Outage("s1.gpu0", 0),)),
                       size=64 * 1024, cards=[0, 4, 5], root=1, on_failure="shrink")


def test_outages_shift_to_a_retry() -> None:
    outages = (Outage("plane1", 10, repair_ps=50), Outage("plane2", 100), Outage("plane3", 5, repair_ps=20))
    assert after(outages, 30) == (Outage("plane1", 0, repair_ps=20), Outage("plane2", 70))


def test_bad_outages_are_refused_naming_them(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(UsageError, match="no node 'plane9'"):
        resolve(SUPERNODE, Outage("plane9", 0))
    with pytest.raises(UsageError, match="no link"):
        resolve(SUPERNODE, Outage("s0.gpu0->s0.gpu1", 0))
    with pytest.raises(UsageError, match="has 2 lanes"):
        resolve(SUPERNODE, Outage("s0.gpu0->plane1", 0, lanes=2))
    with pytest.raises(UsageError, match="lost its memory"):
        resolve(SUPERNODE, Outage("s0.gpu0", 0, repair_ps=5))
    with pytest.raises(UsageError, match="not after the failure"):
        Outage("plane1", 10, repair_ps=10)
    with pytest.raises(UsageError, match="oisa scenario failures"):
        run_collective(SUPERNODE, "allreduce", Run(engine="flow", outages=(Outage("plane1", 0),)))
    cases = {
        '[[outage]]\ncomponent = "plane1"\n': "outage[0]: an outage needs component and at",
        '[[outage]]\ncomponent = "plane1"\nat = "-2us"\n': "outage[0].at",
        '[[outage]]\ncomponent = "plane1"\nat = "2us"\nrepair = "1us"\n': "outage[0]: plane1: the repair",
        '[[outage]]\ncomponent = "plane1"\nat = "2us"\nwhen = 3\n': "outage[0].when: unknown key",
        '[rates.card]\nmtbf = "5h"\n': "rates: unknown table",
        '[[outage]]\ncomponent = "plane1"\nat = true\n': "outage[0].at: True",
    }
    for text, error in cases.items():
        path = tmp_path / "outages.toml"
        path.write_text(text)
        with pytest.raises(ConfigError, match=error.replace("[", r"\[").replace("]", r"\]")):
            read_outages(path)


def test_outage_json_keys_are_exactly_the_documented_ones() -> None:
    from oisa.report import collective_json
    from tests.test_specs import documented_keys, flatten

    plain = run_collective(SUPERNODE, "allreduce", Run(engine="timing"), size=4096, cards=[0, 1])
    hit = run_collective(SUPERNODE, "allreduce", Run(engine="timing", outages=(Outage("plane1", 0),)), size=4096,
                         cards=[0, 1])
    assert flatten(collective_json(hit)) - flatten(collective_json(plain)) == documented_keys(
        "`oisa run --outages FILE`")


def test_a_p2p_run_reports_its_outages() -> None:
    from oisa.report import p2p_json, p2p_text

    result = run_p2p(SUPERNODE, Run(engine="timing", outages=(Outage("plane3", 0),)), src=0, dst=4, size=64 * 1024)
    assert set(p2p_json(result)["outages"]) == {"events", "resent", "failed_cards", "dropped_at_failed_cards"}
    assert "shrunk" not in p2p_json(result)
    assert "plane3 (switch): failed at 0 ps, detected at 5.330 us" in p2p_text(result)
