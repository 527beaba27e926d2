"""Fabric files: every mistake names the element and the file; the catalog builds as documented."""

import pytest

from oisa.errors import ConfigError
from oisa.fabric import LinkKind, load_fabric

FIGURES = ('lanes = { value = 1, source = "s" }\nlane_rate = { value = "1Gbps", source = "s" }\n'
           'latency = { value = "1ns", source = "s" }\n')


def fabric_file(tmp_path, body):
    path = tmp_path / "f.toml"
    path.write_text('name = "f"\ndescription = "d"\n' + body)
    return path


def cards(*ids, device="h100-like"):
    return "".join(f'[[cards]]\nid = {i}\ndevice = "{device}"\n' for i in ids)


def link(a, b, extra=""):
    return f"[[links]]\nbetween = [{a}, {b}]\n{extra}{FIGURES}"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (cards(0, 1) + link(0, 7), r"links\[0\]\.between: node 7 is not a card, switch or NIC"),
        (cards(0, 1) + link(0, 0), "two different nodes"),
        (cards(0, 1, 2) + link(0, 1), "not connected: card2 cannot reach card0"),
        (cards(0, 1, 2) + link(0, 1, "ports = [3, 0]\n") + link(0, 2, "ports = [3, 0]\n"),
         r"port 3 of card0 is used by links\[0\] and links\[1\]"),
        ('[[cards]]\nid = 0\ndevice = "abacus"\n', r"cards\[0\]\.device: device 'abacus'"),
        (cards(0, 0), "node id 0 is used twice"),
        (cards(0, 1) + link(0, 1, 'kind = "pcie"\n') + link(0, 1, 'kind = "pcie"\n'),
         "card0 cannot take 2 pcie links"),
        ('topology = "torus"\n[parameters]\n', "unknown topology 'torus'"),
        (cards(0, 1) + link(0, 1, 'encoding = "4b/5b"\n'), "unknown encoding '4b/5b'"),
        (cards(0, 1) + link(0, 1) + '[[nics]]\nid = 5\ncard = 9\nlatency = { value = "1ns", source = "s" }\n'
         + link(5, 0, 'kind = "pcie"\n'), "nic5 serves node 9, which is not a card of this fabric"),
    ],
)
def test_mistakes_name_the_element_and_the_file(tmp_path, body, message):
    path = fabric_file(tmp_path, body)
    with pytest.raises(ConfigError, match=message) as info:
        load_fabric(path)
    assert str(info.value).startswith(str(path))


def test_supernode_64_is_sixty_four_cards_in_sixteen_servers_on_eight_planes():
    spec = load_fabric("supernode-64")
    gpus = [c for c in spec.cards if c.server is not None]
    assert len(gpus) == 64 and len(spec.servers()) == 16
    assert {c.device.adapter for c in spec.cards} == {"pcie-tlp", "vendor-descriptor", "cxl-mem"}
    assert len(spec.switches) == 8 and all(s.kind is LinkKind.OISA and s.reduction for s in spec.switches)
    per_card = {c.id: sum(link.a == c.id for link in spec.links) for c in gpus}
    assert set(per_card.values()) == {8}
    assert spec.links[0].rate_bps == 400 * 10**9


def test_switched_64_puts_a_pcie_switch_in_each_server_and_a_nic_per_card():
    spec = load_fabric("switched-64")
    kinds = {link.kind for link in spec.links}
    assert kinds == {LinkKind.PCIE, LinkKind.ETHERNET}
    assert len([s for s in spec.switches if s.kind is LinkKind.PCIE]) == 16
    assert len(spec.nics) == 64
    assert {nic.card for nic in spec.nics} == {c.id for c in spec.cards if c.device.role == "accelerator"}
    pcie = next(link for link in spec.links if link.kind is LinkKind.PCIE)
    assert pcie.rate_bps == int(16 * 32e9 * 128 / 130)  # PCIe Gen5 x16: 63 GB/s


def test_the_same_sixty_four_cards_in_both_deployments():
    supernode, switched = load_fabric("supernode-64"), load_fabric("switched-64")
    accelerators = [[(c.id, c.device.name) for c in spec.cards if c.device.role == "accelerator"]
                    for spec in (supernode, switched)]
    assert accelerators[0] == accelerators[1] and len(accelerators[0]) == 64
    hosts = [c for c in switched.cards if c.device.role == "host"]
    assert [c.server for c in hosts] == list(range(16))  # one per server, on its PCIe switch
