"""Exchanges through an adapter: a request and its completions, as a card would see them.

An adapter is stateful in general (a PCIe bridge remembers each read to rebuild its
completions; a CXL.mem bridge hands out tags of its own), so the kit never converts a lone
completion: it sends the request through the same adapter first, in the role the card plays,
then the completions a real OISA target (:class:`~oisa.transaction.Completer`) gives for it.

The requests are those a card really sends: tags below the profile's count, addresses inside
its memory, reads and writes within the profile's sizes that do not cross a 4 KiB page (the
requester splits there), atomics aligned to their operand. Anything else an adapter may refuse
with :class:`~oisa.errors.BridgeError`; what it does not refuse must cross intact.

Crossing is what the card does on every message: ``from_native(to_native(message))``. A change
is reported per field; which conformance case a field belongs to is the cases' business.
"""

from __future__ import annotations

import enum
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from typing import Any

from hypothesis import strategies as st

from oisa.device.adapter import Capability, DeviceAdapter
from oisa.device.memory import SparseMemory
from oisa.device.profile import DeviceProfile
from oisa.errors import BridgeError, UsageError
from oisa.testing import strategies as oisa_st
from oisa.testing._explore import PropertyFailed
from oisa.testing.conformance._subject import REQUEST_OPCODES, Kind, Role, Subject
from oisa.transaction import Completer
from oisa.transaction.requester import PAGE
from oisa.wire.oisa import (
    OPCODES,
    CollDtype,
    CollExt,
    CollOp,
    Message,
    Opcode,
    Status,
    message_from_fields,
    message_to_fields,
)

__all__ = [
    "CARD_IDS",
    "PATTERNS",
    "SAME_OPERATION",
    "Change",
    "Exchange",
    "Finding",
    "Outcome",
    "canonical_exchange",
    "carried_kinds",
    "changes",
    "cross",
    "describe",
    "exchanges",
    "is_error",
    "run_exchange",
    "run_exchanges",
    "same_operation",
    "seeded_bytes",
]

CARD_IDS = st.integers(0, 0xFFFE)

# Opcodes that say the same operation: a native format with one read and one posted write (as
# PCIe has) carries OISA's fine-grained and bulk variants as its own, and that loses nothing
# the target acts on.
SAME_OPERATION: dict[Opcode, str] = {
    Opcode.MEM_RD: "read", Opcode.LOAD: "read", Opcode.DMA_RD: "read",
    Opcode.MEM_WR: "posted write", Opcode.STORE: "posted write",
}

_PAGE_BOUND = frozenset({Opcode.MEM_WR, Opcode.MEM_RD, Opcode.STORE, Opcode.LOAD, Opcode.DMA_WR, Opcode.DMA_RD})
_ATOMICS = frozenset({Opcode.FETCH_ADD, Opcode.SWAP, Opcode.CAS})
_CXL = frozenset({Opcode.CXL_MEM_RD, Opcode.CXL_MEM_WR, Opcode.CXL_MEM_INV})
_LINE = 64
# Path telemetry (load, hops) may end at a bridge; count is 1 for every real message.
_COMPARED = tuple(f.name for f in fields(Message) if f.name not in ("load", "hops", "count"))


class Outcome(enum.StrEnum):
    """How the target answers a request."""

    NORMAL = "normal"  # the memory is there: data or a successful completion
    UNSUPPORTED = "unsupported"  # the memory is not: Unsupported Request (CXL.mem: poisoned data)
    ABORT = "abort"  # Completer Abort (CXL.mem has none: answered as unsupported)


@dataclass(frozen=True)
class Exchange:
    """A request crossing card ``card``'s adapter in ``role``, then its completions."""

    card: int
    role: Role
    request: Message
    completions: tuple[Message, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"card": self.card, "role": self.role.value, "request": message_to_fields(self.request),
                "completions": [message_to_fields(m) for m in self.completions]}

    @classmethod
    def from_json(cls, data: Any) -> Exchange:
        """Read what :meth:`to_json` wrote; UsageError (or FrameError for a message) if malformed."""
        try:
            return cls(int(data["card"]), Role(data["role"]), message_from_fields(data["request"]),
                       tuple(message_from_fields(m) for m in data["completions"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise UsageError(f"not an exchange (card, role, request, completions): {exc}") from None


@dataclass(frozen=True)
class Change:
    """One field of a message of ``opcode`` that came back different."""

    opcode: Opcode
    field: str
    sent: Any
    got: Any

    def __str__(self) -> str:
        if self.field == "payload":
            return _payload_change(self.sent, self.got)
        return f"field {self.field!r} {self._show(self.sent)} came back as {self._show(self.got)}"

    def _show(self, value: Any) -> str:
        if self.field == "opcode":
            return Opcode(value).name
        if self.field == "address" and isinstance(value, int):
            return f"{value:#x}"
        if self.field == "aux" and self.opcode in (Opcode.CPL, Opcode.CPL_D) and value in Status._value2member_map_:
            return f"{value} ({Status(value).name})"
        return repr(value)


@dataclass(frozen=True)
class Finding:
    """Something wrong with one message of an exchange: a changed field, or ``refused`` for a
    completion the adapter would not carry although its request crossed."""

    field: str
    message: Message
    text: str


# -- requests and their completions -----------------------------------------------------------

def _limit(profile: DeviceProfile, opcode: Opcode) -> int:
    """Largest length a card with ``profile`` gives ``opcode``."""
    info = OPCODES[opcode]
    size = int(profile.max_payload.value if info.has_payload else profile.max_read_request.value)
    return max(1, size)


def _realistic(message: Message) -> Message:
    """``message`` moved to an address a requester would use for it."""
    opcode = Opcode(message.opcode)
    if opcode in _PAGE_BOUND:
        over = message.address % PAGE + message.length - PAGE
        if over > 0:
            message.address -= over
    elif opcode in _ATOMICS:
        operand = message.length // 2 if opcode is Opcode.CAS else message.length
        message.address -= message.address % operand
    elif opcode in _CXL:
        message.address -= message.address % _LINE
    return message


def _placed(message: Message, card: int, peer: int, role: Role) -> Message:
    message.src, message.dst = (card, peer) if role is Role.STARTS else (peer, card)
    if role is Role.STARTS:  # a card's own request has crossed no switch yet
        message.load = message.hops = 0
    return message


def answer(request: Message, outcome: Outcome, contents: bytes, profile: DeviceProfile) -> tuple[Message, ...]:
    """The completions an OISA target gives ``request``, its memory holding ``contents`` at the
    request's address (for reads and atomics)."""
    if not request.info.expects_completion:
        return ()
    if outcome is Outcome.ABORT and request.opcode not in _CXL:
        return (Message(Opcode.CPL, request.dst, request.src, tag=request.tag, address=request.address,
                        tc=request.tc, aux=Status.CA, load=request.load, hops=request.hops),)
    capacity = request.address + max(request.length, _LINE) if outcome is Outcome.NORMAL else 0
    memory = SparseMemory(capacity, "target memory")
    if contents and outcome is Outcome.NORMAL:
        memory.write(request.address, contents)
    max_payload = int(profile.max_payload.value)
    completer = Completer(request.dst, memory, max_payload=max_payload, rcb=min(_LINE, max_payload))
    return tuple(completer.handle(request))


def _contents_size(request: Message) -> int:
    """Bytes of target memory a request reads (and so its completions return)."""
    if request.opcode in (Opcode.MEM_RD, Opcode.LOAD, Opcode.DMA_RD):
        return request.length
    if request.opcode in _ATOMICS:
        return request.length // 2 if request.opcode is Opcode.CAS else request.length
    return _LINE if request.opcode is Opcode.CXL_MEM_RD else 0


# Byte patterns that catch what random bytes rarely do: a lost byte in a run of equal bytes is
# invisible, so next to them the ramp, whose every byte differs from its neighbours. Random
# bytes come from a drawn seed, not byte by byte: byte values matter little to a bridge, and a
# failing example with kilobytes of payload then shrinks quickly. (The first pattern is the one
# a failing example shrinks towards.)
PATTERNS: dict[str, Callable[[bytes], bytes]] = {
    "zeros": lambda data: bytes(len(data)),
    "ramp": lambda data: bytes(i % 251 for i in range(len(data))),
    "ones": lambda data: b"\xff" * len(data),
    "random": lambda data: data,
}


def seeded_bytes(size: int) -> st.SearchStrategy[bytes]:
    """``size`` random bytes from a drawn seed."""
    return st.integers(0, 2**32 - 1).map(lambda seed: random.Random(seed).randbytes(size))


@st.composite
def exchanges(draw: st.DrawFn, subject: Subject, *, kinds: st.SearchStrategy[Kind],
              cards: st.SearchStrategy[int] = CARD_IDS, peers: st.SearchStrategy[int] = CARD_IDS,
              tags: st.SearchStrategy[int] | None = None,
              outcomes: st.SearchStrategy[Outcome] = st.just(Outcome.NORMAL),
              patterns: st.SearchStrategy[str] = st.just("random"),
              plain: st.SearchStrategy[bool] = st.booleans(), max_length: int | None = None,
              answered: bool = True) -> Exchange:
    """Exchanges a card with ``subject``'s profile takes part in, of the request ``kinds`` given;
    payloads and the target's memory hold bytes of one of the named :data:`PATTERNS`; ``plain``
    requests have default attributes (traffic class 0, no ordering relaxations, not poisoned);
    ``max_length`` caps lengths below the profile's (cases that look at ids or order do not need
    4 KiB of payload, and examples are cheaper to make and shrink without it); without
    ``answered``, the exchanges are their requests alone."""
    profile = subject.profile
    opcode, role = draw(kinds)
    card = draw(cards)
    peer = draw(peers.filter(lambda p: p != card))
    early = Capability.EARLY_COMPLETION in subject.cls.capabilities
    request = draw(oisa_st.messages(
        opcodes=st.just(opcode), tags=tags if tags is not None else st.integers(0, int(profile.tags.value) - 1),
        addresses=st.integers(0, max(0, min(profile.capacity, 1 << 40) - PAGE)),
        max_length=st.just(min(_limit(profile, opcode), max_length or PAGE)), payloads=seeded_bytes))
    request.ec = request.ec and early  # only a card that accepts early completions asks for them
    if draw(plain):  # most traffic has default attributes, which every native format carries
        request.tc, request.ns, request.ro, request.ido, request.ep = 0, False, False, False, False
    request = _placed(_realistic(request), card, peer, role)
    fill = PATTERNS[draw(patterns)]
    request.payload = fill(request.payload)
    if not answered:
        return Exchange(card, role, request)
    size = _contents_size(request)
    contents = fill(draw(seeded_bytes(size)))
    return Exchange(card, role, request, answer(request, draw(outcomes), contents, profile))


def canonical_exchange(subject: Subject, opcode: Opcode, role: Role, *, card: int = 3, peer: int = 9,
                       length: int | None = None, ec: bool = False) -> Exchange:
    """The plainest exchange of ``opcode`` (``length`` bytes at the start of a page): what a
    card surely sends if it sends that kind at all."""
    info = OPCODES[opcode]
    lengths = info.lengths
    if length is None and isinstance(lengths, range):
        length = 4 if opcode is Opcode.MSG_D else min(64, _limit(subject.profile, opcode), lengths.stop - 1)
    elif length is None:
        length = lengths[0]
    coll = None
    if opcode is Opcode.COLL_REDUCE:
        coll, length = CollExt(1, 2, CollOp.SUM, CollDtype.INT32), 64
    payload = bytes(i % 251 for i in range(length)) if info.has_payload else b""
    request = Message(opcode, 0, 0, tag=1, length=length, address=PAGE, payload=payload, coll=coll, ec=ec,
                      aux=0x7F if opcode in (Opcode.MSG, Opcode.MSG_D) else 0)  # a vendor-defined message
    request = _placed(request, card, peer, role)
    contents = bytes(i % 251 for i in range(_contents_size(request)))
    return Exchange(card, role, request, answer(request, Outcome.NORMAL, contents, subject.profile))


def carried_kinds(subject: Subject) -> frozenset[Kind]:
    """The request kinds, by role, whose canonical exchange crosses the adapter: an adapter
    says what it refuses only by refusing (BridgeError). One that raises anything else on a kind
    has not refused it: the kind is tested, and what it raises is found, shrunk and reported
    there like any other failure."""
    return frozenset((opcode, role) for opcode in REQUEST_OPCODES for role in Role if _carries(subject, opcode, role))


def _carries(subject: Subject, opcode: Opcode, role: Role) -> bool:
    try:
        return run_exchange(subject, canonical_exchange(subject, opcode, role)) is not None
    except Exception:  # not a refusal; the cases and the fuzzer report it
        return True


# -- crossing -----------------------------------------------------------------------------------

def cross(adapter: DeviceAdapter, message: Message) -> Message | None:
    """``message`` after crossing ``adapter`` as the card makes every message cross, or None if
    the adapter refuses it (BridgeError from ``to_native``). A frame the adapter wrote must read
    back: anything ``from_native`` raises on it propagates, as does any other exception."""
    try:
        frame = adapter.to_native(message)
    except BridgeError:
        return None
    if not isinstance(frame, (bytes, bytearray)):
        raise PropertyFailed(f"{adapter.name}.to_native returned {type(frame).__name__}, not bytes")
    return adapter.from_native(bytes(frame))


def same_operation(sent: int, got: int) -> bool:
    return sent == got or (sent in SAME_OPERATION and SAME_OPERATION[Opcode(sent)] == SAME_OPERATION.get(Opcode(got)))


def changes(sent: Message, got: Message) -> list[Change]:
    """Every field that means something and came back different (the opcode may become one of
    :data:`SAME_OPERATION`; path telemetry, ``load`` and ``hops``, is not compared)."""
    out = []
    for name in _COMPARED:
        before, after = getattr(sent, name), getattr(got, name)
        if name == "opcode" and same_operation(before, after):
            continue
        if before != after:
            out.append(Change(Opcode(sent.opcode), name, before, after))
    return out


def is_error(completion: Message) -> bool:
    """A completion that reports a failure: an error status, or poisoned data."""
    return completion.ep or (completion.opcode in (Opcode.CPL, Opcode.CPL_D) and completion.aux != Status.SC)


def describe(message: Message, card: int) -> str:
    """``OISA LOAD from card 9 to card 3 (the card under test), tag 5``."""
    def who(node: int) -> str:
        return f"card {node}" + (" (the card under test)" if node == card else "")

    return f"OISA {Opcode(message.opcode).name} from {who(message.src)} to {who(message.dst)}, tag {message.tag}"


def _check_crossing(adapter: DeviceAdapter, message: Message, card: int, findings: list[Finding]) -> Message | None:
    got = cross(adapter, message)
    if got is not None:
        findings.extend(Finding(c.field, message, f"{describe(message, card)}: {c}") for c in changes(message, got))
    return got


def run_exchange(subject: Subject, exchange: Exchange) -> list[Finding] | None:
    """Cross ``exchange`` through a fresh adapter; None if the adapter refuses the request."""
    return run_exchanges(subject, exchange.card, [exchange])


def run_exchanges(subject: Subject, card: int, batch: Sequence[Exchange],
                  completion_order: Sequence[int] | None = None) -> list[Finding] | None:
    """Cross the requests of ``batch`` in order through one fresh adapter of card ``card``, then
    their completions: exchange by exchange, or in ``completion_order`` (indexes into the batch;
    each exchange's own completions keep their order). None if every request was refused."""
    adapter = subject.adapter(card)
    findings: list[Finding] = []
    crossed = [_check_crossing(adapter, exchange.request, card, findings) is not None for exchange in batch]
    if not any(crossed):
        return None
    for index in completion_order if completion_order is not None else range(len(batch)):
        if not crossed[index]:
            continue  # the card's OISA endpoint served it; its completions never reach the adapter
        for completion in batch[index].completions:
            if _check_crossing(adapter, completion, card, findings) is None:
                findings.append(Finding("refused", completion, f"{describe(completion, card)} answers a request "
                                        f"that crossed, but the adapter refused it"))
    return findings


# -- showing values -------------------------------------------------------------------------------

def _payload_change(sent: bytes, got: bytes) -> str:
    first = next((i for i, (a, b) in enumerate(zip(sent, got)) if a != b), min(len(sent), len(got)))
    what = f"{len(sent)} bytes sent, {len(got)} came back" if len(sent) != len(got) else f"{len(sent)} bytes"
    at = (f"; byte {first} was 0x{sent[first]:02x} and came back as 0x{got[first]:02x}"
          if first < min(len(sent), len(got)) else "")
    return f"payload changed ({what}, first difference at byte {first}{at})"
