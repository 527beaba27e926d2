"""The workload registry: every workload declares itself once, and everything else reads that.

A workload is a function ``run_NAME(spec, run, *, option=default, ...)`` decorated with
:func:`workload`, which declares in the workload's own module its name, what its options are
(type, help, which workloads share them), the engines it runs on and its result type. The
keyword defaults of the function are the only place a default is written. The command line
builds ``oisa run -w NAME`` / ``oisa compare`` options from these declarations and refuses, from
the same declarations, options a workload does not take; calling the function from Python
checks every argument the same way and names the keyword when one is wrong.

Workloads are found through the ``oisa.workloads`` entry-point group, oisa's own included (see
``pyproject.toml``), so the plug-in path is always the one exercised. An entry point names a
:class:`Workload` or a tuple of them. A plug-in workload brings its own :class:`Renderer`; the
built-in ones are rendered by :mod:`oisa.report`, which knows their result types.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from importlib import metadata
from typing import Any, Literal

from oisa.errors import ConfigError, UsageError
from oisa.fabric import FabricSpec, load_fabric
from oisa.workload.run import Run

__all__ = ["CARD", "CARDS", "CHOICE", "COUNT", "FLAG", "FRACTION", "GROUP", "SIZE", "TEXT", "Headline", "Option",
           "OptionKind", "Renderer", "Workload", "find", "workload", "workload_family", "workloads"]

GROUP = "oisa.workloads"


# -- option kinds ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OptionKind:
    """What values an option takes: ``metavar`` for help, ``check`` for values from Python (and
    from the command line, after click has parsed the text)."""

    name: str
    metavar: str

    def check(self, option: Option, value: Any) -> Any:
        return _CHECKS[self.name](option, value)


def _integer(option: Option, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise UsageError(f"expected an integer, not {type(value).__name__}", parameter=option.name, value=value)
    if option.minimum is not None and value < option.minimum:
        raise UsageError(f"must be {option.minimum} or more", parameter=option.name, value=value)
    if option.maximum is not None and value > option.maximum:
        raise UsageError(f"must be at most {option.maximum:,}", parameter=option.name, value=value)
    return value


def _card(option: Option, value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise UsageError("expected a card id (an integer, 0 or more)", parameter=option.name, value=value)
    return value


def _cards(option: Option, value: Any) -> tuple[int, ...] | None:
    if value is None:
        return None
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise UsageError("expected a sequence of card ids", parameter=option.name, value=value)
    for card in value:
        if isinstance(card, bool) or not isinstance(card, int) or card < 0:
            raise UsageError(f"{card!r} is not a card id (an integer, 0 or more)", parameter=option.name,
                             value=list(value))
    return tuple(value)


def _choice(option: Option, value: Any) -> str:
    if value not in option.choices:
        raise UsageError(f"expected one of {', '.join(option.choices)}", parameter=option.name, value=value)
    return str(value)


def _flag(option: Option, value: Any) -> bool:
    if not isinstance(value, bool):
        raise UsageError("expected True or False", parameter=option.name, value=value)
    return value


def _fraction(option: Option, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 1:
        raise UsageError("expected a fraction above 0 and at most 1", parameter=option.name, value=value)
    return float(value)


def _text(option: Option, value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise UsageError("expected a non-empty string", parameter=option.name, value=value)
    return value


_CHECKS: dict[str, Callable[[Option, Any], Any]] = {
    "size": _integer, "count": _integer, "card": _card, "cards": _cards, "choice": _choice, "flag": _flag,
    "fraction": _fraction, "text": _text,
}
SIZE = OptionKind("size", "SIZE")  # bytes; the command line reads units (4096, 64KiB, 1MiB, 1GB)
COUNT = OptionKind("count", "N")
CARD = OptionKind("card", "CARD")
CARDS = OptionKind("cards", "CARDS")  # the command line reads 0,4,8
CHOICE = OptionKind("choice", "NAME")
FLAG = OptionKind("flag", "")
TEXT = OptionKind("text", "TEXT")
FRACTION = OptionKind("fraction", "X")  # a share above 0 and at most 1 (0.462)


@dataclass(frozen=True)
class Option:
    """One keyword option of a workload. ``short`` is its one-letter command-line alias."""

    name: str
    kind: OptionKind
    help: str
    choices: tuple[str, ...] = ()
    minimum: int | None = None
    maximum: int | None = None
    short: str | None = None

    def check(self, value: Any) -> Any:
        return self.kind.check(self, value)


# -- rendering -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Headline:
    """One figure of a result worth comparing; ``key`` names it in ``ratio_b_over_a``."""

    key: str
    label: str
    value: float
    kind: Literal["time", "rate", "share", "per_s"]


@dataclass(frozen=True)
class Renderer:
    """How a plug-in workload's result is shown: as JSON (keys documented by the plug-in), as
    text, by a one-line title, and by the headline figures ``oisa compare`` lays side by side."""

    to_json: Callable[[Any], dict[str, Any]]
    to_text: Callable[[Any], str]
    title: Callable[[Any], str]
    headlines: Callable[[Any], list[Headline]]


# -- workloads ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Workload:
    """A declared workload. Call it like its function: ``workload(spec, run, **options)``."""

    name: str
    summary: str
    function: Callable[..., Any]
    options: tuple[Option, ...]
    defaults: dict[str, Any]
    result: type
    engines: tuple[str, ...]
    renderer: Renderer | None = None
    distribution: str = "oisa"

    def option(self, name: str) -> Option:
        for option in self.options:
            if option.name == name:
                return option
        raise UsageError(f"{self.name} takes no such option (it takes: {', '.join(self.option_names) or 'none'})",
                         parameter=name)

    @property
    def option_names(self) -> tuple[str, ...]:
        return tuple(option.name for option in self.options)

    def checked(self, options: dict[str, Any], spec: FabricSpec | None = None) -> dict[str, Any]:
        """``options`` checked, one by one, and completed with the defaults; given ``spec``, every
        card an option names must be one of its cards."""
        unknown = sorted(set(options) - set(self.option_names))
        if unknown:
            raise UsageError(f"{self.name} takes no such option (it takes: {', '.join(self.option_names) or 'none'})",
                             parameter=unknown[0], value=options[unknown[0]])
        out = dict(self.defaults)
        for name, value in options.items():
            out[name] = self.option(name).check(value)
        if spec is not None:
            _cards_exist(spec, self, out)
        return out

    def __call__(self, spec: FabricSpec | str, run: Run | None = None, /, **options: Any) -> Any:
        return self.function(spec, run if run is not None else Run(), **options)


def fabric_spec(spec: FabricSpec | str) -> FabricSpec:
    """A workload's fabric: a :class:`FabricSpec`, or the catalog name or path of one."""
    if isinstance(spec, FabricSpec):
        return spec
    if isinstance(spec, str):
        return load_fabric(spec)
    raise UsageError("expected a FabricSpec, or the catalog name or path of a fabric", parameter="spec",
                     value=type(spec).__name__)


def checked_run(run: Any) -> Run:
    if not isinstance(run, Run):
        raise UsageError("expected an oisa.workload.Run (seed, engine, faults, observer, limits)", parameter="run",
                         value=type(run).__name__)
    return run


def workload(name: str, *, summary: str, result: type, engines: tuple[str, ...], options: Sequence[Option],
             renderer: Renderer | None = None) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Declare the decorated function ``f(spec, run, *, **options)`` as workload ``name``.

    The returned function checks ``spec``, ``run`` and every option before calling ``f``; the
    declaration is its ``workload`` attribute (what an entry point names).
    """
    def declare(function: Callable[..., Any]) -> Callable[..., Any]:
        member = _declared(name, summary, function, result, engines, options, renderer, fixed=())
        checked = _checking(function, member)
        member = replace(member, function=checked)
        checked.workload = member  # type: ignore[attr-defined]  # functools.wraps gives no typed slot for it
        return checked
    return declare


def workload_family(selector: str, members: dict[str, str], *, result: type, engines: tuple[str, ...],
                    options: Sequence[Option],
                    only: dict[str, tuple[str, ...]] | None = None,
                    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Declare ``f(spec, <selector>, run, *, **options)`` as one workload per member (its name to
    its summary), each calling ``f`` with ``selector`` fixed: the collectives are such a family.
    ``only`` restricts options to some members (``{"root": ("broadcast",)}``); the others refuse
    them. The returned function checks its arguments like :func:`workload`'s; its ``workloads``
    attribute is the tuple of declarations."""
    only = only or {}

    def declare(function: Callable[..., Any]) -> Callable[..., Any]:
        whole = _declared(next(iter(members)), "", function, result, engines, options, None, fixed=(selector,))
        family: dict[str, Workload] = {}
        for member, summary in members.items():
            kept = tuple(o for o in options if member in only.get(o.name, (member,)))
            family[member] = replace(whole, name=member, summary=summary, options=kept,
                                     defaults={o.name: whole.defaults[o.name] for o in kept})

        @functools.wraps(function)
        def checked(spec: FabricSpec | str, chosen: str = next(iter(members)), run: Run | None = None,
                    /, **given: Any) -> Any:
            if not isinstance(chosen, str) or chosen not in family:
                raise UsageError(f"no such {selector} (known: {', '.join(members)})", parameter=selector,
                                 value=chosen)
            fabric = fabric_spec(spec)
            options = family[chosen].checked(given, fabric)
            return function(fabric, chosen, checked_run(run if run is not None else Run()),
                            **{**whole.defaults, **options})

        checked.workloads = tuple(replace(member, function=_fixed_call(checked, member.name))  # type: ignore[attr-defined]  # see workload()
                                  for member in family.values())
        return checked
    return declare


def _fixed_call(checked: Callable[..., Any], member: str) -> Callable[..., Any]:
    def call(spec: FabricSpec | str, run: Run, /, **options: Any) -> Any:
        return checked(spec, member, run, **options)
    return call


def _declared(name: str, summary: str, function: Callable[..., Any], result: type, engines: tuple[str, ...],
              options: Sequence[Option], renderer: Renderer | None, *, fixed: tuple[str, ...]) -> Workload:
    """The declaration, its defaults read off ``function``'s keyword-only parameters, which
    must be exactly the declared options."""
    parameters = inspect.signature(function).parameters
    keywords = {p.name: p.default for p in parameters.values() if p.kind is inspect.Parameter.KEYWORD_ONLY}
    declared = [option.name for option in options]
    if sorted(keywords) != sorted(declared) or any(v is inspect.Parameter.empty for v in keywords.values()):
        raise TypeError(f"workload {name}: keyword-only parameters {sorted(keywords)} must be the declared options "
                        f"{sorted(declared)}, each with its default")
    for other in fixed:
        if other not in parameters:
            raise TypeError(f"workload {name}: {other} is not a parameter of {function.__name__}")
    return Workload(name, summary, function, tuple(options), keywords, result, engines, renderer)


def _checking(function: Callable[..., Any], member: Workload) -> Callable[..., Any]:
    @functools.wraps(function)
    def checked(spec: FabricSpec | str, run: Run | None = None, /, **given: Any) -> Any:
        fabric = fabric_spec(spec)
        options = member.checked(given, fabric)
        return function(fabric, checked_run(run if run is not None else Run()), **options)
    return checked


def _cards_exist(spec: FabricSpec, member: Workload, options: dict[str, Any]) -> None:
    """Every card an option names is a card of ``spec``: a wrong id is the argument's fault, named
    as it (``src=5: fabric pair has no card 5 ...``), not the fabric file's."""
    for option in member.options:
        value = options.get(option.name)
        if value is None or option.kind.name not in ("card", "cards"):
            continue
        for card in (value,) if option.kind.name == "card" else value:
            try:
                spec.card(card)
            except ConfigError as exc:
                raise UsageError(f"fabric {spec.name} has {exc.message}", parameter=option.name,
                                 value=value if option.kind.name == "card" else list(value)) from None


# -- finding them ------------------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def workloads() -> dict[str, Workload]:
    """Every workload registered in this environment, by name, in entry-point order."""
    found: dict[str, Workload] = {}
    # oisa's own first, then plug-ins, each by entry-point name
    for point in sorted(metadata.entry_points(group=GROUP),
                        key=lambda p: (p.dist is None or p.dist.name != "oisa", p.name)):
        distribution = point.dist.name if point.dist is not None else "unknown"
        where = f"entry point {point.value}"
        try:
            loaded = point.load()
        except Exception as exc:  # a broken plug-in is reported, not a traceback
            raise ConfigError(f"workload {point.name!r} from {distribution} failed to load: {exc}",
                              source=where) from None
        declared = getattr(loaded, "workloads", None) or getattr(loaded, "workload", loaded)
        members = declared if isinstance(declared, tuple) else (declared,)
        for member in members:
            if not isinstance(member, Workload):
                raise ConfigError(f"workload {point.name!r} from {distribution} is not a declared workload "
                                  f"(oisa.workload.registry.workload)", source=where)
            if member.name in found:
                raise ConfigError(f"workload {member.name!r} is registered twice ({found[member.name].distribution} "
                                  f"and {distribution})", source=where)
            _check_shared_options(found, member, where)
            found[member.name] = replace(member, distribution=distribution)
    return found


def _check_shared_options(found: dict[str, Workload], member: Workload, where: str) -> None:
    """Workloads that share an option name must agree on what it is: the command line has one flag."""
    for other in found.values():
        for option in member.options:
            if option.name in other.option_names:
                theirs = other.option(option.name)
                if (theirs.kind, theirs.short) != (option.kind, option.short):
                    raise ConfigError(f"workload {member.name!r} declares option {option.name!r} unlike "
                                      f"{other.name!r} does (kind {option.kind.name} against {theirs.kind.name})",
                                      source=where)


def find(name: str) -> Workload:
    """The workload registered as ``name``."""
    found = workloads()
    if name not in found:
        raise UsageError(f"no such workload (known: {', '.join(found)})", parameter="workload", value=name)
    return found[name]
