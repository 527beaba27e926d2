"""For the tests of the conformance kit and the fuzzer: deliberately broken adapters, each with
one bug a real bridge could have (the kit and the fuzzer must catch each by name), a way to
register them for one test, and the oisa command run in-process."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from oisa.cli import main
from oisa.device import load_profile, registry
from oisa.device.adapters.vendor import VendorDescriptorAdapter
from oisa.device.profile import DeviceProfile
from oisa.wire.oisa import FcClass, Message, Status

__all__ = ["ByteDroppingAdapter", "ReorderingAdapter", "WrongStatusAdapter", "oisa", "profile_file", "register"]

ROOT = Path(__file__).resolve().parents[2]


class ReorderingAdapter(VendorDescriptorAdapter):
    """Keeps the native frames of posted writes on a stack, not in a queue: read back one at a
    time they look fine, a burst of them comes back last first."""

    name = "broken-reorder"

    def __init__(self, card_id: int, profile: DeviceProfile) -> None:
        super().__init__(card_id, profile)
        self._stack: list[bytes] = []
        self._posted: set[bytes] = set()

    def to_native(self, message: Message) -> bytes:
        frame = super().to_native(message)
        if message.info.fc_class is FcClass.POSTED:
            self._stack.append(frame)
            self._posted.add(frame)
        return frame

    def from_native(self, frame: bytes) -> Message:
        if frame in self._posted and self._stack:
            frame = self._stack.pop()
        return super().from_native(frame)


class ByteDroppingAdapter(VendorDescriptorAdapter):
    """Loses the middle byte of every payload; the bytes after it slide down, a zero fills the end."""

    name = "broken-drop"

    def from_native(self, frame: bytes) -> Message:
        message = super().from_native(frame)
        if message.payload:
            middle = len(message.payload) // 2
            message.payload = message.payload[:middle] + message.payload[middle + 1:] + b"\x00"
        return message


class WrongStatusAdapter(VendorDescriptorAdapter):
    """Reports Unsupported Request as Completer Abort and the other way round."""

    name = "broken-status"

    def from_native(self, frame: bytes) -> Message:
        message = super().from_native(frame)
        swapped = {Status.UR: Status.CA, Status.CA: Status.UR}
        if not message.info.is_request and message.aux in swapped:
            message.aux = int(swapped[Status(message.aux)])
        return message


def register(monkeypatch: pytest.MonkeyPatch, cls: type[VendorDescriptorAdapter]) -> DeviceProfile:
    """Register ``cls`` for this test and return a profile of a card that uses it."""
    found = dict(registry.adapters())
    found[cls.name] = registry.AdapterEntry(cls.name, cls, "tests")
    monkeypatch.setattr(registry, "adapters", lambda: found)
    return replace(load_profile("mi300x-like"), name=f"{cls.name}-card", adapter=cls.name)


def profile_file(directory: Path, name: str) -> str:
    """A profile TOML file (the MI300X-like card's) whose cards use adapter ``name``, for the
    command line, which takes profiles by name or path."""
    text = (ROOT / "devices" / "mi300x-like.toml").read_text()
    assert 'adapter = "vendor-descriptor"' in text
    path = directory / f"{name}.toml"
    path.write_text(text.replace('adapter = "vendor-descriptor"', f'adapter = "{name}"'))
    return str(path)


def oisa(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """``oisa ARGV`` in this process: (exit status, standard output, standard error)."""
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err
