"""``link``: two link endpoints over a wire that drops, corrupts and duplicates frames must
deliver exactly what was sent, once each and in order, both ways.

The faults are a script of the input (which frame in which direction, and what happens to it),
not a random generator, so a failing input replays exactly. Faults hit only the first frames of
a run: the link must then recover by replay and retraining, and everything must arrive within a
bounded time.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from oisa.errors import UsageError
from oisa.link import LinkConfig, LinkState
from oisa.testing import strategies as oisa_st
from oisa.testing._explore import PropertyFailed, require
from oisa.testing.fuzz._target import FuzzTarget
from oisa.testing.link import LinkPair
from oisa.wire.oisa import FcClass, Message, message_from_fields, message_to_fields

__all__ = ["CONFIG", "link_target"]

CONFIG = LinkConfig(buffers=((FcClass.POSTED, 8, 256), (FcClass.NON_POSTED, 4, 256), (FcClass.COMPLETION, 0, 0)),
                    replay_buffer=16, replay_timeout_ps=400_000, ack_every=4, credit_poll_ps=300_000)
_FAULTY_FRAMES = 48  # faults hit only these first frames of each direction
_SETTLE_PS = 2_000_000_000  # virtual time allowed for everything to arrive
_DIRECTIONS = ("a->b", "b->a")


class _ScriptedWire:
    """Applies the input's fault script: ``{direction: {frame number: (action, bit)}}``."""

    def __init__(self, faults: list[dict[str, Any]]) -> None:
        self.script = {(f["direction"], int(f["frame"])): (f["action"], int(f.get("bit", 0))) for f in faults}
        self.seen = dict.fromkeys(_DIRECTIONS, 0)

    def __call__(self, direction: str, frame: bytes) -> list[bytes]:
        number = self.seen[direction]
        self.seen[direction] += 1
        action, bit = self.script.get((direction, number), ("pass", 0))
        if action == "drop":
            return []
        if action == "duplicate":
            return [frame, frame]
        if action == "corrupt":
            data = bytearray(frame)
            data[bit // 8 % len(data)] ^= 0x80 >> bit % 8
            return [bytes(data)]
        return [frame]


def _check(example: dict[str, Any]) -> None:
    try:
        sends = [(item["side"], message_from_fields(item["message"])) for item in example["messages"]]
        wire = _ScriptedWire(list(example["faults"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise UsageError(f"not a link input (messages, faults): {exc}") from None
    pair = LinkPair(CONFIG, latency_ps=50_000, release_delay_ps=5_000, fault=wire)
    sent: dict[str, list[Message]] = {"a": [], "b": []}
    for side, message in sends:
        pair.send(side, message)
        sent[side].append(message)
    quiet = pair.run_until_quiet(_SETTLE_PS)
    states = {name: pair.sides[name].endpoint.state for name in "ab"}
    require(all(state is not LinkState.FAILED for state in states.values()),
            f"the link went down for good ({', '.join(f'{n}: {s.name}' for n, s in states.items())})")
    for side, peer in (("a", "b"), ("b", "a")):
        delivered = pair.delivered(peer)
        for index, (got, want) in enumerate(zip(delivered, sent[side])):
            if got != want:
                raise PropertyFailed(f"message {index} from {side} arrived as {message_to_fields(got)}")
        require(len(delivered) == len(sent[side]), f"{side} sent {len(sent[side])} messages, {peer} received "
                                                   f"{len(delivered)}")
    require(quiet, "traffic was still in flight when the time allowed ran out")


def link_target() -> FuzzTarget:
    message = oisa_st.messages(max_length=st.just(600)).map(lambda m: {**message_to_fields(m), "tc": 0})
    fault = st.fixed_dictionaries({
        "direction": st.sampled_from(_DIRECTIONS), "frame": st.integers(0, _FAULTY_FRAMES - 1),
        "action": st.sampled_from(["drop", "corrupt", "duplicate"]), "bit": st.integers(0, 8 * CONFIG.flit_size - 1)})
    inputs = st.fixed_dictionaries({
        "messages": st.lists(st.fixed_dictionaries({"side": st.sampled_from("ab"), "message": message}), max_size=24),
        "faults": st.lists(fault, max_size=8, unique_by=lambda f: (f["direction"], f["frame"])),
    })
    return FuzzTarget("link", "two link endpoints over a wire that drops, corrupts and duplicates frames deliver "
                      "every message exactly once, in order, both ways", inputs, _check)
