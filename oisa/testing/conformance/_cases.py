"""The conformance cases every device adapter is held to.

Each field of a message that crosses an adapter belongs to exactly one case
(:data:`FIELD_CASES`), so a bug shows up as the failure of the case about it, not of every case
at once: a lost byte fails the payload case, a wrong status the status case, a relaxed ordering
attribute the ordering case. The end-to-end cases run the adapter inside cards on a fabric and
see the same bugs again, as lost data.
"""

from __future__ import annotations

from hypothesis import strategies as st

from oisa.device.adapter import Capability, DeviceAdapter
from oisa.device.profile import NATIVE_FAMILIES, load_profile
from oisa.device.registry import plugin_profiles
from oisa.errors import BridgeError, OisaError
from oisa.testing import strategies as oisa_st
from oisa.testing._explore import PropertyFailed, require
from oisa.testing.conformance._exchanges import (
    CARD_IDS,
    PATTERNS,
    Exchange,
    Finding,
    Outcome,
    canonical_exchange,
    changes,
    describe,
    exchanges,
    is_error,
    run_exchange,
    run_exchanges,
)
from oisa.testing.conformance._fabric import Copy, copy_problems, pair_fabric, partner_profile
from oisa.testing.conformance._native import (
    bad_native_bytes,
    check_bad_native_bytes,
    check_corrupted_frame,
    corrupted_frames,
    require_valid,
)
from oisa.testing.conformance._registry import CaseFailed, CaseSkipped, Context, Level, case
from oisa.testing.conformance._subject import Kind, Role
from oisa.transaction.ordering import PATH_FREE, may_pass
from oisa.transaction.requester import PAGE
from oisa.wire.oisa import OPCODES, Message, Opcode, message_to_fields

__all__ = ["CAPABILITY_OPERATIONS", "FIELD_CASES", "owner"]

DECLARATIONS = "ADP-DECL-001"
CAPABILITIES = "ADP-CAPS-001"
UNDECLARED = "ADP-CAPS-002"
PLAN = "ADP-PLAN-001"
ROUNDTRIP = "ADP-ROUNDTRIP-001"
PAYLOAD = "ADP-PAYLOAD-001"
IDS = "ADP-IDS-001"
STATUS = "ADP-STATUS-001"
ORDER = "ADP-ORDER-001"
MALFORMED = "ADP-MALFORMED-001"
INTEGRITY = "ADP-INTEGRITY-001"
REFUSAL = "ADP-REFUSE-001"
EARLY = "ADP-EARLY-001"
END_TO_END = "ADP-E2E-001"
INTERWORKING = "ADP-E2E-002"

# Which case a changed field fails. aux and ep of a completion are its status (an error code,
# poisoned data); of a request they are its message code and poisoning, part of the operation.
FIELD_CASES: dict[str, str] = {
    "opcode": ROUNDTRIP, "length": ROUNDTRIP, "address": ROUNDTRIP, "ns": ROUNDTRIP, "ec": ROUNDTRIP,
    "coll": ROUNDTRIP, "aux": ROUNDTRIP, "ep": ROUNDTRIP, "refused": ROUNDTRIP,
    "payload": PAYLOAD,
    "src": IDS, "dst": IDS, "tag": IDS,
    "tc": ORDER, "ro": ORDER, "ido": ORDER,
}
_STATUS_FIELDS = frozenset({"aux", "ep"})

# What each capability lets a card do, and in which roles (any one of them will do). DMA is the
# transfer plan's requests (ADP-PLAN-001); early completion has a case of its own.
CAPABILITY_OPERATIONS: dict[Capability, tuple[tuple[Opcode, ...], tuple[Role, ...]]] = {
    Capability.LOAD_STORE: ((Opcode.LOAD, Opcode.STORE), (Role.STARTS,)),
    Capability.ATOMICS: ((Opcode.FETCH_ADD, Opcode.SWAP, Opcode.CAS), (Role.STARTS,)),
    Capability.MESSAGES: ((Opcode.MSG, Opcode.MSG_D), (Role.STARTS,)),
    Capability.COLLECTIVE_OFFLOAD: ((Opcode.COLL_REDUCE,), (Role.STARTS,)),
    # a CXL.mem memory device serves these, a CXL.mem host would start them
    Capability.CXL_MEM: ((Opcode.CXL_MEM_RD, Opcode.CXL_MEM_WR), (Role.STARTS, Role.SERVES)),
}

_SHORT = 64  # longest message where ids and order are what matters
_E2E_EXAMPLES = 4  # each example runs a fabric: a handful find what a bridge loses


def owner(finding: Finding) -> str:
    """The case a finding fails."""
    if finding.field in _STATUS_FIELDS | {"refused"} and not finding.message.info.is_request:
        if finding.field != "refused" or is_error(finding.message):
            return STATUS
    return FIELD_CASES[finding.field]


def _require_none_for(case_id: str, findings: list[Finding] | None) -> None:
    mine = [f for f in findings or [] if owner(f) == case_id]
    if mine:
        raise PropertyFailed(mine[0].text + (f" (and {len(mine) - 1} more)" if len(mine) > 1 else ""))


def _kinds(context: Context, role: Role | None = None, *, answered: bool = False) -> list[Kind]:
    return sorted(kind for kind in context.carried if (role is None or kind[1] is role)
                  and (not answered or OPCODES[kind[0]].expects_completion))


def _fail_all(problems: list[str]) -> None:
    if problems:
        raise CaseFailed("; ".join(problems))


# -- declarations ---------------------------------------------------------------------------------

@case(DECLARATIONS, Level.MUST, "The adapter class declares its name (as registered, and as its profile selects "
      "it), a native family (the profile's), a summary, a set of capabilities (all the profile requires) and the "
      "integrity check of its native frames (or None), and every profile it ships loads and selects it")
def _declarations(context: Context) -> None:
    subject, cls = context.subject, context.subject.cls
    problems = []
    if getattr(cls, "name", None) != subject.name:
        known_as = "it is registered as" if subject.registered else "its profile selects adapter"
        problems.append(f"class attribute name is {getattr(cls, 'name', None)!r}, but {known_as} {subject.name!r}")
    if getattr(cls, "native", None) not in NATIVE_FAMILIES:
        problems.append(f"native is {getattr(cls, 'native', None)!r}, not one of {', '.join(NATIVE_FAMILIES)}")
    elif cls.native != subject.profile.native:
        problems.append(f"native is {cls.native!r}, but its profile {subject.profile.name!r} says "
                        f"{subject.profile.native!r}")
    if not isinstance(getattr(cls, "summary", None), str) or not cls.summary.strip():
        problems.append("summary is missing or empty")
    integrity = getattr(cls, "integrity", None)
    if integrity is not None and not (isinstance(integrity, str) and integrity.strip()):
        problems.append(f"integrity is {integrity!r}, not the name of the check its frames carry (or None)")
    declared = getattr(cls, "capabilities", None)
    if not isinstance(declared, frozenset) or not all(isinstance(c, Capability) for c in declared):
        problems.append(f"capabilities is {declared!r}, not a frozenset of Capability")
    elif not subject.profile.requires <= declared:
        missing = ", ".join(sorted(subject.profile.requires - declared))
        problems.append(f"its profile {subject.profile.name!r} requires {missing}, which it does not declare")
    for stem, (path, entry) in sorted(plugin_profiles().items()):
        if entry.name != subject.name:
            continue
        try:
            shipped = load_profile(path)
        except OisaError as exc:
            problems.append(f"shipped profile {stem!r} does not load: {exc}")
            continue
        if shipped.adapter != subject.name:
            problems.append(f"shipped profile {stem!r} selects adapter {shipped.adapter!r}")
    _fail_all(problems)


@case(CAPABILITIES, Level.MUST, "Every operation of every declared capability crosses the adapter in the role it "
      "gives the card (a card starts loads, stores, atomics, messages, reductions; CXL.mem is started or served)")
def _declared_capabilities(context: Context) -> None:
    problems = []
    for capability in sorted(context.subject.cls.capabilities & CAPABILITY_OPERATIONS.keys()):
        opcodes, roles = CAPABILITY_OPERATIONS[capability]
        for opcode in opcodes:
            if not any((opcode, role) in context.carried for role in roles):
                problems.append(f"declares {capability.value} but refuses {opcode.name} when the card "
                                f"{' or '.join(role.value for role in roles)} it")
    _fail_all(problems)


@case(UNDECLARED, Level.SHOULD, "An adapter declares every capability it has: operations of capabilities it does not "
      "declare are refused (a profile can require only what is declared)")
def _undeclared_capabilities(context: Context) -> None:
    problems = []
    for capability, (opcodes, roles) in CAPABILITY_OPERATIONS.items():
        if capability in context.subject.cls.capabilities:
            continue
        carried = [opcode.name for opcode in opcodes if any((opcode, role) in context.carried for role in roles)]
        if carried:
            problems.append(f"carries {', '.join(carried)} but does not declare {capability.value}")
    _fail_all(problems)


@case(PLAN, Level.MUST, "The transfer plan names a write with payload and a read, sizes the opcodes allow, and its "
      "largest requests cross when the card starts them, completions back; a posted write is flushed by a read "
      "that the ordering table keeps behind it", needs=Capability.DMA)
def _transfer_plan(context: Context) -> None:
    subject = context.subject
    plan = subject.adapter(3).transfer_plan()
    write, read = OPCODES[plan.write], OPCODES[plan.read]
    problems = []
    if not (write.is_request and write.has_payload):
        problems.append(f"the write {write.opcode.name} is not a request that carries data")
    if not (read.expects_completion and not read.has_payload):
        problems.append(f"the read {read.opcode.name} is not a request answered with data")
    for what, opcode, size in (("max_write", plan.write, plan.max_write), ("max_read", plan.read, plan.max_read)):
        if not (isinstance(size, int) and 1 <= size <= max(OPCODES[opcode].lengths)):
            problems.append(f"{what} {size!r} is not a legal length of {Opcode(opcode).name}")
    _fail_all(problems)
    for opcode, size in ((plan.write, plan.max_write), (plan.read, plan.max_read)):
        findings = run_exchange(subject, canonical_exchange(subject, opcode, Role.STARTS, length=min(size, PAGE)))
        if findings is None:
            problems.append(f"refuses its own {Opcode(opcode).name} of {size} bytes")
        problems += [f.text for f in findings or [] if f.field == "refused"]
    if plan.flush:
        posted = Message(plan.write, 3, 9, length=1, payload=b"\x00")
        flush = Message(plan.read, 3, 9, length=1)
        if may_pass(flush, posted):
            problems.append(f"the flush {read.opcode.name} may pass the posted {write.opcode.name}: nothing proves "
                            f"the writes landed")
    _fail_all(problems)


# -- what crosses, field by field ------------------------------------------------------------------

def _exchange_case(context: Context, case_id: str, strategy: st.SearchStrategy[Exchange]) -> None:
    subject = context.subject

    def check(exchange: Exchange) -> None:
        _require_none_for(case_id, run_exchange(subject, exchange))

    context.explore(strategy, check, Exchange.to_json)


@case(ROUNDTRIP, Level.MUST, "Every message kind the adapter carries, sent to native bytes and back in either role, "
      "keeps its operation, address, length, attributes and collective extension, and the completions of a request "
      "that crossed cross too")
def _round_trip(context: Context) -> None:
    kinds = _kinds(context)
    if not kinds:
        raise CaseFailed("the adapter carries no request at all, in either role")
    _exchange_case(context, ROUNDTRIP, exchanges(context.subject, kinds=st.sampled_from(kinds)))


@case(PAYLOAD, Level.MUST, "Payload bytes cross unchanged, none lost, added or altered: writes, data returned by "
      "reads and atomics, messages with data, reductions")
def _payload(context: Context) -> None:
    kinds = [k for k in _kinds(context) if OPCODES[k[0]].has_payload or OPCODES[k[0]].expects_completion]
    if not kinds:
        raise CaseSkipped("the adapter carries no message with data")
    _exchange_case(context, PAYLOAD, exchanges(context.subject, kinds=st.sampled_from(kinds),
                                               patterns=st.sampled_from(list(PATTERNS))))


@case(STATUS, Level.MUST, "Completion status crosses unchanged: successful, Unsupported Request, Completer Abort, "
      "poisoned data; an error completion of a request that crossed is never refused")
def _status(context: Context) -> None:
    kinds = _kinds(context, answered=True)
    if not kinds:
        raise CaseSkipped("the adapter carries no request that is answered")
    _exchange_case(context, STATUS, exchanges(context.subject, kinds=st.sampled_from(kinds),
                                              outcomes=st.sampled_from(list(Outcome))))


@st.composite
def _interleaved(draw: st.DrawFn, context: Context) -> tuple[int, list[Exchange], list[int]]:
    """Requests of one role outstanding together, from few peers and tags (so that tags collide
    across peers) or from any, and their completions in any order."""
    role = draw(st.sampled_from(context.roles()))
    card = draw(CARD_IDS)
    card_tags = int(context.subject.profile.tags.value)
    tags = st.integers(0, min(7, card_tags - 1))
    few_peers = st.integers(0, 3).map(lambda n: (card + 1 + n) % 0xFFFF)
    batch = draw(st.lists(exchanges(context.subject, kinds=st.sampled_from(_kinds(context, role)), cards=st.just(card),
                                    peers=few_peers | CARD_IDS, tags=tags | st.integers(0, card_tags - 1),
                                    max_length=_SHORT),
                          min_size=1, max_size=5, unique_by=lambda e: (e.request.src, e.request.tag)))
    return card, batch, draw(st.permutations(range(len(batch))))


@case(IDS, Level.MUST, "Source, destination and tag cross unchanged, across the full range of ids and the card's "
      "tags, with several requests outstanding and their completions in any order")
def _ids(context: Context) -> None:
    subject = context.subject

    def check(example: tuple[int, list[Exchange], list[int]]) -> None:
        card, batch, order = example
        _require_none_for(IDS, run_exchanges(subject, card, batch, order))

    context.explore(_interleaved(context), check, lambda e: {"card": e[0], "exchanges": [x.to_json() for x in e[1]],
                                                             "completion_order": e[2]})


# -- ordering ---------------------------------------------------------------------------------------

@st.composite
def _streams(draw: st.DrawFn, context: Context) -> tuple[int, list[Exchange]]:
    """Requests of one role between one card and one peer, with their completions."""
    role = draw(st.sampled_from(context.roles()))
    card, peer = draw(CARD_IDS), draw(CARD_IDS)
    batch = draw(st.lists(exchanges(context.subject, kinds=st.sampled_from(_kinds(context, role)), cards=st.just(card),
                                    peers=st.just((peer + (peer == card)) % 0xFFFF), max_length=_SHORT),
                          min_size=2, max_size=6, unique_by=lambda e: e.request.tag))
    return card, batch


def _only_ordering_changed(sent: Message, got: Message) -> bool:
    return all(FIELD_CASES.get(change.field) == ORDER for change in changes(sent, got))


def _ordering_problems(adapter: DeviceAdapter, card: int, stream: list[Message]) -> list[str]:
    """Problems with the order of ``stream`` across ``adapter``: the stream goes to native frames
    first, as a device's queue holds them, and the frames are read back in that order."""
    sent, frames = [], []
    for message in stream:
        try:
            frames.append(adapter.to_native(message))
        except BridgeError:
            continue
        sent.append(message)
    received = [adapter.from_native(bytes(frame)) for frame in frames]
    problems, pairs = [], []
    for position, (message, got) in enumerate(zip(sent, received, strict=True)):
        if _only_ordering_changed(message, got):
            pairs.append((message, got))
            problems += [f"{describe(message, card)}: {change}" for change in changes(message, got)]
            continue
        other = next((m for i, m in enumerate(sent) if i != position and _only_ordering_changed(m, got)), None)
        if other is not None:
            problems.append(f"native frame {position} read back as {describe(other, card)}, not as "
                            f"{describe(message, card)}, sent in that place: the adapter reordered them")
    for i, (first, first_out) in enumerate(pairs):
        if first_out.opcode in PATH_FREE and first.opcode not in PATH_FREE:
            problems.append(f"{describe(first, card)} crosses as {Opcode(first_out.opcode).name}, which the fabric "
                            f"may send on another path than the messages before it")
        for later, later_out in pairs[i + 1:]:
            if may_pass(later_out, first_out) and not may_pass(later, first):
                problems.append(f"after crossing, {describe(later, card)} may pass {describe(first, card)}, sent "
                                f"before it; the ordering table forbids that for what the card sent")
    return problems


@case(ORDER, Level.MUST, "Ordering survives the adapter: a stream of requests written to native frames and read "
      "back comes out in the order sent; traffic class and the relaxed- and ID-based-ordering attributes cross "
      "unchanged; and no message may pass, after crossing, one the ordering table kept it behind (posted writes stay "
      "in order, a read stays behind the writes before it)")
def _ordering(context: Context) -> None:
    subject = context.subject

    def check(example: tuple[int, list[Exchange]]) -> None:
        card, batch = example
        problems = _ordering_problems(subject.adapter(card), card, [exchange.request for exchange in batch])
        if problems:
            raise PropertyFailed(problems[0])
        _require_none_for(ORDER, run_exchanges(subject, card, batch))  # the completions' attributes too

    context.explore(_streams(context), check, lambda e: {"card": e[0], "exchanges": [x.to_json() for x in e[1]]})


# -- bad bytes and refusals ---------------------------------------------------------------------------

@case(MALFORMED, Level.MUST, "Native bytes that are not a valid frame (mutated frames the adapter wrote, random "
      "bytes) raise FrameError or BridgeError, never another exception, and never decode to a message OISA does "
      "not allow")
def _malformed(context: Context) -> None:
    subject = context.subject
    context.explore(bad_native_bytes(subject, _kinds(context)), lambda e: check_bad_native_bytes(subject, e),
                    lambda e: e)


@case(INTEGRITY, Level.MUST, "An adapter whose native frames carry an integrity check over all their bytes (it "
      "declares which: integrity) refuses with FrameError a frame it wrote with any one byte changed; reading back "
      "whatever arrives, checksum recomputed, is not a check")
def _integrity(context: Context) -> None:
    subject = context.subject
    if subject.cls.integrity is None:
        raise CaseSkipped("the adapter declares no integrity check on its native frames (integrity = None)")
    kinds = _kinds(context)
    if not kinds:
        raise CaseSkipped("the adapter carries no message, so writes no frame")
    context.explore(corrupted_frames(subject, kinds), lambda e: check_corrupted_frame(subject, e), lambda e: e)


@case(REFUSAL, Level.MUST, "Any valid OISA message either becomes a native frame that reads back as a valid message "
      "or is refused with BridgeError saying why; nothing else is raised")
def _refusal(context: Context) -> None:
    subject = context.subject

    def check(example: tuple[int, Message]) -> None:
        card, message = example
        adapter = subject.adapter(card)
        try:
            frame = adapter.to_native(message)
        except BridgeError as exc:
            require(str(exc).strip(), f"{describe(message, card)} was refused with an empty BridgeError")
            return
        except Exception as exc:
            raise PropertyFailed(f"{describe(message, card)}: to_native raised {type(exc).__name__}: {exc}; only "
                                 f"BridgeError refuses a message") from None
        try:
            got = adapter.from_native(bytes(frame))
        except Exception as exc:
            raise PropertyFailed(f"{describe(message, card)}: the adapter cannot read back the frame it wrote: "
                                 f"{type(exc).__name__}: {exc}") from None
        require_valid(got, f"{describe(message, card)}, read back,")

    context.explore(st.tuples(CARD_IDS, oisa_st.messages(max_length=st.just(512))), check,
                    lambda e: {"card": e[0], "message": message_to_fields(e[1])})


@case(EARLY, Level.MUST, "An adapter that declares early completion carries a bulk write that permits it (ec) and a "
      "completion given early (ec) with the bit intact", needs=Capability.EARLY_COMPLETION)
def _early_completion(context: Context) -> None:
    subject = context.subject
    plan = subject.adapter(3).transfer_plan()
    if not OPCODES[plan.write].expects_completion:
        raise CaseFailed(f"declares early_completion, but its bulk writes ({Opcode(plan.write).name}) are posted: "
                         f"there is no completion to give early")
    exchange = canonical_exchange(subject, plan.write, Role.STARTS, ec=True)
    for completion in exchange.completions:
        completion.ec = True
    findings = run_exchange(subject, exchange)
    if findings is None:
        raise CaseFailed(f"refuses {Opcode(plan.write).name} with ec set")
    _fail_all([f.text for f in findings if f.field in ("ec", "refused")])


# -- end to end ----------------------------------------------------------------------------------------

def _copies(context: Context) -> st.SearchStrategy[Copy]:
    plan = context.subject.adapter(3).transfer_plan()
    largest = 3 * max(plan.max_write, plan.max_read) + 5  # several requests, the last one partial
    return st.builds(Copy, size=st.integers(1, largest), remote=st.integers(0, 2 * PAGE),
                     local=st.integers(0, PAGE), data_seed=st.integers(0, 2**32 - 1))


@case(END_TO_END, Level.MUST, "Two cards with the adapter, joined by one OISA link (the pair fabric), write "
      "generated bytes at generated addresses into each other's memory and read them back intact; and so does a card "
      "with the adapter with a catalog card of another native family (between two cards with one adapter, a change "
      "it makes on the way out and undoes on the way in cancels out)", needs=Capability.DMA)
def _end_to_end(context: Context) -> None:
    profile = context.subject.profile
    partner = partner_profile(profile)
    same, mixed = pair_fabric(profile, profile), pair_fabric(profile, partner)
    pairings = (("two cards with the adapter", same, (0, 1)), (f"with {partner.name}", mixed, (0,)))

    def check(copy: Copy) -> None:
        for pairing, spec, watched in pairings:
            ids = [card.id for card in spec.cards]
            problems = copy_problems(spec, ids[0], ids[1], copy, under_test=context.subject,
                                     watched=[ids[i] for i in watched], seed=context.seed)
            require(not problems, f"{pairing}: " + "; ".join(problems))

    context.explore(_copies(context), check, vars, examples=min(context.examples, _E2E_EXAMPLES))


@case(INTERWORKING, Level.MUST, "A card with the adapter and a catalog card of another native family, on the pair "
      "fabric, copy generated bytes to each other in both directions and read them back intact",
      needs=Capability.DMA)
def _interworking(context: Context) -> None:
    partner = partner_profile(context.subject.profile)
    spec = pair_fabric(context.subject.profile, partner)
    mine, theirs = (card.id for card in spec.cards)

    def check(example: tuple[bool, Copy]) -> None:
        mine_writes, copy = example
        src, dst = (mine, theirs) if mine_writes else (theirs, mine)
        problems = copy_problems(spec, src, dst, copy, under_test=context.subject, watched=(mine,),
                                 seed=context.seed)
        require(not problems, f"with {partner.name}: " + "; ".join(problems))

    context.explore(st.tuples(st.booleans(), _copies(context)), check,
                    lambda e: {"writer": "the card under test" if e[0] else partner.name, **vars(e[1])},
                    examples=min(context.examples, _E2E_EXAMPLES))
