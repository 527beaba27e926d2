"""Study files: what they cross, and every mistake in one one-line error naming the entry."""

import math
import textwrap
from pathlib import Path

import pytest

from oisa.cli import main
from oisa.errors import ConfigError
from oisa.study import load_study, plan_points

GOOD = """
name = "small"
engines = ["timing"]
seeds = [0, 1]

[[fabrics]]
fabric = "mesh-8"
[fabrics.grid]
"parameters.link.lanes" = [8, 16]

[[fabrics]]
fabric = "pair"

[[workloads]]
workload = "allreduce"
[workloads.grid]
size = ["4KiB", 8192]
"""


def _study(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "study.toml"
    path.write_text(textwrap.dedent(text))
    return path


def test_a_grid_crosses_fabric_variants_options_engines_and_seeds(tmp_path):
    points = plan_points(load_study(_study(tmp_path, GOOD)))
    assert len(points) == (2 + 1) * 2 * 2
    first = points[0]
    assert first.inputs == {"fabric": "mesh-8", "fabric.parameters.link.lanes": 8, "workload": "allreduce",
                            "option.size": 4096, "engine": "timing", "seed": 0}
    assert first.spec.links[0].lanes.value == 8  # the override reached the loaded fabric
    assert len({p.key for p in points}) == len(points)
    assert [p.key for p in plan_points(load_study(_study(tmp_path, GOOD)))] == [p.key for p in points]  # stable


def test_nested_tables_and_quoted_paths_are_the_same_grid(tmp_path):
    nested = GOOD.replace('[fabrics.grid]\n"parameters.link.lanes" = [8, 16]',
                          '[fabrics.grid.parameters.link]\nlanes = [8, 16]')
    assert [p.key for p in plan_points(load_study(_study(tmp_path, nested)))] == \
        [p.key for p in plan_points(load_study(_study(tmp_path, GOOD)))]


def test_the_key_changes_with_any_input(tmp_path):
    keys = {p.key for p in plan_points(load_study(_study(tmp_path, GOOD)))}
    other = {p.key for p in plan_points(load_study(_study(tmp_path, GOOD.replace("[8, 16]", "[8, 12]"))))}
    assert len(keys & other) == len(keys) - 2 * 2  # the lanes=16 points (2 sizes, 2 seeds) changed, nothing else


def test_samples_are_drawn_in_their_ranges_and_repeat_with_the_seed(tmp_path):
    text = GOOD + """
[workloads.sample]
channels = { low = 1, high = 4, integer = true }
[[fabrics]]
fabric = "mesh-8"
[fabrics.sample]
"parameters.link.latency" = { low = 50, high = 500, unit = "ns", log = true, integer = true }
[sample]
method = "latin-hypercube"
points = 4
seed = 3
"""
    points = plan_points(load_study(_study(tmp_path, text)))
    sampled = [p for p in points if "fabric.parameters.link.latency" in p.inputs]
    assert len(sampled) == 4 * 2 * 2  # 4 draws x 2 sizes x 2 seeds
    latencies = {int(p.inputs["fabric.parameters.link.latency"].removesuffix("ns")) for p in sampled}
    assert len(latencies) == 4 and all(50 <= value <= 500 for value in latencies)
    # Latin hypercube: one draw in each quarter of the (log) range
    assert sorted(int(4 * math.log(v / 50) / math.log(500 / 50)) for v in latencies) == [0, 1, 2, 3]
    assert [p.key for p in plan_points(load_study(_study(tmp_path, text)))] == [p.key for p in points]


BAD = [
    ("unknown field path", GOOD.replace('"parameters.link.lanes"', '"parameters.link.lanez"'),
     "fabrics[0].grid.parameters.link.lanez=8: ", "unknown key 'lanez'"),
    ("a field of the wrong type", GOOD.replace("[8, 16]", '[8, "wide"]'),
     "fabrics[0].grid.parameters.link.lanes='wide'", "lanes"),
    ("an empty grid axis", GOOD.replace("[8, 16]", "[]"), "fabrics[0].grid.parameters.link.lanes", "empty"),
    ("no seeds", GOOD.replace("seeds = [0, 1]", "seeds = []"), "seeds", "empty"),
    ("a seed of the wrong type", GOOD.replace("seeds = [0, 1]", 'seeds = [0, "one"]'), "seeds[1]", "not a seed"),
    ("no fabrics", GOOD.split("[[fabrics]]")[0] + GOOD.split('fabric = "pair"')[1], "fabrics", "missing"),
    ("an option of the wrong type", GOOD.replace('["4KiB", 8192]', '["4KiB", true]'), "workloads[0].grid.size[1]",
     "expected an integer"),
    ("an option the workload does not take", GOOD.replace("size = ", "sizes = "), "workloads[0].grid.sizes",
     "no such option"),
    ("an unknown workload", GOOD.replace('"allreduce"', '"allreduse"'), "workloads[0].workload", "no such workload"),
    ("an engine the workload does not run on",
     GOOD.replace('"allreduce"', '"loadstore"').replace('size = ["4KiB", 8192]', "").replace('"timing"', '"flow"'),
     "workloads[0].workload", "loadstore runs on"),
    ("an unknown top-level key", "seed = 1\n" + GOOD, "seed", "unknown key"),
    ("a range without [sample]", GOOD + '[workloads.sample]\nchannels = { low = 1, high = 4, integer = true }\n',
     "sample", "no [sample]"),
    ("a range upside down", GOOD + '[workloads.sample]\nchannels = { low = 4, high = 1, integer = true }\n'
                                   '[sample]\npoints = 2\n', "workloads[0].sample.channels", "below"),
    ("a fabric that does not exist", GOOD.replace('"pair"', '"pear"'), "fabrics[1].fabric", "no fabric named"),
    ("not TOML", "name = \n", "study.toml", "not valid TOML"),
]


@pytest.mark.parametrize(("text", "entry", "problem"), [case[1:] for case in BAD], ids=[case[0] for case in BAD])
def test_a_bad_study_file_is_one_line_naming_the_entry(tmp_path, capsys, text, entry, problem):
    path = _study(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_study(path)
    assert entry in str(caught.value) and problem in str(caught.value)
    assert main(["study", str(path), "-o", str(tmp_path / "out"), "-q"]) == 1
    out, err = capsys.readouterr()
    assert out == "" and err.startswith(f"oisa: error: {path}: ") and err.count("\n") == 1 and entry in err
    assert not (tmp_path / "out").exists()  # refused before anything ran


def test_bad_command_lines_are_refused_before_anything_runs(tmp_path, capsys):
    path = _study(tmp_path, GOOD)
    for argv, fragment in [(["-j", "2", "--local-cluster", "2"], "choose one place"),
                           (["--plot", "x=seed"], "no y=COLUMN"),
                           (["--plot", "x=seed y=z w=1"], "'w=1'"),
                           (["--plot-file", "p.png"], "--plot-file needs --plot"),
                           (["-j", "0"], "0 is not in the range")]:
        assert main(["study", str(path), "-o", str(tmp_path / "out"), "-q", *argv]) == 2, argv
        err = capsys.readouterr().err
        assert err.startswith("oisa: error: ") and err.count("\n") == 1 and fragment in err, err
    assert main(["study", str(tmp_path / "none.toml")]) == 1
    assert "no such file" in capsys.readouterr().err


def test_the_json_keys_and_the_table_columns_are_the_documented_ones(tmp_path, capsys):
    import json
    import re

    root = Path(__file__).resolve().parents[2]
    text = (root / "specs" / "cli-json.md").read_text().split("## `oisa study`\n", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"^\| `([\w.\[\]]+)` \|", text, re.M))
    small = GOOD.replace("[8, 16]", "[8]").replace("seeds = [0, 1]", "seeds = [0]").replace('["4KiB", 8192]', '"4KiB"')
    assert main(["study", str(_study(tmp_path, small)), "-o", str(tmp_path / "out"), "--json", "-q", "-j", "1"]) == 0
    report = json.loads(capsys.readouterr().out)

    def keys(obj, prefix=""):
        return {k for key, value in obj.items()
                for k in (keys(value, f"{prefix}{key}.") if isinstance(value, dict) else {prefix + key})}
    assert keys(report) == {key for key in documented if "[]" not in key}
    columns = report["table"]["columns"]
    assert columns[:9] == ["point", "status", "error", "fabric", "fabric.parameters.link.lanes", "workload",
                           "option.size", "engine", "seed"]
    assert all(column.startswith("result.") for column in columns[9:])
    record = json.loads(next((tmp_path / "out" / "points").glob("*.json")).read_text())
    study_md = (root / "specs" / "study.md").read_text().split("## Points, kept as they complete")[1]
    assert set(record) == set(re.findall(r"^\| `(\w+)` \|", study_md.split("## The table")[0], re.M))


def test_random_samples_stay_in_their_ranges_and_follow_the_sample_seed(tmp_path):
    def sizes(seed: int) -> list[int]:
        text = GOOD.replace('size = ["4KiB", 8192]', "") + f"""
[workloads.sample]
size = {{ low = 1024, high = 1048576, integer = true, log = true }}
[sample]
method = "random"
points = 5
seed = {seed}
"""
        points = plan_points(load_study(_study(tmp_path, text)))
        return [p.inputs["option.size"] for p in points if p.inputs["fabric"] == "pair" and p.inputs["seed"] == 0]
    drawn = sizes(1)
    assert len(drawn) == 5 and all(1024 <= size <= 1048576 for size in drawn)
    assert sizes(1) == drawn and sizes(2) != drawn
