"""The ``pingpong`` workload this plug-in adds, the way oisa's users meet it: from Python, as
``oisa run -w pingpong`` and ``oisa compare ... -w pingpong`` (text and ``--json``), on all three
engines, with the options it refuses and the arguments it cannot use named."""

from __future__ import annotations

import json

import oisa_example_vendor.pingpong as pingpong
import pytest
from oisa_example_vendor.pingpong import PingPongResult, percentile, run_pingpong

from oisa.cli import main
from oisa.errors import UsageError, VerificationError
from oisa.workload import Run, workloads


def oisa(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def test_oisa_finds_the_workload_through_the_entry_point() -> None:
    declared = workloads()["pingpong"]
    assert declared.distribution == "oisa-example-vendor"
    assert declared.option_names == ("src", "dst", "size", "rounds")
    assert declared.defaults == {"src": None, "dst": None, "size": 64, "rounds": 100}  # the function's keywords
    assert declared.engines == ("data", "timing", "flow") and declared.result is PingPongResult


def test_round_trips_move_real_bytes_and_are_timed_one_by_one() -> None:
    result = run_pingpong("pair", Run(engine="data", seed=3), size=4096, rounds=12)
    assert result.verified is True and result.mode == "data" and (result.src, result.dst) == (0, 1)
    assert len(result.round_trips_ps) == 12 and all(trip > 0 for trip in result.round_trips_ps)
    assert result.min_ps <= result.p50_ps <= result.p99_ps <= result.max_ps
    assert result.messages >= 2 * 12  # at least one message each way per round trip
    assert result == run_pingpong("pair", Run(engine="data", seed=3), size=4096, rounds=12)  # a seed fixes it


def test_a_larger_message_takes_longer_and_the_three_engines_agree() -> None:
    small = run_pingpong("pair", Run(engine="timing"), size=64, rounds=3)
    large = {engine: run_pingpong("pair", Run(engine=engine), size=64 * 1024, rounds=3)
             for engine in ("data", "timing", "flow")}
    assert large["timing"].p50_ps > 2 * small.p50_ps
    assert large["data"].verified is True and large["timing"].verified is None and large["flow"].verified is None
    reference = large["timing"].p50_ps
    for result in large.values():
        assert abs(result.p50_ps - reference) / reference < 0.02  # measured: 0.3% apart at 64 KiB on pair


def test_the_check_fails_when_the_bytes_that_came_back_are_not_those_sent(monkeypatch) -> None:
    """The verification is not a formality: SRC's memory holding other bytes than the check
    expects (as a crossing that altered them would leave it) is a VerificationError."""
    fill = pingpong._fill

    def expect_other_bytes(*args):
        return fill(*args) ^ 1

    monkeypatch.setattr(pingpong, "_fill", expect_other_bytes)
    with pytest.raises(VerificationError, match="differs from what card 0 first sent"):
        run_pingpong("pair", Run(engine="data"), size=256, rounds=2)


def test_percentiles_are_nearest_rank_values_measured() -> None:
    trips = tuple(range(1, 101))
    assert (percentile(trips, 50), percentile(trips, 99), percentile(trips, 100)) == (50, 99, 100)
    assert percentile((7,), 99) == 7 and percentile((5, 1, 9), 50) == 5


@pytest.mark.parametrize(("arguments", "keyword"), [
    ({"rounds": 0}, "rounds"), ({"size": "4KiB"}, "size"), ({"src": 0, "dst": 0}, "src"),
    ({"root": 1}, "root"), ({"size": 1 << 40}, "size"),
])
def test_a_wrong_argument_is_refused_naming_the_keyword(arguments, keyword) -> None:
    with pytest.raises(UsageError) as caught:
        run_pingpong("pair", Run(engine="data"), **arguments)
    assert keyword in str(caught.value)


def test_oisa_run_shows_it_as_text_and_as_json(capsys) -> None:
    status, out, _ = oisa(capsys, "run", "pair", "-w", "pingpong", "--rounds", "4", "-s", "1KiB")
    assert status == 0 and "4 round trips" in out and "p99" in out and "verified" in out
    status, out, _ = oisa(capsys, "run", "pair", "-w", "pingpong", "--rounds", "4", "--size", "1KiB", "--json")
    shown = json.loads(out)
    assert status == 0 and shown["workload"] == "pingpong" and shown["rounds"] == 4 and shown["size_bytes"] == 1024
    assert set(shown["round_trip_ps"]) == {"min", "p50", "p99", "max"} and len(shown["round_trips_ps"]) == 4
    assert shown["verified"] is True


def test_oisa_compare_lays_the_latencies_side_by_side(capsys) -> None:
    status, out, _ = oisa(capsys, "compare", "supernode-64", "switched-64", "-w", "pingpong", "--rounds", "2",
                          "--size", "4KiB", "--engine", "timing")
    assert status == 0 and "round trip, p50" in out and "switched-64 / supernode-64" in out
    status, out, _ = oisa(capsys, "compare", "supernode-64", "switched-64", "-w", "pingpong", "--rounds", "2",
                          "--engine", "timing", "--json")
    shown = json.loads(out)
    assert status == 0 and shown["workload"] == "pingpong"
    assert set(shown["ratio_b_over_a"]) == {"round_trip_min", "round_trip_p50", "round_trip_p99"}
    assert shown["a"]["src"] == shown["b"]["src"] and shown["a"]["dst"] == shown["b"]["dst"]  # the same two cards
    assert shown["ratio_b_over_a"]["round_trip_p50"] > 1  # across servers, the switched fabric is slower


def test_options_it_does_not_take_are_refused(capsys) -> None:
    status, _, err = oisa(capsys, "run", "pair", "-w", "pingpong", "--root", "1")
    assert status == 2 and "--root: not an option of pingpong (it takes --src, --dst, --size, --rounds)" in err
    status, _, err = oisa(capsys, "run", "pair", "-w", "pingpong", "--rounds", "0")
    assert status == 2 and "--rounds" in err


def test_the_readme_documents_every_json_key(capsys) -> None:
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    documented = readme[readme.index("Its `--json` object:"):readme.index("## Make it your own")]
    _, out, _ = oisa(capsys, "run", "pair", "-w", "pingpong", "--rounds", "2", "--json")
    shown = json.loads(out)
    keys = set(shown) | set(shown["round_trip_ps"]) | set(shown["wire"])
    assert {key for key in keys if f"`{key}`" not in documented} == set()
