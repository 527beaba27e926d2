"""PCIe CRCs: published reference vectors, the residues receivers check, and an independent
bit-serial model of the specification's shift registers that the table-driven code must match.

Vectors found and used here:

* LCRC and DLLP CRC: antmicro/warp-pipe, ``tests/test_crc.cc`` (tests ``Crc32Correct`` and
  ``Crc16Correct``), the test suite of a PCIe-over-TCP transport's CRC code.
* LCRC residue 0x2144DF1C: ``litepcie.dll.common`` of a LitePCIe data-link-layer branch (quoted
  in /work/shared/reference/protocol-facts.md section 4.3).
* DLLP CRC residue 0x556F: alexforencich/cocotbext-pcie, ``cocotbext/pcie/core/dllp.py``
  (``Dllp.unpack_crc`` accepts a DLLP when the CRC over all 6 bytes is 0x556F).

**No published ECRC vector was found** (searched the code of cocotbext-pcie, LitePCIe,
warp-pipe, scopehal, the cyrozap Wireshark dissector and open Verilog cores, issue threads and
web pages).
The ECRC is therefore tested for internal consistency: against the bit-serial model run over
the TLP with its variant bits set (the recipe of cyrozap/agilent-pcie-analyzer-re's dissector,
which checks the ECRCs of real captures), for invariance under the variant bits, and for
sensitivity to every other bit.
"""

from hypothesis import given
from hypothesis import strategies as st

from oisa.testing import _pcie as pcie_st
from oisa.wire.crc import crc16
from oisa.wire.pcie import (
    DLLP_CRC_RESIDUE,
    LCRC_RESIDUE,
    Dllp,
    DllpType,
    Tlp,
    TlpType,
    dllp_crc16,
    ecrc32,
    encode_dllp,
    encode_tlp,
    lcrc32,
    wrap_tlp,
)


def spec_crc(data: bytes, width: int, poly: int, preset: int) -> bytes:
    """The CRC field as the specification draws it: an MSB-first shift register preset to
    ``preset``, fed bit 0 of each byte first; the remainder complemented and mapped with bit
    ``width - 1`` into bit 0 of the first CRC byte (so each byte goes out highest bit first)."""
    mask = (1 << width) - 1
    reg = preset
    for byte in data:
        for i in range(8):
            feedback = (reg >> (width - 1) & 1) ^ (byte >> i & 1)
            reg = (reg << 1) & mask
            if feedback:
                reg ^= poly & mask
    reg ^= mask
    out = bytearray(width // 8)
    for bit in range(width):
        if reg >> (width - 1 - bit) & 1:
            out[bit // 8] |= 1 << (bit % 8)
    return bytes(out)


def test_lcrc_matches_the_warp_pipe_vector():
    # warp-pipe Crc32Correct: sequence number 0 and a 3DW MRd header of zeros; the 4 LCRC bytes
    # read little-endian are 0xd1bb79c7.
    assert wrap_tlp(0, bytes(12))[-4:] == (0xD1BB79C7).to_bytes(4, "little")


def test_dllp_crc_matches_the_warp_pipe_vector():
    # warp-pipe Crc16Correct: an Ack of sequence number 0; CRC bytes read little-endian are 0x62b3.
    assert encode_dllp(Dllp(DllpType.ACK, seq=0)) == bytes(4) + (0x62B3).to_bytes(2, "little")


@given(st.integers(0, 4095), pcie_st.tlps(max_length=st.just(8)).map(encode_tlp))
def test_every_wrapped_tlp_leaves_the_lcrc_residue(seq, tlp):
    assert lcrc32(wrap_tlp(seq, tlp)) == LCRC_RESIDUE


@given(pcie_st.dllps())
def test_every_dllp_leaves_the_dllp_residue(dllp):
    assert dllp_crc16(encode_dllp(dllp)) ^ 0xFFFF == DLLP_CRC_RESIDUE


@given(st.binary(max_size=64))
def test_lcrc_is_the_specifications_shift_register(data):
    assert lcrc32(data).to_bytes(4, "little") == spec_crc(data, 32, 0x04C11DB7, 0xFFFFFFFF)


@given(st.binary(min_size=4, max_size=4))
def test_dllp_crc_is_the_specifications_shift_register(body):
    expected = spec_crc(body, 16, 0x100B, 0xFFFF)
    assert dllp_crc16(body).to_bytes(2, "little") == expected
    # The same through oisa.wire.crc's generic MSB-first CRC-16: reverse the bits going in and out.
    reverse = lambda value, bits: int(f"{value:0{bits}b}"[::-1], 2)  # noqa: E731
    msb_first = crc16(bytes(reverse(b, 8) for b in body), 0x100B, 0xFFFF)
    assert (reverse(msb_first, 16) ^ 0xFFFF).to_bytes(2, "little") == expected


@given(pcie_st.tlps(max_length=st.just(8), digests=st.just(True)))
def test_ecrc_is_the_shift_register_over_the_tlp_with_variant_bits_set(tlp):
    raw = encode_tlp(tlp)
    covered = bytearray(raw[:-4])
    covered[0] |= 0x01  # Type[0]
    covered[2] |= 0x40  # EP
    assert raw[-4:] == spec_crc(bytes(covered), 32, 0x04C11DB7, 0xFFFFFFFF)


@given(st.integers(3, 10).flatmap(lambda dws: st.binary(min_size=4 * dws, max_size=4 * dws)), st.data())
def test_ecrc_ignores_exactly_the_variant_bits(body, data):
    byte = data.draw(st.integers(0, len(body) - 1))
    bit = data.draw(st.integers(0, 7))
    flipped = bytearray(body)
    flipped[byte] ^= 1 << bit
    variant = (byte, bit) in ((0, 0), (2, 6))
    assert (ecrc32(bytes(flipped)) == ecrc32(body)) is variant


def test_ecrc_differs_from_the_lcrc_only_by_the_variant_bits():
    tlp = encode_tlp(Tlp(TlpType.CFGRD1, length=1, first_be=0xF, completer_id=0x0100))
    assert ecrc32(tlp) != lcrc32(tlp)
    assert ecrc32(tlp) == lcrc32(bytes([tlp[0] | 1, tlp[1], tlp[2] | 0x40]) + tlp[3:])
