"""Points: one run of a study each, keyed by what it is, run where a worker is.

A point's key is a content hash of everything its result depends on: oisa's version, the
fabric file as read (with the study's overrides set), the text of every device profile its
cards use, the workload, its options, the engine and the seed. Two points with the same key
are the same run, whichever study file or machine asks for it, so a result on disk is reused
exactly when it is still the answer; change the fabric file, a profile or oisa's version and
the key changes. (In a source checkout the version stays the same while the code changes:
start a fresh output folder after changing oisa's code.)

:func:`run_point` is what a worker runs: it takes a :class:`Point` (the fabric travels
loaded, so a remote worker needs none of the study's files) and returns its outcome as plain
data, an error included: a failing point is recorded and the study goes on.
"""

from __future__ import annotations

import hashlib
import json
import time
import traceback
from dataclasses import dataclass
from functools import lru_cache
from importlib import metadata
from typing import Any

from oisa import catalog
from oisa.errors import OisaError, UsageError
from oisa.fabric import FabricSpec
from oisa.fabric.loader import fabric_document
from oisa.report import result_json
from oisa.study.design import Study, Variant, fabric_path
from oisa.workload import Run
from oisa.workload.registry import find

__all__ = ["CRASHED", "FAILED", "OK", "Point", "oisa_version", "plan_points", "run_point"]

OK, FAILED, CRASHED = "ok", "failed", "crashed"


@dataclass(frozen=True)
class Point:
    """One run: its place in the study, its key, the inputs as the table shows them, and what
    a worker needs to run it."""

    index: int
    key: str
    inputs: dict[str, Any]
    spec: FabricSpec
    workload: str
    options: tuple[tuple[str, Any], ...]
    engine: str
    seed: int


@lru_cache(maxsize=1)
def oisa_version() -> str:
    return metadata.version("oisa")


def plan_points(study: Study) -> list[Point]:
    """The study's points in order, each keyed; points with the same inputs appear once."""
    points: list[Point] = []
    seen: set[str] = set()
    fabric_keys: dict[tuple[str, str], Any] = {}
    for variant in study.variants():
        memo = (variant.fabric, repr(variant.overrides))
        if memo not in fabric_keys:
            fabric_keys[memo] = _fabric_identity(study, variant)
        key = _key(fabric_keys[memo], variant)
        if key in seen:
            continue
        seen.add(key)
        points.append(Point(len(points), key, _inputs(variant), variant.spec, variant.workload, variant.options,
                            variant.engine, variant.seed))
    return points


def _inputs(variant: Variant) -> dict[str, Any]:
    """The point's columns in the table: what the study varied, named as the study names it."""
    inputs: dict[str, Any] = {"fabric": variant.fabric}
    inputs.update({f"fabric.{path}": value for path, value in variant.overrides})
    inputs["workload"] = variant.workload
    inputs.update({f"option.{name}": list(value) if isinstance(value, tuple) else value
                   for name, value in variant.options})
    inputs.update(engine=variant.engine, seed=variant.seed)
    return inputs


def _fabric_identity(study: Study, variant: Variant) -> dict[str, Any]:
    """What of the fabric a result depends on: the file as read, overrides set, and the text of
    each device profile its cards use (by hash)."""
    path = catalog.resolve("fabrics", fabric_path(study.source, variant.fabric))
    document = fabric_document(path, dict(variant.overrides)).data
    profiles = {card.device.path for card in variant.spec.cards}
    return {"document": document,
            "devices": sorted(hashlib.sha256(p.read_bytes()).hexdigest() for p in profiles)}


def _key(fabric: dict[str, Any], variant: Variant) -> str:
    identity = {"oisa": oisa_version(), "fabric": fabric, "workload": variant.workload,
                "options": [[name, value] for name, value in variant.options], "engine": variant.engine,
                "seed": variant.seed}
    text = json.dumps(identity, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def run_point(point: Point) -> dict[str, Any]:
    """Run ``point`` and return its outcome: ``status`` (ok or failed), ``error`` (None, or the
    error's type and message), ``result`` (the result's JSON, as ``oisa run --json`` prints it)
    ``wall_s`` and ``cpu_s``, the wall and processor time it took here. Never raises for a failing run: an oisa error
    is the point's answer, and anything else (a bug) is recorded with its traceback."""
    start, cpu = time.perf_counter(), time.process_time()
    try:
        result = find(point.workload)(point.spec, Run(seed=point.seed, engine=point.engine), **dict(point.options))
        outcome: dict[str, Any] = {"status": OK, "error": None, "result": result_json(result)}
    except OisaError as exc:
        message = exc.describe() if isinstance(exc, UsageError) else str(exc)
        outcome = {"status": FAILED, "error": {"type": type(exc).__name__, "message": message}, "result": None}
    except Exception as exc:  # a bug in oisa or a plug-in is this point's record, not the study's end
        outcome = {"status": FAILED, "result": None,
                   "error": {"type": type(exc).__name__, "message": str(exc), "traceback": traceback.format_exc()}}
    outcome["wall_s"] = round(time.perf_counter() - start, 6)
    outcome["cpu_s"] = round(time.process_time() - cpu, 6)
    return outcome
