"""tshark with oisa's dissector reads captures as oisa's own decoders do.

Every comparison is against the construct schemas and codecs of :mod:`oisa.wire` run on the same
bytes, never against typed-in numbers: the golden capture (a 4 KiB transfer on ``pair`` with bit
errors) for flits, the message stream and PCIe TLPs; a capture made here from the golden vectors
of ``specs/vectors/`` for the other link types. Skipped only where tshark is not installed (CI
installs it).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pcapng
import pytest
from pcapng import blocks

from oisa.errors import CrcError, FrameError
from oisa.observe import (
    LAYOUTS,
    LINKTYPES,
    Capture,
    DissectorField,
    dissector_fields,
    dissector_path,
    install_dissector,
)
from oisa.wire import cxl, pcie, vdesc
from oisa.wire.oisa import (
    HEADER_SIZE,
    NO_MESSAGE_START,
    SEQ_MODULUS,
    FlitKind,
    decode_flit,
    decode_flit_construct,
    flit,
    message,
    message_size,
)

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "specs" / "vectors" / "pair-4KiB-ber.pcapng"
TSHARK = shutil.which("tshark")
pytestmark = pytest.mark.skipif(TSHARK is None, reason="tshark is not installed (CI installs it)")
FIELDS = {layout.key: dissector_fields(layout) for layout in LAYOUTS}


# -- reading the capture ourselves ------------------------------------------------------------------

@dataclass
class Packet:
    number: int
    interface: str
    linktype: int
    data: bytes


def packets(path: Path) -> list[Packet]:
    out: list[Packet] = []
    with open(path, "rb") as stream, warnings.catch_warnings():
        warnings.filterwarnings("ignore", 'Field type should not be "None"', DeprecationWarning)
        for block in pcapng.FileScanner(stream):
            if isinstance(block, blocks.EnhancedPacket):
                out.append(Packet(len(out) + 1, block.interface.options["if_name"], block.interface.link_type,
                                  bytes(block.packet_data)))
    return out


@dataclass
class Stream:
    expected: int | None = None
    synced: bool = False
    carry: bytes = b""


@dataclass
class Taken:
    accepted: bool
    messages: list[bytes] = field(default_factory=list)


def receive(flits: list[Packet]) -> dict[int, Taken]:
    """What the receiving end of each wire takes from each data flit, by frame number: only a
    flit whose CRC is good and whose sequence number is the next expected, and from its bytes
    the messages that end in it. oisa's codecs do the decoding."""
    streams: dict[str, Stream] = {}
    out: dict[int, Taken] = {}
    for packet in flits:
        try:
            f = decode_flit(packet.data, len(packet.data))
        except FrameError:
            if packet.data[0] == FlitKind.DATA:
                out[packet.number] = Taken(False)
            continue
        if f.kind is not FlitKind.DATA:
            continue
        s = streams.setdefault(packet.interface, Stream())
        if s.expected is not None and f.seq != s.expected:
            out[packet.number] = Taken(False)
            continue
        s.expected = (f.seq + 1) % SEQ_MODULUS
        taken = out[packet.number] = Taken(True)
        data = f.payload
        if not s.synced:
            if f.first_msg == NO_MESSAGE_START:
                continue
            s.synced, s.carry, data = True, b"", data[f.first_msg:]
        stream, q = s.carry + data, 0
        while len(stream) - q >= HEADER_SIZE and len(stream) - q >= message_size(stream[q:q + 12]):
            size = message_size(stream[q:q + 12])
            taken.messages.append(stream[q:q + size])
            q += size
        s.carry = stream[q:]
    return out


# -- what tshark says ---------------------------------------------------------------------------------

def tshark(path: Path, fields: list[str], *, env: dict[str, str] | None = None,
           lua: bool = True) -> list[dict[str, list[str]]]:
    """One dict per frame: each field's values in the order they occur."""
    command = [TSHARK, "-n", "-r", str(path), "-T", "fields", "-E", "occurrence=a", "-E", "aggregator=|"]
    if lua:
        command[1:1] = ["-X", f"lua_script:{dissector_path()}"]
    for name in fields:
        command += ["-e", name]
    done = subprocess.run(command, capture_output=True, text=True, check=True, env=env)
    assert "Lua: Error" not in done.stderr, done.stderr
    rows = []
    for line in done.stdout.splitlines():
        cells = line.split("\t")
        rows.append({name: cell.split("|") if cell else [] for name, cell in zip(fields, cells)})
    return rows


def shown(f: DissectorField, text: str) -> Any:
    if f.lua_type == "bytes":
        return bytes.fromhex(text.replace(":", ""))
    if f.lua_type == "bool":
        return {"1": 1, "0": 0, "True": 1, "False": 0}[text]
    return int(text, 0)


def schema_values(parsed: Any, prefix: str = "") -> dict[str, Any]:
    """A parsed construct container flattened to field name -> value (flags as 0/1)."""
    out: dict[str, Any] = {}
    for name, value in parsed.items():
        if name == "_io":
            continue
        if isinstance(value, dict):
            out.update(schema_values(value))
        else:
            out[prefix + name] = int(value) if isinstance(value, bool) else value
    return out


def expect_layout(rows: list[dict[str, list[str]]], number: int, key: str, parsed: list[dict[str, Any]]) -> None:
    """Frame ``number`` shows layout ``key`` once per parsed instance, field for field."""
    row = rows[number - 1]
    for f in FIELDS[key]:
        got = [shown(f, text) for text in row[f.abbrev]]
        assert got == [p[f.name] for p in parsed], (number, f.abbrev)


def all_fields(*keys: str) -> list[str]:
    return [f.abbrev for key in keys for f in FIELDS[key]]


@pytest.fixture(scope="module")
def golden() -> tuple[list[Packet], list[dict[str, list[str]]]]:
    names = ["frame.number", "oisa.crc.status", "oisa.accepted", "oisa.payload", "_ws.expert.message",
             *all_fields("flit_header", "message_header", "tlp_dw0", *(f"tlp_{k.value}" for k in pcie.Layout))]
    return packets(GOLDEN), tshark(GOLDEN, names)


# -- the golden capture ---------------------------------------------------------------------------------

def test_every_flit_header_reads_as_the_schema_reads_it(golden):
    frames, rows = golden
    flits = [p for p in frames if p.linktype == LINKTYPES["oisa-flit"].number]
    assert len(flits) > 100 and len(rows) == len(frames)
    for packet in flits:
        expect_layout(rows, packet.number, "flit_header", [schema_values(flit.FLIT_HEADER.parse(packet.data))])


def test_bad_crcs_are_flagged_exactly_where_our_decoder_finds_them(golden):
    frames, rows = golden
    bad = []
    for packet in frames:
        if packet.linktype != LINKTYPES["oisa-flit"].number:
            continue
        try:
            decode_flit_construct(packet.data, len(packet.data))
            good = True
        except CrcError:
            good = False
            bad.append(packet.number)
        row = rows[packet.number - 1]
        assert row["oisa.crc.status"] == ["1" if good else "0"], packet.number
        assert any(m.startswith("Bad CRC") for m in row["_ws.expert.message"]) == (not good)
    assert len(bad) >= 5  # the run's bit errors hit several flits


def test_the_message_stream_is_reassembled_as_the_receiver_takes_it(golden):
    frames, rows = golden
    taken = receive([p for p in frames if p.linktype == LINKTYPES["oisa-flit"].number])
    assert any(not t.accepted for t in taken.values()) and sum(len(t.messages) for t in taken.values()) >= 35
    for number, t in taken.items():
        row = rows[number - 1]
        assert row["oisa.accepted"] == ["1" if t.accepted else "0"] or (not t.accepted and not row["oisa.accepted"])
        expect_layout(rows, number, "message_header", [schema_values(message.HEADER.parse(m)) for m in t.messages])
        payloads = [m[HEADER_SIZE:] for m in t.messages if len(m) > HEADER_SIZE]
        assert [bytes.fromhex(p) for p in row["oisa.payload"]] == payloads, number


def test_native_pcie_tlps_read_as_the_schema_reads_them(golden):
    frames, rows = golden
    tlps = [p for p in frames if p.linktype == LINKTYPES["pcie-tlp"].number]
    assert {p.interface for p in tlps} == {"card0:pcie", "card1:pcie"}
    for packet in tlps:
        info = pcie.tlp_info_of_byte0(packet.data[0])
        parsed = schema_values(pcie.HEADERS[info.layout].parse(packet.data[:info.header_size]))
        expect_layout(rows, packet.number, "tlp_dw0", [parsed])
        expect_layout(rows, packet.number, f"tlp_{info.layout.value}", [parsed])


# -- the other link types, from the golden vectors ---------------------------------------------------

def vectors(name: str) -> list[bytes]:
    return [bytes.fromhex(v["hex"]) for v in json.loads((ROOT / "specs" / "vectors" / f"{name}.json").read_text())]


def test_native_and_message_link_types_read_as_the_schemas_read_them(tmp_path):
    path = tmp_path / "natives.pcapng"
    capture = Capture(path)
    frames = {"cxl": vectors("cxl-mem"), "vendor": vectors("vdesc"), "oisa": vectors("oisa-msg")}
    corrupted = bytearray(frames["vendor"][0])
    corrupted[8] ^= 1
    frames["vendor"].append(bytes(corrupted))
    time = 0
    for family, items in frames.items():
        for data in items:
            time += 1000
            capture.native("card0", family, time, True, data)
    capture.close()
    keys = ("cxl_class", *(f"cxl_{c.name.lower()}" for c in cxl.MemClass), "vdesc_header", "vdesc_reduce",
            "message_header", "coll_ext")
    rows = tshark(path, ["oisa_vdesc.crc.status", *all_fields(*keys)])
    number = 0
    for data in frames["cxl"]:
        number += 1
        parsed = cxl.FRAME.parse(data)
        expect_layout(rows, number, "cxl_class", [{"class": parsed["class"]}])
        values = schema_values(parsed.header) | {"data": parsed.data, "byte_enable": parsed.byte_enable}
        expect_layout(rows, number, f"cxl_{cxl.MemClass(parsed['class']).name.lower()}", [values])
    for data in frames["vendor"]:
        number += 1
        expect_layout(rows, number, "vdesc_header", [schema_values(vdesc.HEADER.parse(data))])
        try:
            vdesc.decode_vdesc_construct(data)
            good = "1"
        except CrcError:
            good = "0"
        assert rows[number - 1]["oisa_vdesc.crc.status"] == [good]
    assert rows[number - 1]["oisa_vdesc.crc.status"] == ["0"]  # the corrupted one
    for data in frames["oisa"]:
        number += 1
        expect_layout(rows, number, "message_header", [schema_values(message.HEADER.parse(data))])
        coll = [schema_values(message.COLL_EXT.parse(data[HEADER_SIZE:]))] if data[0] == 0x30 else []
        expect_layout(rows, number, "coll_ext", coll)
    assert len(rows) == number


def test_the_installed_plugin_decodes_without_any_option(tmp_path):
    home = tmp_path / "home"
    install_dissector(home / ".local" / "lib" / "wireshark" / "plugins")
    rows = tshark(GOLDEN, ["frame.number", "oisa.crc.status"], env={**os.environ, "HOME": str(home)}, lua=False)
    assert {"0", "1"} <= {s for row in rows for s in row["oisa.crc.status"]}
