"""Clusters: the catalog's counts, refusals that name the switch and the count, a size estimate
checked before anything is built, and routes from the structure equal to routes searched on the
graph, transfer by transfer."""

from pathlib import Path

import numpy as np
import pytest

from oisa.errors import ConfigError, UsageError
from oisa.fabric import LinkKind, load_fabric
from oisa.fabric.clos import ClusterRoutes, mix
from oisa.fabric.routes import GraphRoutes, Spread, routes_of
from oisa.fabric.routing import _mix, next_hops

SMALL = Path(__file__).parent.parent / "data" / "fabrics" / "cluster-small.toml"
FIGURE = {"value": "50ns", "assumption": "test"}
PCIE_LINK = {"kind": "pcie", "lanes": {"value": 16, "assumption": "test"}, "latency": FIGURE,
             "lane_rate": {"value": "32Gbps", "assumption": "test"}, "encoding": "128b/130b"}
OISA_LINK = {"lanes": {"value": 2, "assumption": "test"}, "lane_rate": {"value": "200Gbps", "assumption": "test"},
             "latency": FIGURE}
VARIANTS = {
    "planes, 3 tiers": {},
    "mesh, 3 tiers": {"scale_up": {"kind": "mesh", "link": OISA_LINK}},
    "pcie, 3 tiers": {"servers_per_domain": 1, "scale_up": {"kind": "pcie", "link": PCIE_LINK, "switch": {
        "kind": "pcie", "ports": 8, "latency": {"value": "105ns", "assumption": "test"}}}},
}


def small(name: str):
    return load_fabric(SMALL, parameters=VARIANTS[name] or None)


def two_tier():
    spec = load_fabric(SMALL)
    import tomllib
    scale_out = tomllib.loads(SMALL.read_text())["parameters"]["scale_out"]
    for key in ("servers_per_pod", "spine_uplinks", "cores", "core"):
        del scale_out[key]
    scale_out.update(tiers=2, spine={**scale_out["spine"], "ports": 64})
    return load_fabric(SMALL, parameters={"scale_out": scale_out}), spec


@pytest.mark.parametrize(("name", "cards", "switches", "nics", "links"), [
    ("cluster-1k-switched", 1024, 128 * 4 + 16 + 8, 1024, 1024 * 4 + 1024 * 2 + 16 * 64),
    ("supernode-1024", 1024, 8, 0, 1024 * 8),
])
def test_catalog_clusters_have_the_counts_their_files_describe(name, cards, switches, nics, links):
    spec = load_fabric(name)
    assert (len(spec.cards), len(spec.switches), len(spec.nics), len(spec.links)) == (cards, switches, nics, links)
    assert isinstance(routes_of(spec), ClusterRoutes)


def test_the_ten_thousand_card_clusters_build_with_three_tiers():
    switched, supernode = load_fabric("cluster-10k-switched"), load_fabric("cluster-10k-supernode")
    for spec, rails in ((switched, 8), (supernode, 4)):
        assert len(spec.cards) == 10240 and len(spec.nics) == 10240
        names = [s.name for s in spec.switches]
        assert sum(n.startswith("core") for n in names) == 128
        assert sum(".leaf" in n for n in names) == 10240 // 64
        assert {n.split(".")[0] for n in names if ".leaf" in n} == {f"r{r}" for r in range(rails)}
    assert sum(s.kind is LinkKind.OISA for s in supernode.switches) == 80 * 8


def test_a_switch_short_of_ports_is_refused_naming_it_and_the_count():
    with pytest.raises(ConfigError, match=r"scale_out\.spine\.ports: switch pod0\.spine0 needs 20 ports "
                                          r"\(16 links down to 8 leaves and 4 up to the cores\); it has 12"):
        load_fabric(SMALL, parameters={"scale_out": {**_scale_out(), "spine": {**_scale_out()["spine"], "ports": 12}}})
    with pytest.raises(ConfigError, match=r"switch d0\.sw0 needs 4 ports for the 4 cards of its domain; it has 3"):
        load_fabric(SMALL, parameters={"scale_up": {**_scale_up(), "switch": {**_scale_up()["switch"], "ports": 3}}})


def _scale_out():
    import tomllib
    return tomllib.loads(SMALL.read_text())["parameters"]["scale_out"]


def _scale_up():
    import tomllib
    return tomllib.loads(SMALL.read_text())["parameters"]["scale_up"]


@pytest.mark.parametrize(("parameters", "message"), [
    ({"servers_per_domain": 3}, r"servers_per_domain \(3\) must divide servers \(16\)"),
    ({"scale_out": {**_scale_out(), "spines": 3}}, r"spines \(3\) must divide uplinks \(4\)"),
    ({"scale_out": {}}, "8 scale-up domains need a scale-out network"),
])
def test_counts_that_do_not_divide_are_refused_by_key(parameters, message):
    with pytest.raises(ConfigError, match=message):
        load_fabric(SMALL, parameters=parameters)


def test_a_cluster_too_large_for_the_memory_is_refused_before_it_is_built():
    with pytest.raises(ConfigError, match=r"would take about .* GiB to build \(2,593,024 nodes, 8,192,000 links\), "
                                          r"more than the 1\.0 GiB it may take"):
        load_fabric("cluster-100k-switched", parameters={"servers": 128000}, memory_limit=2**30)


def test_the_hash_is_the_frame_engines_hash():
    src, dst = np.array([0, 5, 2**40, 7]), np.array([1, 3, 9, 2**20])
    assert mix(src, dst, 11).tolist() == [_mix(int(s), int(d), 0, 11) for s, d in zip(src, dst)]


@pytest.mark.parametrize("name", list(VARIANTS))
def test_structured_routes_load_the_links_a_graph_search_finds(name):
    """Every transfer between every pair, hashed, sprayed and pinned: the same links with the
    same shares, and the same slowest path; sprayed traffic loads each group of Clos links as a
    whole, as the graph search's even split over that group amounts to."""
    _same_routes(small(name))


def test_structured_routes_of_two_tiers_match_the_graph_too():
    _same_routes(two_tier()[0])


def _same_routes(spec):
    structured, searched = routes_of(spec), GraphRoutes(spec)
    cards = len(spec.cards)
    src, dst = np.divmod(np.arange(cards * cards), cards)
    keep = src != dst
    src, dst = src[keep], dst[keep]
    links = 2 * len(spec.links)
    for spread in Spread:
        for pinned in (-1, 1):
            mine, theirs = structured.routes(src, dst, spread, pinned, 3), searched.routes(src, dst, spread, pinned, 3)
            assert [structured.paths[p] for p in mine.path] == [searched.paths[p] for p in theirs.path]
            for flow in range(len(src)):
                own = {int(r): s for r, s in zip(mine.resource[mine.flow == flow], mine.share[mine.flow == flow])}
                found = {int(r): s for r, s in zip(theirs.resource[theirs.flow == flow],
                                                   theirs.share[theirs.flow == flow])}
                links_only = {r: s for r, s in own.items() if r < links}
                aggregates = [r for r in own if r >= links]
                if spread is Spread.SPRAY:
                    inside = {r: s for r, s in found.items() if r not in links_only}
                    assert {r: found[r] for r in links_only} == pytest.approx(links_only)
                    assert sum(inside.values()) == pytest.approx(len(aggregates) if inside else 0)
                else:
                    assert links_only == pytest.approx(found)


def test_graph_routes_take_the_links_the_frame_engines_next_hops_allow():
    spec = small("pcie, 3 tiers")
    hops = next_hops(spec)
    searched = GraphRoutes(spec)
    batch = searched.routes(np.array([0, 3]), np.array([31, 20]), Spread.SPRAY, -1, 0)
    for flow, (src, dst) in enumerate(((0, 31), (3, 20))):
        used = {int(r) for r in batch.resource[batch.flow == flow]}
        for resource in used:  # every link a share crosses leaves a node along a next hop towards dst
            link = spec.links[resource // 2]
            node = link.a if resource % 2 == 0 else link.b
            assert resource // 2 in hops[node][dst]
        assert any(spec.links[r // 2].a == src or spec.links[r // 2].b == src for r in used)


def test_routes_to_a_domains_switch_planes_match_the_graph_and_other_domains_are_refused():
    """Where an in-switch reduction's contributions go up and its results come down."""
    spec = small("planes, 3 tiers")
    planes = [s.id for s in spec.switches if s.kind is LinkKind.OISA]
    structured, searched = routes_of(spec), GraphRoutes(spec)
    cards, switches = np.array([0, 1, 2, 3, 4]), np.array([planes[0], planes[1], planes[0], planes[1], planes[2]])
    for src, dst in ((cards, switches), (switches, cards)):
        mine, theirs = structured.routes(src, dst, Spread.SPRAY, -1, 0), searched.routes(src, dst, Spread.SPRAY, -1, 0)
        assert mine.resource.tolist() == theirs.resource.tolist()
        assert [structured.paths[p] for p in mine.path] == [searched.paths[p] for p in theirs.path]
    with pytest.raises(UsageError, match=f"card 0 is not on switch {planes[2]}"):
        structured.routes(np.array([0]), np.array([planes[2]]), Spread.SPRAY, -1, 0)
