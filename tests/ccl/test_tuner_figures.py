"""The tuner's figures kept through its speed-ups: every choice it prices for calls of 8 to
1,024 cards costs what it cost before its pricing was vectorised (the flowbook's arrays, the
trees and rings worked out once per topology), to the last bit, and it picks the same.

The figures were written by the tuner of commit a66e395 (per-rank Python loops), with every
candidate's channel counts as :func:`oisa.ccl.tuner.channel_options` gives them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from oisa.ccl import Call, Topology, choose_library, normalised_count, tune
from oisa.ccl.tuner import price
from oisa.fabric import load_fabric
from oisa.workload.collectives import collective_ranks

FIGURES = json.loads((Path(__file__).parent.parent / "data" / "tuner" / "figures-a66e395.json").read_text())["calls"]


@pytest.mark.parametrize("name", sorted(FIGURES))
def test_every_choice_costs_what_it_did(name: str) -> None:
    figures = FIGURES[name]
    spec = load_fabric(figures["fabric"])
    ranks = collective_ranks(spec, None)[:figures["cards"]] if figures["cards"] else collective_ranks(spec, None)
    call = Call(figures["collective"], ranks, normalised_count(figures["collective"], figures["size"], 4, len(ranks)))
    topology = Topology(spec, ranks)
    library = choose_library(spec, ranks)
    decision = tune(call, topology, library)
    assert [decision.algorithm, decision.protocol, decision.channels, decision.time_ps] == figures["pick"]
    for choice, before in figures["priced"].items():
        algorithm, protocol, channels = choice.split("/")
        assert price(call, topology, library, algorithm, protocol, int(channels)) == before, choice

