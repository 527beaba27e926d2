"""ECMP by a seeded hash of the RoCEv2 5-tuple: flows collide as in life; spraying balances."""

from __future__ import annotations

from dataclasses import replace

from oisa.fabric import FabricSpec, load_fabric
from oisa.fabric.ecmp import ROCE_UDP_PORT, flow_hash, udp_source_port
from oisa.wire.oisa import Message, Opcode
from oisa.workload.incast import run_traffic
from oisa.workload.run import Run


def two_leaves(pairs: int, uplinks: int, ecmp: str = "hash") -> tuple[FabricSpec, list[tuple[int, int]]]:
    """``pairs`` cards on one leaf each writing to a card on a second leaf, the leaves joined by
    ``uplinks`` equal links."""
    spec = load_fabric("switched-64", {"servers": 2 * pairs, "cards_per_server": 1, "devices": ["mi300x-like"]},
                       overrides={"parameters.ethernet_switch.ecmp.mode": ecmp})
    leaf = spec.switches[-1]
    second = replace(leaf, id=leaf.id + 1, name="leaf2")
    cards = [card.id for card in spec.cards if card.device.role == "accelerator"]
    far = {nic.id for nic in spec.nics if nic.card in cards[pairs:]}
    links = []
    for link in spec.links:
        nic = link.a if link.b == leaf.id else None
        links.append(replace(link, b=second.id) if nic in far else link)
    trunk = next(link for link in spec.links if link.b == leaf.id)
    links += [replace(trunk, a=leaf.id, b=second.id) for _ in range(uplinks)]
    spec = replace(spec, switches=(*spec.switches, second), links=tuple(links)).check()
    return spec, list(zip(cards[:pairs], cards[pairs:], strict=True))


def _slowest(spec: FabricSpec, pairs: list[tuple[int, int]], seed: int) -> int:
    run = Run(engine="timing", seed=seed).settled("timing", allowed=("timing",), workload="ecmp")
    return run_traffic(spec, run, [(a, b, 1 << 20) for a, b in pairs], victim=None, pattern="ecmp").flows.last_ps


def test_the_udp_source_port_is_in_the_dynamic_range_and_the_hash_depends_on_the_seed():
    port = udp_source_port(3, 9)
    assert 49152 <= port <= 65535 and ROCE_UDP_PORT == 4791
    message = Message(Opcode.DMA_WR, 3, 9, length=4096)
    assert flow_hash(message, 1) == flow_hash(message, 1)
    assert len({flow_hash(message, seed) % 4 for seed in range(32)}) == 4


def test_hashed_flows_collide_on_some_seeds_and_spraying_never_does():
    spec, pairs = two_leaves(4, 2)
    hashed = [_slowest(spec, pairs, seed) for seed in range(6)]
    sprayed, pairs = two_leaves(4, 2, "spray")
    spray = _slowest(sprayed, pairs, 0)
    # balanced, two flows share each uplink; a collision puts three or four on one and takes 1.5x-2x
    assert min(hashed) < 1.2 * spray
    assert max(hashed) > 1.4 * spray, hashed
    assert _slowest(spec, pairs, 3) == hashed[3]  # a seed fixes the paths
