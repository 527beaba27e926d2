"""Validations and calibrations as text and JSON (keys: ``specs/cli-json.md``), and the plot of
measured against modelled bus bandwidth.

A validation reads like nccl-tests' own table with oisa's figures beside the measured ones: per
size the time and bus bandwidth measured and modelled, their relative errors and what the library
ran, then the geometric-mean errors (over sizes of 1 MiB and up, and over all sizes).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from oisa.ccl.calibrate import Fit
from oisa.report.plot import _pyplot, _save
from oisa.units import format_size
from oisa.workload.validate import LARGE, Validation

__all__ = ["calibration_json", "calibration_text", "plot_validation", "validation_json", "validation_text"]


def validation_json(validation: Validation) -> dict[str, Any]:
    m = validation.measurement
    return {
        "log": m.source,
        "fabric": validation.fabric,
        "collective": m.collective,
        "ranks": m.ranks,
        "gpus_per_thread": m.gpus_per_thread,
        "calibration": validation.calibration,
        "rows": [{
            "size_bytes": c.size,
            "measured_time_us": c.measured_us,
            "model_time_us": round(c.model_us, 3),
            "time_error": round(c.time_error, 6),
            "measured_busbw_GBps": c.measured_busbw,
            "model_busbw_GBps": round(c.model_busbw, 3),
            "busbw_error": round(c.busbw_error, 6),
            "algorithm": c.result.algorithm,
            "protocol": c.result.protocol,
            "channels": c.result.channels,
        } for c in validation.comparisons],
        "geomean_error": {"large": None if validation.large_error is None else round(validation.large_error, 6),
                          "all": round(validation.all_error, 6)},
        "large_from_bytes": LARGE,
    }


def validation_text(validation: Validation) -> str:
    m = validation.measurement
    lines = [
        f"# oisa validate: {m.source} ({m.collective}, {m.ranks} ranks, {m.gpus_per_thread} GPU"
        f"{'s' if m.gpus_per_thread != 1 else ''} per thread) on {validation.fabric}"
        f"{', calibration ' + validation.calibration if validation.calibration else ''}",
        "# measured: out-of-place time as the log prints it; model: oisa's timing engine, the library's tuner "
        "choosing; errors model against measured",
        f"# {'size':>12} {'time (us)':>21} {'error':>8} {'busbw (GB/s)':>19} {'error':>8}  algo/proto/ch",
        f"# {'(B)':>12} {'measured':>10} {'model':>10} {'':>8} {'measured':>9} {'model':>9} {'':>8}",
    ]
    for c in validation.comparisons:
        lines.append(f"  {c.size:>12} {c.measured_us:>10.2f} {c.model_us:>10.2f} {c.time_error:>+8.1%} "
                     f"{c.measured_busbw:>9.2f} {c.model_busbw:>9.2f} {c.busbw_error:>+8.1%}  "
                     f"{c.result.algorithm}/{c.result.protocol}/{c.result.channels}")
    large = validation.large_error
    lines.append(f"# geometric-mean error, sizes of {format_size(LARGE)} and up: "
                 f"{'n/a (none)' if large is None else f'{large:.1%}'}; all sizes: {validation.all_error:.1%}")
    return "\n".join(lines)


def calibration_json(fit: Fit, written: str) -> dict[str, Any]:
    return {
        "library": fit.library.name,
        "calibration": written,
        "logs": list(fit.sources),
        "fitted": {key: fit.library.value(key) for key in fit.values},
        "rms_log_residual": round(fit.rms, 6),
        "points": [{"log": p.source, "size_bytes": p.size, "measured_time_us": round(p.measured_ps / 1e6, 3),
                    "model_time_us": round(p.model_ps / 1e6, 3), "residual": round(p.residual, 6),
                    "choice": p.choice} for p in fit.points],
    }


def calibration_text(fit: Fit, written: str) -> str:
    lines = [f"# oisa calibrate: {fit.library.name} fitted to {', '.join(fit.sources)}; written to {written}",
             "# fitted figures (times in ps, rates in bits/s, as the profile keeps them):"]
    lines += [f"#   {key:<40} {fit.library.value(key)}" for key in fit.values]
    lines += ["# residuals of the library's cost model after the fit, ln(model / measured):",
              f"# {'log':<40} {'size':>12} {'measured':>10} {'model':>10} {'residual':>9}  algo/proto/ch",
              f"# {'':<40} {'(B)':>12} {'(us)':>10} {'(us)':>10}"]
    for p in fit.points:
        lines.append(f"  {Path(p.source).name[:40]:<40} {p.size:>12} {p.measured_ps / 1e6:>10.2f} "
                     f"{p.model_ps / 1e6:>10.2f} {p.residual:>+9.3f}  {p.choice}")
    lines.append(f"# rms log residual: {fit.rms:.3f}")
    return "\n".join(lines)


def plot_validation(validation: Validation, path: str | Path) -> None:
    """Measured and modelled bus bandwidth against size on one log-log plot."""
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(7.5, 4.2))
    sizes = [c.size for c in validation.comparisons]
    measured = [max(c.measured_busbw, 1e-3) for c in validation.comparisons]
    model = [max(c.model_busbw, 1e-3) for c in validation.comparisons]
    axes.plot(sizes, measured, "o-", label="measured")
    axes.plot(sizes, model, "s--", label=f"oisa on {validation.fabric}")
    axes.set_xscale("log", base=2)
    axes.set_yscale("log")
    axes.set_xlabel("size (bytes)")
    axes.set_ylabel("bus bandwidth (GB/s)")
    large = validation.large_error
    axes.set_title(f"{validation.measurement.collective}, {validation.measurement.ranks} ranks: geomean error "
                   f"{'n/a' if large is None else f'{large:.1%}'} (>= 1 MiB), {validation.all_error:.1%} (all)",
                   fontsize=9)
    axes.grid(True, which="both", alpha=0.3)
    axes.legend()
    _save(figure, path)
    plt.close(figure)
