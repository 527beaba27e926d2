"""Random tenancies under attack, as JSON-able cases: the isolation property and its inputs.

A case names a small fabric (direct links, or switches), gives up to three tenants random cards,
random windows and, half the time, random partitions, then a list of attempts: reads, writes and
spoofed writes by any card at addresses near the windows' edges or anywhere; half the cases run
with faults on every OISA link (flipped bits, lost and duplicated frames, which the link layer
repairs), so isolation is shown to hold while frames are replayed. :func:`check_case`
runs it on the data engine through :func:`oisa.workload.isolation.probe`, which judges every
attempt byte by byte from the tenancy's tables alone, and checks the fabric counted every
spoofed write it dropped. Windows that would conflict with those before them are left out (a
tenancy file with them is refused, which ``tests/fabric/test_tenancy.py`` covers), so every case
is a valid tenancy. Used by ``tests/properties/test_isolation_properties.py`` and by
``oisa fuzz --target isolation``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import strategies as st

from oisa.device.isolation import Window
from oisa.errors import ConfigError
from oisa.fabric import FabricSpec, load_fabric
from oisa.fabric.tenancy import Partition, Tenancy, tenancy
from oisa.sim.faults import FaultModel
from oisa.workload.engines import ENGINES, FrameEngine
from oisa.workload.isolation import Attempt, probe
from oisa.workload.run import Run

__all__ = ["FABRICS", "check_case", "isolation_cases"]

FABRICS = ("mesh-8", "supernode-64[servers=2]")  # cards linked directly; cards behind switches
_CARDS = 8  # both fabrics' first eight cards are GPUs
_SPAN = 1 << 20  # windows and random addresses fall in the first MiB of each card
_ACCESS = {"r": (True, False), "w": (False, True), "rw": (True, True)}


@st.composite
def isolation_cases(draw: st.DrawFn, *, max_attempts: int = 12) -> dict[str, Any]:
    """A JSON-able case: fabric, tenants, windows, partitions (or None) and attempts."""
    fabric = draw(st.sampled_from(FABRICS))
    owners = draw(st.lists(st.sampled_from([None, "t0", "t1", "t2"]), min_size=_CARDS, max_size=_CARDS))
    tenants: dict[str, list[int]] = {}
    for card, owner in enumerate(owners):
        if owner is not None:
            tenants.setdefault(owner, []).append(card)
    if not tenants:
        tenants["t0"] = [0]
    names = sorted(tenants)
    windows = draw(st.lists(st.tuples(st.sampled_from(names), st.integers(0, _CARDS - 1), st.integers(0, _SPAN),
                                      st.integers(1, 64 * 1024), st.sampled_from(sorted(_ACCESS))), max_size=6))
    partitions = None
    if draw(st.booleans()):
        groups = draw(st.lists(st.sampled_from([None, 0, 1, 2]), min_size=_CARDS, max_size=_CARDS))
        partitions = [[card for card, group in enumerate(groups) if group == index] for index in range(3)]
        partitions = [cards for cards in partitions if cards]
    attempts = []
    for _ in range(draw(st.integers(1, max_attempts))):
        kind = draw(st.sampled_from(["read", "write", "spoof"]))
        src = draw(st.integers(0, _CARDS - 1))
        dst = draw(_other_than(src))
        near_edge: bool = draw(st.booleans())
        if windows and near_edge:  # at a window's edge, where off-by-one errors live
            _, _, base, size, _ = draw(st.sampled_from(windows))
            address = max(0, draw(st.sampled_from([base - 1, base, base + size - 1, base + size])))
        else:
            address = draw(st.integers(0, _SPAN))
        length = draw(st.integers(1, 8192))
        claimed = draw(_other_than(src)) if kind == "spoof" else None
        attempts.append([kind, src, dst, address, length, claimed])
    faults = draw(st.none() | st.fixed_dictionaries({"ber": st.sampled_from([0.0, 1e-6, 1e-5]),
                                                     "drop": st.sampled_from([0.0, 0.01, 0.05]),
                                                     "duplicate": st.sampled_from([0.0, 0.01, 0.05])}))
    return {"fabric": fabric, "tenants": tenants, "windows": [list(w) for w in windows], "partitions": partitions,
            "attempts": attempts, "faults": faults}


def _other_than(card: int) -> st.SearchStrategy[int]:
    """Any of the first cards but ``card``."""
    return st.integers(0, _CARDS - 2).map(lambda other: other + (other >= card))


def _fabric(name: str) -> FabricSpec:
    base, _, rest = name.partition("[")
    return load_fabric(base, {"servers": 2} if rest else None)


def _tenancy(spec: FabricSpec, case: dict[str, Any]) -> Tenancy:
    """The case's tenancy, leaving out each window that conflicts with those kept before it."""
    partitions = None if case["partitions"] is None else [Partition(f"p{index}", tuple(cards))
                                                           for index, cards in enumerate(case["partitions"])]
    kept: list[Window] = []
    for tenant, card, base, size, access in case["windows"]:
        candidate = Window(tenant, card, base, size, *_ACCESS[access])
        try:
            tenancy(spec, case["tenants"], [*kept, candidate], partitions)
        except ConfigError:
            continue
        kept.append(candidate)
    return tenancy(spec, case["tenants"], kept, partitions)


def check_case(case: dict[str, Any]) -> None:
    """Run ``case``; raise VerificationError at a breach, AssertionError if a spoof went uncounted."""
    spec = _fabric(case["fabric"])
    tenants = _tenancy(spec, case)
    attempts = [Attempt(kind, src, dst, address, size, claimed) for kind, src, dst, address, size, claimed
                in case["attempts"]]

    async def body(fabric: Any, run: Run) -> int:
        await fabric.bring_up()
        await probe(fabric, tenants, attempts, np.random.default_rng(0))
        return int(fabric.refusals.spoofed)

    faults = None if case.get("faults") is None else FaultModel(**case["faults"])
    engine = ENGINES["data"]
    assert isinstance(engine, FrameEngine)
    spoofed = engine.execute(spec, Run(engine="data", faults=faults, tenancy=tenants), body)
    sent = sum(attempt.kind == "spoof" for attempt in attempts)
    assert spoofed == sent, f"{sent} spoofed writes sent, {spoofed} dropped as spoofed"
