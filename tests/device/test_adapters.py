"""The built-in adapters: each carries what its native format can say, byte-real, and refuses
the rest by name; the registry finds them through entry points."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from oisa.device import load_profile
from oisa.device.adapter import Capability, DeviceAdapter
from oisa.device.registry import adapter, adapters
from oisa.errors import BridgeError, CatalogError
from oisa.testing import strategies as oisa_st
from oisa.wire.oisa import Message, Opcode

ADAPTERS = {"pcie-tlp": "h100-like", "cxl-mem": "cxl-memory-like", "vendor-descriptor": "mi300x-like"}


def make(name: str, card: int = 3) -> DeviceAdapter:
    return adapter(name).cls(card, load_profile(ADAPTERS[name]))


def test_the_built_in_adapters_register_through_entry_points():
    found = adapters()
    assert set(ADAPTERS) <= set(found)
    assert all(found[name].origin == "built in" for name in ADAPTERS)
    with pytest.raises(CatalogError, match="no device adapter named 'nvlink'"):
        adapter("nvlink")


@pytest.mark.parametrize("name", sorted(ADAPTERS))
def test_transfer_plans_use_what_the_adapter_can_say(name):
    card = make(name)
    plan = card.transfer_plan()
    for tag, (opcode, payload) in enumerate(((plan.write, bytes(64)), (plan.read, b""))):
        # a CXL.mem device only ever receives requests: address it; the others start them
        src, dst = (5, 3) if name == "cxl-mem" else (3, 5)
        assert card.to_native(Message(opcode, src, dst, tag=tag, length=64, address=0x1000, payload=payload))


REQUESTS = st.sampled_from([Opcode.MEM_WR, Opcode.MEM_RD, Opcode.FETCH_ADD, Opcode.SWAP, Opcode.DMA_WR,
                            Opcode.DMA_RD, Opcode.LOAD, Opcode.STORE])


@given(oisa_st.messages(opcodes=st.sampled_from([Opcode.MEM_WR, Opcode.STORE, Opcode.DMA_WR, Opcode.LOAD,
                                                 Opcode.DMA_RD, Opcode.MEM_RD]),
                        ids=st.just(3), tags=st.integers(0, 255), addresses=st.integers(0, 1 << 36),
                        max_length=st.just(256)))
def test_the_vendor_adapter_carries_dma_and_load_store_unchanged(message):
    message.dst, message.load, message.hops = 9, 0, 0
    assert make("vendor-descriptor").egress(message) == message


@given(st.integers(0, 1 << 20).map(lambda page: page * 4096), st.integers(0, 1023).map(lambda dw: dw * 4),
       st.integers(1, 64).map(lambda n: n * 4))
def test_pcie_requests_and_their_completions_cross_as_real_tlps(page, offset, length):
    address = page + min(offset, 4096 - length)  # requests never cross a 4 KiB page
    requester, completer = make("pcie-tlp", card=3), make("pcie-tlp", card=9)
    read = Message(Opcode.MEM_RD, 3, 9, tag=17, length=length, address=address)
    out = requester.egress(read)
    assert (out.opcode, out.dst, out.address, out.length) == (Opcode.MEM_RD, 9, address, length)
    arrived = completer.ingress(out)
    answer = Message(Opcode.CPL_D, 9, 3, tag=17, length=length, address=address, payload=bytes(length))
    assert requester.ingress(completer.egress(answer)) == answer
    assert arrived == out and requester.frames_out == completer.frames_out == 1


def test_what_pcie_cannot_say_is_refused_when_started_and_done_by_the_endpoint_when_it_arrives():
    pcie = make("pcie-tlp")
    dma = Message(Opcode.DMA_WR, 3, 9, tag=1, length=8, address=0x100, payload=bytes(8))
    with pytest.raises(BridgeError, match="DMA_WR"):
        pcie.egress(dma)
    arriving = Message(Opcode.DMA_WR, 9, 3, tag=1, length=8, address=0x100, payload=bytes(8))
    assert pcie.ingress(arriving) is arriving and pcie.terminated == 1


def test_cxl_memory_serves_many_cards_under_tags_of_its_own():
    memory = make("cxl-mem", card=64)
    asks = [Message(Opcode.CXL_MEM_RD, card, 64, tag=5, length=64, address=0x40 * card) for card in (1, 2)]
    arrived = [memory.ingress(m) for m in asks]
    assert arrived == asks  # the device saw two requests with one tag each of its own; both came back named
    answers = [Message(Opcode.CXL_DRS, 64, m.src, tag=5, length=64, address=m.address, payload=bytes(64))
               for m in reversed(arrived)]
    assert [memory.egress(a).dst for a in answers] == [2, 1]


def test_capabilities_are_declared():
    assert Capability.COLLECTIVE_OFFLOAD in make("vendor-descriptor").capabilities
    assert make("cxl-mem").capabilities == {Capability.CXL_MEM}


def test_a_cxl_frame_with_a_tag_the_adapter_never_gave_out_is_refused():
    memory = make("cxl-mem", card=64)
    frame = memory.to_native(Message(Opcode.CXL_MEM_RD, 1, 64, tag=5, length=64, address=0x40))
    with pytest.raises(BridgeError, match="device-side tag 0 was given to no request") as info:
        make("cxl-mem", card=64).from_native(frame)  # another adapter: it never handed out tag 0
    assert info.value.field == "tag"
