"""The Max Payload Size of a PCIe link: from the profiles of the cards at its ends and the fabric
file, the smallest wins, and every engine frames by it."""

from dataclasses import replace

import pytest

from oisa.config import Figure
from oisa.errors import ConfigError
from oisa.fabric import load_fabric
from oisa.fabric.routes import routes_of
from oisa.fabric.spec import PCIE_DEFAULT_MAX_PAYLOAD
from oisa.units import KiB
from oisa.workload import Run
from oisa.workload.p2p import run_p2p

HOST_PCIE = load_fabric("host-pcie")


def _with_card_payload(payload: int, link_payload: int | None = None):
    card = HOST_PCIE.cards[0]
    device = replace(card.device, pcie_max_payload=Figure(payload, assumption="a test's card"))
    link = HOST_PCIE.links[0]
    if link_payload is not None:
        link = replace(link, max_payload=Figure(link_payload, assumption="a test's switch"))
    return replace(HOST_PCIE, cards=(replace(card, device=device), *HOST_PCIE.cards[1:]), links=(link,)).check()


def test_the_catalog_cards_declare_their_pcie_payload_with_a_source():
    assert HOST_PCIE.pcie_max_payload(HOST_PCIE.links[0]) == 256
    for card in HOST_PCIE.cards:
        figure = card.device.pcie_max_payload
        assert figure is not None and figure.provenance
    assert PCIE_DEFAULT_MAX_PAYLOAD.source


@pytest.mark.parametrize(("card", "link", "runs"), [(128, None, 128), (512, None, 256), (512, 1024, 256),
                                                     (256, 128, 128)])
def test_a_link_runs_the_smallest_payload_its_ends_support(card, link, runs):
    spec = _with_card_payload(card, link)
    assert spec.pcie_max_payload(spec.links[0]) == runs
    assert routes_of(spec).framings[0].max_payload == runs


@pytest.mark.parametrize("engine", ["data", "timing"])
def test_the_frame_engines_cut_tlps_at_the_negotiated_payload(engine):
    small = run_p2p(_with_card_payload(128), Run(engine=engine), src=0, dst=1, size=64 * KiB)
    usual = run_p2p(HOST_PCIE, Run(engine=engine), src=0, dst=1, size=64 * KiB)
    # half the payload per TLP: twice the write TLPs, each with its header and framing
    assert small.frames > usual.frames
    assert small.wire_bytes > usual.wire_bytes
    assert small.write.time_ps > usual.write.time_ps


def test_the_flow_engine_prices_the_same_payload():
    small = run_p2p(_with_card_payload(128), Run(engine="flow"), src=0, dst=1, size=64 * KiB)
    usual = run_p2p(HOST_PCIE, Run(engine="flow"), src=0, dst=1, size=64 * KiB)
    assert small.write.time_ps > usual.write.time_ps


LINK = """
name = "t"
description = "t"
[[cards]]
id = 0
device = "h100-like"
[[cards]]
id = 1
device = "h100-like"
[[links]]
between = [0, 1]
kind = "{kind}"
lanes = {{ value = 16, assumption = "t" }}
lane_rate = {{ value = "32Gbps", assumption = "t" }}
latency = {{ value = "50ns", assumption = "t" }}
max_payload = {{ value = {payload}, assumption = "t" }}
"""


@pytest.mark.parametrize(("kind", "payload", "says"), [
    ("oisa", 256, "only a PCIe link has a Max Payload Size"),
    ("pcie", 300, "a PCIe Max Payload Size is 128, 256"),
    ("pcie", 8192, "a PCIe Max Payload Size is"),
])
def test_a_bad_max_payload_is_refused_naming_the_key(tmp_path, kind, payload, says):
    path = tmp_path / "f.toml"
    path.write_text(LINK.format(kind=kind, payload=payload))
    with pytest.raises(ConfigError, match="max_payload") as error:
        load_fabric(path)
    assert says in str(error.value)
