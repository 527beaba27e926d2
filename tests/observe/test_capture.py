"""Captures as files: interfaces, link types, virtual timestamps, selection and mistakes.

These read the pcapng back with python-pcapng and need no Wireshark; test_wireshark.py checks
what tshark makes of the same bytes.
"""

import warnings
from pathlib import Path

import pcapng
import pytest
from pcapng import blocks

from oisa.cli import main
from oisa.fabric import load_fabric
from oisa.observe import LINKTYPES, NATIVE_LINKTYPES, Capture, interface_names, link_selector
from oisa.sim.observe import Observer, Observers
from oisa.wire.oisa import HEADER, HEADER_SIZE, Opcode, decode_flit
from oisa.workload import Run, run_p2p

ROOT = Path(__file__).resolve().parents[2]


def read(path: Path) -> tuple[list[blocks.InterfaceDescription], list[blocks.EnhancedPacket]]:
    interfaces, packets = [], []
    with open(path, "rb") as stream, warnings.catch_warnings():
        # python-pcapng's own schema gives if_tsresol no type, and warns about itself
        warnings.filterwarnings("ignore", 'Field type should not be "None"', DeprecationWarning)
        for block in pcapng.FileScanner(stream):
            if isinstance(block, blocks.InterfaceDescription):
                interfaces.append(block)
            elif isinstance(block, blocks.EnhancedPacket):
                packets.append(block)
    return interfaces, packets


def ns(packet: blocks.EnhancedPacket) -> int:
    return (packet.timestamp_high << 32) | packet.timestamp_low


class FrameCount(Observer):
    def __init__(self) -> None:
        self.frames = 0

    def frame(self, *args: object) -> None:
        self.frames += 1


def test_a_run_captures_every_flit_and_native_frame_on_named_interfaces(tmp_path):
    path = tmp_path / "pair.pcapng"
    capture, seen = Capture(path), FrameCount()
    run_p2p(load_fabric("pair"), Run(seed=1, observer=Observers([capture, seen])), size=4096)
    interfaces, packets = read(path)
    names = {i.options["if_name"]: i for i in interfaces}
    assert set(names) == {"card0->card1", "card1->card0", "card0:pcie", "card1:pcie"}
    for name, interface in names.items():
        expected = LINKTYPES["oisa-flit"] if "->" in name else NATIVE_LINKTYPES["pcie"]
        assert interface.link_type == expected.number
        assert interface.options["if_tsresol"] == b"\x09"  # nanoseconds
    flits = [p for p in packets if "->" in p.interface.options["if_name"]]
    assert len(flits) == seen.frames  # every frame the wires carried, no faults here
    for flit in flits:
        decode_flit(flit.packet_data, 256)  # whole flits, CRC included
    times = [ns(p) for p in packets]
    assert times == sorted(times) and times[-1] > 0
    native = [p for p in packets if ":" in p.interface.options["if_name"]]
    assert {p.options["epb_flags"].inout for p in native} == {"inbound", "outbound"}
    assert capture.packets == len(packets)


def test_frame_links_and_timing_mode_capture_whole_messages_with_what_they_stood_for(tmp_path):
    path = tmp_path / "timing.pcapng"
    run_p2p(load_fabric("pair"), Run(seed=1, engine="timing", observer=Capture(path)), size=65536)
    interfaces, packets = read(path)
    assert {i.link_type for i in interfaces} == {LINKTYPES["oisa-msg"].number}
    segment = next(p for p in packets if "segment" in p.options["opt_comment"])
    header = HEADER.parse(segment.packet_data)
    assert segment.captured_len == HEADER_SIZE and header.opcode == Opcode.MEM_WR and header.length == 256
    assert "256 messages like this one" in segment.options["opt_comment"]
    assert "frames" in segment.options["opt_comment"] and "bytes on the wire" in segment.options["opt_comment"]


def test_links_are_selected_by_glob_and_a_pattern_that_matches_nothing_is_refused(tmp_path):
    spec = load_fabric("pair")
    names = interface_names(spec)
    assert names == ["card0->card1", "card1->card0", "card0:pcie", "card1:pcie"]
    select = link_selector(["card0->*", "card1:*"], names)
    assert [n for n in names if select(n)] == ["card0->card1", "card1:pcie"]
    with pytest.raises(Exception, match="'card9->\\*' matches no link"):
        link_selector(["card9->*"], names)
    path = tmp_path / "one.pcapng"
    assert main(["run", "pair", "--size", "4KiB", "--pcap", str(path), "--pcap-links", "card1->card0"]) == 0
    interfaces, packets = read(path)
    assert [i.options["if_name"] for i in interfaces] == ["card1->card0"] and packets


@pytest.mark.parametrize("args, message", [
    (["--pcap", "/nonexistent-dir/x.pcapng"], "oisa: error: cannot write capture '/nonexistent-dir/x.pcapng': "),
    (["--pcap", "{tmp}/x.pcapng", "--pcap-links", "nothing*"], "oisa: error: --pcap-links pattern 'nothing*' "
                                                                "matches no link"),
    (["--pcap-links", "card0->*"], "oisa: error: --pcap-links needs --pcap FILE"),
])
def test_capture_mistakes_end_in_one_line(tmp_path, capsys, args, message):
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    assert main(["run", "pair", "--size", "4KiB", *args]) == 2  # asked wrongly
    err = capsys.readouterr().err
    assert err.startswith(message) and err.count("\n") == 1


def test_compare_writes_one_capture_per_fabric(tmp_path):
    path = tmp_path / "both.pcapng"
    assert main(["compare", "pair", "pair", "--size", "4KiB", "--no-data", "--pcap", str(path)]) == 0
    written = sorted(tmp_path.glob("*.pcapng"))  # the same fabric twice: told apart by a and b
    assert [p.name for p in written] == ["both.pair-a.pcapng", "both.pair-b.pcapng"]
    assert read(written[0])[1] and read(written[0])[1] == read(written[1])[1]


GOLDEN = ROOT / "specs" / "vectors" / "pair-4KiB-ber.pcapng"
GOLDEN_RUN = ["run", "pair", "--size", "4KiB", "--seed", "1", "--ber", "1e-4"]  # specs/captures.md


def test_the_same_run_writes_the_golden_capture_byte_for_byte(tmp_path):
    path = tmp_path / "again.pcapng"
    assert main([*GOLDEN_RUN, "--pcap", str(path)]) == 0
    assert path.read_bytes() == GOLDEN.read_bytes()
