"""Choosing the flow engine: auto picks it for fabrics beyond the frame-level engines and says so,
the frame-level engines refuse them in one line naming the limit and the engine that can, and
the command line runs and compares the large fabrics."""

import json

import pytest

from oisa.cli import main
from oisa.errors import UsageError
from oisa.fabric import load_fabric
from oisa.report import p2p_text
from oisa.workload import Run, run_p2p
from oisa.workload.run import FRAME_CARDS, Limits


@pytest.fixture(scope="module")
def ten_thousand():
    return load_fabric("cluster-10k-supernode")


def test_auto_runs_a_fabric_beyond_the_frame_engines_on_flow_and_says_why(ten_thousand):
    result = run_p2p(ten_thousand, Run(), size=1 << 20)
    assert result.mode == "flow" and result.verified is None
    assert result.engine_note == f"auto picked flow: 10,240 cards, more than the {FRAME_CARDS:,} the frame-level " \
                                 f"engines take"
    assert "auto picked flow" in p2p_text(result)
    assert result.write.bandwidth > 200e9  # two cards of one supernode: eight 400 Gb/s planes


def test_auto_keeps_small_fabrics_on_the_data_engine():
    result = run_p2p("pair", Run(), size=4096)
    assert result.mode == "data" and result.verified and result.engine_note is None


@pytest.mark.parametrize("engine", ["data", "timing"])
def test_a_frame_engine_refuses_a_fabric_beyond_its_limit_naming_it_and_the_flow_engine(ten_thousand, engine):
    with pytest.raises(UsageError, match=rf"engine='{engine}': the {engine} engine takes at most 1,024 cards, building "
                                         rf"every frame; fabric cluster-10k-supernode has 10,240: the flow engine "
                                         rf"takes any number \(try engine='flow'\)"):
        run_p2p(ten_thousand, Run(engine=engine))


def test_the_frame_card_limit_is_the_runs_to_set():
    spec = load_fabric("supernode-64")
    with pytest.raises(UsageError, match="takes at most 16 cards"):
        run_p2p(spec, Run(engine="timing", limits=Limits(frame_cards=16)))
    assert run_p2p(spec, Run(limits=Limits(frame_cards=16))).mode == "flow"


def test_flow_refuses_captures_and_faults(ten_thousand, tmp_path):
    from oisa.observe import Capture
    from oisa.sim.faults import FaultModel

    with pytest.raises(UsageError, match="captures and timelines record frames; the flow engine has none"):
        run_p2p(ten_thousand, Run(engine="flow", observer=Capture(str(tmp_path / "x.pcapng"))))
    with pytest.raises(UsageError, match="faults need an engine that moves bytes"):
        run_p2p("pair", Run(engine="flow", faults=FaultModel(ber=1e-6)))


def test_the_command_line_names_the_limit_in_one_line(capsys):
    assert main(["run", "cluster-10k-switched", "--engine", "timing"]) != 0
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    assert err == ("oisa: error: --engine timing: the timing engine takes at most 1,024 cards, building every frame; "
                   "fabric cluster-10k-switched has 10,240: the flow engine takes any number (try --engine flow)")


def test_the_command_line_compares_ten_thousand_card_clusters_on_the_flow_engine(capsys):
    # cards 0 and 64: one supernode on eight planes, against two servers joined by their 400G NICs
    assert main(["compare", "cluster-10k-supernode", "cluster-10k-switched", "--size", "64MiB", "--src", "0", "--dst",
                 "64", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    first, second = out["a"], out["b"]
    assert first["mode"] == second["mode"] == "flow"
    assert first["write"]["bandwidth_GBps"] > 8 * second["write"]["bandwidth_GBps"]
