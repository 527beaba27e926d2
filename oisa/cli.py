"""The ``oisa`` command line: subcommands and flags, turned into calls of the library and printed.

Every failure the user can cause (a missing or malformed file, an unknown name, a bad size)
ends in one line on standard error, ``oisa: error: ...``, and a non-zero exit status: 2 for
command-line mistakes, 1 for everything else. Tracebacks are for bugs in oisa only.
"""

from __future__ import annotations

import contextlib
import json
import os
import string
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource

from oisa.ccl import choose_library
from oisa.ccl.calibrate import calibrate, default_keys, overlay_toml
from oisa.ccl.measurements import Measurement, read_log
from oisa.errors import OisaError, UsageError
from oisa.fabric import FabricSpec, LinkKind, load_fabric
from oisa.fabric.build import LinkEncryption
from oisa.fabric.tenancy import load_tenancy
from oisa.jsontext import parse_json
from oisa.observe import Capture, dissector_path, install_dissector, interface_names, link_selector
from oisa.report import (
    comparison_json,
    comparison_text,
    device_listing,
    devices_text,
    headlines,
    result_json,
    result_text,
    sweep_csv,
    sweep_json,
    sweep_text,
)
from oisa.report.failures import failures_json, failures_text, plot_failures
from oisa.report.incast import incast_json, incast_text
from oisa.report.plot import plot_bars, plot_sweeps
from oisa.report.progress import progress_bar, wanted
from oisa.report.scenario import article_json, article_text
from oisa.report.validation import calibration_json, calibration_text, plot_validation, validation_json, validation_text
from oisa.sim.faults import FaultModel
from oisa.sim.observe import Observer, Observers
from oisa.study.executors import executor_for
from oisa.study.sweep import sweeps as parallel_sweeps
from oisa.testing import CONFORMANCE_EXAMPLES, FUZZ_EXAMPLES
from oisa.units import format_size, parse_size, parse_time
from oisa.wire.formats import FORMATS, FormatOptions
from oisa.wire.oisa import check_flit_size
from oisa.workload import ENGINES, Run, default_pair
from oisa.workload.collectives import COLLECTIVE_OPTIONS, COLLECTIVES
from oisa.workload.failures import parse_duration, read_fault_file, read_outages, run_failures
from oisa.workload.incast import run_incast_scenario
from oisa.workload.registry import CARDS, CHOICE, FLAG, SIZE, Option, Workload, find, workloads
from oisa.workload.run import AUTO
from oisa.workload.scenario import article_steps, run_article
from oisa.workload.sweep import sweep_sizes
from oisa.workload.training import COMPUTE_EFFICIENCY, MODELS
from oisa.workload.validate import measurement_ranks, validate

__all__ = ["flag", "main"]

DEFAULT_FABRIC = "pair"
DEFAULT_WORKLOAD = "p2p"
# Flags whose names are not the keyword they set, for errors that name keywords (UsageError.parameter).
_FLAG_OF = {"min_size": "--min", "max_size": "--max", "spec": "FABRIC", "faults": "the fault options",
            "observer": "--pcap/--trace",
            "workload": "--workload", "collective": "--collective"}
_FLAG_OF["tenancy"] = "--tenants"  # the run's tenancy is read from the file --tenants names


def flag(parameter: str) -> str:
    """The command-line flag that sets the keyword argument ``parameter``."""
    return _FLAG_OF.get(parameter, "--" + parameter.replace("_", "-"))


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
    """A virtual time with a unit (500ns, 5us, 1ms), or a bare number of nanoseconds, as in a
    fabric file."""

    name = "time"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        try:
            bare = float(value)
        except (TypeError, ValueError):
            bare = None
        try:
            return parse_time(value if bare is None else bare, what=param.opts[0] if param else "time")
        except OisaError as exc:
            self.fail(str(exc).split(": ", 1)[-1], param, ctx)


class CardList(click.ParamType):
    """Card ids separated by commas: 0,4,8,12."""

    name = "cards"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> list[int]:
        if isinstance(value, list):
            return value
        try:
            return [int(part) for part in str(value).split(",")]
        except ValueError:
            self.fail(f"{value!r} is not a comma-separated list of card ids (like 0,4,8)", param, ctx)


class FileName(click.Path):
    """The name of a file to write or read: click's checks, and an empty name refused (an empty
    ``--trace`` or ``--csv`` used to be taken for no file at all, and the run went on without it)."""

    def __init__(self) -> None:
        super().__init__(dir_okay=False)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if value == "":
            self.fail("an empty file name", param, ctx)
        return super().convert(value, param, ctx)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="oisa", message="%(prog)s %(version)s")
def cli() -> None:
    """Emulate an OISA-like GPU interconnect in virtual time.

    FABRIC arguments take a built-in catalog name (pair, ...) or the path of a TOML file.
    """


# -- run options: how to run, whatever runs ----------------------------------------------------------

_FAULT_FLAGS = ("ber", "drop", "duplicate", "control_drop", "link_down_at")

_RUN_OPTIONS = [
    click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True,
                 help="Seed for every random choice of the run; the same seed gives the same output."),
    click.option("--engine", type=click.Choice([*ENGINES, AUTO]), default=None,
                 help="What executes the run: " + "; ".join(f"{e.name}: {e.summary}" for e in ENGINES.values()) +
                      f"; {AUTO}: the workload picks (the default). --data and --no-data are --engine data and "
                      f"--engine timing."),
    click.option("--data/--no-data", "data", default=None,
                 help="Move real bytes and check them (the data engine), or timing only (the timing engine: no "
                      "bytes, fast for large sizes; nothing to verify, no faults). Default: data for p2p; for "
                      "collectives, data when all cards' inputs together are at most 1 MiB."),
    click.option("--ber", type=Probability(), help="Bit error rate on every OISA link: real bits flipped, caught by "
                                                   "CRC."),
    click.option("--drop", type=Probability(), help="Probability that an OISA link loses a frame."),
    click.option("--duplicate", type=Probability(), help="Probability that an OISA link delivers a frame twice."),
    click.option("--control-drop", type=Probability(), help="Extra probability that a control flit is lost."),
    click.option("--link-down-at", type=Time(), help="Virtual time at which every OISA link stops delivering "
                                                     "(e.g. 5us; a bare number is nanoseconds)."),
    click.option("--json", "as_json", is_flag=True, help="Print one JSON object (keys: specs/cli-json.md)."),
    click.option("--pcap", type=FileName(), help="Write every frame to this pcapng file for "
                 "Wireshark (`oisa wireshark-plugin`; compare writes FILE.<fabric>.pcapng per fabric)."),
    click.option("--pcap-links", metavar="PATTERN[,PATTERN]", help="Capture only interfaces whose names match "
                 "a glob: links 'card0->*', native frames 'card0:*' (default: all)."),
    click.option("--trace", type=FileName(),
                 help="Write a Perfetto timeline of the run to this file, to open at ui.perfetto.dev (compare "
                      "writes one per fabric: t.perfetto -> t.FABRIC.perfetto)."),
]


def _options(options: list[Callable[..., Any]]) -> Callable[..., Any]:
    """A decorator that adds ``options`` to a command, in the order listed."""
    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        for option in reversed(options):
            command = option(command)
        return command
    return decorate


# -- workload options: built from the registry ------------------------------------------------------------


def _click_type(kind_name: str, declarations: list[Option]) -> Any:
    if kind_name == "size":
        return Size()
    if kind_name == "count":
        return click.IntRange(min=min((o.minimum for o in declarations if o.minimum is not None), default=None))
    if kind_name == "card":
        return click.IntRange(min=0)
    if kind_name == "cards":
        return CardList()
    if kind_name == "choice":
        return click.Choice(list(dict.fromkeys(c for o in declarations for c in o.choices)))
    if kind_name == "fraction":
        return click.FloatRange(0, 1, min_open=True)
    return str


def _shown(option: Option, value: Any) -> str:
    if value is None:
        return "see above"
    if option.kind is SIZE:
        return format_size(value)
    if option.kind is CARDS:
        return ",".join(map(str, value))
    return str(value).lower() if option.kind is FLAG else str(value)


def _names(takers: list[Workload]) -> str:
    """Workload names for help, the collectives as one word when all of them are there."""
    names = [t.name for t in takers]
    if set(COLLECTIVES) <= set(names):
        first = names.index(next(iter(COLLECTIVES)))
        names = [n for n in names if n not in COLLECTIVES]
        names.insert(first, "collectives")
    return ", ".join(names)


def _help(name: str, takers: list[Workload]) -> str:
    """The help of a workload option: what it is for each workload that takes it, and each one's
    default."""
    by_help: dict[str, list[Workload]] = {}
    by_default: dict[str, list[Workload]] = {}
    for taker in takers:
        option = taker.option(name)
        by_help.setdefault(option.help, []).append(taker)
        by_default.setdefault(_shown(option, taker.defaults[name]), []).append(taker)
    everyone = len(takers) == len(workloads())
    if len(by_help) == 1:
        text = ("" if everyone else f"{_names(takers)}: ") + next(iter(by_help)) + "."
    else:
        text = "; ".join(f"{_names(who)}: {help_}" for help_, who in by_help.items()) + "."
    if len(by_default) == 1:
        shown = next(iter(by_default))
        return text + ("" if shown == "see above" else f" [default: {shown}]")
    return text + " [default: " + "; ".join(f"{_names(who)}: {shown}" for shown, who in by_default.items()) + "]"


def _workload_option_decorators() -> list[Callable[..., Any]]:
    """A click option for every option any registered workload declares, in declaration order."""
    takers: dict[str, list[Workload]] = {}
    for declared in workloads().values():
        for option in declared.options:
            takers.setdefault(option.name, []).append(declared)
    decorators = []
    for name, who in takers.items():
        declarations = [w.option(name) for w in who]
        first = declarations[0]
        names = [flag(name)] + ([f"-{first.short}"] if first.short else [])
        if first.kind is FLAG:
            decorators.append(click.option(f"{flag(name)}/--no-{name.replace('_', '-')}", name, default=None,
                                           help=_help(name, who)))
            continue
        metavar = first.kind.metavar if first.kind is not CHOICE else None
        decorators.append(click.option(*names, name, type=_click_type(first.kind.name, declarations), default=None,
                                       metavar=metavar, help=_help(name, who)))
    return decorators


def _workload_options(command: Callable[..., Any]) -> Callable[..., Any]:
    names = sorted(workloads(), key=lambda name: name != DEFAULT_WORKLOAD)
    options = [
        click.option("--workload", "-w", type=click.Choice(names), default=DEFAULT_WORKLOAD, show_default=True,
                     help="What to run: " + "; ".join(f"{w.name}: {w.summary}" for w in workloads().values()) + "."),
        *_workload_option_decorators(),
        *_RUN_OPTIONS,
    ]
    return _options(options)(command)


def _given(names: Any) -> dict[str, Any]:
    """The options among ``names`` the user gave on the command line (not left at their default)."""
    context = click.get_current_context()
    return {name: context.params[name] for name in names
            if context.get_parameter_source(name) not in (None, ParameterSource.DEFAULT)}


def _workload_arguments(declared: Workload, options: dict[str, Any]) -> dict[str, Any]:
    """The workload options the user gave, refusing those ``declared`` does not take."""
    every = {option.name for w in workloads().values() for option in w.options}
    given = _given(every)
    wrong = [name for name in given if name not in declared.option_names]
    if wrong:
        takes = ", ".join(flag(name) for name in declared.option_names) or "no options"
        raise UsageError(f"{', '.join(flag(name) for name in wrong)}: not an option of {declared.name} (it takes "
                         f"{takes})")
    for name in every:
        options.pop(name, None)
    return given


def _run_value(specs: list[FabricSpec], options: dict[str, Any], observers: list[Observer | None]) -> list[Run]:
    """The Run of each fabric, from the run options (taken out of ``options``)."""
    seed, engine, data = options.pop("seed"), options.pop("engine"), options.pop("data")
    if data is not None:
        if engine is not None and engine != ("data" if data else "timing"):
            raise UsageError(f"--engine {engine} and --{'data' if data else 'no-data'} contradict each other")
        engine = "data" if data else "timing"
    faults = _faults(**{key: options.pop(key) for key in _FAULT_FLAGS})
    if faults is not None:
        for spec in specs:
            if not any(link.kind is LinkKind.OISA for link in spec.links):
                raise UsageError(f"fabric {spec.name} has no OISA link for them to act on", parameter="faults")
    return [Run(seed=seed, engine=engine or AUTO, faults=faults, observer=observer) for observer in observers]


def _faults(ber: float | None, drop: float | None, duplicate: float | None, control_drop: float | None,
            link_down_at: int | None) -> FaultModel | None:
    """The fault options as one model for every link, or None to keep the fabric files' own."""
    if all(v is None for v in (ber, drop, duplicate, control_drop, link_down_at)):
        return None
    return FaultModel(ber=ber or 0.0, drop=drop or 0.0, duplicate=duplicate or 0.0,
                      control_drop=control_drop or 0.0, down_at=link_down_at)


def _captures(specs: list[FabricSpec], path: str | None, links: str | None, what: str) -> list[Capture | None]:
    """One capture per fabric run (``--pcap``; with several fabrics, FILE.<fabric>.pcapng each)."""
    if path is None:
        if links is not None:
            raise UsageError("--pcap-links needs --pcap FILE")
        return [None] * len(specs)
    select = link_selector(links.split(",") if links is not None else None,
                           [name for spec in specs for name in interface_names(spec)])
    if len(specs) == 1:
        return [Capture(path, select=select, comment=f"{what} on {specs[0].name}")]
    stem, suffix = os.path.splitext(path)
    names = [spec.name.replace(os.sep, "_") for spec in specs]
    if len(set(names)) < len(names):  # the same fabric twice: FILE.pair-a.pcapng, FILE.pair-b.pcapng
        names = [f"{name}-{chr(ord('a') + i)}" for i, name in enumerate(names)]
    return [Capture(f"{stem}.{name}{suffix or '.pcapng'}", select=select, comment=f"{what} on {spec.name}")
            for name, spec in zip(names, specs)]


def _what(declared: Workload, given: dict[str, Any], seed: int) -> str:
    if "size" not in declared.option_names:
        return f"oisa {declared.name}, {given.get('model', declared.defaults.get('model'))}, seed {seed}"
    return f"oisa {declared.name}, {given.get('size', declared.defaults['size'])} bytes, seed {seed}"


def _observers(specs: list[FabricSpec], what: str, options: dict[str, Any]) -> list[Observer | None]:
    """What watches the run on each fabric: its capture (--pcap), its timeline (--trace), both or
    neither. Takes those options out of ``options``."""
    captures = _captures(specs, options.pop("pcap"), options.pop("pcap_links"), what)
    timelines = _timelines(options.pop("trace"), specs)
    return [Observers([c, t]) if c and t else c or t for c, t in zip(captures, timelines)]


def _timelines(trace: str | None, specs: list[FabricSpec]) -> list[Observer | None]:
    """With --trace, a Perfetto timeline for the run on each fabric (one file per fabric when
    there are several), all opened before any run starts; else no observers."""
    if not trace:
        return [None] * len(specs)
    from oisa.observe import Timeline, trace_paths  # Perfetto's protos take 0.2 s to import: only if asked

    paths = trace_paths(trace, [spec.name for spec in specs]) if len(specs) > 1 else [Path(trace)]
    return [Timeline(path, spec) for path, spec in zip(paths, specs)]


def _prepared(specs: list[FabricSpec], workload_name: str, options: dict[str, Any]) -> tuple[Workload, dict[str, Any],
                                                                                               list[Run]]:
    """The workload, the options given for it, and each fabric's Run, all checked before anything runs."""
    declared = find(workload_name)
    given = _workload_arguments(declared, options)
    observers = _observers(specs, _what(declared, given, options["seed"]), options)
    return declared, given, _run_value(specs, options, observers)


@cli.command()
@click.argument("fabric", default=DEFAULT_FABRIC, metavar="[FABRIC]")
@_workload_options
@click.option("--tenants", "tenants_file", type=click.Path(dir_okay=False), metavar="FILE",
              help="A tenancy of FABRIC (TOML: tenants' cards, memory windows, partitions), enforced by the cards and "
                   "switches; refusals are counted in the report. Needs the data engine.")
@click.option("--encrypt-links", is_flag=True, help="Encrypt every OISA link with AES-GCM (a 12-byte MAC per flit, "
                                                    "as PCIe IDE), keys per link and direction from the seed.")
@click.option("--tamper", type=Probability(), help="Probability that an attacker on every OISA link alters a data "
                                                   "flit's payload and fixes its CRC.")
@click.option("--substitute", type=Probability(), help="Probability that an attacker on every OISA link sends an "
                                                       "earlier data flit's payload in place of the one due.")
@click.option("--outages", "outages_file", type=click.Path(dir_okay=False), metavar="FILE",
              help="Components that fail mid-run (TOML: [[outage]] component, at, repair, lanes): cards, links (a->b), "
                   "switches, planes; the fabric routes around them once detected (data and timing engines).")
@click.option("--jobs", "jobs_file", type=click.Path(dir_okay=False), metavar="FILE",
              help="Run several workloads at once instead of -w (TOML: [[jobs]] with a workload, its cards and "
                   "options), each alone and then all together, and report what sharing the fabric cost each.")
def run(fabric: str, workload: str, as_json: bool, tenants_file: str | None, encrypt_links: bool,
        tamper: float | None, substitute: float | None, outages_file: str | None, jobs_file: str | None,
        **options: Any) -> None:
    """Run a workload on FABRIC (default: pair) and report what happened.

    Fault options replace the fault settings of every OISA link in the fabric file.
    """
    spec = load_fabric(fabric)
    if jobs_file is not None:
        ignored = [flag for flag, value in (("--outages", outages_file), ("--tamper", tamper),
                                            ("--substitute", substitute)) if value]
        if ignored:
            raise UsageError(f"--jobs: {', '.join(ignored)} act on one workload's run, not on jobs run together")
        _run_jobs(spec, jobs_file, as_json, tenants_file, encrypt_links, options)
        return
    declared, given, [run_value] = _prepared([spec], workload, options)
    if tenants_file is not None:
        run_value = replace(run_value, tenancy=load_tenancy(tenants_file, spec))
    if encrypt_links:
        run_value = replace(run_value, encryption=LinkEncryption())
    if tamper or substitute:
        attacked = replace(run_value.faults or FaultModel(), tamper=tamper or 0.0, substitute=substitute or 0.0)
        run_value = replace(run_value, faults=attacked)
    if outages_file is not None:
        run_value = replace(run_value, outages=read_outages(outages_file))
    result = declared(spec, run_value, **given)
    click.echo(json.dumps(result_json(result)) if as_json else result_text(result))


def _run_jobs(spec: FabricSpec, jobs_file: str, as_json: bool, tenants_file: str | None, encrypt_links: bool,
              options: dict[str, Any]) -> None:
    """``oisa run FABRIC --jobs FILE``: the jobs file names each job's workload and options, so
    the command line gives none (-w included)."""
    from oisa.report.jobs import jobs_json, jobs_text
    from oisa.workload.jobs import load_jobs, run_jobs

    every = {option.name for w in workloads().values() for option in w.options}
    given = _given(every | {"workload"})
    if given:
        raise UsageError(f"--jobs: each job's workload and options come from the jobs file, not "
                         f"{', '.join(flag(name) for name in sorted(given))}")
    for name in every:
        options.pop(name, None)
    observers = _observers([spec], f"oisa jobs from {jobs_file}, seed {options['seed']}", options)
    [run_value] = _run_value([spec], options, observers)
    if tenants_file is not None:
        run_value = replace(run_value, tenancy=load_tenancy(tenants_file, spec))
    if encrypt_links:
        run_value = replace(run_value, encryption=LinkEncryption())
    result = run_jobs(spec, run_value, load_jobs(jobs_file, spec, run_value.tenancy))
    click.echo(json.dumps(jobs_json(result)) if as_json else jobs_text(result))


@cli.command()
@click.argument("first", metavar="FABRIC_A")
@click.argument("second", metavar="FABRIC_B")
@_workload_options
@click.option("--plot", "plot_path", type=FileName(), help="Also draw B's figures relative to A's "
                                                                           "into this PNG file.")
def compare(first: str, second: str, workload: str, as_json: bool, plot_path: str | None, **options: Any) -> None:
    """Run the same workload on FABRIC_A and FABRIC_B and print both, side by side, with ratios.

    Both fabrics must have the cards the workload uses; by default the p2p pair is chosen in
    FABRIC_A (a pair in different servers where it says so). --pcap and --trace write one file
    per fabric: out.perfetto becomes out.FABRIC_A.perfetto and out.FABRIC_B.perfetto (-a and -b
    added when both are the same).
    """
    if plot_path:
        _check_writable(plot_path, "--plot")
    spec_a, spec_b = load_fabric(first), load_fabric(second)
    declared, given, runs = _prepared([spec_a, spec_b], workload, options)
    if {"src", "dst"} <= set(declared.option_names) and ("src" not in given or "dst" not in given):
        pair_src, pair_dst = default_pair(spec_a)  # the same two cards on both fabrics
        given = {"src": pair_src, "dst": pair_dst, **given}
    results = (declared(spec_a, runs[0], **given), declared(spec_b, runs[1], **given))
    click.echo(json.dumps(comparison_json(*results)) if as_json else comparison_text(*results))
    if plot_path:
        figures = list(zip(headlines(results[0]), headlines(results[1]), strict=True))
        plot_bars(f"{workload}: {spec_b.name} relative to {spec_a.name}", [a.label for a, _ in figures],
                  {spec_a.name: [1.0] * len(figures),
                   spec_b.name: [b.value / a.value if a.value else 0.0 for a, b in figures]}, "B / A", plot_path)


# -- where many runs go: a local process pool or a Dask cluster (oisa study, oisa sweep) --------------------

_EXECUTOR_OPTIONS = [
    click.option("--jobs", "-j", type=click.IntRange(min=1), default=None,
                 help="Run on a pool of N local processes (default: one per core; 1 runs here, one after another)."),
    click.option("--scheduler", metavar="tcp://HOST:8786",
                 help="Run on the Dask cluster of this scheduler (`dask scheduler`; workers need oisa installed)."),
    click.option("--local-cluster", type=click.IntRange(min=1), metavar="N",
                 help="Start a Dask LocalCluster of N worker processes here and run on it."),
]


def _executor_options(command: Callable[..., Any]) -> Callable[..., Any]:
    return _options(_EXECUTOR_OPTIONS)(command)


def _collective_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The options of the collectives but their size, which a sweep sets."""
    takers = [w for w in workloads().values() if w.name in COLLECTIVES]
    decorators = []
    for option in COLLECTIVE_OPTIONS:
        if option.name == "size":
            continue
        who = [w for w in takers if option.name in w.option_names]
        names = [flag(option.name)] + ([f"-{option.short}"] if option.short else [])
        decorators.append(click.option(*names, option.name, type=_click_type(option.kind.name, [option]),
                                       default=None, help=_help(option.name, who)))
    return _options(decorators)(command)


@cli.command()
@click.argument("fabrics", nargs=-1, required=True, metavar="FABRIC...")
@click.option("--collective", "-c", type=click.Choice(list(COLLECTIVES)), default="allreduce", show_default=True)
@click.option("--min", "-b", "min_size", type=Size(), default="8", show_default=True, help="Smallest size.")
@click.option("--max", "-e", "max_size", type=Size(), default="256MiB", show_default=True, help="Largest size.")
@click.option("--factor", "-f", type=int, default=2, show_default=True, help="Each size is this times the last.")
@_collective_options
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True, help="Seed of every run.")
@click.option("--engine", type=click.Choice([*ENGINES, AUTO]), default=None,
              help="What executes each run (as for oisa run); --data and --no-data are --engine data and timing.")
@click.option("--data/--no-data", "data", default=None,
              help="Move and check real bytes at every size, or at none (default: at sizes where all cards' inputs "
                   "together are at most 1 MiB).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object (keys: specs/cli-json.md).")
@click.option("--csv", "csv_path", type=FileName(), help="Also write the rows to this CSV file.")
@click.option("--plot", "plot_path", type=FileName(), help="Also draw bus bandwidth against size "
                                                                           "into this PNG file.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@_executor_options
def sweep(fabrics: tuple[str, ...], collective: str, min_size: int, max_size: int, factor: int, as_json: bool,
          csv_path: str | None, plot_path: str | None, quiet: bool, jobs: int | None, scheduler: str | None,
          local_cluster: int | None, **options: Any) -> None:
    """Run a collective over a range of sizes on each FABRIC and print the table nccl-tests prints.

    Sizes run from --min to --max, times --factor each step (nccl-tests' -b, -e, -f). Times are
    virtual; busbw is defined per collective as nccl-tests defines it.
    """
    for path, option in ((csv_path, "--csv"), (plot_path, "--plot")):
        if path:
            _check_writable(path, option)
    specs = [load_fabric(fabric) for fabric in fabrics]
    sizes = sweep_sizes(min_size, max_size, factor)
    given = _given(option.name for option in COLLECTIVE_OPTIONS if option.name != "size")
    for name in given:
        options.pop(name)
    runs = _run_value(specs, {**options, **{key: None for key in _FAULT_FLAGS}}, [None] * len(specs))
    with executor_for(jobs=jobs, scheduler=scheduler, local_cluster=local_cluster,
                      items=len(sizes) * len(specs)) as executor, \
            progress_bar(len(sizes) * len(specs), f"{collective}", enabled=wanted(quiet)) as step:
        sweeps = parallel_sweeps(specs, collective, runs, executor, min_size=min_size, max_size=max_size,
                                 factor=factor, progress=lambda name, size: step(f"{name} {size} B"), **given)
    if as_json:
        click.echo(json.dumps({"workload": "sweep", "sweeps": [sweep_json(s.results, s.skipped) for s in sweeps]}))
    else:
        click.echo("\n\n".join(sweep_text(s.results, s.skipped) for s in sweeps))
    if csv_path:
        _write(csv_path, "".join(sweep_csv(s.results) if i == 0 else sweep_csv(s.results).split("\n", 1)[1]
                                 for i, s in enumerate(sweeps)))
    if plot_path:
        plot_sweeps(sweeps, plot_path)


@cli.command("study")
@click.argument("study_file", metavar="STUDY.toml")
@click.option("--output", "-o", type=click.Path(file_okay=False), help="The folder results go to (default: the "
              "study's `output`, or NAME.study beside the file); running again there resumes.")
@_executor_options
@click.option("--retry-failed", is_flag=True, help="Run again the points recorded as failed (those lost with their "
                                                    "worker always run again).")
@click.option("--plot", "plot_spec", metavar="'x=COL y=COL [hue=COL]'",
              help="Also draw column y against column x, a line per value of hue (columns of the table).")
@click.option("--plot-file", type=FileName(), help="Where --plot draws (default: OUTPUT/plot.png).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object (keys: specs/cli-json.md).")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def study_command(study_file: str, output: str | None, jobs: int | None, scheduler: str | None,
                  local_cluster: int | None, retry_failed: bool, plot_spec: str | None, plot_file: str | None,
                  as_json: bool, quiet: bool) -> None:
    """Run the study STUDY.toml: a grid (and samples) of fabric variants, workloads, engines and
    seeds, one run per point, on this machine's cores or a Dask cluster.

    Each point's result is kept as it completes, under OUTPUT/points; running the study again
    resumes it. The table (OUTPUT/results.parquet and .csv) has one row per point: its inputs
    and every figure of its result. The exit status is 1 if a point failed, 130 on Ctrl-C (the
    table then holds the points done). The study file's form: specs/study.md.
    """
    from oisa.study import load_study, run_study  # imported here: scipy and pyarrow load only for studies
    from oisa.study.plot import parse_plot, plot_table
    from oisa.study.progress import study_progress
    from oisa.study.summary import study_json, study_text

    plot = parse_plot(plot_spec) if plot_spec is not None else None
    if plot_file is not None:
        if plot is None:
            raise UsageError("--plot-file needs --plot")
        _check_writable(plot_file, "--plot-file")
    plan = load_study(study_file, output=output)
    with contextlib.ExitStack() as stack:
        def progress(total: int, done: int, failed: int) -> Callable[[bool], None]:
            return stack.enter_context(study_progress(f"study {plan.name}", total, done=done, failed=failed,
                                                      enabled=wanted(quiet)))
        executor = stack.enter_context(executor_for(jobs=jobs, scheduler=scheduler, local_cluster=local_cluster))
        report = run_study(plan, executor, retry_failed=retry_failed, progress=progress)
    click.echo(json.dumps(study_json(report)) if as_json else study_text(report))
    if report.interrupted:
        raise click.exceptions.Abort()
    if plot is not None:
        plot_table(plot, report.table.columns, report.table.rows, plot_file or plan.output / "plot.png",
                   f"study {plan.name}")
    if report.failed or report.crashed:
        raise ReportedFailure(f"{report.failed + report.crashed} points failed")


def _measurements(logs: tuple[str, ...], collective: str | None) -> list[Measurement]:
    return [read_log(log, collective) for log in logs]


@cli.command("calibrate")
@click.argument("logs", nargs=-1, required=True, metavar="LOG...")
@click.option("--fabric", required=True, metavar="FABRIC", help="The fabric that models the machine the logs were "
                                                                  "measured on (a catalog name or a TOML path).")
@click.option("--output", "-o", type=FileName(), default="oisa-calibration.toml", show_default=True,
              help="Where to write the calibration (a TOML overlay of the library's profile).")
@click.option("--fit", "keys", multiple=True, metavar="KEY", help="A figure of the profile to fit, by dotted key "
              "(protocols.simple.step_latency; repeatable). Default: the launch cost, and every protocol's handshake "
              "and copy rate.")
@click.option("--collective", type=click.Choice(list(COLLECTIVES)), help="The collective the logs measured, where "
              "their rows and file names cannot tell (all-gather from all-to-all).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object (keys: specs/cli-json.md).")
def calibrate_command(logs: tuple[str, ...], fabric: str, output: str, keys: tuple[str, ...],
                      collective: str | None, as_json: bool) -> None:
    """Fit the collective library's profile to nccl-tests or rccl-tests logs (their standard output).

    The fabric's first cards stand for each log's ranks; the library they run (their device
    profiles' `library`) is fitted by least squares on log time and written as an overlay that
    --calibration applies to any run. Prints the fitted figures and the residual of every size.
    """
    _check_writable(output, "--output")
    spec = load_fabric(fabric)
    measurements = _measurements(logs, collective)
    pairs = [(m, measurement_ranks(spec, m)) for m in measurements]
    library = choose_library(spec, pairs[0][1])
    for m, ranks in pairs[1:]:
        if choose_library(spec, ranks).name != library.name:
            raise UsageError(f"{m.source} maps to cards of another collective library than {logs[0]}")
    fit = calibrate(spec, library, pairs, list(keys) or default_keys(library, measurements))
    _write(output, overlay_toml(fit, f"{library.name} fitted to {', '.join(m.source for m in measurements)} on "
                                     f"{spec.name}"))
    click.echo(json.dumps(calibration_json(fit, output)) if as_json else calibration_text(fit, output))


@cli.command("validate")
@click.argument("log", metavar="LOG")
@click.option("--fabric", required=True, metavar="FABRIC", help="The fabric that models the machine the log was "
                                                                  "measured on (a catalog name or a TOML path).")
@click.option("--calibration", type=FileName(), help="A calibration of the library (what oisa "
                                                                      "calibrate writes) to apply.")
@click.option("--collective", type=click.Choice(list(COLLECTIVES)), help="The collective the log measured, where its "
              "rows and file name cannot tell (all-gather from all-to-all).")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True, help="Seed of every run.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object (keys: specs/cli-json.md).")
@click.option("--plot", "plot_path", type=FileName(), help="Also draw measured and modelled bus "
                                                                           "bandwidth into this PNG file.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def validate_command(log: str, fabric: str, calibration: str | None, collective: str | None, seed: int,
                     as_json: bool, plot_path: str | None, quiet: bool) -> None:
    """Set a measured nccl-tests or rccl-tests log beside oisa's figures, size by size.

    Each size runs on the fabric's first cards in the timing engine, as `oisa run -w COLLECTIVE`
    would run it; prints measured and modelled time and bus bandwidth, their errors, and the
    geometric-mean error over sizes of 1 MiB and up and over all sizes.
    """
    if plot_path:
        _check_writable(plot_path, "--plot")
    spec = load_fabric(fabric)
    [measurement] = _measurements((log,), collective)
    with progress_bar(len(measurement.rows), "validate", enabled=wanted(quiet)) as step:
        result = validate(spec, measurement, Run(seed=seed, engine="timing"), calibration=calibration,
                          progress=lambda size: step(f"{size} B"))
    click.echo(json.dumps(validation_json(result)) if as_json else validation_text(result))
    if plot_path:
        plot_validation(result, plot_path)


# -- `oisa scenario failures` (issue 21): its own options, refused for article and the reverse --

_FAILURE_FABRICS = ("cluster-1k-switched", "cluster-10k-switched", "cluster-10k-supernode", "cluster-100k-switched",
                    "cluster-100k-supernode")
_FAILURE_OPTIONS = ("fabrics", "horizon", "intervals", "write_time", "restart", "repair", "replicas", "faults",
                    "plot_path", "measure_degradation", "comm_share")
_ARTICLE_OPTIONS = ("model", "big_model", "tokens", "compute_efficiency", "max_cards", "sensitivity")


def _failures_options(command: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed((
        click.option("--fabrics", default=",".join(_FAILURE_FABRICS), show_default=True,
                     help="failures: the fabrics, comma-separated (catalog names or TOML paths)."),
        click.option("--horizon", default="7d", show_default=True, help="failures: the simulated wall time "
                     "(s, min, h, d, w)."),
        click.option("--intervals", default="5min,10min,30min,1h,3h", show_default=True,
                     help="failures: checkpoint intervals of useful work for the table, comma-separated."),
        click.option("--write-time", help="failures: time to write one checkpoint (default: 4 GB per card at "
                     "122 MB/s per card, Llama 3's figures, 32.8 s)."),
        click.option("--restart", default="10min", show_default=True,
                     help="failures: detection, rescheduling and reload after an interruption (an assumption)."),
        click.option("--repair", default="4h", show_default=True,
                     help="failures: repair time of a link, plane or switch that only degrades (an assumption)."),
        click.option("--replicas", type=click.IntRange(min=1), default=8, show_default=True,
                     help="failures: failure schedules drawn per fabric."),
        click.option("--faults", type=click.Path(dir_okay=False), help="failures: a TOML file of rates "
                     "([rates.CLASS] mtbf, source) and timed failures ([[fault]] class, at, repair, index)."),
        click.option("--plot", "plot_path", type=FileName(), help="failures: also draw goodput against interval "
                     "into this PNG file."),
        click.option("--measure-degradation", is_flag=True, help="failures: measure what a lost plane, a lost "
                     "scale-up link and a link at half its lanes cost an all-reduce, frame by frame on a small "
                     "supernode of the cluster's planes, and take the first two off goodput while they last."),
        click.option("--comm-share", type=click.FloatRange(0, 1), default=1.0, show_default=True,
                     help="failures: with --measure-degradation, the share of a step's time its collectives take "
                     "(1: a step bound by them, the most a degradation costs)."),
    )):
        command = option(command)
    return command


def _only_for_scenario(context: click.Context, name: str) -> None:
    """Refuse options the named scenario does not take, rather than ignore them."""
    foreign: tuple[str, ...] = _ARTICLE_OPTIONS if name == "failures" else _FAILURE_OPTIONS
    foreign = _incast_foreign(name, foreign)
    for option in foreign:
        if context.get_parameter_source(option) not in (None, ParameterSource.DEFAULT):
            shown = {"plot_path": "plot"}.get(option, option).replace("_", "-")
            raise UsageError(f"--{shown} is not an option of the {name} scenario")


def _failures_scenario(*, seed: int, as_json: bool, quiet: bool, fabrics: str, horizon: str, intervals: str,
                       write_time: str | None, restart: str, repair: str, replicas: int, faults: str | None,
                       plot_path: str | None, measure_degradation: bool, comm_share: float) -> None:
    if plot_path:
        _check_writable(plot_path, "--plot")
    names = [part.strip() for part in fabrics.split(",") if part.strip()]
    if not names:
        raise UsageError("name at least one fabric", parameter="fabrics", value=fabrics)
    horizon_s = parse_duration(horizon, "horizon")
    interval_list = []
    for part in intervals.split(","):
        interval_list.append(parse_duration(part, "intervals"))
        if interval_list[-1] > horizon_s:
            raise UsageError(f"{part.strip()} is longer than the horizon ({horizon})", parameter="intervals",
                             value=intervals)
    write_s = parse_duration(write_time, "write_time") if write_time is not None else None
    fault_file = read_fault_file(faults) if faults else None
    with progress_bar(2 * len(names), "failures", enabled=wanted(quiet)) as step:
        specs = []
        for fabric_name in names:
            specs.append(load_fabric(fabric_name))
            step(f"loaded {fabric_name}")
        result = run_failures(specs, seed, horizon_s=horizon_s, intervals=interval_list, write_s=write_s,
                              restart_s=parse_duration(restart, "restart", positive=False),
                              repair_s=parse_duration(repair, "repair", positive=False), replicas=replicas,
                              fault_file=fault_file, progress=step, measure_degradation=measure_degradation,
                              comm_share=comm_share)
    click.echo(json.dumps(failures_json(result)) if as_json else failures_text(result))
    if plot_path:
        plot_failures(result, plot_path)


# -- `oisa scenario incast` (issue 20): its own options, refused for the other scenarios --

_INCAST_OPTIONS = ("senders", "incast_size", "cards", "pair_size", "incast_fabrics")


def _incast_foreign(name: str, foreign: tuple[str, ...]) -> tuple[str, ...]:
    """The options scenario ``name`` refuses, given those the others' rule refuses: incast's own
    for any other scenario; for incast, both the article's and the failures' options."""
    if name == "incast":
        return _ARTICLE_OPTIONS + _FAILURE_OPTIONS
    return foreign + _INCAST_OPTIONS


def _incast_options(command: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed((
        click.option("--senders", type=click.IntRange(min=1), default=8, show_default=True,
                     help="incast: cards writing to one, each in its own server."),
        click.option("--incast-size", default="2MiB", show_default=True, help="incast: bytes each sender writes."),
        click.option("--cards", type=click.IntRange(min=2), default=8, show_default=True,
                     help="incast: cards of the all-to-all, one per server in turn."),
        click.option("--pair-size", default="512KiB", show_default=True,
                     help="incast: bytes each all-to-all card writes to each other."),
        click.option("--incast-fabrics", default="switched-64,supernode-64", show_default=True,
                     help="incast: the fabrics, comma-separated (catalog names or TOML paths)."),
    )):
        command = option(command)
    return command


def _incast_scenario(*, seed: int, as_json: bool, quiet: bool, senders: int, incast_size: str, cards: int,
                     pair_size: str, incast_fabrics: str) -> None:
    names = [part.strip() for part in incast_fabrics.split(",") if part.strip()]
    if not names:
        raise UsageError("name at least one fabric", parameter="incast_fabrics", value=incast_fabrics)
    specs = [load_fabric(name) for name in names]
    size, per_pair = parse_size(incast_size, "incast_size"), parse_size(pair_size, "pair_size")
    with progress_bar(2 * len(specs), "incast", enabled=wanted(quiet)) as step:
        result = run_incast_scenario(specs, Run(seed=seed, engine="timing"), senders=senders, size=size, cards=cards,
                                     pair_size=per_pair, progress=step)
    click.echo(json.dumps(incast_json(result)) if as_json else incast_text(result))


@cli.command()
@click.argument("name", type=click.Choice(["article", "failures", "incast"]), metavar="NAME")
@click.option("--model", type=click.Choice(list(MODELS)), default="gpt2-xl", show_default=True,
              help="The model of every step (one each card holds).")
@click.option("--big-model", type=click.Choice(list(MODELS)), default="llama-7b", show_default=True,
              help="The model one card cannot hold, for (b).")
@click.option("--tokens", type=click.IntRange(min=1), default=4096, show_default=True,
              help="Tokens per card per step, on average.")
@click.option("--compute-efficiency", type=click.FloatRange(0, 1, min_open=True), default=COMPUTE_EFFICIENCY,
              show_default=True, help="The share of a card's peak rate its kernels reach.")
@click.option("--max-cards", type=click.IntRange(min=2), help="Stop (c) at this many cards (default: every "
                                                               "accelerator of the fabrics, 64).")
@click.option("--sensitivity/--no-sensitivity", default=True, show_default=True,
              help="Recompute each finding with tokens, compute efficiency and model changed one at a time.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True,
              help="Seed of every run (it picks among hashed equal paths; these fabrics' steps have none).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object (keys: specs/cli-json.md).")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@_failures_options
@_incast_options
@click.pass_context
def scenario(context: click.Context, name: str, model: str, big_model: str, tokens: int, compute_efficiency: float,
             max_cards: int | None, sensitivity: bool, seed: int, as_json: bool, quiet: bool,
             **failure_options: Any) -> None:
    """Run a named scenario. `article`: the published OISA claims (20%+ lost across servers, 240%
    for two linked cards, 60-70% of compute for conventional clusters) beside the figures our
    model gives for them, each saying whether they agree and how that moves with its inputs.
    The full run takes several minutes; --max-cards 8 takes under a minute.
    `failures`: goodput of a training job on every card against checkpoint interval and cluster
    size, with failure rates from Llama 3's 54 days, beside Young's and Daly's optimum intervals.
    `incast`: N-to-1 incast with a victim flow, and an all-to-all, on the switched and supernode
    fabrics: p50/p99 completion, PFC pauses, ECN marks, CNPs, drops side by side."""
    _only_for_scenario(context, name)
    incast_options = {key: failure_options.pop(key) for key in _INCAST_OPTIONS}
    if name == "incast":
        _incast_scenario(seed=seed, as_json=as_json, quiet=quiet, **incast_options)
        return
    if name == "failures":
        _failures_scenario(seed=seed, as_json=as_json, quiet=quiet, **failure_options)
        return
    steps = article_steps(max_cards, tokens=tokens, compute_efficiency=compute_efficiency, sensitivity=sensitivity)
    with progress_bar(steps, name, enabled=wanted(quiet)) as step:
        result = run_article(Run(seed=seed), model=model, big_model=big_model, tokens=tokens,
                             compute_efficiency=compute_efficiency, max_cards=max_cards, sensitivity=sensitivity,
                             progress=step)
    click.echo(json.dumps(article_json(result)) if as_json else article_text(result))


def _check_writable(path: str, option: str) -> None:
    """Refuse, before anything runs, an output path that cannot be written."""
    target = Path(path)
    if target.is_dir():
        raise UsageError(f"{option} {path}: is a directory, not a file")
    folder = target.parent if str(target.parent) else Path(".")
    if not folder.is_dir():
        raise UsageError(f"{option} {path}: no such directory {str(folder)!r}")
    if not os.access(folder, os.W_OK) or (target.exists() and not os.access(target, os.W_OK)):
        raise UsageError(f"{option} {path}: not writable")


def _write(path: str, text: str) -> None:
    try:
        with open(path, "w", encoding="utf-8") as out:
            out.write(text)
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None


# -- execution graphs: Chakra traces out (oisa run FABRIC -w graph --graph PATH reads them back) ---------


def _parallel_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The synthesised training step's options, as -w parallel takes them."""
    from oisa.workload.graph_parallel import PARALLEL_OPTIONS

    return _options([click.option(flag(o.name), o.name, type=_click_type(o.kind.name, [o]), default=None,
                                  metavar=o.kind.metavar if o.kind is not CHOICE else None, help=o.help + ".")
                     for o in PARALLEL_OPTIONS if o.name not in ("precision", "calibration")])(command)


@cli.command("export-graph")
@click.argument("fabric", required=False, metavar="[FABRIC]")
@click.option("--output", "-o", required=True, metavar="DIR/NAME",
              help="Write DIR/NAME.RANK.et (or .json), one file per rank, and DIR/NAME.comm_groups.json.")
@click.option("--form", type=click.Choice(["et", "json"]), default="et", show_default=True,
              help="Chakra's length-delimited protobuf stream, or the JSON form its jsonizer writes.")
@click.option("--graph", "source", metavar="PATH", help="Convert (with --ranks: scale) this Chakra trace instead of "
                                                       "synthesising a training step.")
@click.option("--ranks", type=click.IntRange(min=1), help="With --graph: repeat its ranks up to this many (a "
                                                          "multiple of its count), each rank's work unchanged.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object (keys: specs/cli-json.md).")
@_parallel_options
def export_graph(fabric: str | None, output: str, form: str, source: str | None, ranks: int | None, as_json: bool,
                 **options: Any) -> None:
    """Write an execution graph as a Chakra trace, for oisa or any other Chakra consumer.

    Without --graph: the training step `oisa run FABRIC -w parallel` runs with the same options
    (--model, --tp, --pp, --ep, --zero, --microbatches, --batch, --seq, --layers-per-node, --cards).
    """
    from oisa.graph import read_graph, write_graph
    from oisa.graph.scale import scaled
    from oisa.workload.graph_parallel import synthesised

    given = {name: value for name, value in options.items() if value is not None}
    if not Path(output).name or output.endswith(("/", os.sep)):
        raise UsageError(f"--output {output!r}: give DIR/NAME, the files' directory and the name they start with")
    if source is not None:
        if fabric is not None or given:
            raise UsageError("--graph converts a trace: it takes no FABRIC and no training-step options")
        graph = read_graph(source)
        if ranks is not None:
            graph = scaled(graph, ranks)
    else:
        if fabric is None or ranks is not None:
            raise UsageError("a training step is synthesised for the cards of a FABRIC (--ranks scales a --graph)")
        graph = synthesised(load_fabric(fabric), **given)
    paths = write_graph(graph, output, form=form)
    nodes = sum(len(rank.nodes) for rank in graph.ranks)
    if as_json:
        click.echo(json.dumps({"graph": graph.name, "ranks": len(graph), "nodes": nodes, "form": form,
                               "files": [str(p) for p in paths], "groups": len(graph.groups),
                               "attributes": dict(graph.attributes)}))
    else:
        click.echo(f"graph {graph.name}: {len(graph)} ranks, {nodes:,} nodes, {len(graph.groups)} process groups, "
                   f"written to {paths[0]} ... {paths[-1]}")


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object (keys: specs/cli-json.md).")
def devices(as_json: bool) -> None:
    """List device profiles and the adapters that connect them, and where each comes from."""
    listing = device_listing()
    click.echo(json.dumps(listing) if as_json else devices_text(listing))


@cli.command("wireshark-plugin")
@click.option("--install", is_flag=True, help="Copy it into Wireshark's personal plugin folder "
                                              "(~/.local/lib/wireshark/plugins), where Wireshark loads it at start.")
@click.option("--dir", "directory", type=click.Path(file_okay=False, path_type=Path),
              help="With --install: copy it into this folder instead.")
def wireshark_plugin(install: bool, directory: Path | None) -> None:
    """Print the path of oisa's Wireshark dissector, or install it.

    It decodes captures written with --pcap: `tshark -X lua_script:$(oisa wireshark-plugin) -r FILE`.
    """
    click.echo(install_dissector(directory) if install else dissector_path())


@cli.command()
@click.argument("name", metavar="ADAPTER")
@click.option("--profile", metavar="NAME_OR_PATH", help="Device profile of the adapter's cards (default: the first "
                                                        "profile that selects it).")
@click.option("--examples", "-n", type=click.IntRange(min=1), default=CONFORMANCE_EXAMPLES, show_default=True,
              help="Generated examples per case (the end-to-end cases run at most 4 fabrics).")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True,
              help="Seed of the generated examples (0 or more).")
@click.option("--case", "cases", multiple=True, metavar="ID", help="Run only this case (repeatable).")
@click.option("--junit-xml", "junit_path", type=FileName(), metavar="FILE",
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

    if junit_path is not None:
        _check_writable(junit_path, "--junit-xml")
    report = run_conformance(name, profile=profile, examples=examples, seed=seed, cases=cases or None)
    click.echo(json.dumps(conformance_json(report)) if as_json else conformance_text(report))
    if junit_path is not None:
        _write(junit_path, junit_xml(report))
    if not report.conforms:
        raise ReportedFailure(f"{name} fails MUST cases")


@cli.command()
@click.option("--target", "-t", "target_name", metavar="TARGET",
              help="What to fuzz: wire:FMT (FMT: " + ", ".join(sorted(FORMATS)) + "), link, isolation or adapter:NAME.")
@click.option("--examples", "-n", type=click.IntRange(min=1), default=FUZZ_EXAMPLES, show_default=True,
              help="Generated inputs to try.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed; the same seed tries the same inputs.")
@click.option("--profile", metavar="NAME_OR_PATH", help="Device profile for adapter:NAME (default: the first that "
                                                        "selects it).")
@click.option("--save", type=FileName(), default="oisa-fuzz-failure.json", show_default=True,
              metavar="FILE", help="Where a failure's minimal input is saved.")
@click.option("--replay", type=FileName(), metavar="FILE",
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
        _check_writable(save, "--save")
        assert target_name is not None  # one of the two was given, checked above
        result = fuzzing.fuzz(target_name, examples=examples, seed=seed, profile=profile)
        outcome = {"target": result.target, "seed": seed, "examples": result.examples,
                   "passed": result.failure is None, "error": None, "input": None, "saved": None, "replayed": None}
        text = f"{result.target}: {result.examples} examples passed (seed {seed})"
        if result.failure is not None:
            outcome.update(error=result.failure.error, input=result.failure.example, saved=save)
            text = "\n".join([f"{result.target}: FAILED at example {result.examples} (seed {seed})",
                              f"  error: {result.failure.error}",
                              f"  minimal input: {json.dumps(result.failure.example)}",
                              f"  saved to {save}; rerun it with: oisa fuzz --replay {save}"])
    click.echo(json.dumps(outcome) if as_json else text)  # what was found is printed first, whatever follows
    if replay is None and result.failure is not None:
        _write(save, json.dumps(fuzzing.failure_record(result), indent=2) + "\n")
    if not outcome["passed"]:
        raise ReportedFailure(outcome["error"] or "failed")


_FORMAT_OPTIONS = [
    click.option("--format", "-f", "fmt", type=click.Choice(sorted(FORMATS)), required=True,
                 help="Byte format: " + "; ".join(f"{name}: {f.summary}" for name, f in sorted(FORMATS.items()))),
    click.option("--flit-size", type=int, default=256, show_default=True, callback=lambda _c, _p, v: _flit_size(v),
                 help="Bytes per flit (oisa-flit): a multiple of 32 from 64 to 2048."),
    click.option("--direction", type=click.Choice(["m2s", "s2m"]), default="m2s", show_default=True,
                 help="Direction a CXL flit travels (cxl-flit): host to device or device to host."),
]


def _flit_size(size: int) -> int:
    try:
        return check_flit_size(size)
    except OisaError as exc:
        raise click.BadParameter(str(exc)) from None


def _format_options(command: Callable[..., Any]) -> Callable[..., Any]:
    return _options(_FORMAT_OPTIONS)(command)


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
        return wire_format.encode(parse_json(text), options).hex()

    _convert_each(_inputs(json_fields), convert)


def _parse_hex(text: str) -> bytes:
    cleaned = text.strip().removeprefix("0x").replace(" ", "").replace(":", "")
    try:
        return bytes.fromhex(cleaned)
    except ValueError:
        if len(cleaned) % 2 and all(c in string.hexdigits for c in cleaned):
            raise UsageError(f"an odd number of hex digits ({len(cleaned)}): each byte takes two") from None
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
    """Run the ``oisa`` command on ``argv`` (default: the command line); return the exit status.

    The command runs under click's context directly rather than ``cli.main``, whose handling of
    Ctrl-C writes a line of its own: an interrupt ends in exactly one line and status 130.
    """
    try:
        with cli.make_context("oisa", sys.argv[1:] if argv is None else list(argv)) as context:
            cli.invoke(context)
    except click.exceptions.Exit as exc:  # --help, --version
        return exc.exit_code
    except (KeyboardInterrupt, click.exceptions.Abort):
        # on a terminal, end the line the ^C echo left open
        click.echo(("\n" if sys.stderr.isatty() else "") + "oisa: interrupted", err=True)
        return 130
    except BrokenPipeError:  # the reader went away (``oisa ... | head``): stop quietly, as click does
        with contextlib.suppress(OSError, ValueError):  # and keep Python's flush at exit quiet too
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except ReportedFailure:
        return 1
    except click.ClickException as exc:
        click.echo(f"oisa: error: {_one_line(exc.format_message())}", err=True)
        return exc.exit_code
    except UsageError as exc:  # how it was asked: an argument the workload refuses
        click.echo(f"oisa: error: {_one_line(exc.describe(flag))}", err=True)
        return 2
    except OisaError as exc:
        click.echo(f"oisa: error: {_one_line(str(exc))}", err=True)
        return 1
    return 0


def _one_line(text: str) -> str:
    return " ".join(text.split())


if __name__ == "__main__":
    sys.exit(main())
