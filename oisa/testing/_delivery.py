"""What two link endpoints promise, as checks over a :class:`~oisa.testing.link.LinkPair`: the
one set of rules that ``check_link``, the shipped :class:`~oisa.testing.LinkStateMachine` and
``oisa fuzz --target link`` all hold a link to, so that the three cannot disagree.

* **Delivery.** What one end receives is what the other sent, each message once, in the order
  sent; where the endpoints let a blocked message be overtaken (a pass rule, as the ordering
  table allows), every overtaking is one the rule permits.
* **Credits.** A sender never holds more credits than the receiver advertised, nor fewer than
  none; and the messages a receiver's consumer still holds (received, not yet released: what
  fills its buffers) never take more than it advertised. The second is seen from outside the
  endpoints, so it holds a sender to its credits whatever the endpoints report of themselves.

Each check returns what is wrong as one sentence (None or [] when all is well), for a failure
message that says which message, which end and which class.
"""

from __future__ import annotations

from collections.abc import Sequence

from oisa.link import PassRule
from oisa.link.credits import credits_needed
from oisa.testing.link import LinkPair, SansIOLinkEndpoint
from oisa.wire.oisa import FcClass, Message, Opcode

__all__ = ["SIDES", "credit_problems", "delivery_problem", "failure_of", "shown"]

SIDES = (("a", "b"), ("b", "a"))  # (sender, receiver)


def shown(message: Message) -> str:
    """``DMA_WR tag 3 at 0x1000, 200 bytes of payload``: enough to tell a message from the others
    sent (two stores of one byte differ in their address)."""
    return (f"{Opcode(message.opcode).name} tag {message.tag} at {message.address:#x}, {len(message.payload)} bytes "
            f"of payload")


def failure_of(endpoint: SansIOLinkEndpoint) -> str | None:
    """Why the endpoint's link went down for good, or None while it has not."""
    return endpoint.failure


def delivery_problem(sender: str, receiver: str, sent: Sequence[Message], delivered: Sequence[Message], *,
                     may_pass: PassRule | None = None, complete: bool = False) -> str | None:
    """What is wrong with ``delivered`` (at ``receiver``) as the messages ``sender`` sent so far:
    not a prefix of them in order (or, with ``may_pass``, not each once with only permitted
    overtakings); and with ``complete``, not all of them."""
    if may_pass is None:
        for index, (got, want) in enumerate(zip(delivered, sent)):
            if got != want:
                was = next((i for i, m in enumerate(sent) if m == got), None)
                what = f"message {was} sent by {sender}" if was is not None else "a message never sent"
                return (f"{receiver} received, as message {index} from {sender}, {what} ({shown(got)}) where "
                        f"{sender} had sent {shown(want)}: delivery must keep the order sent")
        if len(delivered) > len(sent):
            return (f"{receiver} received {len(delivered)} messages from {sender}, which sent {len(sent)}: "
                    f"{shown(delivered[len(sent)])} arrived more than once")
    else:
        problem = _overtaking_problem(sender, receiver, sent, delivered, may_pass)
        if problem:
            return problem
    if complete and len(delivered) < len(sent):
        missing = sent[len(delivered)] if may_pass is None else next(m for m in sent if m not in delivered)
        return (f"{sender} sent {len(sent)} messages, {receiver} received {len(delivered)}; the first missing: "
                f"{shown(missing)}")
    return None


def _overtaking_problem(sender: str, receiver: str, sent: Sequence[Message], delivered: Sequence[Message],
                        may_pass: PassRule) -> str | None:
    """Each delivered message matched to the earliest sent one equal to it not yet matched; an
    unmatched one arrived twice or was never sent, and a message delivered before one sent
    earlier must be allowed to pass it."""
    taken: set[int] = set()
    order: list[int] = []
    for message in delivered:
        index = next((i for i, m in enumerate(sent) if i not in taken and m == message), None)
        if index is None:
            return f"{receiver} received {shown(message)} from {sender} more times than it was sent"
        taken.add(index)
        order.append(index)
    for position, later in enumerate(order):
        for earlier in order[position + 1:]:
            if earlier < later and not may_pass(sent[later], sent[earlier]):
                return (f"{receiver} received {shown(sent[later])} (message {later} from {sender}) before "
                        f"{shown(sent[earlier])} (message {earlier}), which the pass rule does not let it overtake")
    return None


def credit_problems(pair: LinkPair) -> list[str]:
    """Credits a sender holds outside 0..what was advertised, and receive buffers holding more
    than their end advertised."""
    problems = []
    for sender, receiver in SIDES:
        endpoint = pair.sides[sender].endpoint
        limits: dict[FcClass, list[float]] = {}
        for key in endpoint.credit_keys():
            advertised = endpoint.advertised(key)
            have = endpoint.send_credits(key)
            for kind, has, limit in (("header", have[0], advertised[0]), ("data", have[1], advertised[1])):
                if has < 0 or (limit and has > limit):
                    problems.append(f"{sender} holds {has} {kind} credits for VC {key[0]} {key[1].name}, outside 0 to "
                                    f"the {limit} {receiver} advertised")
            total = limits.setdefault(key[1], [0, 0])
            for unit in (0, 1):  # the classes' limits over every virtual channel (0: infinite)
                total[unit] = float("inf") if not advertised[unit] or total[unit] == float("inf") \
                    else total[unit] + advertised[unit]
        problems += _held_problems(sender, receiver, pair.held(receiver), limits)
    return problems


def _held_problems(sender: str, receiver: str, held: list[Message], limits: dict[FcClass, list[float]]) -> list[str]:
    used: dict[FcClass, list[int]] = {}
    for message in held:
        hdr, data = credits_needed(message)
        count = used.setdefault(message.info.fc_class, [0, 0])
        count[0] += hdr
        count[1] += data
    problems = []
    for cls, (hdr, data) in used.items():
        limit = limits.get(cls)
        if limit is None:
            continue  # not advertised yet: nothing should have arrived, and delivery says so
        for kind, amount, most in (("headers", hdr, limit[0]), ("16-byte data units", data, limit[1])):
            if amount > most:
                problems.append(f"{receiver}'s consumer holds {amount} {kind} of {cls.name} messages from {sender}, "
                                f"more than the {most:g} {receiver} advertised: {sender} sent beyond its credits")
    return problems
