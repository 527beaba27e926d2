"""What the library sees of a fabric (routes, servers, meshes) and the channels it lays over
it: rings and paths that share no link, rails kept across servers, trees whose inner nodes in
one are leaves in the other."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from oisa.ccl import Topology
from oisa.ccl.channels import (
    disjoint_cycles,
    disjoint_paths,
    double_binary_tree,
    ring_orders,
    server_paths,
    tree,
    tree_count,
)
from oisa.errors import UsageError
from oisa.fabric import load_fabric

VALIDATION = Path(__file__).resolve().parents[2] / "validation"


def _arcs(order: tuple[int, ...], closed: bool) -> set[tuple[int, int]]:
    pairs = list(itertools.pairwise(order))
    return set(pairs + ([(order[-1], order[0])] if closed else []))


@pytest.mark.parametrize("n", [3, 5, 7, 8, 9, 12, 16, 17, 24])
def test_mesh_rings_share_no_link(n: int) -> None:
    cycles = disjoint_cycles(n)
    assert cycles and all(sorted(c) == list(range(n)) for c in cycles)
    seen: set[tuple[int, int]] = set()
    for cycle in cycles:
        arcs = _arcs(cycle, closed=True)
        assert len(arcs) == n and not arcs & seen
        seen |= arcs
    if n != 4 and n != 6 and n <= 16:
        assert len(cycles) == n - 1  # every link used


@pytest.mark.parametrize("n", [4, 6, 8, 10])
def test_server_paths_use_every_link_once_from_every_card(n: int) -> None:
    paths = disjoint_paths(n)
    assert len(paths) == n
    assert {p[0] for p in paths} == set(range(n)) and len({p[-1] for p in paths}) == n
    arcs = [arc for p in paths for arc in itertools.pairwise(p)]
    assert len(arcs) == len(set(arcs)) == n * (n - 1)
    assert server_paths(n, meshed=True) == paths


def test_switched_servers_rotate_their_order() -> None:
    assert server_paths(4, meshed=False) == ((0, 1, 2, 3), (1, 2, 3, 0), (2, 3, 0, 1), (3, 0, 1, 2))


def test_eight_card_mesh() -> None:
    topology = Topology(load_fabric(VALIDATION / "mi300x-8" / "mi300x-8.toml"), tuple(range(8)))
    assert topology.full_mesh and len(topology.server_groups) == 1
    route = topology.route(0, 5)
    assert route.kind == "direct" and len(route.loads) == 1 and route.stores and not route.network
    assert len(ring_orders(topology)) == 7
    assert tree_count(topology) == 8  # one chain from every card


def test_rail_rings_cross_between_cards_of_the_same_rail() -> None:
    spec = load_fabric(VALIDATION / "mi300x-2x8" / "mi300x-2x8.toml")
    topology = Topology(spec, tuple(range(16)))
    assert [len(g) for g in topology.server_groups] == [8, 8]
    assert topology.route(0, 8).network and not topology.route(0, 1).network
    for ring in ring_orders(topology):
        assert sorted(ring) == list(range(16))
        crossings = [(a, b) for a, b in _arcs(ring, closed=True) if topology.servers[a] != topology.servers[b]]
        assert len(crossings) == 2
        assert all(a % 8 == b % 8 for a, b in crossings)  # NIC to the NIC of the same rail


def test_double_binary_tree_leaves_and_inner_nodes_swap() -> None:
    for count in (2, 3, 4, 7, 8, 16):
        first, second = double_binary_tree(count)
        for parents in (first, second):
            assert parents.count(-1) == 1
            assert all(p == -1 or 0 <= p < count for p in parents)
        inner = [{p for p in parents if p >= 0} for parents in (first, second)]
        if count % 2 == 0 and count > 2:
            assert not inner[0] & inner[1]


def test_trees_span_every_rank() -> None:
    topology = Topology(load_fabric(VALIDATION / "mi300x-2x8" / "mi300x-2x8.toml"), tuple(range(16)))
    for channel in range(tree_count(topology)):
        shape = tree(topology, channel)
        reached, todo = set(), [shape.root]
        while todo:
            node = todo.pop()
            reached.add(node)
            todo.extend(shape.children[node])
        assert reached == set(range(16))
        assert shape.depth() == 7 + 1  # a chain of 8 in each server, one hop between the servers


def _link(a: int, b: int) -> str:
    return (f'[[links]]\nbetween = [{a}, {b}]\nkind = "oisa"\nlanes = {{ value = 4, assumption = "a test" }}\n'
            'lane_rate = { value = "200Gbps", assumption = "a test" }\n'
            'latency = { value = "100ns", assumption = "a test" }\n')


def test_an_unreachable_pair_is_a_usage_error(tmp_path: Path) -> None:
    cards = "".join(f'[[cards]]\nid = {i}\ndevice = "h100-like"\n' for i in range(3))
    path = tmp_path / "chain.toml"
    path.write_text('name = "chain"\ndescription = "cards do not forward"\n' + cards + _link(0, 1) + _link(1, 2))
    topology = Topology(load_fabric(path), (0, 1, 2))
    assert topology.route(0, 1).kind == "direct"
    with pytest.raises(UsageError, match="cannot reach"):
        topology.route(0, 2)
