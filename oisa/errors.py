"""One root for every error oisa raises on purpose.

Callers catch :class:`OisaError` to tell "the input or the model was wrong" from a bug in oisa.
The split follows h11: a protocol error says who misbehaved (we did, or the peer did) and
carries the wire code it maps to, so a link or transaction layer can answer with the right NAK
reason or completion status without a lookup table of its own.

Every message names what was wrong: the field and byte offset for frames, the file and key for
configuration, the option for command-line input.
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = [
    "NO_VALUE",
    "AccessDenied",
    "BridgeError",
    "CatalogError",
    "CompletionTimeout",
    "ConfigError",
    "CrcError",
    "FrameError",
    "IntegrityError",
    "LinkDownError",
    "LocalProtocolError",
    "LogError",
    "OisaError",
    "PointError",
    "ProtocolError",
    "RankFailed",
    "RemoteProtocolError",
    "SimulationDeadlock",
    "SimulationError",
    "UnitError",
    "UsageError",
    "VerificationError",
]


class _NoValue:
    """The value of a :class:`UsageError` about an argument whose value is beside the point."""

    def __repr__(self) -> str:
        return "NO_VALUE"


NO_VALUE: object = _NoValue()


class OisaError(Exception):
    """Root of every error raised on purpose by oisa."""


class UsageError(OisaError):
    """An argument is not acceptable (bad size, unknown workload, a rank that does not exist).

    ``parameter`` names the argument as a Python caller writes it (``"root"``, or several, such as
    ``("src", "dst")``) and ``value`` what was given; the message then reads ``root=5: not a
    rank ...``. Only the command line knows flags: it renders the same error as ``--root 5: not
    a rank ...`` through :meth:`describe`. Errors about no one argument leave ``parameter`` None.
    ``remedy`` is an argument and value that would make the call work, named the same two ways.
    """

    def __init__(self, message: str, *, parameter: str | tuple[str, ...] | None = None,
                 value: object = NO_VALUE, remedy: tuple[str, object] | None = None) -> None:
        self.problem = message
        self.parameters: tuple[str, ...] = (parameter,) if isinstance(parameter, str) else tuple(parameter or ())
        self.value = value
        self.remedy = remedy  # (argument, value) that would do: "try engine='timing'"
        super().__init__(self.describe())

    @property
    def parameter(self) -> str | None:
        """The first (usually the only) argument blamed, or None."""
        return self.parameters[0] if self.parameters else None

    def describe(self, flag: Callable[[str], str] | None = None) -> str:
        """The message, naming the arguments as keywords, or as ``flag(name)`` renders them."""
        problem = self.problem
        if self.remedy is not None:
            name, value = self.remedy
            if flag is None:
                problem += f" (try {name}={value!r})"
            else:
                problem += f" (try {flag(name)}{'' if value is True else ' ' + _as_typed(value)})"
        if not self.parameters:
            return problem
        if flag is None:
            shown = "" if self.value is NO_VALUE else f"={self.value!r}"
            names = ", ".join(f"{name}{shown}" for name in self.parameters)
        else:
            shown = "" if self.value is NO_VALUE else f" {_as_typed(self.value)}"
            names = ", ".join(f"{flag(name)}{shown}" for name in self.parameters)
        return f"{names}: {problem}"


def _as_typed(value: object) -> str:
    """A value as a user would have typed it on a command line (lists with commas)."""
    if isinstance(value, (list, tuple)):
        return ",".join(str(item) for item in value)
    return str(value)


class UnitError(UsageError, ValueError):
    """A quantity with a unit (size, rate, time) could not be read."""


class ConfigError(OisaError):
    """A TOML profile or fabric file is missing, malformed, or inconsistent.

    The message starts with the file and, where there is one, the dotted key path.
    """

    def __init__(self, message: str, *, source: str | None = None, key: str | None = None):
        self.source = source
        self.key = key
        self.message = message  # what is wrong, without the file and key
        where = ": ".join(part for part in (source, key) if part)
        super().__init__(f"{where}: {message}" if where else message)


class CatalogError(ConfigError):
    """A name was looked up in a built-in catalog (devices, fabrics) and not found."""


class LogError(OisaError):
    """A measurement log (nccl-tests' or rccl-tests' standard output) that cannot be read: the
    message starts with the file and the number of the line that was wrong (``line`` is None when
    the whole file is: empty, or with no table)."""

    def __init__(self, message: str, *, source: str, line: int | None = None):
        self.source = source
        self.line = line
        where = f"{source}, line {line}" if line is not None else source
        super().__init__(f"{where}: {message}")


class FrameError(OisaError, ValueError):
    """Bytes that do not decode as the format they claim to be.

    ``field`` names the field as the specification names it and ``offset`` is the byte offset
    of that field (or of the first byte that could not be read) from the start of the frame.
    """

    def __init__(self, message: str, *, fmt: str, field: str | None = None, offset: int | None = None):
        self.fmt = fmt
        self.field = field
        self.offset = offset
        where = fmt
        if field is not None:
            where += f" field {field!r}"
        if offset is not None:
            where += f" at byte {offset}"
        super().__init__(f"{where}: {message}")


class CrcError(FrameError):
    """The frame arrived whole but its CRC does not match its contents."""


class IntegrityError(FrameError):
    """Bytes whose MAC does not verify: altered on the way, or not sealed by the key's holder."""


class BridgeError(OisaError):
    """A field or operation that cannot cross a protocol bridge (say, PCIe to OISA).

    ``field`` names the field that cannot cross, as the side it comes from names it, so that a
    caller can tell refusals apart without reading the message; it is None where no one field
    is to blame (a vendor adapter refusing a whole operation, say).
    """

    def __init__(self, message: str, *, field: str | None = None):
        self.field = field
        super().__init__(message)


class AdapterError(OisaError):
    """A device adapter raised something other than an oisa error (a bug of the adapter, most
    likely a plug-in's): reported as the adapter's, naming it, the method and what it raised,
    which is chained as the cause. BridgeError and FrameError, how adapters refuse, are not
    turned into this."""

    def __init__(self, adapter: str, method: str, cause: Exception):
        self.adapter = adapter
        self.method = method
        super().__init__(f"adapter {adapter}: {method} raised {type(cause).__name__}: {cause}")


class ProtocolError(OisaError):
    """A protocol rule was broken. ``code`` is the wire code this maps to (NAK reason, status)."""

    def __init__(self, message: str, *, code: int | None = None):
        self.code = code
        super().__init__(message)


class LocalProtocolError(ProtocolError):
    """We were asked to do something the protocol forbids (our side misbehaved)."""


class RemoteProtocolError(ProtocolError):
    """The peer sent something the protocol forbids."""


class AccessDenied(ProtocolError):
    """A tenant's access was refused: its destination answered Completer Abort (outside the
    tenant's memory windows) or the fabric answered Unsupported Request (across partitions).
    ``code`` is the completion status that said so."""


class LinkDownError(OisaError):
    """A link failed to retrain or was taken down; traffic on it cannot complete."""


class CompletionTimeout(OisaError):
    """A non-posted request received no (complete) answer within the completion timeout.

    A run that ends with one says who waited for whom: ``requester`` (the card whose request
    went unanswered), ``peer`` (the node that did not answer), ``at_ps`` (when the timeout
    expired, in virtual time), ``failed`` (the cards known to have failed by then, from the
    run's fault schedule) and ``incomplete`` (the cards whose part of the plan had not finished).
    """

    def __init__(self, message: str, *, requester: int | None = None, peer: int | None = None,
                 at_ps: int | None = None, failed: tuple[int, ...] = (), incomplete: tuple[int, ...] = ()) -> None:
        self.requester = requester
        self.peer = peer
        self.at_ps = at_ps
        self.failed = failed
        self.incomplete = incomplete
        super().__init__(message)


class RankFailed(OisaError):
    """A collective lost ranks: ``ranks`` (indices in its communicator; ``cards``, their card
    ids) failed, which was detected ``detected_ps`` after the collective started (virtual time),
    and the results of ``incomplete`` (rank indices) never finished. What a collective ends with
    when it aborts rather than shrink its communicator."""

    def __init__(self, message: str, *, ranks: tuple[int, ...], cards: tuple[int, ...], detected_ps: int,
                 incomplete: tuple[int, ...]) -> None:
        self.ranks = ranks
        self.cards = cards
        self.detected_ps = detected_ps
        self.incomplete = incomplete
        super().__init__(message)


class SimulationError(OisaError):
    """The emulation itself cannot go on (as opposed to a protocol error inside it)."""


class SimulationDeadlock(SimulationError):
    """Every task waits and no event is scheduled: nothing can ever happen again.

    Where a plan was running, it says more: ``at_ps`` (how long into the plan), ``failed`` (cards
    that had died by then, from the run's outages) and ``incomplete`` (cards whose part of the
    plan had not finished)."""

    def __init__(self, message: str) -> None:
        self.at_ps: int | None = None
        self.failed: tuple[int, ...] = ()
        self.incomplete: tuple[int, ...] = ()
        super().__init__(message)


class VerificationError(OisaError):
    """Data read back or reduced by a workload differs from what numpy says it should be."""


class PointError(OisaError):
    """A run that failed where it ran (a pool process, a Dask worker on another machine),
    carried back as the name of the error it raised there and its message: errors cross
    process boundaries as data, not as pickled exceptions."""

    def __init__(self, kind: str, message: str):
        self.kind = kind
        super().__init__(message)
