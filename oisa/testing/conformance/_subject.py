"""The adapter under test: a factory that builds it per card, the profile its cards use, and
where it came from.

An adapter is built per card and may keep state, so the kit never holds one adapter: it holds
a factory (``make(card_id) -> DeviceAdapter``) and calls it for a fresh adapter wherever a case
needs one. There are two ways to get a subject, and everything after them is the same code:

* :func:`factory_subject`: the factory a user hands over (``oisa.testing.check_adapter``). It
  builds the adapter with whatever the user chooses, including a profile; the kit reads the
  class and the profile off the adapter it builds for card 0.
* :func:`subject`: a registered adapter by name (``oisa conformance NAME``, ``pytest
  --oisa-adapter NAME``), with the profile given, else one the adapter's distribution ships,
  else one from the built-in catalog. It is only a front end: it makes the factory
  ``lambda card: cls(card, profile)`` that a card with that profile would use.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from oisa.catalog import catalog_names
from oisa.device.adapter import DeviceAdapter
from oisa.device.profile import DeviceProfile, load_profile
from oisa.device.registry import AdapterEntry, adapter, plugin_profiles
from oisa.errors import UsageError
from oisa.wire.oisa import OPCODES, Opcode

__all__ = ["REQUEST_OPCODES", "AdapterFactory", "Kind", "Role", "Subject", "factory_subject", "subject"]

REQUEST_OPCODES: tuple[Opcode, ...] = tuple(op for op in Opcode if OPCODES[op].is_request)

AdapterFactory = Callable[[int], DeviceAdapter]
"""Builds a fresh adapter for the card with the given id (and whatever else it needs: its
profile, options of the vendor's own)."""


class Role(enum.StrEnum):
    """Which side of a request the card under test is on."""

    STARTS = "starts"  # the card sends the request (egress); its completions arrive (ingress)
    SERVES = "serves"  # the request arrives for the card (ingress); it sends the completions (egress)


Kind = tuple[Opcode, Role]


@dataclass(frozen=True, eq=False)
class Subject:
    """One adapter under test: ``make`` builds it per card; ``cls`` is its class and ``profile``
    the device profile its cards are built from. ``name`` is the name cards find it by (its
    profile's ``adapter``); ``registered`` says whether it came from the registry by that name;
    ``origin`` says where it came from, for reports."""

    name: str
    origin: str
    cls: type[DeviceAdapter]
    profile: DeviceProfile
    make: AdapterFactory = field(repr=False)
    registered: bool = False

    def adapter(self, card_id: int) -> DeviceAdapter:
        """A fresh adapter for card ``card_id``: each example starts from a clean state."""
        built = self.make(card_id)
        if not isinstance(built, DeviceAdapter):
            raise UsageError(f"the adapter factory returned {type(built).__name__} for card {card_id}, not a "
                             f"DeviceAdapter", parameter="make_adapter")
        return built


def factory_subject(make_adapter: AdapterFactory) -> Subject:
    """The adapter ``make_adapter(card_id)`` builds. It is called once here, for card 0, to learn
    the adapter's class and profile (the one the adapter was given: ``DeviceAdapter.__init__``
    keeps it as ``profile``); a factory that is not callable, returns something other than a
    DeviceAdapter or builds one without a DeviceProfile raises UsageError naming
    ``make_adapter``. What the factory itself raises propagates."""
    if not callable(make_adapter):
        raise UsageError("expected a callable: make_adapter(card_id) -> DeviceAdapter", parameter="make_adapter",
                         value=type(make_adapter).__name__)
    probe = make_adapter(0)
    if not isinstance(probe, DeviceAdapter):
        raise UsageError(f"make_adapter(0) returned {type(probe).__name__}, not a DeviceAdapter",
                         parameter="make_adapter")
    profile = getattr(probe, "profile", None)
    if not isinstance(profile, DeviceProfile):
        raise UsageError(f"the {type(probe).__name__} that make_adapter(0) built has no DeviceProfile (profile is "
                         f"{type(profile).__name__}): build it with one, as DeviceAdapter(card_id, profile)",
                         parameter="make_adapter")
    where = getattr(make_adapter, "__qualname__", type(make_adapter).__qualname__)
    return Subject(profile.adapter, f"factory {where}", type(probe), profile, make_adapter)


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
    cls = entry.cls

    def make(card_id: int) -> DeviceAdapter:  # what a card with the profile builds (oisa.device.card)
        return cls(card_id, chosen)

    return Subject(name, entry.origin, cls, chosen, make, registered=True)


def _default_profile(entry: AdapterEntry) -> DeviceProfile:
    shipped = [stem for stem, (_, owner) in sorted(plugin_profiles().items()) if owner.name == entry.name]
    for name in shipped + catalog_names("devices"):
        profile = load_profile(name)
        if profile.adapter == entry.name:
            return profile
    raise UsageError(f"no device profile selects adapter {entry.name!r}: give one (--profile NAME_OR_PATH)")
