"""The adapter under test: its registration, the profile its cards use, and what it carries.

An adapter is built per card (``cls(card_id, profile)``) and its transfer plan and limits come
from the profile, so the kit always tests an adapter together with a device profile that
selects it: the one given, else one the adapter's distribution ships, else one from the
built-in catalog.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from pathlib import Path

from oisa.catalog import catalog_names
from oisa.device.adapter import DeviceAdapter
from oisa.device.profile import DeviceProfile, load_profile
from oisa.device.registry import AdapterEntry, adapter, plugin_profiles
from oisa.errors import UsageError
from oisa.wire.oisa import OPCODES, Opcode

__all__ = ["REQUEST_OPCODES", "Kind", "Role", "Subject", "subject"]

REQUEST_OPCODES: tuple[Opcode, ...] = tuple(op for op in Opcode if OPCODES[op].is_request)


class Role(enum.StrEnum):
    """Which side of a request the card under test is on."""

    STARTS = "starts"  # the card sends the request (egress); its completions arrive (ingress)
    SERVES = "serves"  # the request arrives for the card (ingress); it sends the completions (egress)


Kind = tuple[Opcode, Role]


@dataclass(frozen=True, eq=False)
class Subject:
    """One registered adapter and the device profile its cards are built from."""

    entry: AdapterEntry
    profile: DeviceProfile

    @property
    def name(self) -> str:
        return self.entry.name

    @property
    def cls(self) -> type[DeviceAdapter]:
        return self.entry.cls

    def adapter(self, card_id: int) -> DeviceAdapter:
        """A fresh adapter for card ``card_id``: each example starts from a clean state."""
        return self.cls(card_id, self.profile)


def subject(name: str, profile: str | Path | DeviceProfile | None = None) -> Subject:
    """The registered adapter ``name`` with ``profile`` (a profile, or its catalog name or TOML
    path), or with the first profile that selects it. Unknown names raise CatalogError."""
    entry = adapter(name)
    if isinstance(profile, DeviceProfile):
        chosen = profile
    elif profile is not None:
        chosen = load_profile(profile)
    else:
        chosen = _default_profile(entry)
    if chosen.adapter != name:
        raise UsageError(f"profile {chosen.name!r} selects adapter {chosen.adapter!r}, not {name!r}")
    return Subject(entry, chosen)


def _default_profile(entry: AdapterEntry) -> DeviceProfile:
    shipped = [stem for stem, (_, owner) in sorted(plugin_profiles().items()) if owner.name == entry.name]
    for name in shipped + catalog_names("devices"):
        profile = load_profile(name)
        if profile.adapter == entry.name:
            return profile
    raise UsageError(f"no device profile selects adapter {entry.name!r}: give one (--profile NAME_OR_PATH)")
