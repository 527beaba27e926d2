"""TOML reading: every figure sourced, every key known, every error naming file and key."""

from pathlib import Path

import pytest

from oisa.catalog import catalog_names
from oisa.config import parse_toml
from oisa.device import load_profile
from oisa.errors import CatalogError, ConfigError
from oisa.fabric import load_fabric
from oisa.units import parse_size

ROOT = Path(__file__).resolve().parent.parent


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
    with pytest.raises(CatalogError, match=r"known: .*h100-like"):
        load_profile("b200-like")




def profile_text(adapter_line: str, requires: str = "") -> str:
    text = (ROOT / "devices" / "h100-like.toml").read_text()
    text = text.replace('adapter = "pcie-tlp"', adapter_line)
    return text.replace('requires = ["dma", "load_store"]', requires)


@pytest.mark.parametrize(
    ("adapter_line", "requires", "message"),
    [
        ('adapter = "nvlink"', "", r"adapter: no device adapter named 'nvlink'"),
        ('adapter = "pcie-tlp"', 'requires = ["collective_offload"]', r"requires: adapter 'pcie-tlp' lacks "
                                                                       r"collective_offload"),
        ('adapter = "cxl-mem"', "", r"adapter: adapter 'cxl-mem' speaks 'cxl'"),
        ('adapter = "pcie-tlp"', 'requires = ["teleport"]', r"requires: 'teleport' is not a capability"),
    ],
)
def test_profile_adapter_mistakes_name_the_file_and_key(tmp_path, adapter_line, requires, message):
    path = tmp_path / "gpu.toml"
    path.write_text(profile_text(adapter_line, requires))
    with pytest.raises(ConfigError, match=message) as info:
        load_profile(path)
    assert str(info.value).startswith(str(path))
