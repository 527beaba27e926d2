"""PCIe links with flow-control credits: a NIC takes in only what it can send (oisa.sim.credited)."""

from __future__ import annotations

import pytest

from oisa.fabric import Fabric, load_fabric
from oisa.plan import PlanBuilder, Send
from oisa.sim.credited import CreditedFramePort
from oisa.sim.ethernet import EthernetPort
from oisa.units import MiB
from oisa.workload.collectives import run_collective
from oisa.workload.engines import ENGINES, _plan_run
from oisa.workload.run import Run


def _sends(engine: str, size: int, pairs: list[tuple[int, int]]) -> Fabric:
    """On switched-64 (cards 0-3 in the first server, 4-7 in the second), each (source,
    destination) pair writes ``size`` bytes, all at once; the fabric as the run left it."""
    spec = load_fabric("switched-64")
    builder = PlanBuilder()
    for index, (source, destination) in enumerate(pairs):
        builder.add(Send(rank=source, peer=destination, size=size, local=0, remote=index * size))
    plan = builder.build()
    run = Run(engine=engine).settled(engine, allowed=(engine,), workload="sends")

    async def work(fabric: Fabric, run: Run) -> Fabric:
        await _plan_run(fabric, run, plan, None, None)
        return fabric

    return ENGINES[engine].execute(spec, run, work)


def test_traffic_both_ways_through_a_nic_is_as_fast_as_one_way():
    # A Gen5 x16 link (63 GB/s) feeds a 400G NIC (50 GB/s): without credits the NIC's queue grew
    # through the copy and the other direction's flags waited behind it (1.43x at 16 MiB).
    times = {collective: run_collective(load_fabric("switched-64"), collective, Run(engine="timing"), size=16 * MiB,
                                        cards=[0, 4], algorithm="direct", protocol="simple", channels=1).time_ps
             for collective in ("sendrecv", "broadcast")}
    assert times["sendrecv"] <= 1.03 * times["broadcast"], times


@pytest.mark.parametrize("engine", ["data", "timing"])
def test_a_nic_holds_no_more_than_its_pcie_buffer_and_every_credit_comes_back(engine):
    fabric = _sends(engine, 2 * MiB, [(0, 4), (4, 0)])
    credited = [port for link in fabric.links for port in link.ports if isinstance(port, CreditedFramePort)]
    assert credited
    for port in credited:  # all sent, all freed: each end holds again all the credits its peer advertised
        assert port.peer is not None
        assert port.available == port.peer.buffer.limits(), port.name
    nic_ids = {nic.id for nic in fabric.spec.nics if nic.card in (0, 4)}
    for link in fabric.links:
        for node, port in ((link.spec.a, link.a), (link.spec.b, link.b)):
            if node not in nic_ids or not isinstance(port, EthernetPort):
                continue
            pcie = next(p for p in fabric.forwarders[node].ports if isinstance(p, CreditedFramePort))
            advertised = pcie.buffer.posted_data * 16 + pcie.buffer.non_posted_data * 16
            # a segment may go while the one before it is still owed, and takes all its own credits:
            # at most two segments beyond the buffer (oisa/sim/credited.py)
            segments = 2 * 64 * 1024 if engine == "timing" else 0
            assert 0 < port.max_queue_bytes <= advertised + segments, port.name


def test_a_nic_whose_pcie_side_is_congested_pauses_its_switch_port_and_resumes_it():
    # card 4 takes in from its NIC (card 0's data) and from cards 5-7 over its server's PCIe
    # switch at once: its PCIe link, not the Ethernet, is the bottleneck, so the NIC's receive
    # buffer fills and it pauses the leaf (a "slow receiver"), which holds card 0's data instead
    fabric = _sends("timing", 4 * MiB, [(0, 4), (5, 4), (6, 4), (7, 4)])
    nic = next(nic.id for nic in fabric.spec.nics if nic.card == 4)
    ports = [port for link in fabric.links for node, port in ((link.spec.a, link.a), (link.spec.b, link.b))
             if node == nic and isinstance(port, EthernetPort)]
    assert len(ports) == 1
    port = ports[0]
    assert port.pauses_sent > 0
    peer = port.peer
    assert isinstance(peer, EthernetPort) and peer.pauses_received == port.pauses_sent
    assert port.held_bytes == [0] * 8 and not any(peer.paused)
