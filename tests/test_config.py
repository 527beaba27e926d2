"""TOML reading: every figure sourced, every key known, every error naming file and key."""

import pytest

from oisa.catalog import catalog_names
from oisa.config import parse_toml
from oisa.device import load_profile
from oisa.errors import CatalogError, ConfigError
from oisa.fabric import load_fabric
from oisa.units import parse_size


def read_figure(text):
    table = parse_toml(text, "test.toml")
    return table.figure("capacity", parse_size)


def test_a_figure_keeps_its_source():
    figure = read_figure('capacity = { value = "80GiB", source = "datasheet" }')
    assert (figure.value, figure.provenance) == (80 << 30, "datasheet")


def test_a_figure_may_be_an_assumption_said_plainly():
    figure = read_figure('capacity = { value = 64, assumption = "a round number" }')
    assert figure.provenance == "assumption: a round number"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('capacity = "80GiB"', "expected a table"),
        ('capacity = { value = "80GiB" }', "exactly one of 'source'"),
        ('capacity = { value = "80GiB", source = "a", assumption = "b" }', "exactly one of"),
        ('capacity = { value = "80GiB", source = " " }', "empty"),
        ('capacity = { value = "80 furlongs", source = "a" }', "capacity.value"),
        ('capacity = { value = "1GiB", source = "a", sorce = "b" }', "unknown key 'sorce'"),
    ],
)
def test_bad_figures_name_the_key(text, message):
    with pytest.raises(ConfigError, match=message) as info:
        read_figure(text)
    assert str(info.value).startswith("test.toml: capacity")


@pytest.mark.parametrize("name", catalog_names("devices"))
def test_every_catalog_device_loads_and_sources_every_figure(name):
    profile = load_profile(name)
    for key, figure in profile.figures().items():
        assert figure.source or figure.assumption, key


@pytest.mark.parametrize("name", catalog_names("fabrics"))
def test_every_catalog_fabric_loads(name):
    spec = load_fabric(name)
    assert spec.cards
    for link in spec.links:
        for figure in (link.lanes, link.lane_rate, link.latency):
            assert figure.provenance


def test_unknown_catalog_names_list_the_known_ones():
    with pytest.raises(CatalogError, match="known: .*h100-like"):
        load_profile("b200-like")


def test_a_fabric_naming_an_unknown_device_says_which_card(tmp_path):
    path = tmp_path / "f.toml"
    path.write_text('name = "f"\ndescription = "d"\n[[cards]]\nid = 0\ndevice = "abacus"\n')
    with pytest.raises(ConfigError, match=r"cards\[0\]\.device: device 'abacus'"):
        load_fabric(path)


@pytest.mark.parametrize(
    ("links", "message"),
    [
        ("between = [0, 7]", "link end 7 is not a card"),
        ("between = [0, 0]", "two different cards"),
        ("between = [0]", "two card ids"),
    ],
)
def test_bad_links_are_named(tmp_path, links, message):
    figures = ('lanes = { value = 1, source = "s" }\nlane_rate = { value = "1Gbps", source = "s" }\n'
               'latency = { value = "1ns", source = "s" }\n')
    text = ('name = "f"\ndescription = "d"\n[[cards]]\nid = 0\ndevice = "h100-like"\n'
            '[[cards]]\nid = 1\ndevice = "h100-like"\n[[links]]\n' + links + "\n" + figures)
    path = tmp_path / "f.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_fabric(path)
