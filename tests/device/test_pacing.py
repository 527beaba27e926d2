"""A card's DMA engines issue only as far ahead of the wire as its port's transmit queue allows,
so a core's stores (a protocol's flags and credits) never wait behind a whole copy."""

import pytest

from oisa.device.card import TRANSMIT_QUEUE_BYTES
from oisa.fabric import load_fabric
from oisa.fabric.build import FIDELITIES, build
from oisa.sim import Kernel, Port
from oisa.units import MiB, serialisation_ps
from oisa.workload import Run
from oisa.workload.collectives import run_collective

SWITCHED = load_fabric("switched-64")


CALL = {"size": 2 * MiB, "cards": [0, 4], "algorithm": "direct", "protocol": "simple", "channels": 1}


def test_data_both_ways_across_servers_takes_what_one_way_takes():
    """A two-card send/receive across servers moves data both ways through the same NICs and
    PCIe links, which carry each direction on wires of their own: it takes what a broadcast, one
    way, takes (before the engines held DMA back, each step's credit queued behind the card's
    whole outgoing copy and both ways took 28% longer), and what the flow engine, which prices
    links as full duplex, gives."""
    both = run_collective(SWITCHED, "sendrecv", Run(engine="timing"), **CALL)
    one = run_collective(SWITCHED, "broadcast", Run(engine="timing"), **CALL)
    flow = run_collective(SWITCHED, "sendrecv", Run(engine="flow"), **CALL)
    assert both.time_ps == pytest.approx(one.time_ps, rel=0.02)
    assert both.time_ps == pytest.approx(flow.time_ps, rel=0.03)


def test_data_mode_holds_dma_back_as_timing_mode_does():
    data = run_collective(SWITCHED, "sendrecv", Run(engine="data"), **CALL)
    timing = run_collective(SWITCHED, "sendrecv", Run(engine="timing"), **CALL)
    assert data.time_ps == pytest.approx(timing.time_ps, rel=0.01)


@pytest.mark.parametrize("engine", ["data", "timing"])
def test_a_store_waits_behind_at_most_the_transmit_queue_of_a_copy_under_way(engine):
    behind, port = _store_time(engine, behind_copy=True)
    alone, _ = _store_time(engine, behind_copy=False)
    queue = serialisation_ps(int(TRANSMIT_QUEUE_BYTES.value), port.rate_bps)
    # behind at most the transmit queue and the one request in flight beyond it
    assert alone < behind <= alone + queue + serialisation_ps(64 * 1024, port.rate_bps)


def _store_time(engine: str, *, behind_copy: bool) -> tuple[int, Port]:
    """How long a 64 B store from card 0 takes to land in card 1, 1 us after card 0 started a
    4 MiB copy to card 4 (or on an idle fabric), and card 0's port."""
    kernel, fabric = _switched(engine)
    took: list[int] = []

    async def main():
        fabric.start()
        sender = fabric.card(0)
        copy = sender.post_write(4, 0, 0, 4 * MiB) if behind_copy else None
        await kernel.sleep(1_000_000)  # 1 us in: the copy streams
        start = kernel.now
        landed = fabric.card(1).watch(0, 64)
        sender.store(1, 0, 0, 64)
        await landed.wait()
        took.append(kernel.now - start)
        if copy is not None:
            await copy.wait()

    kernel.run(main)
    return took[0], fabric.card(0).ports[0]


@pytest.mark.parametrize("engine", ["data", "timing"])
def test_a_read_held_behind_a_copy_times_out_from_when_it_goes_out(engine, monkeypatch):
    """A read queued behind 4 MiB of the same card's posted writes, which it may not pass, waits
    about 84 us in the DMA engines before it reaches the wire. PCIe times a completion from
    transmission: with a 20 us completion timeout the read still completes (it timed out while
    held when the clock started at the engine)."""
    from oisa.device import timing
    from oisa.transaction.requester import Requester

    timeout_ps = 20_000_000
    monkeypatch.setattr(timing, "COMPLETION_TIMEOUT_PS", timeout_ps)
    monkeypatch.setitem(Requester.__init__.__kwdefaults__, "completion_timeout_ps", timeout_ps)
    kernel, fabric = _switched(engine)
    done: dict[str, object] = {}

    async def main():
        fabric.start()
        sender = fabric.card(0)
        copy = sender.post_write(4, 0, 0, 4 * MiB)
        read = sender.post_read(4, 8 * MiB, 8 * MiB, 256)
        done["read"] = await read.wait()
        done["read_at"] = kernel.now
        await copy.wait()

    kernel.run(main)
    read = done["read"]
    assert read.ok and not read.timed_out, read.error
    assert done["read_at"] > 3 * timeout_ps  # it did wait behind the copy, well past the timeout


def _switched(engine):
    """A fresh switched-64 for ``engine``, and its kernel."""
    kernel = Kernel(seed=0)
    return kernel, build(SWITCHED, kernel, None, FIDELITIES[engine])
