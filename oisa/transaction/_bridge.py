"""What the PCIe and CXL bridges share.

* The shape of their tables: one row per foreign kind (a PCIe TLP kind, a CXL.mem message),
  the OISA opcode it becomes, which fields carry the same meaning on both sides, and what
  cannot cross and why. The rows are data the bridges read as they convert (the opcode a kind
  becomes, the reason a refusal gives), and the tests walk them, so a table rendered into
  ``specs/`` cannot claim anything the code does not do.
* The store of outstanding requests: an answer often lacks what the other side's answer must
  say (PCIe's byte count, OISA's echoed address and telemetry), and the request it answers
  has it, so a bridge remembers each non-posted request by requester and tag until its answer
  has crossed back.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Generic, TypeVar

from oisa.errors import BridgeError
from oisa.wire.oisa import Opcode

__all__ = ["FieldMap", "Outstanding", "Refusal", "Row", "Side", "refuse", "render_rows"]

K = TypeVar("K")
R = TypeVar("R")


class Side(enum.Enum):
    """Whose value cannot cross: the foreign protocol's (PCIe, CXL) or OISA's."""

    FOREIGN = "foreign"
    OISA = "oisa"


@dataclass(frozen=True)
class FieldMap:
    """Fields that say the same thing on both sides, and how one becomes the other.

    ``foreign`` names fields as the foreign in-memory class names them (:class:`~oisa.wire.pcie.tlp.Tlp`,
    the CXL.mem dataclasses), ``oisa`` as :class:`~oisa.wire.oisa.message.Message` does. One side
    may be empty: a field the other side has no counterpart for, with what the bridge does
    with it (sets it, ends it, takes it from the caller).
    """

    foreign: tuple[str, ...]
    oisa: tuple[str, ...]
    how: str


@dataclass(frozen=True)
class Refusal:
    """A value of ``field`` (on ``side``) that cannot cross; the bridge raises
    :class:`~oisa.errors.BridgeError` naming ``field`` and giving ``why``."""

    side: Side
    field: str
    why: str


@dataclass(frozen=True)
class Row(Generic[K]):
    """One row of a bridge table.

    ``opcodes`` is empty when the kinds cannot cross at all; ``kinds`` is empty for OISA
    opcodes the foreign protocol has no kind for. When both are set, the kinds become
    ``opcodes[0]``; further opcodes also become these kinds, one way (``note`` says so).
    """

    name: str
    kinds: tuple[K, ...]
    opcodes: tuple[Opcode, ...]
    fields: tuple[FieldMap, ...] = ()
    refusals: tuple[Refusal, ...] = ()
    note: str = ""

    @property
    def crosses(self) -> bool:
        return bool(self.kinds and self.opcodes)

    def refusal(self, side: Side, field: str) -> Refusal:
        """The row's refusal of ``field`` on ``side``; a bridge that refuses anything its row
        does not list is a bug, and this lookup makes it fail loudly."""
        for refusal in self.refusals:
            if refusal.side is side and refusal.field == field:
                return refusal
        raise LookupError(f"row {self.name!r} lists no refusal of {side.value} field {field!r}")


def refuse(what: str, row: Row[K], side: Side, field: str, detail: str = "") -> BridgeError:
    """The :class:`BridgeError` for ``field`` of ``what`` (say ``"PCIe MRd"``), worded as the
    row's refusal, with ``detail`` (the offending value) after it."""
    why = row.refusal(side, field).why
    return BridgeError(f"{what} cannot cross: field {field!r}: {why}" + (f" ({detail})" if detail else ""),
                       field=field)


def _cell(parts: Iterable[str]) -> str:
    return "<br>".join(parts) or "-"


def _names(names: tuple[str, ...]) -> str:
    return ", ".join(f"`{name}`" for name in names) or "-"


def render_rows(rows: Iterable[Row[K]], foreign: str) -> str:
    """A Markdown table of ``rows``; ``foreign`` names the other protocol's column."""
    lines = [f"| {foreign} | OISA | fields ({foreign} = OISA) | cannot cross | notes |", "|---|---|---|---|---|"]
    for row in rows:
        opcodes = ", ".join(f"`{opcode.name}`" for opcode in row.opcodes) or "-"
        fields = _cell(f"{_names(f.foreign)} = {_names(f.oisa)}: {f.how}" for f in row.fields)
        refused = _cell(f"{'OISA' if r.side is Side.OISA else foreign} `{r.field}`: {r.why}" for r in row.refusals)
        lines.append(f"| {row.name} | {opcodes} | {fields} | {refused} | {row.note or '-'} |")
    return "\n".join(lines) + "\n"


class Outstanding(Generic[R]):
    """Requests that crossed a bridge and still wait for an answer, by (requester card, tag).

    Pass one instance to both directions of a bridge: a request is remembered when it crosses
    one way and its answers are rebuilt from it when they cross the other way. A request whose
    requester still has its tag outstanding cannot cross (no protocol here lets a tag be reused
    before its answer).
    """

    def __init__(self) -> None:
        self._requests: dict[tuple[int, int], R] = {}

    def __len__(self) -> int:
        return len(self._requests)

    def get(self, requester: int, tag: int) -> R | None:
        return self._requests.get((requester, tag))

    def forget(self, requester: int, tag: int) -> None:
        """Drop a request whose answer will not come (it timed out); a late answer then cannot
        cross."""
        self._requests.pop((requester, tag), None)

    def _open(self, requester: int, tag: int, request: R, what: str) -> None:
        if (requester, tag) in self._requests:
            raise BridgeError(f"{what} cannot cross: field 'tag': card {requester} already has tag {tag} outstanding",
                              field="tag")
        self._requests[(requester, tag)] = request

    def _update(self, requester: int, tag: int, request: R | None) -> None:
        """Replace the request (it was partly answered), or forget it (``None``: answered)."""
        if request is None:
            del self._requests[(requester, tag)]
        else:
            self._requests[(requester, tag)] = request
