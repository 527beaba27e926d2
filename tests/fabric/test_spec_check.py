"""``FabricSpec.check()`` refuses what a fabric file would have refused, with the same words
(issue 15, item 17: it accepted lanes of 0 or -4, rates of 0, negative latencies and 7-byte flits,
and running them ended in ZeroDivisionError or "cannot schedule in the past")."""

from dataclasses import replace

import pytest

from oisa.config import Figure
from oisa.errors import ConfigError
from oisa.fabric import load_fabric

PAIR = load_fabric("pair")
SUPERNODE = load_fabric("supernode-64")


def with_link(**changes):
    return replace(PAIR, links=(replace(PAIR.links[0], **changes),))


def with_switch(**changes):
    return replace(SUPERNODE, switches=(replace(SUPERNODE.switches[0], **changes), *SUPERNODE.switches[1:]))


BAD_LINKS = [
    ({"lanes": Figure(0, "s")}, "lanes", "from 1 to 32"),
    ({"lanes": Figure(-4, "s")}, "lanes", "from 1 to 32"),
    ({"lanes": Figure(4.5, "s")}, "lanes", "from 1 to 32"),
    ({"lane_rate": Figure(0, "s")}, "lane_rate", "greater than zero"),
    ({"lane_rate": Figure(-200_000_000_000, "s")}, "lane_rate", "greater than zero"),
    ({"latency": Figure(-1, "s")}, "latency", "must not be negative"),
    ({"flit_size": 7}, "flit_size", "multiple of 32"),
    ({"encoding": "4b/5b"}, "encoding", "unknown encoding '4b/5b'"),
    ({"lanes": 4}, "lanes", "a Figure"),
]


@pytest.mark.parametrize(("changes", "field", "fragment"), BAD_LINKS)
def test_check_refuses_a_link_naming_it_and_the_field(changes, field, fragment):
    with pytest.raises(ConfigError, match=fragment) as info:
        with_link(**changes).check()
    assert info.value.key == f"links[0].{field}"


@pytest.mark.parametrize(("changes", "field", "fragment"), [
    ({"ports": 0}, "ports", "1 to 4096"),
    ({"latency": Figure(-5, "s")}, "latency", "must not be negative"),
])
def test_check_refuses_a_switch_naming_it_and_the_field(changes, field, fragment):
    with pytest.raises(ConfigError, match=fragment) as info:
        with_switch(**changes).check()
    assert info.value.key == f"{SUPERNODE.switches[0].name}.{field}"


def test_check_refuses_a_card_without_a_device_profile():
    spec = replace(PAIR, cards=(replace(PAIR.cards[0], device="h100-like"), PAIR.cards[1]))
    with pytest.raises(ConfigError, match="a DeviceProfile") as info:
        spec.check()
    assert info.value.key == f"{PAIR.cards[0].name}.device"


TOML_LINK = ('[[cards]]\nid = 0\ndevice = "h100-like"\n[[cards]]\nid = 1\ndevice = "h100-like"\n'
             '[[links]]\nbetween = [0, 1]\n{extra}lanes = {{ value = {lanes}, source = "s" }}\n'
             'lane_rate = {{ value = "1Gbps", source = "s" }}\nlatency = {{ value = "1ns", source = "s" }}\n')


@pytest.mark.parametrize(("lanes", "extra", "changes"), [
    ("0", "", {"lanes": Figure(0, "s")}),
    ("-4", "", {"lanes": Figure(-4, "s")}),
    ("1", "flit_size = 7\n", {"flit_size": 7}),
])
def test_a_file_and_check_refuse_with_the_same_words(tmp_path, lanes, extra, changes):
    path = tmp_path / "f.toml"
    path.write_text('name = "f"\ndescription = "d"\n' + TOML_LINK.format(lanes=lanes, extra=extra))
    with pytest.raises(ConfigError) as from_file:
        load_fabric(path)
    with pytest.raises(ConfigError) as from_python:
        with_link(**changes).check()
    assert from_file.value.message == from_python.value.message
