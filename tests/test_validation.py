"""The shipped validations (``validation/bounds.toml``): every table, run on its fabric with its
calibration, stays within the geometric-mean busbw error recorded for it, and every calibration
says it was fitted to the tables the bounds file says (none of them the table it validates,
where the bounds file says it was held out).

The bounds are what the model reached when they were recorded, rounded up to the next whole
percent: a change that makes a system's error grow past them fails here and must say why (or
record the new figure, with the reason, in ``validation/README.md``). The checks the bounds file
marks ``slow`` (the 16-card tables up to 16 GiB, NVLS up to 4 GiB: 30 s to 2 min each) run when
``OISA_VALIDATION=all`` is set; the held-out MI300X tables run every time."""

from __future__ import annotations

import math
import os
from pathlib import Path

import pytest

from oisa.ccl.measurements import read_log
from oisa.config import load_toml
from oisa.fabric import load_fabric
from oisa.workload.validate import validate

VALIDATION = Path(__file__).resolve().parent.parent / "validation"


def _checks() -> list[dict]:
    doc = load_toml(VALIDATION / "bounds.toml")
    checks = []
    for table in doc.tables("check"):
        check = {"log": table.get("log", str), "fabric": table.get("fabric", str),
                 "calibration": table.get("calibration", str), "calibrated_on": table.get("calibrated_on", list),
                 "held_out": table.get("held_out", bool), "slow": table.get("slow", bool),
                 "large": table.get("large", float),
                 "all": table.get("all", float)}
        table.finish()
        checks.append(check)
    doc.finish()
    return checks


CHECKS = _checks()


@pytest.mark.parametrize("check", CHECKS, ids=[Path(c["log"]).stem for c in CHECKS])
def test_every_shipped_table_stays_within_its_bound(check: dict) -> None:
    if check["slow"] and os.environ.get("OISA_VALIDATION") != "all":
        pytest.skip("a slow validation: set OISA_VALIDATION=all to run it")
    validation = validate(load_fabric(VALIDATION / check["fabric"]), read_log(VALIDATION / check["log"]),
                          calibration=str(VALIDATION / check["calibration"]))
    assert validation.large_error is not None and validation.large_error <= check["large"], (
        f"{check['log']}: {validation.large_error:.1%} over sizes of 1 MiB and up, bound {check['large']:.0%}")
    assert validation.all_error <= check["all"], (
        f"{check['log']}: {validation.all_error:.1%} over all sizes, bound {check['all']:.0%}")
    # a bound loose by more than a point would let the error grow unseen
    assert math.ceil(validation.large_error * 100) / 100 >= check["large"] - 0.01
    assert math.ceil(validation.all_error * 100) / 100 >= check["all"] - 0.01


@pytest.mark.parametrize("check", CHECKS, ids=[Path(c["log"]).stem for c in CHECKS])
def test_each_calibration_was_fitted_to_what_the_bounds_say(check: dict) -> None:
    text = (VALIDATION / check["calibration"]).read_text()
    fitted_to = text.split("fitted to ", 1)[1].split(" on ", 1)[0]
    named = {Path(p).name for p in fitted_to.split(", ")}
    assert named == {Path(p).name for p in check["calibrated_on"]}
    assert (Path(check["log"]).name in named) != check["held_out"]
    for path in check["calibrated_on"]:
        assert (VALIDATION / path).exists(), path
