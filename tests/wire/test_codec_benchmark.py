"""The codec benchmark runs end to end, and its struct reference is a reference of the same
layout: it writes the codec's bytes and reads back every field, or the benchmark refuses to time
it."""

import json

import pytest

from oisa.wire.oisa import Message, Opcode


@pytest.fixture(scope="module")
def benchmark(load_benchmark):
    return load_benchmark("codec")


def test_prints_a_table_and_writes_json(benchmark, tmp_path, capsys):
    out = tmp_path / "run.json"
    assert benchmark.main(["--messages", "200", "--rounds", "3", "--json", str(out)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines[2:]] == ["construct", "oisa", "plain"]
    results = json.loads(out.read_text())
    assert set(results) == set(benchmark.CODECS)
    for name, directions in results.items():
        for direction in ("encode", "decode"):
            assert directions[direction]["per_second"] > 0, (name, direction)
    reference = results["plain struct reference"]
    assert reference["encode"]["vs_struct"] == reference["decode"]["vs_struct"] == 1.0


def test_the_reference_is_checked_against_the_codec(benchmark, monkeypatch):
    benchmark.check_reference([*benchmark.mix(5), benchmark.COLLECTIVE])
    telemetry_dropped = benchmark.struct_encode

    def encode_without_telemetry(m: Message) -> bytes:
        data = bytearray(telemetry_dropped(m))
        data[3] = 0
        return bytes(data)

    monkeypatch.setattr(benchmark, "struct_encode", encode_without_telemetry)
    with pytest.raises(SystemExit, match="other bytes"):
        benchmark.check_reference([Message(Opcode.CPL, 2, 1, tag=4, length=256, load=3, hops=2)])
