"""Fitting a library profile to measurements: the figures a profile cannot source (the launch
cost, each protocol's handshake and copy rate) chosen so that the library's cost model gives the
measured times, by least squares on log time (scipy's ``least_squares``).

The model fitted is the one the tuner prices calls with (:mod:`oisa.ccl.cost`): for every size
of every log, the least modelled time over the algorithms, protocols and channel counts the
library may use. The mechanisms stay those of the model (rings, trees, protocols, the links of
the fabric); only a handful of parameters move, each for every size at once, so the fit cannot
follow one size's point at another's expense. What it writes is an overlay
(:func:`overlay_toml`) that ``--calibration`` applies to any run, every fitted figure saying it
was fitted and to what.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.optimize import least_squares

from oisa.ccl.kinds import DTYPES, OPS, Call, normalised_count
from oisa.ccl.library import PROTOCOLS, Library
from oisa.ccl.measurements import Measurement
from oisa.ccl.topology import Topology
from oisa.ccl.tuner import tune
from oisa.config import Figure
from oisa.errors import UsageError
from oisa.fabric.spec import FabricSpec

__all__ = ["PRIOR_WEIGHT", "Fit", "FitPoint", "calibrate", "default_keys", "fit_calls", "overlay_toml"]

_LOWEST = {"latency": 0.0, "bandwidth": 1e8}  # bytes/s: a fitted rate is at least 0.1 GB/s
_HIGHEST = {"latency": 1e9, "bandwidth": 1e14}  # ps (1 ms) and bytes/s (100 TB/s)
_STARTS = (1.0, 0.5, 2.0)  # the fit starts from the profile's figures, and from them halved and doubled
# Each fitted figure also pays this much per unit of log distance from the profile's own value: a
# figure the measurements do not pin down (a protocol no size uses, a rate no link lets it reach)
# stays where the sources put it instead of wandering off, and the others move only as far as
# the measurements ask (a weak Gaussian prior: Tikhonov regularisation on the log figures).
PRIOR_WEIGHT = 0.1


@dataclass(frozen=True)
class FitPoint:
    """One measured size and what the fitted model gives for it."""

    source: str
    size: int
    measured_ps: float
    model_ps: float
    choice: str  # algorithm/protocol/channels the fitted tuner picks

    @property
    def residual(self) -> float:
        """ln(model / measured): the quantity least squares minimised."""
        return math.log(self.model_ps / self.measured_ps)


@dataclass(frozen=True)
class Fit:
    """A calibration: the fitted figures (by dotted key, in the profile's units), the profile
    with them applied, and how well the model then matches every measured size."""

    library: Library
    values: dict[str, float]
    points: tuple[FitPoint, ...]
    sources: tuple[str, ...]

    @property
    def rms(self) -> float:
        """Root mean square of the log residuals."""
        return math.sqrt(sum(p.residual ** 2 for p in self.points) / len(self.points))


def default_keys(library: Library, measurements: list[Measurement]) -> list[str]:
    """The figures a fit moves by default: the launch cost (and the host's time per GPU it
    launches, if a log ran a thread per several GPUs: nccl-tests' ``-g``), every protocol's
    handshake (over a network hop too, if a log spans servers) and copy rate, and the copy rate of
    an algorithm that has its own."""
    keys = ["launch.latency"]
    if any(m.gpus_per_thread > 1 for m in measurements):
        keys.append("launch.per_gpu")
    for protocol in PROTOCOLS:
        keys.append(f"protocols.{protocol}.step_latency")
        if any(m.servers > 1 for m in measurements):
            keys.append(f"protocols.{protocol}.net_step_latency")
        keys.append(f"protocols.{protocol}.channel_bandwidth")
    keys += [f"algorithms.{algorithm}.channel_bandwidth" for algorithm in library.algorithms]
    return [key for key in keys if library.has(key)]


def fit_calls(spec: FabricSpec, measurement: Measurement, ranks: tuple[int, ...]) -> list[tuple[Call, float]]:
    """Each row of ``measurement`` as a call on ``ranks`` with its measured time (ps)."""
    calls = []
    for row in measurement.rows:
        if row.dtype not in DTYPES or (row.op not in OPS and row.op != "none"):
            raise UsageError(f"{measurement.source}, line {row.line}: oisa does not model {row.dtype} {row.op}",
                             parameter="log")
        count = normalised_count(measurement.collective, row.size, DTYPES[row.dtype].itemsize, len(ranks))
        root = max(0, row.root) if row.root < len(ranks) else 0
        call = Call(measurement.collective, ranks, count, row.dtype, row.op if row.op != "none" else "sum", root,
                    launchers=measurement.gpus_per_thread)
        calls.append((call, row.time_us * 1e6))
    return calls


def _kind(key: str) -> str:
    return "bandwidth" if key.endswith("bandwidth") else "latency"


def _units(library: Library, key: str) -> float:
    """A figure in the fit's units: ps for times, bytes/s for rates (profiles keep bits/s)."""
    value = float(library.value(key))
    return value / 8 if _kind(key) == "bandwidth" else value


def _figures(values: dict[str, float], note: str) -> dict[str, Figure]:
    """Fitted values as figures in the profile's units, saying they were fitted."""
    return {key: Figure(round(value * 8) if _kind(key) == "bandwidth" else round(value), source=f"fitted: {note}")
            for key, value in values.items()}


def calibrate(spec: FabricSpec, library: Library, measurements: list[tuple[Measurement, tuple[int, ...]]],
              keys: list[str]) -> Fit:
    """Fit ``keys`` of ``library`` to ``measurements`` (each with the cards its ranks map to)."""
    for key in keys:
        if not library.has(key):
            raise UsageError(f"the profile {library.name!r} has no figure {key!r}", parameter="fit", value=key)
    topologies = {ranks: Topology(spec, ranks) for _, ranks in measurements}
    points = [(m.source, call, measured, topologies[ranks]) for m, ranks in measurements
              for call, measured in fit_calls(spec, m, ranks)]
    start = np.array([_units(library, key) for key in keys])
    low = np.array([_LOWEST[_kind(key)] for key in keys])
    high = np.array([_HIGHEST[_kind(key)] for key in keys])

    def trial(x: np.ndarray) -> Library:
        values = {key: float(v) for key, v in zip(keys, _decode(x, low), strict=True)}
        return library.replaced(_figures(values, "trial"))

    prior = _encode(np.clip(start, low, high), low)

    def residuals(x: np.ndarray) -> np.ndarray:
        trial_library = trial(x)
        fit = [math.log(tune(call, topology, trial_library).time_ps / measured)
               for _, call, measured, topology in points]
        return np.concatenate([fit, PRIOR_WEIGHT * (x - prior)])

    best = None
    for scale in _STARTS:
        x0 = _encode(np.clip(np.where(start > 0, start * scale, (high + low) * 1e-6), low, high), low)
        found = least_squares(residuals, x0, bounds=(_encode(low, low), _encode(high, low)), diff_step=0.05,
                              x_scale=1.0, max_nfev=300)
        if best is None or found.cost < best.cost:
            best = found
    assert best is not None
    values = {key: float(v) for key, v in zip(keys, _decode(best.x, low), strict=True)}
    names = sorted({m.source for m, _ in measurements})
    rms = math.sqrt(sum(r ** 2 for r in residuals(best.x)[:len(points)]) / len(points))
    fitted = library.replaced(_figures(values, f"oisa calibrate to {', '.join(names)} (least squares on log time "
                                                f"over {len(points)} sizes, rms log residual {rms:.3f})"))
    out = []
    for source, call, measured, topology in points:
        decision = tune(call, topology, fitted)
        out.append(FitPoint(source, call.size, measured, decision.time_ps,
                            f"{decision.algorithm}/{decision.protocol}/{decision.channels}"))
    return Fit(fitted, values, tuple(out), tuple(names))


def _encode(values: np.ndarray, low: np.ndarray) -> np.ndarray:
    """The fit works on logarithms (figures span decades); latencies may reach zero, so they are
    shifted by 1 ns first."""
    return np.log(values - low + 1000.0)


def _decode(x: np.ndarray, low: np.ndarray) -> np.ndarray:
    return np.exp(x) - 1000.0 + low


def overlay_toml(fit: Fit, description: str) -> str:
    """The calibration as a TOML overlay of the profile it fitted (``--calibration`` reads it)."""
    lines = [f"# A calibration of the collective-library profile {fit.library.name}, written by oisa calibrate.",
             "# Apply it with --calibration FILE; every figure here replaces the profile's own.",
             "", f'calibrates = "{fit.library.name}"', f'description = "{_escaped(description)}"']
    sections: dict[str, list[str]] = {}
    for key in fit.values:
        section, _, name = key.rpartition(".")
        figure = fit.library.figures[key]
        shown = _shown(key, figure.value)
        source = _escaped(figure.source or "")
        sections.setdefault(section, []).append(f'{name} = {{ value = "{shown}", source = "{source}" }}')
    for section, entries in sections.items():
        lines += ["", f"[{section}]", *entries]
    return "\n".join(lines) + "\n"


def _shown(key: str, value: int) -> str:
    if _kind(key) == "bandwidth":
        return f"{value}bps"
    return f"{value}ps"


def _escaped(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')

