"""``adapter:NAME``: exchanges through a device adapter keep every field that means something,
and bad native bytes get a typed error: the conformance kit's per-message properties, with the
whole budget spent on generated inputs and every failure saved for replay."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hypothesis import strategies as st

from oisa.device.profile import DeviceProfile
from oisa.errors import UsageError
from oisa.testing._explore import PropertyFailed
from oisa.testing.conformance import (
    PATTERNS,
    Exchange,
    Outcome,
    bad_native_bytes,
    carried_kinds,
    check_bad_native_bytes,
    exchanges,
    run_exchange,
    subject,
)
from oisa.testing.fuzz._target import FuzzTarget

__all__ = ["SUMMARY", "adapter_target"]

SUMMARY = ("every exchange the adapter carries keeps every field that means something (status, ids, payload, "
           "ordering attributes included); bad native bytes raise FrameError or BridgeError")


def adapter_target(name: str, profile: str | Path | DeviceProfile | None = None) -> FuzzTarget:
    under_test = subject(name, profile)
    kinds = sorted(carried_kinds(under_test))
    if not kinds:
        raise UsageError(f"adapter {name!r} carries no request at all: there is nothing to fuzz")

    def check(example: dict[str, Any]) -> None:
        if not isinstance(example, dict) or set(example) != {"exchange"}:
            check_bad_native_bytes(under_test, example)  # a mutated frame, or random bytes
            return
        findings = run_exchange(under_test, Exchange.from_json(example["exchange"])) or []
        if findings:
            raise PropertyFailed(findings[0].text)

    crossing = exchanges(under_test, kinds=st.sampled_from(kinds), outcomes=st.sampled_from(list(Outcome)),
                         patterns=st.sampled_from(list(PATTERNS)))
    inputs = crossing.map(lambda e: {"exchange": e.to_json()}) | bad_native_bytes(under_test, kinds)
    return FuzzTarget(f"adapter:{name}", SUMMARY, inputs, check)
