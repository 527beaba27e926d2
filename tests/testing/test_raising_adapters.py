"""A plug-in adapter that raises: the fuzzer records it as a finding, and a run says in one line
which adapter, which method and what it raised (issue 15, item 10: both gave tracebacks)."""

import json

import pytest

from oisa.device import load_profile
from oisa.device.adapters.vendor import VendorDescriptorAdapter
from oisa.errors import AdapterError, FrameError, OisaError
from oisa.wire.oisa import Message, Opcode
from tests.testing.support import ROOT, oisa, profile_file, register


class QueueFullAdapter(VendorDescriptorAdapter):
    """Its native queue overflows: every frame it is asked to write raises."""

    name = "broken-queue"

    def to_native(self, message: Message) -> bytes:
        raise RuntimeError("native queue full")


class BadPlanAdapter(VendorDescriptorAdapter):
    """Cannot say how it moves bulk data."""

    name = "broken-plan"

    def transfer_plan(self):
        raise KeyError("max_write")


def test_an_adapter_raising_while_probed_is_a_finding_saved_and_replayed(capsys, monkeypatch, tmp_path):
    register(monkeypatch, QueueFullAdapter)
    profile, saved = profile_file(tmp_path, QueueFullAdapter.name), tmp_path / "failure.json"
    status, out, err = oisa(capsys, "fuzz", "-t", "adapter:broken-queue", "--profile", profile, "-n", "20",
                            "--save", str(saved))
    assert (status, err) == (1, "")
    assert out.startswith("adapter:broken-queue: FAILED at example ")
    assert "adapter broken-queue: to_native raised RuntimeError: native queue full" in out
    record = json.loads(saved.read_text())
    assert "native queue full" in record["error"]
    status, out, _ = oisa(capsys, "fuzz", "--replay", str(saved))
    assert status == 1 and "still fails" in out


@pytest.mark.parametrize(("cls", "method", "raised"), [
    (QueueFullAdapter, "to_native", "RuntimeError: native queue full"),
    (BadPlanAdapter, "transfer_plan", "KeyError: 'max_write'"),
])
def test_an_adapter_raising_in_a_run_is_one_line_naming_it(capsys, monkeypatch, tmp_path, cls, method, raised):
    register(monkeypatch, cls)
    profile = profile_file(tmp_path, cls.name)
    fabric = tmp_path / "fabric.toml"
    fabric.write_text((ROOT / "fabrics" / "pair.toml").read_text().replace('"h100-like"', repr(profile)))
    status, out, err = oisa(capsys, "run", str(fabric), "--size", "4KiB")
    assert (status, out) == (1, "")
    assert err == f"oisa: error: adapter {cls.name}: {method} raised {raised}\n"


def test_an_adapters_own_typed_errors_pass_unchanged():
    """FrameError and BridgeError are how an adapter refuses bytes and messages: not wrapped."""
    adapter = QueueFullAdapter(0, load_profile("mi300x-like"))
    with pytest.raises(FrameError) as raised:
        adapter.from_native(b"")
    assert not isinstance(raised.value, AdapterError)


def test_an_adapter_error_carries_the_adapter_and_method_and_chains_the_cause():
    adapter = QueueFullAdapter(0, load_profile("mi300x-like"))
    with pytest.raises(AdapterError) as raised:
        adapter.to_native(Message(Opcode.STORE, 0, 1, tag=0, length=4, payload=b"abcd"))
    error = raised.value
    assert isinstance(error, OisaError)
    assert (error.adapter, error.method) == ("broken-queue", "to_native")
    assert isinstance(error.__cause__, RuntimeError)
