"""RoCE switches: shared buffers, PFC pauses that propagate, ECN marks; settings that cannot work are refused."""

from __future__ import annotations

import pytest

from oisa.errors import ConfigError
from oisa.fabric import load_fabric
from oisa.fabric.ethernet_config import EcnConfig
from oisa.fabric.roce import EthernetSwitch
from oisa.sim.ethernet import EthernetPort, split_to_mtu
from oisa.wire.oisa import Message, Opcode
from tests.fabric.roce_support import incast, small_switched


def test_a_segment_is_cut_into_parts_of_one_mtu_that_keep_every_byte():
    segment = Message(Opcode.DMA_WR, 1, 2, length=256, address=0x1000, count=37)
    parts = split_to_mtu(segment, 4096)
    assert [p.count for p in parts] == [16, 16, 5]
    assert [p.address for p in parts] == [0x1000, 0x1000 + 16 * 256, 0x1000 + 32 * 256]
    assert split_to_mtu(Message(Opcode.DMA_WR, 1, 2, length=4096, count=3), 4096)[2].count == 1


def test_ecn_marks_nothing_below_kmin_everything_above_kmax_and_linearly_between():
    ecn = EcnConfig(kmin_bytes=1000, kmax_bytes=3000, pmax=0.2)
    assert ecn.probability(1000) == 0.0
    assert ecn.probability(2000) == pytest.approx(0.1)
    assert ecn.probability(3001) == 1.0
    assert EcnConfig(enabled=False).probability(10**9) == 0.0


def test_the_catalog_leaf_is_buffered_with_pfc_on():
    leaf = load_fabric("switched-64").switches[-1]
    assert leaf.buffering is not None
    assert leaf.buffering.pfc.enabled and leaf.buffering.buffer.total_bytes == 160 * 2**20


def test_an_incast_with_pfc_pauses_the_senders_and_drops_nothing():
    spec = small_switched(senders=4)
    result = incast(spec, size=2 << 20)
    leaf = result.switch
    assert leaf.counters.drops == 0
    assert leaf.counters.pauses_sent > 0 and leaf.counters.pauses_sent == leaf.counters.resumes_sent
    senders = [p for p in result.ports if p.name.endswith("->leaf") and not p.name.startswith("s0.")]
    assert len(senders) == 4
    assert all(p.pauses_received > 0 and p.time_paused() > 0 for p in senders)
    pfc = leaf.buffering.pfc
    assert leaf.counters.max_buffer_bytes <= 4 * (pfc.xoff_bytes + pfc.headroom_bytes)
    # 4 x 2 MiB through one 400G port: the bottleneck sets the time, within framing overheads
    assert result.duration_ps >= 4 * (2 << 20) * 8 * 10**12 // spec.links[-1].rate_bps


def test_pauses_propagate_hop_by_hop_to_the_senders():
    """Two leaves in a row: the second's egress is the bottleneck; it pauses the first leaf, whose
    ingress fills and pauses the NICs behind it."""
    spec = small_switched(senders=3, chain=True)
    result = incast(spec, size=1 << 20)
    first, second = (f for f in result.fabric.forwarders.values() if isinstance(f, EthernetSwitch))
    assert second.counters.pauses_sent > 0
    assert first.counters.pauses_sent > 0, "the pause did not propagate upstream"
    assert first.counters.drops == second.counters.drops == 0


@pytest.mark.parametrize(("key", "value", "message"), [
    ("parameters.ethernet_switch.pfc.xoff", "200MiB", r"pfc\.xoff: xoff plus headroom .* exceeds the shared buffer"),
    ("parameters.ethernet_switch.pfc.headroom", "1KiB", r"pfc\.headroom: headroom \(1024 bytes\) is below one round"),
    ("parameters.ethernet_switch.pfc.xon", "1MiB", r"pfc\.xon: xon .* must not exceed xoff"),
    ("parameters.ethernet_switch.ecn.kmin", "-5KiB", r"ecn\.kmin"),
    ("parameters.ethernet_switch.ecn.pmax", 1.5, r"ecn\.pmax.*at most 1"),
    ("parameters.ethernet_switch.pfc.priorities", [9], r"pfc\.priorities: priorities are 0 to 7"),
    ("parameters.ethernet_switch.pfc.xofff", "1KiB", r"pfc\.xofff: unknown key 'xofff'"),
    ("parameters.ethernet_switch.buffer.total", "0", r"buffer\.total"),
])
def test_settings_that_cannot_work_are_refused_naming_the_key_and_the_bound(key, value, message):
    with pytest.raises(ConfigError, match=message) as info:
        load_fabric("switched-64", overrides={key: value})
    assert "\n" not in str(info.value)


def test_every_ethernet_link_of_a_buffered_switch_queues_frame_by_frame():
    spec = small_switched(senders=2)
    result = incast(spec, size=64 << 10)
    assert all(isinstance(p, EthernetPort) for link in result.fabric.links if link.spec.kind.value == "ethernet"
               for p in link.ports)


@pytest.mark.parametrize(("key", "value", "message"), [
    ("parameters.nic.dcqcn.alpha_timer", "0us", r"dcqcn\.alpha_timer.*greater than zero"),
    ("parameters.nic.dcqcn.g", 2, r"dcqcn\.g.*at most 1"),
    ("parameters.nic.dcqcn.fast_recovery", -1, r"dcqcn\.fast_recovery.*0 or more"),
    ("parameters.nic.dcqcn.rate", "1Gbps", r"dcqcn\.rate: unknown key 'rate'"),
    ("parameters.ethernet_switch.ecmp.mode", "random", r"ecmp\.mode: mode is 'hash' or 'spray'"),
])
def test_nic_and_ecmp_settings_that_cannot_work_are_refused(key, value, message):
    with pytest.raises(ConfigError, match=message) as info:
        load_fabric("switched-64", overrides={key: value})
    assert "\n" not in str(info.value)


def test_pfc_without_a_buffer_is_refused():
    from oisa.config import parse_toml
    from oisa.fabric.ethernet_loader import read_buffering

    with pytest.raises(ConfigError, match=r"pfc: \[pfc\] needs a \[buffer\] section beside it"):
        read_buffering(parse_toml("[pfc]\nenabled = true\n", "t.toml"))


def test_the_cli_refuses_a_bad_setting_in_one_line(capsys, tmp_path):
    from oisa import catalog
    from oisa.cli import main

    text = catalog.resolve("fabrics", "switched-64").read_text()
    bad = tmp_path / "bad.toml"
    bad.write_text(text.replace('headroom = { value = "48KiB"', 'headroom = { value = "1KiB"'))
    assert main(["run", str(bad), "--size", "4KiB", "--no-data"]) != 0
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "pfc.headroom" in err and "below one round trip" in err, err


def test_a_run_on_a_roce_fabric_reports_its_counters_and_one_without_reports_none():
    """`oisa run` reports PFC, ECN and DCQCN counters (specs/cli-json.md, "`oisa run` on a RoCE
    fabric") on switched-64, in text and JSON, and nothing of them on the supernode."""
    import re
    from pathlib import Path

    from oisa.report import p2p_json, p2p_text
    from oisa.workload.p2p import run_p2p
    from oisa.workload.run import Run

    section = (Path(__file__).parents[2] / "specs" / "cli-json.md").read_text().split(
        "## `oisa run` on a RoCE fabric\n", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"^\| `roce\.(\w+)` \|", section, re.M))
    switched = run_p2p(load_fabric("switched-64"), Run(engine="timing"), src=0, dst=4, size=256 << 10)
    assert set(p2p_json(switched)["roce"]) == documented
    assert p2p_json(switched)["roce"]["max_queue_bytes"] > 0
    assert "\nRoCE " in p2p_text(switched)
    supernode = run_p2p(load_fabric("supernode-64"), Run(engine="timing"), src=0, dst=4, size=256 << 10)
    assert "roce" not in p2p_json(supernode) and "RoCE" not in p2p_text(supernode)


@pytest.mark.parametrize("dcqcn", [True, False])
def test_no_ecn_mark_outlives_its_message(dcqcn):
    """A mark is kept beside its message until the receiving NIC's DCQCN reads it; where no NIC
    runs DCQCN nothing would read it, so the switch counts the mark and keeps nothing."""
    spec = load_fabric("switched-64", {"servers": 7, "cards_per_server": 1, "devices": ["mi300x-like"]},
                       overrides={"parameters.nic.dcqcn.enabled": dcqcn})
    result = incast(spec, size=1 << 20)
    assert result.switch.counters.ecn_marks > 0
    assert result.fabric.roce.marks == set()
