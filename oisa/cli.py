"""The ``oisa`` command.

Every failure the user can cause (a missing or malformed file, an unknown name, a bad size)
ends in one line on standard error, ``oisa: error: ...``, and a non-zero exit status: 2 for
command-line mistakes, 1 for everything else. Tracebacks are for bugs in oisa only.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any

import click

from oisa.errors import OisaError, UsageError
from oisa.fabric import load_fabric
from oisa.report import comparison_json, comparison_text, device_listing, devices_text, p2p_json, p2p_text
from oisa.sim.faults import FaultModel
from oisa.testing import CONFORMANCE_EXAMPLES, FUZZ_EXAMPLES
from oisa.units import parse_size, parse_time
from oisa.wire.formats import FORMATS, FormatOptions
from oisa.workload import default_pair, run_p2p

__all__ = ["main"]

DEFAULT_FABRIC = "pair"
WORKLOADS = ("p2p",)


class Size(click.ParamType):
    """A byte count with an optional unit: 4096, 64KiB, 1MiB, 1GB."""

    name = "size"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int):
            return value
        try:
            return parse_size(value, what=param.opts[0] if param else "size")
        except OisaError as exc:
            self.fail(str(exc).split(": ", 1)[-1], param, ctx)


class Probability(click.ParamType):
    """A probability: 0 up to, not including, 1 (1e-6, 0.001)."""

    name = "probability"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        try:
            number = float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number", param, ctx)
        if not 0 <= number < 1:
            self.fail(f"{value!r} is not a probability from 0 up to (not including) 1", param, ctx)
        return number


class Time(click.ParamType):
    """A virtual time with a unit: 500ns, 5us, 1ms."""

    name = "time"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        try:
            return parse_time(value, what=param.opts[0] if param else "time")
        except OisaError as exc:
            self.fail(str(exc).split(": ", 1)[-1], param, ctx)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="oisa", message="%(prog)s %(version)s")
def cli() -> None:
    """Emulate an OISA-like GPU interconnect in virtual time.

    FABRIC arguments take a built-in catalog name (pair, ...) or the path of a TOML file.
    """


def _workload_options(command: Callable[..., Any]) -> Callable[..., Any]:
    options = [
        click.option("--workload", "-w", type=click.Choice(WORKLOADS), default="p2p", show_default=True,
                     help="What to run. p2p: card SRC writes a random buffer into card DST, reads it back and "
                          "compares."),
        click.option("--size", "-s", type=Size(), default="1MiB", show_default=True,
                     help="Bytes to move, with an optional unit (4096, 64KiB, 1MiB, 1GB)."),
        click.option("--src", type=int, help="Card that starts the transfer (default: the first card)."),
        click.option("--dst", type=int, help="Card at the other end (default: the first card in another server, "
                                             "or the second card)."),
        click.option("--seed", type=int, default=0, show_default=True,
                     help="Seed for every random choice of the run; the same seed gives the same output."),
        click.option("--no-data", "no_data", is_flag=True,
                     help="Timing only: move no bytes (fast for large sizes; nothing to verify, no faults)."),
        click.option("--ber", type=Probability(), help="Bit error rate on every OISA link: real bits flipped, "
                                                       "caught by CRC."),
        click.option("--drop", type=Probability(), help="Probability that an OISA link loses a frame."),
        click.option("--duplicate", type=Probability(), help="Probability that an OISA link delivers a frame "
                                                             "twice."),
        click.option("--control-drop", type=Probability(), help="Extra probability that a control flit is lost."),
        click.option("--link-down-at", type=Time(), help="Virtual time at which every OISA link stops delivering "
                                                         "(e.g. 5us)."),
        click.option("--json", "as_json", is_flag=True, help="Print one JSON object (keys: specs/cli-json.md)."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _faults(ber: float | None, drop: float | None, duplicate: float | None, control_drop: float | None,
            link_down_at: int | None) -> FaultModel | None:
    """The fault options as one model for every link, or None to keep the fabric files' own."""
    if all(v is None for v in (ber, drop, duplicate, control_drop, link_down_at)):
        return None
    return FaultModel(ber=ber or 0.0, drop=drop or 0.0, duplicate=duplicate or 0.0,
                      control_drop=control_drop or 0.0, down_at=link_down_at)


@cli.command()
@click.argument("fabric", default=DEFAULT_FABRIC, metavar="[FABRIC]")
@_workload_options
def run(fabric: str, workload: str, size: int, src: int | None, dst: int | None, seed: int, no_data: bool,
        as_json: bool, **faults: Any) -> None:
    """Run a workload on FABRIC (default: pair) and report what happened.

    Fault options replace the fault settings of every OISA link in the fabric file.
    """
    result = run_p2p(load_fabric(fabric), src=src, dst=dst, size=size, seed=seed, faults=_faults(**faults),
                     mode="timing" if no_data else "data")
    click.echo(json.dumps(p2p_json(result)) if as_json else p2p_text(result))


@cli.command()
@click.argument("first", metavar="FABRIC_A")
@click.argument("second", metavar="FABRIC_B")
@_workload_options
def compare(first: str, second: str, workload: str, size: int, src: int | None, dst: int | None, seed: int,
            no_data: bool, as_json: bool, **faults: Any) -> None:
    """Run the same workload on FABRIC_A and FABRIC_B and print both, side by side, with ratios.

    Both fabrics must have the cards the workload uses; by default the pair is chosen in
    FABRIC_A (a pair in different servers where it says so).
    """
    spec_a, spec_b = load_fabric(first), load_fabric(second)
    pair_src, pair_dst = default_pair(spec_a)
    options = dict(src=pair_src if src is None else src, dst=pair_dst if dst is None else dst, size=size,
                   seed=seed, faults=_faults(**faults), mode="timing" if no_data else "data")
    results = (run_p2p(spec_a, **options), run_p2p(spec_b, **options))  # type: ignore[arg-type]
    click.echo(json.dumps(comparison_json(*results)) if as_json else comparison_text(*results))


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object (keys: specs/cli-json.md).")
def devices(as_json: bool) -> None:
    """List device profiles and the adapters that connect them, and where each comes from."""
    listing = device_listing()
    click.echo(json.dumps(listing) if as_json else devices_text(listing))


@cli.command()
@click.argument("name", metavar="ADAPTER")
@click.option("--profile", metavar="NAME_OR_PATH", help="Device profile of the adapter's cards (default: the first "
                                                        "profile that selects it).")
@click.option("--examples", "-n", type=click.IntRange(min=1), default=CONFORMANCE_EXAMPLES, show_default=True,
              help="Generated examples per case (the end-to-end cases run at most 4 fabrics).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the generated examples.")
@click.option("--case", "cases", multiple=True, metavar="ID", help="Run only this case (repeatable).")
@click.option("--junit-xml", "junit_path", type=click.Path(dir_okay=False), metavar="FILE",
              help="Also write a JUnit XML report to FILE.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object (keys: specs/cli-json.md).")
def conformance(name: str, profile: str | None, examples: int, seed: int, cases: tuple[str, ...],
                junit_path: str | None, as_json: bool) -> None:
    """Run the adapter conformance kit against the registered device adapter ADAPTER.

    Prints each case (ID, MUST or SHOULD, rule) with its outcome; the exit status is 1 if any
    MUST case fails. The cases are listed in specs/conformance.md.
    """
    # imported here, not at the top: the kit imports Hypothesis, which other commands do without
    from oisa.testing.conformance import conformance_json, conformance_text, junit_xml, run_conformance

    report = run_conformance(name, profile=profile, examples=examples, seed=seed, cases=cases or None)
    if junit_path is not None:
        _write(junit_path, junit_xml(report))
    click.echo(json.dumps(conformance_json(report)) if as_json else conformance_text(report))
    if not report.conforms:
        raise ReportedFailure(f"{name} fails MUST cases")


@cli.command()
@click.option("--target", "-t", "target_name", metavar="TARGET",
              help="What to fuzz: wire:FMT (FMT: " + ", ".join(sorted(FORMATS)) + "), link, or adapter:NAME.")
@click.option("--examples", "-n", type=click.IntRange(min=1), default=FUZZ_EXAMPLES, show_default=True,
              help="Generated inputs to try.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed; the same seed tries the same inputs.")
@click.option("--profile", metavar="NAME_OR_PATH", help="Device profile for adapter:NAME (default: the first that "
                                                        "selects it).")
@click.option("--save", type=click.Path(dir_okay=False), default="oisa-fuzz-failure.json", show_default=True,
              metavar="FILE", help="Where a failure's minimal input is saved.")
@click.option("--replay", type=click.Path(dir_okay=False), metavar="FILE",
              help="Rerun the input saved in FILE: exit status 1 if it still fails, 0 if it passes now.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object (keys: specs/cli-json.md).")
def fuzz(target_name: str | None, examples: int, seed: int, profile: str | None, save: str, replay: str | None,
         as_json: bool) -> None:
    """Fuzz a decoder, the link layer or a device adapter with Hypothesis.

    A failure is shrunk to a minimal input, printed, and saved to FILE (--save), which
    --replay FILE reruns. The exit status is 1 if a failure is found (or still replays).
    """
    from oisa.testing import fuzz as fuzzing  # imported here: see conformance

    if (target_name is None) == (replay is None):
        raise click.UsageError("give --target TARGET to fuzz, or --replay FILE to rerun a saved failure (one of them)")
    if replay is not None:
        record = fuzzing.load_record(replay)
        error = fuzzing.replay(record)
        outcome = {"target": record["target"], "seed": record.get("seed"), "examples": 1, "passed": error is None,
                   "error": error, "input": record["input"], "saved": None, "replayed": replay}
        text = (f"{record['target']}: the input saved in {replay} " +
                (f"still fails: {error}" if error else "passes now"))
    else:
        result = fuzzing.fuzz(target_name, examples=examples, seed=seed, profile=profile)
        outcome = {"target": result.target, "seed": seed, "examples": result.examples,
                   "passed": result.failure is None, "error": None, "input": None, "saved": None, "replayed": None}
        text = f"{result.target}: {result.examples} examples passed (seed {seed})"
        if result.failure is not None:
            _write(save, json.dumps(fuzzing.failure_record(result), indent=2) + "\n")
            outcome.update(error=result.failure.error, input=result.failure.example, saved=save)
            text = "\n".join([f"{result.target}: FAILED at example {result.examples} (seed {seed})",
                              f"  error: {result.failure.error}",
                              f"  minimal input: {json.dumps(result.failure.example)}",
                              f"  saved to {save}; rerun it with: oisa fuzz --replay {save}"])
    click.echo(json.dumps(outcome) if as_json else text)
    if not outcome["passed"]:
        raise ReportedFailure(outcome["error"] or "failed")


def _write(path: str, text: str) -> None:
    try:
        with open(path, "w") as out:
            out.write(text)
    except OSError as exc:
        raise UsageError(f"{path}: cannot write: {exc.strerror}") from None


_FORMAT_OPTIONS = [
    click.option("--format", "-f", "fmt", type=click.Choice(sorted(FORMATS)), required=True,
                 help="Byte format: " + "; ".join(f"{name}: {f.summary}" for name, f in sorted(FORMATS.items()))),
    click.option("--flit-size", type=int, default=256, show_default=True, help="Bytes per flit (oisa-flit)."),
    click.option("--direction", type=click.Choice(["m2s", "s2m"]), default="m2s", show_default=True,
                 help="Direction a CXL flit travels (cxl-flit): host to device or device to host."),
]


def _format_options(command: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed(_FORMAT_OPTIONS):
        command = option(command)
    return command


def _convert_each(inputs: list[str], convert: Callable[[str], str]) -> None:
    """Convert every input; a bad one prints ``{"error": ...}`` and the others go on."""
    failed = 0
    for text in inputs:
        try:
            click.echo(convert(text))
        except OisaError as exc:
            failed += 1
            click.echo(json.dumps({"error": _one_line(str(exc))}))
    if failed:
        raise ConversionFailed(f"{failed} of {len(inputs)} inputs could not be converted")


def _inputs(given: str | None) -> list[str]:
    if given is not None:
        return [given]
    return [line for line in (raw.strip() for raw in sys.stdin) if line]


@cli.command()
@click.argument("hex_frame", required=False, metavar="[HEX]")
@_format_options
def decode(hex_frame: str | None, fmt: str, flit_size: int, direction: str) -> None:
    """Decode HEX (or one hex frame per line of standard input) into JSON fields.

    Prints one JSON object per frame; a frame that does not decode prints {"error": "..."}
    naming the field and byte offset, and the exit status is then non-zero.
    """
    wire_format, options = FORMATS[fmt], FormatOptions(flit_size=flit_size, direction=direction)

    def convert(text: str) -> str:
        return json.dumps(wire_format.decode(_parse_hex(text), options))

    _convert_each(_inputs(hex_frame), convert)


@cli.command()
@click.argument("json_fields", required=False, metavar="[JSON]")
@_format_options
def encode(json_fields: str | None, fmt: str, flit_size: int, direction: str) -> None:
    """Encode a JSON object of fields (or one per line of standard input) into hex.

    The inverse of `oisa decode`: encoding the fields it printed gives back the same bytes.
    """
    wire_format, options = FORMATS[fmt], FormatOptions(flit_size=flit_size, direction=direction)

    def convert(text: str) -> str:
        try:
            fields = json.loads(text)
        except json.JSONDecodeError as exc:
            raise UsageError(f"not JSON: {exc}") from None
        return wire_format.encode(fields, options).hex()

    _convert_each(_inputs(json_fields), convert)


def _parse_hex(text: str) -> bytes:
    cleaned = text.strip().removeprefix("0x").replace(" ", "").replace(":", "")
    try:
        return bytes.fromhex(cleaned)
    except ValueError:
        raise UsageError(f"not a hex string: {text.strip()[:40]!r}") from None


class ReportedFailure(click.ClickException):
    """The command found something wrong and has printed it in its output: exit status 1,
    with no ``oisa: error:`` line (nothing was wrong with how it was asked)."""

    exit_code = 1

    def __init__(self, message: str = "failed") -> None:
        super().__init__(message)


class ConversionFailed(ReportedFailure):
    """Some inputs of decode/encode were bad; each already printed its own error line."""


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``oisa`` script; returns the exit status."""
    try:
        cli.main(args=argv, prog_name="oisa", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("oisa: interrupted", err=True)
        return 130
    except ReportedFailure:
        return 1
    except click.ClickException as exc:
        click.echo(f"oisa: error: {_one_line(exc.format_message())}", err=True)
        return exc.exit_code
    except OisaError as exc:
        click.echo(f"oisa: error: {_one_line(str(exc))}", err=True)
        return 1
    return 0


def _one_line(text: str) -> str:
    return " ".join(text.split())


if __name__ == "__main__":
    sys.exit(main())
