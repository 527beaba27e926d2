"""specs/ cannot drift from the code: generated tables and the documented JSON keys."""

import json
import re
from pathlib import Path

from oisa.fabric import load_fabric
from oisa.report import p2p_json
from oisa.specgen import BLOCKS, check, render_file, spec_files
from oisa.workload import Run, run_p2p

ROOT = Path(__file__).resolve().parent.parent


def test_generated_tables_match_the_code():
    stale = check(ROOT)
    assert not stale, f"run `python -m oisa.specgen` to regenerate: {[str(p) for p in stale]}"


def test_every_generated_block_is_used_somewhere():
    text = "".join(path.read_text() for path in spec_files(ROOT))
    unused = [name for name in BLOCKS if f"generated: {name}\n" not in text and f"generated: {name} -->" not in text]
    assert not unused


def test_a_stale_table_is_detected():
    text = (ROOT / "specs" / "oisa-protocol.md").read_text()
    tampered = text.replace("| `opcode` |", "| `opcode_renamed` |", 1)
    assert tampered != text
    assert render_file(tampered) == text


def documented_keys(section: str) -> set[str]:
    text = (ROOT / "specs" / "cli-json.md").read_text()
    body = text.split(f"## {section}\n", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| `([\w.\[\]]+)` \|", body, re.M))


def flatten(obj, prefix=""):
    keys = set()
    for key, value in obj.items():
        if isinstance(value, dict):
            keys |= flatten(value, f"{prefix}{key}.")
        else:
            keys.add(prefix + key)
    return keys


def test_p2p_json_keys_are_exactly_the_documented_ones():
    result = run_p2p(load_fabric("pair"), Run(seed=3), src=0, dst=1, size=4096)
    assert flatten(p2p_json(result)) == documented_keys("`oisa run --workload p2p`")


def test_compare_json_keys_are_exactly_the_documented_ones():
    from oisa.report import comparison_json

    a = run_p2p(load_fabric("pair"), Run(engine="timing"), size=4096)
    keys = flatten(comparison_json(a, a))
    documented = documented_keys("`oisa compare FABRIC_A FABRIC_B --workload p2p`")
    assert {k for k in keys if not k.startswith(("a.", "b."))} == documented - {"a", "b"}
    assert {k[2:] for k in keys if k.startswith("a.")} == documented_keys("`oisa run --workload p2p`")


def test_devices_json_keys_are_documented():
    from oisa.report import device_listing

    listing = device_listing()
    documented = documented_keys("`oisa devices`")
    for section in ("profiles", "adapters"):
        for item in listing[section]:
            assert {f"{section}[].{key}" for key in item} <= documented


def test_golden_vectors_still_decode_and_encode_the_same():
    from oisa.vectors import CASES, check

    for fmt, cases in CASES.items():
        assert cases and (ROOT / "specs" / "vectors" / f"{fmt}.json").exists(), fmt
    assert not check(ROOT)


def test_a_changed_vector_is_caught(tmp_path):
    import json

    from oisa.vectors import check

    vectors = tmp_path / "specs" / "vectors"
    vectors.mkdir(parents=True)
    recorded = json.loads((ROOT / "specs" / "vectors" / "oisa-msg.json").read_text())
    recorded[0]["fields"]["tag"] += 1
    (vectors / "oisa-msg.json").write_text(json.dumps(recorded))
    assert check(tmp_path) == [f"oisa-msg.json: {recorded[0]['name']}: decodes to other fields now"]


def test_the_published_dllp_crc_vector_is_reproduced():
    import json

    [ack] = [v for v in json.loads((ROOT / "specs" / "vectors" / "pcie-dllp.json").read_text())
             if v["name"].startswith("Ack, sequence 0")]
    assert ack["hex"].endswith("b362")  # 0x62B3, little-endian


def test_decoded_fields_of_every_vector_are_documented():
    import json

    text = (ROOT / "specs" / "cli-json.md").read_text().split("## `oisa decode` and `oisa encode`")[1]
    rows = dict(re.findall(r"^\| `([\w-]+)` \| (.*) \|$", text, re.M))
    for path in sorted((ROOT / "specs" / "vectors").glob("*.json")):
        documented = set(re.findall(r"`(\w+)`", rows[path.stem]))
        for vector in json.loads(path.read_text()):
            assert set(vector["fields"]) <= documented, (path.stem, set(vector["fields"]) - documented)


def test_collective_json_keys_are_exactly_the_documented_ones():
    from oisa.report import collective_json, comparison_json
    from oisa.workload.collectives import run_collective

    result = run_collective(load_fabric("mesh-8"), "allgather", size=1024, cards=[0, 1, 2, 3])
    one = collective_json(result)
    candidates = {f"tuner.candidates[].{key}" for key in one["tuner"]["candidates"][0]}
    assert flatten(one) | candidates == documented_keys("`oisa run --workload COLLECTIVE`")
    keys = flatten(comparison_json(result, result))
    documented = documented_keys("`oisa compare FABRIC_A FABRIC_B --workload COLLECTIVE`")
    assert {k for k in keys if not k.startswith(("a.", "b."))} == documented - {"a", "b"}


def test_sweep_json_keys_are_exactly_the_documented_ones():
    from oisa.report import sweep_json
    from oisa.workload.sweep import sweep

    done = sweep(load_fabric("mesh-8"), "allreduce", min_size=8, max_size=64, factor=8, cards=[0, 1])
    one = sweep_json(done.results, done.skipped)
    rows = {f"sweeps[].rows[].{key}" for key in one.pop("rows")[0]}
    keys = {"workload"} | {f"sweeps[].{key}" for key in one} | rows
    assert keys == documented_keys("`oisa sweep`")


def test_loadstore_json_keys_are_exactly_the_documented_ones():
    from oisa.report import comparison_json, result_json
    from oisa.workload.loadstore import run_loadstore

    result = run_loadstore(load_fabric("mesh-8"), accesses=5, background=2)
    assert flatten(result_json(result)) == documented_keys("`oisa run --workload loadstore`")
    keys = flatten(comparison_json(result, result))
    documented = documented_keys("`oisa compare FABRIC_A FABRIC_B --workload loadstore`")
    assert {k for k in keys if not k.startswith(("a.", "b."))} == documented - {"a", "b"}


def test_conformance_json_keys_are_exactly_the_documented_ones():
    from oisa.testing.conformance import conformance_json, run_conformance

    report = conformance_json(run_conformance("cxl-mem", examples=2, cases=["ADP-DECL-001", "ADP-E2E-001"]))
    keys = set(report) | {f"cases[].{key}" for case in report["cases"] for key in case}
    assert keys == documented_keys("`oisa conformance ADAPTER`")


def test_fuzz_json_keys_are_exactly_the_documented_ones(capsys):
    import json

    from oisa.cli import main

    assert main(["fuzz", "--target", "wire:pcie-dllp", "--examples", "2", "--json"]) == 0
    assert set(json.loads(capsys.readouterr().out)) == documented_keys("`oisa fuzz`")


def test_training_json_keys_are_exactly_the_documented_ones():
    from oisa.report import comparison_json, result_json
    from oisa.workload.training import run_training

    result = run_training(load_fabric("mesh-8"), model="gpt2-xl", cards=[0, 1])
    one = result_json(result)
    cards = {f"cards[].{key}" for key in one["cards"][0]}
    assert flatten(one) | cards == documented_keys("`oisa run --workload training`")
    keys = flatten(comparison_json(result, result))
    documented = documented_keys("`oisa compare FABRIC_A FABRIC_B --workload training`")
    assert {k for k in keys if not k.startswith(("a.", "b."))} == documented - {"a", "b"}


def test_article_json_keys_are_exactly_the_documented_ones():
    from oisa.report.scenario import article_json
    from oisa.workload.scenario import run_article

    one = article_json(run_article(max_cards=2))
    rows = {f"{name}[].{key}" for name in ("findings", "scaling") for key in one[name][0]}
    varied = {f"findings[].sensitivity[].{key}" for key in one["findings"][0]["sensitivity"][0]}
    assert set(one) | rows | varied == documented_keys("`oisa scenario article`")


def test_validate_and_calibrate_json_keys_are_exactly_the_documented_ones(tmp_path, capsys):
    import json

    from oisa.cli import main

    full = (ROOT / "validation" / "mi300x-8" / "all_reduce_perf_hisohara-aac8.txt").read_text().splitlines()
    log = tmp_path / "all_reduce_perf_small.txt"  # the header and the first sizes: quick to run
    log.write_text("\n".join(full[:full.index(next(line for line in full if line.strip().startswith("32 ")))]) + "\n")
    fabric = ROOT / "validation" / "mi300x-8" / "mi300x-8.toml"
    assert main(["validate", str(log), "--fabric", str(fabric), "--collective", "allreduce", "--json"]) == 0
    one = json.loads(capsys.readouterr().out)
    rows = {f"rows[].{key}" for key in one.pop("rows")[0]}
    assert flatten(one) | rows == documented_keys("`oisa validate`")
    output = tmp_path / "fit.toml"
    assert main(["calibrate", str(log), "--fabric", str(fabric), "--collective", "allreduce", "-o", str(output),
                 "--fit", "protocols.simple.step_latency", "--json"]) == 0
    one = json.loads(capsys.readouterr().out)
    points = {f"points[].{key}" for key in one.pop("points")[0]}
    fitted = one.pop("fitted")
    assert list(fitted) == ["protocols.simple.step_latency"]
    assert set(one) | {"fitted"} | points == documented_keys("`oisa calibrate`")


def test_graph_json_keys_are_exactly_the_documented_ones(tmp_path, capsys):
    from oisa.cli import main
    from oisa.report import result_json
    from oisa.workload.graph_parallel import run_parallel

    result = run_parallel(load_fabric("mesh-8"), Run(engine="flow"), model="llama3-70b", tp=4, pp=2, seq=256,
                          microbatches=2, layers_per_node=40)
    one = result_json(result)
    free = ("attributes", "collectives")  # objects whose keys the graph and the library's choices give
    keys = {k for k in flatten(one) if k.split(".")[0] not in free} | set(free)
    assert keys == documented_keys("`oisa run --workload graph` and `oisa run --workload parallel`")
    assert main(["export-graph", "mesh-8", "--model", "llama3-70b", "--tp", "4", "--pp", "2", "--seq", "256",
                 "--layers-per-node", "40", "-o", str(tmp_path / "l"), "--json"]) == 0
    exported = json.loads(capsys.readouterr().out)
    assert set(exported) == documented_keys("`oisa export-graph`")
