"""Bad native bytes: frames the adapter wrote, then mutated, and random bytes; whatever an
adapter's ``from_native`` is given, it must answer with a valid message or a typed error. And,
for an adapter whose native frames carry an integrity check, frames with a byte changed: those
must be refused.

Examples are plain JSON-able dicts, so the conformance case and ``oisa fuzz`` share them and a
failure can be saved and replayed: ``{"exchange": ..., "message": i, "mutations": [...]}`` (the
frame of message ``i`` of the exchange, written after the messages before it crossed, as the
adapter's state needs, then mutated) or ``{"card": c, "bytes": "<hex>"}``.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from oisa.device.adapter import DeviceAdapter
from oisa.errors import BridgeError, FrameError, UsageError
from oisa.testing._explore import PropertyFailed
from oisa.testing.conformance._exchanges import CARD_IDS, Exchange, cross, describe, exchanges
from oisa.testing.conformance._subject import Kind, Subject
from oisa.wire.oisa import Message, check_message

__all__ = ["MUTATIONS", "bad_native_bytes", "check_bad_native_bytes", "check_corrupted_frame", "corrupted_frames",
           "decodes_or_typed_error", "mutate", "require_valid"]

MUTATIONS = ("flip", "xor", "drop", "insert", "truncate", "extend")  # the first is the most fruitful


def mutate(data: bytes, mutations: list[list[Any]]) -> bytes:
    """``data`` after each ``[action, where, value]`` in turn (``where`` wraps round the length)."""
    out = bytearray(data)
    for action, where, value in mutations:
        at = where % (len(out) + 1)
        if action == "flip" and at < len(out):  # one bit: the frame often stays valid, and says something else
            out[at] ^= 1 << value % 8
        elif action == "xor" and at < len(out):
            out[at] ^= value | 1
        elif action == "drop" and at < len(out):
            del out[at]
        elif action == "insert":
            out.insert(at, value)
        elif action == "truncate":
            del out[at:]
        elif action == "extend":
            out += bytes([value]) * (1 + where % 8)
    return bytes(out)


def require_valid(message: Message, what: str) -> None:
    """PropertyFailed unless ``message`` (``what`` became it) is a message OISA allows."""
    try:
        check_message(message)
    except FrameError as exc:
        raise PropertyFailed(f"{what} became a message OISA does not allow: {exc}") from None


def decodes_or_typed_error(adapter: DeviceAdapter, data: bytes) -> None:
    """PropertyFailed unless ``data`` reads as a valid message or raises FrameError/BridgeError."""
    try:
        message = adapter.from_native(data)
    except (FrameError, BridgeError):
        return
    except Exception as exc:
        raise PropertyFailed(f"{len(data)} bytes ({data[:24].hex()}...) raised {type(exc).__name__}: {exc}; bad native "
                             f"bytes must raise FrameError (or BridgeError), nothing else") from None
    require_valid(message, f"{len(data)} bytes ({data[:24].hex()}...)")


def bad_native_bytes(subject: Subject, kinds: list[Kind]) -> st.SearchStrategy[dict[str, Any]]:
    mutations = st.lists(st.tuples(st.sampled_from(MUTATIONS), st.integers(0, 1 << 12), st.integers(0, 255)).map(list),
                         min_size=1, max_size=4)
    mutated = st.fixed_dictionaries({
        "exchange": exchanges(subject, kinds=st.sampled_from(kinds), plain=st.just(True)).map(Exchange.to_json),
        "message": st.integers(0, 16), "mutations": mutations})
    random = st.fixed_dictionaries({"card": CARD_IDS, "bytes": st.binary(max_size=600).map(bytes.hex)})
    return mutated | random


def check_bad_native_bytes(subject: Subject, example: dict[str, Any]) -> None:
    try:
        if "bytes" in example:
            card, data = int(example["card"]), bytes.fromhex(example["bytes"])
        else:
            exchange = Exchange.from_json(example["exchange"])
            index, mutations = int(example["message"]), list(example["mutations"])
    except (KeyError, TypeError, ValueError) as exc:
        raise UsageError(f"not a bad-native-bytes example: {exc}") from None
    if "bytes" in example:
        decodes_or_typed_error(subject.adapter(card), data)
        return
    written = _written_frame(subject, exchange, index)
    if written is not None:
        adapter, _, frame = written
        decodes_or_typed_error(adapter, mutate(frame, mutations))


def _written_frame(subject: Subject, exchange: Exchange, index: int) -> tuple[DeviceAdapter, Message, bytes] | None:
    """A fresh adapter of the exchange's card, message ``index`` of the exchange (request, then
    completions, round robin) and the native frame the adapter wrote for it after the messages
    before it crossed, as the state a completion needs; None if the adapter refused one."""
    adapter = subject.adapter(exchange.card)
    messages = [exchange.request, *exchange.completions]
    for earlier in messages[:index % len(messages)]:
        if cross(adapter, earlier) is None:
            return None
    message = messages[index % len(messages)]
    try:
        return adapter, message, bytes(adapter.to_native(message))
    except BridgeError:
        return None


def corrupted_frames(subject: Subject, kinds: list[Kind]) -> st.SearchStrategy[dict[str, Any]]:
    """Frames the adapter wrote, each with one byte changed: ``{"exchange": ..., "message": i,
    "corrupt": [where, value]}`` (byte ``where`` modulo the length, xor ``1 + value % 255``)."""
    return st.fixed_dictionaries({
        "exchange": exchanges(subject, kinds=st.sampled_from(kinds), plain=st.just(True)).map(Exchange.to_json),
        "message": st.integers(0, 16), "corrupt": st.tuples(st.integers(0, 1 << 12), st.integers(0, 254)).map(list)})


def check_corrupted_frame(subject: Subject, example: dict[str, Any]) -> None:
    """PropertyFailed unless the frame with one byte changed raises FrameError. One changed byte
    is a burst of at most 8 bits, which any CRC of 8 bits or more over the frame always catches."""
    try:
        exchange = Exchange.from_json(example["exchange"])
        index, (where, value) = int(example["message"]), example["corrupt"]
        where, value = int(where), int(value)
    except (KeyError, TypeError, ValueError) as exc:
        raise UsageError(f"not a corrupted-frame example: {exc}") from None
    written = _written_frame(subject, exchange, index)
    if written is None or not written[2]:
        return
    adapter, message, frame = written
    at, flip = where % len(frame), 1 + value % 255
    corrupted = bytearray(frame)
    corrupted[at] ^= flip
    what = (f"the {len(frame)}-byte native frame of {describe(message, exchange.card)} with byte {at} changed "
            f"(xor 0x{flip:02x})")
    try:
        got = adapter.from_native(bytes(corrupted))
    except FrameError:
        return
    except Exception as exc:
        raise PropertyFailed(f"{what} raised {type(exc).__name__}: {exc}; a corrupted frame must raise FrameError "
                             f"(CrcError)") from None
    raise PropertyFailed(f"{what} was accepted, as {describe(got, exchange.card)}: the {subject.cls.integrity} the "
                         f"adapter declares must refuse it with FrameError")
