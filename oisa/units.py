"""Quantities with units, as people write them in TOML files and on the command line.

Virtual time is an integer number of picoseconds everywhere inside oisa: integers make ties
exact (two events at "the same time" really are at the same time) and results reproducible
bit for bit. Rates are integer bits per second, sizes integer bytes.
"""

from __future__ import annotations

import re

from oisa.errors import UnitError

__all__ = [
    "MS",
    "NS",
    "PS",
    "US",
    "GiB",
    "KiB",
    "MiB",
    "S",
    "format_rate",
    "format_size",
    "format_time",
    "parse_flops",
    "parse_rate",
    "parse_size",
    "parse_time",
    "serialisation_ps",
]

PS = 1
NS = 1_000
US = 1_000_000
MS = 1_000_000_000
S = 1_000_000_000_000

KiB = 2**10
MiB = 2**20
GiB = 2**30

_NUMBER = r"(?P<num>[0-9]+(?:\.[0-9]*)?(?:[eE][+-]?[0-9]+)?)"
_SIZE_UNITS = {
    "": 1, "b": 1, "B": 1,
    "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12,
    "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40,
    "KiB": 2**10, "MiB": 2**20, "GiB": 2**30, "TiB": 2**40,
}
_RATE_UNITS = {
    "bps": 1, "b/s": 1,
    "Kbps": 10**3, "Mbps": 10**6, "Gbps": 10**9, "Tbps": 10**12,
    "Kb/s": 10**3, "Mb/s": 10**6, "Gb/s": 10**9, "Tb/s": 10**12,
    "GT/s": 10**9,
    "B/s": 8, "KB/s": 8 * 10**3, "MB/s": 8 * 10**6, "GB/s": 8 * 10**9, "TB/s": 8 * 10**12,
}
_TIME_UNITS = {"ps": PS, "ns": NS, "us": US, "µs": US, "ms": MS, "s": S}
_FLOPS_UNITS = {"FLOPS": 1, "GFLOPS": 10**9, "TFLOPS": 10**12, "PFLOPS": 10**15,
                "OPS": 1, "GOPS": 10**9, "TOPS": 10**12, "POPS": 10**15}


def _parse(text: str | int | float, units: dict[str, int], what: str, default_unit: str) -> int:
    if isinstance(text, bool):
        raise UnitError(f"{what}: expected a number with a unit, got {text!r}")
    if isinstance(text, (int, float)):
        value = float(text) * units[default_unit]
    else:
        match = re.fullmatch(_NUMBER + r"\s*(?P<unit>[A-Za-zµ/]*)", text.strip())
        if match is None or match["unit"] not in units:
            known = ", ".join(sorted(u for u in units if u))
            raise UnitError(f"{what}: cannot read {text!r} (a number and one of: {known})")
        value = float(match["num"]) * units[match["unit"]]
    if value != value or value in (float("inf"), float("-inf")):
        raise UnitError(f"{what}: {text!r} is not a finite quantity")
    rounded = round(value)
    if abs(value - rounded) > 1e-6 * max(1.0, abs(value)):
        raise UnitError(f"{what}: {text!r} is not a whole number of the smallest unit")
    return int(rounded)


def parse_size(text: str | int, what: str = "size") -> int:
    """Bytes from ``"1MiB"``, ``"4 KiB"``, ``"1GB"`` or a bare integer; must be positive."""
    value = _parse(text, _SIZE_UNITS, what, "")
    if value <= 0:
        raise UnitError(f"{what}: {text!r} must be greater than zero")
    return value


def parse_rate(text: str | int | float, what: str = "rate") -> int:
    """Bits per second from ``"200Gbps"``, ``"32GT/s"``, ``"50GB/s"`` (bare numbers are Gb/s)."""
    value = _parse(text, _RATE_UNITS, what, "Gbps")
    if value <= 0:
        raise UnitError(f"{what}: {text!r} must be greater than zero")
    return value


def parse_time(text: str | int | float, what: str = "time") -> int:
    """Picoseconds from ``"100ns"``, ``"1.5us"`` (bare numbers are nanoseconds); may be zero."""
    value = _parse(text, _TIME_UNITS, what, "ns")
    if value < 0:
        raise UnitError(f"{what}: {text!r} must not be negative")
    return value


def parse_flops(text: str | int | float, what: str = "compute rate") -> int:
    """Operations per second from ``"989.4TFLOPS"`` or ``"3958TOPS"`` (bare numbers are TFLOPS)."""
    value = _parse(text, _FLOPS_UNITS, what, "TFLOPS")
    if value <= 0:
        raise UnitError(f"{what}: {text!r} must be greater than zero")
    return value


def serialisation_ps(n_bytes: int, rate_bps: int) -> int:
    """Time to put ``n_bytes`` on a wire of ``rate_bps``, rounded up to a whole picosecond.

    Rounding up means a measured bandwidth can never exceed the configured rate.
    """
    return -((-n_bytes * 8 * S) // rate_bps)


def format_size(n_bytes: int) -> str:
    """A size as a person would write it: ``64KiB``, ``100GB``; one that is a round number of
    neither units shows its bytes and its size in binary units (``1000001B (976.6KiB)``)."""
    for unit, factor in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n_bytes >= factor and n_bytes % factor == 0:
            return f"{n_bytes // factor}{unit}"
    for unit, factor in (("TB", 10**12), ("GB", 10**9), ("MB", 10**6)):
        if n_bytes >= factor and n_bytes % factor == 0:
            return f"{n_bytes // factor}{unit}"
    for unit, factor in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n_bytes >= factor:
            return f"{n_bytes}B ({n_bytes / factor:.1f}{unit})"
    return f"{n_bytes}B"


def format_time(ps: int | float) -> str:
    for unit, factor in (("s", S), ("ms", MS), ("us", US), ("ns", NS)):
        if abs(ps) >= factor:
            return f"{ps / factor:.3f} {unit}"
    return f"{ps} ps"


def format_rate(bytes_per_s: float) -> str:
    return f"{bytes_per_s / 1e9:.2f} GB/s"
