"""The tests every adapter should have: a vendor copying this plug-in keeps them and changes
only the opcode lists and the hand-made frames.

* Every message the adapter claims to carry survives message -> native -> message unchanged
  (the card sends every message through that round trip, so a lost bit is lost traffic).
* Every message it does not carry is refused with BridgeError (the card's endpoint then
  serves it), never mangled.
* Any bytes at all either decode to a valid message or raise FrameError: never another
  exception, never a message that breaks the protocol's rules.
* oisa finds the adapter and its profile through the installed entry point.
"""

from __future__ import annotations

import binascii
from importlib.metadata import entry_points

import pytest
from hypothesis import given
from hypothesis import strategies as st
from oisa_example_vendor.adapter import CHECKSUM, HEADER, TO_XLINK, ExampleXLinkAdapter

from oisa.device.adapter import Capability
from oisa.device.profile import load_profile
from oisa.device.registry import adapters
from oisa.errors import BridgeError, CrcError, FrameError
from oisa.testing import strategies as oisa_st
from oisa.wire.oisa import Message, Opcode, check_message

SUPPORTED = sorted(TO_XLINK)
UNSUPPORTED = sorted(set(Opcode) - set(TO_XLINK))


PROFILE = load_profile("example-gpu")  # by name: the profile this plug-in ships
ADAPTER = ExampleXLinkAdapter(card_id=0, profile=PROFILE)
supported_messages = oisa_st.messages(opcodes=st.sampled_from(SUPPORTED))
native_frames = oisa_st.messages(opcodes=st.sampled_from(SUPPORTED), max_length=st.just(512)).map(ADAPTER.to_native)


# -- round trips and refusals -------------------------------------------------------------------

def test_every_supported_opcode_is_tried() -> None:
    """The opcode lists below come from the adapter's map; make sure they say what we think."""
    assert SUPPORTED == [Opcode.STORE, Opcode.LOAD, Opcode.DMA_WR, Opcode.DMA_RD, Opcode.CPL, Opcode.CPL_D]


@given(supported_messages)
def test_message_native_message_round_trip(message: Message) -> None:
    frame = ADAPTER.to_native(message)
    assert len(frame) == HEADER.size + len(message.payload) + CHECKSUM.size
    assert ADAPTER.from_native(frame) == message


@given(oisa_st.messages(opcodes=st.sampled_from(UNSUPPORTED), max_length=st.just(64)))
def test_unsupported_opcodes_are_refused_by_name(message: Message) -> None:
    with pytest.raises(BridgeError, match=message.opcode.name):
        ADAPTER.to_native(message)


def test_a_refused_arrival_is_left_to_the_endpoint() -> None:
    """What the card does with a BridgeError: it serves the message itself, unchanged."""
    adapter = ExampleXLinkAdapter(card_id=1, profile=PROFILE)
    write = Message(Opcode.MEM_WR, src=0, dst=1, length=4, address=0x1000, payload=b"abcd")
    assert adapter.ingress(write) is write
    assert (adapter.terminated, adapter.frames_in) == (1, 0)


# -- bad frames ---------------------------------------------------------------------------------

STORE = Message(Opcode.STORE, src=3, dst=4, tag=7, length=4, address=0x2000, payload=b"\x01\x02\x03\x04")
GOOD = ADAPTER.to_native(STORE)  # 20-byte header + 4-byte payload + 2-byte checksum = 26 bytes


def with_checksum(body: bytes) -> bytes:
    """A frame whose checksum is right, so the check under test is the one that fires."""
    return body + CHECKSUM.pack(binascii.crc_hqx(body, 0))


@pytest.mark.parametrize(("frame", "error", "field", "offset"), [
    pytest.param(GOOD[:9], FrameError, "tag", 9, id="truncated-header"),
    pytest.param(GOOD[:22], FrameError, "payload", 22, id="truncated-payload"),
    pytest.param(GOOD[:25], FrameError, "checksum", 25, id="truncated-checksum"),
    pytest.param(GOOD[:-1] + bytes([GOOD[-1] ^ 1]), CrcError, "checksum", 24, id="bad-checksum"),
    pytest.param(GOOD[:20] + b"\xff" + GOOD[21:], CrcError, "checksum", 24, id="corrupt-payload"),
    pytest.param(b"\x77" + GOOD[1:], FrameError, "op", 0, id="unknown-op"),
    pytest.param(GOOD + b"\x00", FrameError, None, 26, id="trailing-bytes"),
    pytest.param(with_checksum(GOOD[:10] + (300).to_bytes(2, "little") + GOOD[12:24]), FrameError, "length", 10,
                 id="store-too-long"),
    pytest.param(with_checksum(GOOD[:2] + b"\x04" + GOOD[3:24]), FrameError, "status", 2,
                 id="status-on-a-request"),
    pytest.param(with_checksum(GOOD[:19] + b"\x80" + GOOD[20:24]), FrameError, "address", 12,
                 id="reserved-address-bits"),
])
def test_bad_frames_name_field_and_offset(frame: bytes, error: type[FrameError], field: str | None,
                                          offset: int) -> None:
    with pytest.raises(error) as caught:
        ADAPTER.from_native(frame)
    assert (caught.value.fmt, caught.value.field, caught.value.offset) == ("xlink", field, offset)


def decodes_or_frame_error(data: bytes) -> None:
    """Bytes decode to a valid message that encodes back to the same bytes, or raise FrameError."""
    try:
        message = ADAPTER.from_native(data)
    except FrameError:
        return
    check_message(message)
    assert ADAPTER.to_native(message) == data


@given(oisa_st.mutated_bytes(native_frames))
def test_mutated_frames_raise_frame_error_only(data: bytes) -> None:
    decodes_or_frame_error(data)


@given(st.binary(max_size=600))
def test_random_bytes_raise_frame_error_only(data: bytes) -> None:
    decodes_or_frame_error(data)


# -- registration, profile, transfer plan --------------------------------------------------------

def test_the_entry_point_resolves_to_the_adapter() -> None:
    [point] = [p for p in entry_points(group="oisa.devices") if p.name == "example-xlink"]
    assert point.load() is ExampleXLinkAdapter
    entry = adapters()["example-xlink"]
    assert (entry.cls, entry.distribution) == (ExampleXLinkAdapter, "oisa-example-vendor")


def test_the_shipped_profile_loads_by_name() -> None:
    assert (PROFILE.name, PROFILE.native, PROFILE.adapter) == ("example-gpu", "vendor", "example-xlink")
    assert PROFILE.requires == {Capability.DMA, Capability.LOAD_STORE} <= ExampleXLinkAdapter.capabilities
    assert all(figure.assumption for figure in PROFILE.figures().values()), "an invented device has no sources"


def test_bulk_copies_use_acknowledged_dma() -> None:
    plan = ADAPTER.transfer_plan()
    assert (plan.write, plan.read, plan.flush) == (Opcode.DMA_WR, Opcode.DMA_RD, False)
    assert (plan.max_write, plan.max_read) == (4096, 4096)
