"""Library profiles: the catalog's load with every figure sourced, the cards' devices choose
the profile, and a calibration overlay replaces figures or is refused with the key it got wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from oisa.ccl import GENERIC, choose_library, library_for, load_library
from oisa.ccl.library import library_names
from oisa.errors import ConfigError
from oisa.fabric import load_fabric


@pytest.mark.parametrize("name", library_names())
def test_every_catalog_profile_loads_with_sources(name: str) -> None:
    library = load_library(name)
    assert library.name == name
    assert "algorithms.ring.simple" in library.figures
    for key, figure in library.figures.items():
        assert figure.source or figure.assumption, key


def test_the_shipped_profiles() -> None:
    assert set(library_names()) >= {"nccl-like", "rccl-like", "generic"}
    assert "in-switch" in load_library("nccl-like").algorithms
    assert "in-switch" not in load_library("rccl-like").algorithms
    assert "direct" in load_library("rccl-like").one_gpu_per_thread


def test_the_cards_choose_the_library() -> None:
    assert library_for(["nccl-like"] * 8) == "nccl-like"
    assert library_for(["nccl-like", "rccl-like"]) == GENERIC
    assert library_for([None, None]) == GENERIC
    assert choose_library(load_fabric("supernode-64"), tuple(range(8))).name in library_names()


def _overlay(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "calibration.toml"
    path.write_text(body)
    return path


def test_a_calibration_replaces_figures(tmp_path: Path) -> None:
    path = _overlay(tmp_path, 'calibrates = "rccl-like"\n[protocols.simple]\n'
                              'step_latency = { value = "7us", source = "fitted: a test" }\n')
    base = load_library("rccl-like")
    tuned = load_library("rccl-like", calibration=path)
    assert tuned.value("protocols.simple.step_latency") == 7_000_000
    assert tuned.calibration == str(path)
    assert {k: v for k, v in tuned.figures.items() if k != "protocols.simple.step_latency"} == {
        k: v for k, v in base.figures.items() if k != "protocols.simple.step_latency"}


@pytest.mark.parametrize(("body", "words"), [
    ('calibrates = "nccl-like"\n', "adjusts 'nccl-like'"),
    ('calibrates = "rccl-like"\n[protocols.simple]\nwarp_speed = { value = "1us", source = "x" }\n', "warp_speed"),
    ('calibrates = "rccl-like"\n[protocols.simple]\nstep_latency = { value = "fast", source = "x" }\n',
     "step_latency"),
    ('calibrates = "rccl-like"\n[channels]\nmax = { value = 0, source = "x" }\n', "max"),
    ('calibrates = "rccl-like"\nsurprise = 1\n', "surprise"),
])
def test_a_bad_calibration_is_one_config_error(tmp_path: Path, body: str, words: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_library("rccl-like", calibration=_overlay(tmp_path, body))
    assert words in str(caught.value)


def test_a_profile_without_ring_simple_is_refused(tmp_path: Path) -> None:
    text = (Path(__file__).resolve().parents[2] / "libraries" / "generic.toml").read_text()
    start = text.index("[algorithms.ring]")
    end = text.index("[", start + 1)
    path = tmp_path / "broken.toml"
    path.write_text(text[:start] + text[end:])
    with pytest.raises(ConfigError, match="ring"):
        load_library(path)
