"""``oisa fuzz``: Hypothesis-driven fuzzing of decoders, the link layer and device adapters,
with every failure shrunk to a minimal input that is saved and can be replayed.

Targets (``--target``):

* ``wire:FMT`` for each format of :data:`oisa.wire.formats.FORMATS`: valid frames decode and
  encode back to the same bytes, the fast codec equals the schema, and mutated or random bytes
  decode exactly or raise FrameError;
* ``link``: two link endpoints over a faulty wire deliver exactly what was sent;
* ``adapter:NAME``: the round-trip and integrity properties of a registered device adapter;
* ``isolation``: random tenancies under random and spoofed accesses hold every grant.

A run is fixed by its seed (Hypothesis' ``seed``, no example database)::

    from oisa.testing.fuzz import fuzz, failure_record, replay

    result = fuzz("wire:pcie-tlp", examples=200, seed=1)
    if result.failure:
        record = failure_record(result)   # JSON-able; replay(record) reruns the minimal input
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from oisa.device.profile import DeviceProfile
from oisa.device.registry import adapters
from oisa.errors import UsageError
from oisa.jsontext import parse_json
from oisa.testing import FUZZ_EXAMPLES
from oisa.testing._explore import Counterexample, describe_error, explore
from oisa.testing.fuzz._adapter import SUMMARY as ADAPTER_SUMMARY
from oisa.testing.fuzz._adapter import adapter_target
from oisa.testing.fuzz._isolation import isolation_target
from oisa.testing.fuzz._link import link_target
from oisa.testing.fuzz._target import FuzzTarget
from oisa.testing.fuzz._wire import wire_target
from oisa.wire.formats import FORMATS

__all__ = ["DEFAULT_EXAMPLES", "FuzzResult", "FuzzTarget", "failure_record", "fuzz", "load_record", "replay",
           "target", "targets_markdown"]

DEFAULT_EXAMPLES = FUZZ_EXAMPLES
RECORD_VERSION = 1


def target(name: str, *, profile: str | Path | DeviceProfile | None = None) -> FuzzTarget:
    """The fuzz target ``name``: ``wire:FMT``, ``link``, ``isolation`` or ``adapter:NAME`` (with ``profile``)."""
    kind, _, argument = name.partition(":")
    if name == "link":
        return link_target()
    if name == "isolation":
        return isolation_target()
    if kind == "wire" and argument:
        return wire_target(argument)
    if kind == "adapter" and argument:
        return adapter_target(argument, profile)
    raise UsageError(f"no fuzz target {name!r}: give wire:FMT ({', '.join(sorted(FORMATS))}), link, isolation, or "
                     f"adapter:NAME "
                     f"({', '.join(adapters())})")


def targets_markdown() -> str:
    """The targets and what each checks, for ``specs/conformance.md``."""
    rows = [(f"wire:{fmt}", wire_target(fmt).summary) for fmt in sorted(FORMATS)]
    rows += [("link", link_target().summary), ("adapter:NAME", ADAPTER_SUMMARY)]
    rows += [("isolation", isolation_target().summary)]
    lines = ["| `--target` | properties |", "|---|---|", *(f"| `{name}` | {text} |" for name, text in rows)]
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class FuzzResult:
    target: str
    profile: str | None
    examples: int  # inputs tried (up to the first failure, if one failed)
    seed: int
    failure: Counterexample[Any] | None


def fuzz(name: str, *, examples: int = DEFAULT_EXAMPLES, seed: int = 0,
         profile: str | Path | DeviceProfile | None = None) -> FuzzResult:
    """Try ``examples`` generated inputs on target ``name``; the same seed tries the same inputs."""
    if examples < 1:
        raise UsageError(f"examples must be at least 1, not {examples}")
    fuzzed = target(name, profile=profile)
    found = explore(fuzzed.inputs, fuzzed.check, examples=examples, seed=seed)
    shown = str(profile.path) if isinstance(profile, DeviceProfile) else (str(profile) if profile else None)
    return FuzzResult(fuzzed.name, shown, found.examples, seed, found.failure)


def failure_record(result: FuzzResult) -> dict[str, Any]:
    """A failed run as JSON: everything :func:`replay` needs to rerun its minimal input."""
    if result.failure is None:
        raise UsageError(f"the run of {result.target} did not fail: there is nothing to record")
    return {"oisa_fuzz": RECORD_VERSION, "target": result.target, "profile": result.profile, "seed": result.seed,
            "error": result.failure.error, "input": result.failure.example}


def load_record(path: str | Path) -> dict[str, Any]:
    """A failure file written by ``oisa fuzz``; UsageError naming the file if it is not one."""
    try:
        record = parse_json(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(f"{path}: cannot read: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise UsageError(f"{path}: not a text file (byte {exc.start} is not UTF-8): a failure file is JSON") from None
    except UsageError as exc:
        raise UsageError(f"{path}: {exc}") from None
    missing = [key for key in ("oisa_fuzz", "target", "input") if not isinstance(record, dict) or key not in record]
    if missing:
        raise UsageError(f"{path}: not an oisa fuzz failure file (missing {', '.join(missing)})")
    if record["oisa_fuzz"] != RECORD_VERSION:
        raise UsageError(f"{path}: failure file version {record['oisa_fuzz']!r}; this oisa reads {RECORD_VERSION}")
    return record


def replay(record: dict[str, Any]) -> str | None:
    """Run a recorded input once more: what still goes wrong, or None if it passes now."""
    rerun = target(record["target"], profile=record.get("profile"))
    try:
        rerun.check(record["input"])
    except UsageError:
        raise  # the file's input is malformed: that is the user's error, not a finding
    except Exception as exc:
        return describe_error(exc)
    return None
