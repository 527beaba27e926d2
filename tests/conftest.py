"""Test-wide settings: Hypothesis profiles, and a way to load the scripts in ``benchmarks/``.

CI runs the bounded ``ci`` profile (the default). ``HYPOTHESIS_PROFILE=long`` runs many more
examples, for nightly runs; ``HYPOTHESIS_PROFILE=dev`` is quick for editing.
"""

import importlib.util
import os
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest
from hypothesis import HealthCheck, settings

# CI draws the same examples every run (derandomize): a red build means a change broke
# something, never that the dice found something new; the long profile explores.
settings.register_profile("ci", max_examples=60, deadline=None, derandomize=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", max_examples=15, deadline=None)
settings.register_profile("long", max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


BENCHMARKS = Path(__file__).parents[1] / "benchmarks"


@pytest.fixture(scope="session")
def load_benchmark() -> Callable[[str], ModuleType]:
    """Import ``benchmarks/NAME.py`` (not a package) as a module, to run its functions small."""

    def load(name: str) -> ModuleType:
        spec = importlib.util.spec_from_file_location(f"{name}_benchmark", BENCHMARKS / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    return load
