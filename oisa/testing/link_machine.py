"""A Hypothesis state machine for any link layer: two endpoints from a factory, a wire whose
faults change as the run goes, a consumer that speeds up and slows down, and the link's
promises checked after every step.

Hypothesis chooses what happens next, rule by rule: a batch of messages queued at one end, the
wire turning clean or starting to corrupt, drop or duplicate frames, the consumer at both ends
turning slow (buffers fill, credits run out) or fast, time passing; and at any point the faults
stop, after which everything must arrive within ``settle_ps``. Throughout, what each end has
received is what the other sent, once each and in order (or, with a pass rule, with only the
overtakings it permits), credits stay between none and what was advertised, and no receive
buffer holds more than its end advertised (:mod:`oisa.testing._delivery`, the rules
``check_link`` holds a link to as well).

Run it on your own link layer by naming a factory of two fresh, unstarted endpoints::

    from oisa.testing import LinkStateMachine

    class AcmeLink(LinkStateMachine):
        make_pair = staticmethod(lambda: (AcmeEndpoint("a"), AcmeEndpoint("b")))

    TestAcmeLink = AcmeLink.TestCase          # collected by pytest

or ``TestAcmeLink = link_state_machine(make_pair).TestCase``. oisa's own test suite runs this
machine on :class:`~oisa.link.LinkEndpoint` (``tests/link/test_link_properties.py``).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from oisa.link import PassRule
from oisa.testing import strategies as oisa_st
from oisa.testing._delivery import SIDES, credit_problems, delivery_problem, failure_of
from oisa.testing._explore import PropertyFailed
from oisa.testing._link_script import FAST_CONSUMER_PS, SETTLE_PS, SLOW_CONSUMER_PS
from oisa.testing.link import LinkPair, PairFactory
from oisa.wire.oisa import Message, Opcode

__all__ = ["FaultyWire", "LinkStateMachine", "link_state_machine"]

_FAULT_SHARE = 0.3  # while faulty, the share of frames the wire harms


class FaultyWire:
    """Decides the fate of each frame by its ``mode`` (clean, corrupt, drop, duplicate: then it
    harms about one frame in three), and counts what it did."""

    def __init__(self) -> None:
        self.mode = "clean"
        self.rng = np.random.default_rng(0)
        self.corrupted: dict[str, list[bytes]] = {"a->b": [], "b->a": []}
        self.dropped = 0
        self.duplicated = 0

    def __call__(self, direction: str, frame: bytes) -> list[bytes]:
        if self.mode == "clean" or not frame or self.rng.random() > _FAULT_SHARE:
            return [frame]
        if self.mode == "corrupt":
            data = bytearray(frame)
            data[int(self.rng.integers(len(data)))] ^= 1 << int(self.rng.integers(8))
            self.corrupted[direction].append(corrupted := bytes(data))
            return [corrupted]
        if self.mode == "drop":
            self.dropped += 1
            return []
        self.duplicated += 1
        return [frame, frame]


def _messages() -> st.SearchStrategy[list[Message]]:
    opcodes = st.sampled_from([Opcode.STORE, Opcode.DMA_WR, Opcode.DMA_RD, Opcode.CPL_D, Opcode.MEM_WR])
    return st.lists(oisa_st.messages(opcodes=opcodes, max_length=st.just(600)), min_size=1, max_size=6)


class LinkStateMachine(RuleBasedStateMachine):
    """Two endpoints from :attr:`make_pair` over a :class:`FaultyWire`. Set ``make_pair`` (a
    ``staticmethod``) in a subclass; ``may_pass`` (a ``staticmethod`` too) if the endpoints let
    a blocked message be overtaken by that rule (None: strict first in, first out);
    ``settle_ps``, the virtual time everything must arrive in once faults stop. ``pair``,
    ``wire`` and ``sent`` are there for invariants of your own."""

    make_pair: ClassVar[PairFactory]
    may_pass: ClassVar[PassRule | None] = None
    settle_ps: ClassVar[int] = SETTLE_PS
    latency_ps: ClassVar[int] = 50_000
    flit_time_ps: ClassVar[int] = 2_560

    def __init__(self) -> None:
        super().__init__()
        if not hasattr(type(self), "make_pair"):
            raise TypeError(f"{type(self).__name__} sets no make_pair: give it a factory of two endpoints "
                            f"(make_pair = staticmethod(...))")
        self.wire = FaultyWire()
        self.pair = LinkPair(latency_ps=self.latency_ps, flit_time_ps=self.flit_time_ps,
                             release_delay_ps=FAST_CONSUMER_PS, fault=self.wire, endpoints=type(self).make_pair())
        self.sent: dict[str, list[Message]] = {"a": [], "b": []}
        # Read off the class, so a plain function works as well as a staticmethod.
        self.pass_rule: PassRule | None = getattr(type(self), "may_pass", None)

    @rule(side=st.sampled_from("ab"), batch=_messages())
    def send(self, side: str, batch: list[Message]) -> None:
        for message in batch:
            message.tc = 0
            self.pair.send(side, message)
        self.sent[side] += batch

    @rule(mode=st.sampled_from(["clean", "corrupt", "drop", "duplicate"]))
    def set_faults(self, mode: str) -> None:
        self.wire.rng = np.random.default_rng(len(self.sent["a"]) * 7 + len(self.sent["b"]))
        self.wire.mode = mode

    @rule(slow=st.booleans())
    def set_consumer(self, slow: bool) -> None:
        self.pair.release_delay_ps = SLOW_CONSUMER_PS if slow else FAST_CONSUMER_PS

    @rule(duration=st.integers(1_000, 500_000))
    def run(self, duration: int) -> None:
        self._advance(self.pair.now + duration, until_quiet=False)

    @precondition(lambda self: not any(failure_of(side.endpoint) for side in self.pair.sides.values()))
    @rule()
    def faults_stop_and_everything_completes(self) -> None:
        self.wire.mode = "clean"
        self.pair.release_delay_ps = FAST_CONSUMER_PS
        if not self._advance(self.pair.now + self.settle_ps, until_quiet=True):
            raise PropertyFailed(self._unfinished())
        for sender, receiver in SIDES:
            problem = delivery_problem(sender, receiver, self.sent[sender], self.pair.delivered(receiver),
                                       may_pass=self.pass_rule, complete=True)
            if problem:
                raise PropertyFailed(problem)

    @invariant()
    def delivered_once_in_the_order_sent(self) -> None:
        for sender, receiver in SIDES:
            problem = delivery_problem(sender, receiver, self.sent[sender], self.pair.delivered(receiver),
                                       may_pass=self.pass_rule)
            if problem:
                raise PropertyFailed(problem)

    @invariant()
    def credits_never_overdrawn(self) -> None:
        problems = credit_problems(self.pair)
        if problems:
            raise PropertyFailed(problems[0])

    def _advance(self, end: int, *, until_quiet: bool) -> bool:
        """Step the pair up to ``end`` (or until quiet), checking credits after every step, where
        an overdraft may come and go between two rules; True if the pair is quiet."""
        pair = self.pair
        while pair.now < end and not (until_quiet and pair.quiet()):
            if not pair.step():
                break
            self.credits_never_overdrawn()
        return pair.quiet()

    def _unfinished(self) -> str:
        down = [f"{name}: {why}" for name, side in self.pair.sides.items() if (why := failure_of(side.endpoint))]
        if down:
            return "the link went down after the faults stopped (" + "; ".join(down) + ")"
        counts = ", ".join(f"{receiver} received {len(self.pair.delivered(receiver))} of {len(self.sent[sender])} "
                           f"from {sender}" for sender, receiver in SIDES)
        return f"traffic did not complete within {self.settle_ps / 1e6:g} us after the faults stopped ({counts})"


def link_state_machine(make_pair: PairFactory, *, may_pass: PassRule | None = None, settle_ps: int = SETTLE_PS,
                       name: str = "LinkMachine") -> type[LinkStateMachine]:
    """A :class:`LinkStateMachine` subclass for ``make_pair``; its ``TestCase`` is a test."""
    attributes: dict[str, Any] = {"make_pair": staticmethod(make_pair), "settle_ps": settle_ps,
                                  "may_pass": staticmethod(may_pass) if may_pass is not None else None}
    return type(name, (LinkStateMachine,), attributes)
