"""`oisa scenario incast`: incast, victim and all-to-all side by side, its JSON as documented."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from oisa.cli import cli, main
from oisa.errors import UsageError
from oisa.fabric import load_fabric
from oisa.workload.incast import alltoall_cards, incast_cards

SPEC = Path(__file__).resolve().parents[2] / "specs" / "cli-json.md"


def _documented() -> set[str]:
    body = SPEC.read_text().split("## `oisa scenario incast`\n", 1)[1].split("\n## ", 1)[0]
    keys = set()
    for names in re.findall(r"^\| (`[^|]+`) \|", body, re.M):
        keys |= set(re.findall(r"`([\w.\[\]]+)`", names))
    return keys


def test_the_scenario_reports_both_fabrics_and_its_json_keys_are_documented():
    result = CliRunner().invoke(cli, ["scenario", "incast", "--senders", "3", "--cards", "3", "--incast-size",
                                      "512KiB", "--pair-size", "128KiB", "--json", "-q"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    documented = _documented()
    top = {key for key in data if key != "fabrics"}
    assert top | {"fabrics"} <= documented
    switched, supernode = data["fabrics"]
    for row in (switched, supernode):
        assert {f"fabrics[].{key}" for key in row} <= documented
        assert set(row["incast"]) <= documented and set(row["alltoall"]) <= documented
    assert switched["incast"]["pauses_sent"] > 0 and switched["incast"]["drops"] == 0
    assert supernode["incast"]["pauses_sent"] == 0 and supernode["incast"]["drops"] == 0
    assert switched["incast"]["victim_slowdown"] > supernode["incast"]["victim_slowdown"]
    assert switched["incast"]["p99_ps"] >= switched["incast"]["p50_ps"]


def test_the_scenario_refuses_the_other_scenarios_options_and_theirs_refuse_its(capsys):
    assert main(["scenario", "incast", "--tokens", "5"]) != 0
    assert "--tokens is not an option of the incast scenario" in capsys.readouterr().err
    assert main(["scenario", "article", "--senders", "5"]) != 0
    assert "--senders is not an option of the article scenario" in capsys.readouterr().err


def test_too_many_senders_or_cards_are_refused_naming_the_parameter():
    spec = load_fabric("switched-64", {"servers": 3})
    with pytest.raises(UsageError, match="senders"):
        incast_cards(spec, 3)
    with pytest.raises(UsageError, match="cards"):
        alltoall_cards(spec, 13)
    assert alltoall_cards(spec, 4) == [0, 4, 8, 1]


def test_the_readme_quotes_the_default_scenario_as_it_runs():
    """The README's table is this command's output, word for word."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    result = CliRunner().invoke(cli, ["scenario", "incast", "-q"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() in readme
    assert "8.07x as long" in readme and "(8.07x alone)" in result.output
    assert "slowed 1.93x" in readme and "(1.93x alone)" in result.output
