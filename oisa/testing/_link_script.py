"""Two link endpoints, a list of messages each way and a script of faults: the property that
``oisa.testing.check_link`` and ``oisa fuzz --target link`` run, on a vendor's pair or oisa's.

An input is plain JSON, so that the minimal failing one can be printed, saved and replayed::

    {"messages": [{"side": "a", "message": {OISA fields}}, ...],
     "faults": [{"direction": "a->b", "frame": 7, "action": "drop" | "corrupt" | "duplicate", "bit": 100}],
     "release_delay_ps": 5000}

The faults are a script (the n-th frame in that direction, and what happens to it), not a
random generator, so a failing input replays exactly; they hit only the first frames of a run,
after which the link must recover by replay and retraining, and deliver everything within a
bounded time. ``release_delay_ps`` is how long each end's consumer keeps a message before
freeing its buffer: a slow consumer runs the sender out of credits.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from oisa.errors import UsageError
from oisa.link import PassRule
from oisa.testing import strategies as oisa_st
from oisa.testing._delivery import SIDES, credit_problems, delivery_problem, failure_of
from oisa.testing._explore import PropertyFailed
from oisa.testing.link import LinkPair, PairFactory
from oisa.wire.oisa import Message, message_from_fields, message_to_fields

__all__ = ["FAST_CONSUMER_PS", "FAULTY_FRAMES", "SETTLE_PS", "SLOW_CONSUMER_PS", "ScriptedWire", "check_script",
           "link_inputs"]

FAULTY_FRAMES = 48  # faults hit only these first frames of each direction
SETTLE_PS = 2_000_000_000  # virtual time allowed for everything to arrive (2 ms)
FAST_CONSUMER_PS = 5_000
SLOW_CONSUMER_PS = 2_000_000  # far slower than the wire: buffers fill and credits run out
_FLIT_BITS = 8 * 256  # bit positions a corruption picks from (wrapped round a shorter frame)
_DIRECTIONS = ("a->b", "b->a")
_LATENCY_PS = 50_000


class ScriptedWire:
    """Applies a fault script: ``{direction: {frame number: (action, bit)}}``."""

    def __init__(self, faults: list[dict[str, Any]]) -> None:
        self.script = {(f["direction"], int(f["frame"])): (f["action"], int(f.get("bit", 0))) for f in faults}
        unknown = sorted({action for action, _ in self.script.values()} - {"drop", "corrupt", "duplicate"})
        if unknown:
            raise ValueError(f"unknown fault action {unknown[0]!r}")
        self.seen = dict.fromkeys(_DIRECTIONS, 0)

    def __call__(self, direction: str, frame: bytes) -> list[bytes]:
        number = self.seen[direction]
        self.seen[direction] += 1
        action, bit = self.script.get((direction, number), ("pass", 0))
        if action == "drop":
            return []
        if action == "duplicate":
            return [frame, frame]
        if action == "corrupt" and frame:
            data = bytearray(frame)
            data[bit // 8 % len(data)] ^= 0x80 >> bit % 8
            return [bytes(data)]
        return [frame]


def link_inputs(*, max_messages: int = 24, max_faults: int = 8) -> st.SearchStrategy[dict[str, Any]]:
    """Inputs of :func:`check_script`: messages of any opcode up to 600 bytes of payload on
    traffic class 0, each way, faults on the first :data:`FAULTY_FRAMES` frames, and a fast
    or a slow consumer."""
    message = oisa_st.messages(max_length=st.just(600)).map(lambda m: {**message_to_fields(m), "tc": 0})
    fault = st.fixed_dictionaries({
        "direction": st.sampled_from(_DIRECTIONS), "frame": st.integers(0, FAULTY_FRAMES - 1),
        "action": st.sampled_from(["drop", "corrupt", "duplicate"]), "bit": st.integers(0, _FLIT_BITS - 1)})
    return st.fixed_dictionaries({
        "messages": st.lists(st.fixed_dictionaries({"side": st.sampled_from("ab"), "message": message}),
                             max_size=max_messages),
        "faults": st.lists(fault, max_size=max_faults, unique_by=lambda f: (f["direction"], f["frame"])),
        "release_delay_ps": st.sampled_from([FAST_CONSUMER_PS, SLOW_CONSUMER_PS]),
    })


def _read(example: Any) -> tuple[list[tuple[str, Message]], ScriptedWire, int]:
    try:
        sends = [(str(item["side"]), message_from_fields(item["message"])) for item in example["messages"]]
        wire = ScriptedWire(list(example["faults"]))
        delay = int(example.get("release_delay_ps", FAST_CONSUMER_PS))
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise UsageError(f"not a link input (messages, faults, release_delay_ps): {exc}") from None
    if any(side not in ("a", "b") for side, _ in sends) or delay < 0:
        raise UsageError("not a link input: a message's side is 'a' or 'b', and release_delay_ps is 0 or more")
    return sends, wire, delay


def check_script(make_pair: PairFactory, example: Any, *, may_pass: PassRule | None = None,
                 settle_ps: int = SETTLE_PS) -> None:
    """Run ``example`` through a fresh pair from ``make_pair``; PropertyFailed saying what went
    wrong if the link breaks a promise (:mod:`oisa.testing._delivery`), checked after every
    step of the harness and once the time allowed has run out."""
    sends, wire, delay = _read(example)
    pair = LinkPair(latency_ps=_LATENCY_PS, release_delay_ps=delay, fault=wire, endpoints=make_pair())
    sent: dict[str, list[Message]] = {"a": [], "b": []}
    for side, message in sends:
        pair.send(side, message)
        sent[side].append(message)
    end = pair.now + settle_ps
    while not pair.quiet() and pair.now <= end:
        stepped = pair.step()
        _require_promises(pair, sent, may_pass, complete=False)
        if not stepped:
            break
    down = {name: failure_of(pair.sides[name].endpoint) for name in "ab"}
    if any(down.values()):
        raise PropertyFailed("the link went down for good (" + "; ".join(f"{name}: {why}" for name, why in down.items()
                                                                         if why) + ")")
    _require_promises(pair, sent, may_pass, complete=True)
    if not pair.quiet():
        raise PropertyFailed(f"traffic was still in flight {settle_ps / 1e6:g} us after it was sent (the time "
                             f"allowed), though every message had arrived")


def _require_promises(pair: LinkPair, sent: dict[str, list[Message]], may_pass: PassRule | None, *,
                      complete: bool) -> None:
    for sender, receiver in SIDES:
        problem = delivery_problem(sender, receiver, sent[sender], pair.delivered(receiver), may_pass=may_pass,
                                   complete=complete)
        if problem:
            raise PropertyFailed(problem)
    problems = credit_problems(pair)
    if problems:
        raise PropertyFailed(problems[0])
