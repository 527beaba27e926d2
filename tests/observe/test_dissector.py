"""The shipped Wireshark dissector is generated from the schemas and installs where Wireshark looks."""

from collections import Counter
from pathlib import Path

from oisa.cli import main
from oisa.observe import LAYOUTS, dissector_fields, dissector_path
from oisa.specgen import DISSECTOR, render_file

ROOT = Path(__file__).resolve().parents[2]


def test_the_shipped_dissector_is_what_the_schemas_generate():
    text = (ROOT / DISSECTOR).read_text()
    assert render_file(text) == text, "run `python -m oisa.specgen` to regenerate the dissector"
    assert dissector_path().read_text() == text


def test_a_hand_edited_field_is_caught():
    text = (ROOT / DISSECTOR).read_text()
    edited = text.replace('abbrev="oisa.seq", name="seq", type="uint16", offset=2, length=2, shift=0, bits=12',
                          'abbrev="oisa.seq", name="seq", type="uint16", offset=2, length=2, shift=0, bits=11')
    assert edited != text and render_file(edited) == text


def test_every_filter_field_has_its_own_name_under_its_protocol():
    abbrevs = [f.abbrev for layout in LAYOUTS for f in dissector_fields(layout)]
    assert not [name for name, n in Counter(abbrevs).items() if n > 1]
    assert {a.split(".")[0] for a in abbrevs} == {"oisa", "oisa_tlp", "oisa_cxl", "oisa_vdesc"}
    assert {"oisa.seq", "oisa.ack_seq", "oisa.opcode", "oisa.src", "oisa.dst", "oisa.tag", "oisa.length",
            "oisa.address"} <= set(abbrevs)


def test_the_command_prints_and_installs_the_dissector(tmp_path, capsys):
    assert main(["wireshark-plugin"]) == 0
    assert Path(capsys.readouterr().out.strip()) == dissector_path()
    assert main(["wireshark-plugin", "--install", "--dir", str(tmp_path / "plugins")]) == 0
    installed = Path(capsys.readouterr().out.strip())
    assert installed == tmp_path / "plugins" / "oisa.lua" and installed.read_bytes() == dissector_path().read_bytes()
