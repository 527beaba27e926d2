"""Calibration: a log the model itself produced with known figures is fitted back to them, and
the overlay written applies as the fit found it."""

from __future__ import annotations

from pathlib import Path

import pytest

from oisa.ccl import Call, Topology, apply_calibration, load_library, tune
from oisa.ccl.calibrate import calibrate, default_keys, overlay_toml
from oisa.ccl.measurements import parse_log
from oisa.config import Figure
from oisa.errors import UsageError
from oisa.fabric import load_fabric

SIZES = [1 << k for k in range(10, 27)]  # 1 KiB .. 64 MiB


def _log(topology: Topology, library, per_thread: int) -> str:
    """The log nccl-tests would print if the library ran exactly as ``library`` models it."""
    n = len(topology.ranks)
    lines = [f"# nThread 1 nGpus {per_thread} minBytes 1024 maxBytes 67108864 step: 4(factor)"]
    lines += [f"#  Rank {r} Group 0 Pid 1 on node device {r} [0x{r:02x}] GPU" for r in range(n)]
    lines.append("#       size         count      type   redop    root     time   algbw   busbw #wrong     time   "
                 "algbw   busbw #wrong")
    for size in SIZES:
        call = Call("allreduce", topology.ranks, size // 4, launchers=per_thread)
        time_us = tune(call, topology, library).time_ps / 1e6
        algbw = size / time_us / 1e3
        busbw = algbw * 2 * (n - 1) / n
        row = f"{time_us:8.2f} {algbw:7.2f} {busbw:7.2f}      0"
        lines.append(f"{size:12d} {size // 4:13d}     float     sum      -1 {row} {row}")
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def mesh() -> Topology:
    return Topology(load_fabric("mesh-8"), tuple(range(8)))


def test_a_fit_finds_the_figures_a_log_was_made_with(mesh: Topology, tmp_path_factory) -> None:
    base = load_library("rccl-like")
    true_step = 3 * base.value("protocols.simple.step_latency")
    truth = base.replaced({"protocols.simple.step_latency": Figure(true_step, source="a test")})
    measurement = parse_log(_log(mesh, truth, per_thread=1), "model.txt")
    keys = ["protocols.simple.step_latency"]
    fit = calibrate(mesh.spec, base, [(measurement, mesh.ranks)], keys)
    # the weak prior towards the profile's own figure holds the fit a few percent short of the truth
    assert fit.values["protocols.simple.step_latency"] == pytest.approx(true_step, rel=0.1)
    assert fit.rms < 0.03
    path = tmp_path_factory.mktemp("fit") / "calibration.toml"
    path.write_text(overlay_toml(fit, "a test"))
    applied = apply_calibration(base, path)
    assert applied.value("protocols.simple.step_latency") == fit.library.value("protocols.simple.step_latency")
    assert "fitted" in applied.figures["protocols.simple.step_latency"].source


def test_default_keys_follow_the_logs(mesh: Topology) -> None:
    library = load_library("rccl-like")
    one = parse_log(_log(mesh, library, per_thread=1), "one.txt")
    many = parse_log(_log(mesh, library, per_thread=8), "many.txt")
    assert "launch.per_gpu" not in default_keys(library, [one])
    assert "launch.per_gpu" in default_keys(library, [many])
    assert not any("net_step" in key for key in default_keys(library, [one]))


def test_an_unknown_key_is_a_usage_error(mesh: Topology) -> None:
    library = load_library("rccl-like")
    measurement = parse_log(_log(mesh, library, per_thread=1), "one.txt")
    with pytest.raises(UsageError, match="warp"):
        calibrate(mesh.spec, library, [(measurement, mesh.ranks)], ["protocols.simple.warp"])


def test_the_shipped_calibrations_apply() -> None:
    for path in sorted((Path(__file__).resolve().parents[2] / "validation").glob("*/calibration*.toml")):
        library = load_library(Path(path).read_text().split('calibrates = "')[1].split('"')[0], calibration=path)
        assert library.calibration == str(path)
