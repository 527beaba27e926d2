"""oisa's pytest plugin (entry point ``pytest11``): ``pytest --oisa-adapter NAME`` runs the
adapter conformance kit against any registered adapter, one test per case.

Everyone who installs oisa loads this plugin in every pytest run, so without ``--oisa-adapter``
it only declares its options: it imports nothing of oisa and adds no tests.
"""

from __future__ import annotations

from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest

__all__ = ["pytest_addoption", "pytest_configure"]

_NODE_ID = "oisa-conformance"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("oisa", "oisa device-adapter conformance")
    group.addoption("--oisa-adapter", metavar="NAME", help="run oisa's conformance cases against the registered "
                    "device adapter NAME (see `oisa devices`)")
    group.addoption("--oisa-profile", metavar="NAME_OR_PATH", help="device profile for the adapter's cards "
                    "(default: the first profile that selects it)")
    group.addoption("--oisa-examples", metavar="N", type=int, help="generated examples per case (default: the kit's)")
    group.addoption("--oisa-seed", metavar="S", type=int, default=0, help="seed of the generated examples (default: 0)")


def pytest_configure(config: pytest.Config) -> None:
    name = config.getoption("oisa_adapter")
    if not name:
        return
    from oisa.errors import OisaError
    from oisa.testing.conformance import subject

    try:
        subject(name, config.getoption("oisa_profile"))
    except OisaError as exc:
        raise pytest.UsageError(f"--oisa-adapter {name}: {exc}") from None
    config.pluginmanager.register(_ConformanceCollection(), "oisa-conformance-collection")


class _ConformanceCollection:
    """Adds the kit's test module to the session's collection."""

    @pytest.hookimpl(wrapper=True)
    def pytest_make_collect_report(self, collector: pytest.Collector) -> Generator[None, Any, Any]:
        report = yield
        if isinstance(collector, pytest.Session) and report.passed:
            from oisa.testing.conformance import pytest_suite

            report.result.append(pytest.Module.from_parent(collector, path=Path(pytest_suite.__file__),
                                                           nodeid=_NODE_ID))
        return report
