"""What the conformance kit used to let through (issue 15, items 12 and 15): a seed the tool
cannot use reported as the adapter's failure, an adapter that recomputes its checksum over
whatever arrives, and one that changes payload bytes on the way out and undoes it on the way in."""

import struct

import pytest

from oisa.device.adapters.vendor import VendorDescriptorAdapter
from oisa.errors import UsageError
from oisa.testing.conformance import run_conformance, subject
from oisa.wire.crc32c import crc32c
from oisa.wire.oisa import Message
from oisa.wire.vdesc import CRC_SIZE
from tests.testing.support import ByteDroppingAdapter, oisa, register

EXAMPLES = 10


class ChecksumRecomputingAdapter(VendorDescriptorAdapter):
    """Writes the CRC-32C its format declares, but recomputes it over whatever arrives before
    reading a descriptor: a corrupted frame reads as whatever it now says."""

    name = "broken-crc"

    def from_native(self, frame: bytes) -> Message:
        body = frame[:-CRC_SIZE]
        return super().from_native(body + struct.pack("<I", crc32c(body)))


def _reversed_payload(message: Message) -> Message:
    if message.payload:
        message.payload = message.payload[::-1]
    return message


class SymmetricSwappingAdapter(VendorDescriptorAdapter):
    """Reverses the payload of what its card sends and of what its card receives: between two
    such cards the bytes land intact, and every unit case (one message to native and back) holds."""

    name = "broken-swap"

    def egress(self, message: Message) -> Message:
        return _reversed_payload(super().egress(message))

    def ingress(self, message: Message) -> Message:
        return super().ingress(_reversed_payload(message))


@pytest.mark.parametrize(("broken", "failing"), [
    (ChecksumRecomputingAdapter, {"ADP-INTEGRITY-001"}),
    (SymmetricSwappingAdapter, {"ADP-E2E-001", "ADP-E2E-002"}),
    (ByteDroppingAdapter, {"ADP-PAYLOAD-001", "ADP-E2E-001", "ADP-E2E-002"}),
])
def test_the_kit_catches_what_it_used_to_let_through(monkeypatch, broken, failing):
    profile = register(monkeypatch, broken)
    report = run_conformance(subject(broken.name, profile), examples=EXAMPLES, seed=1)
    assert set(report.failed()) == failing, [(r.case.id, r.reason) for r in report.results]


def test_a_corrupted_frame_is_named_with_the_byte_that_was_changed(monkeypatch):
    profile = register(monkeypatch, ChecksumRecomputingAdapter)
    report = run_conformance(subject(ChecksumRecomputingAdapter.name, profile), examples=EXAMPLES, seed=1,
                             cases=["ADP-INTEGRITY-001"])
    [result] = report.results
    assert "CRC-32C" in result.reason and "was accepted" in result.reason
    assert set(result.example) == {"exchange", "message", "corrupt"}


def test_an_adapter_without_an_integrity_check_skips_the_case():
    [result] = run_conformance("pcie-tlp", examples=EXAMPLES, seed=1, cases=["ADP-INTEGRITY-001"]).results
    assert result.outcome == "skipped" and "declares no integrity check" in result.reason


@pytest.mark.parametrize("seed", [-1, 1.5, "7"])
def test_a_seed_the_tool_cannot_use_is_refused_before_any_case_runs(seed):
    with pytest.raises(UsageError, match="seed"):
        run_conformance("pcie-tlp", examples=EXAMPLES, seed=seed)


def test_the_command_refuses_a_negative_seed_in_one_line(capsys):
    status, out, err = oisa(capsys, "conformance", "pcie-tlp", "--seed", "-1")
    assert (status, out) == (2, "")
    assert err.startswith("oisa: error: ") and err.count("\n") == 1 and "--seed" in err

