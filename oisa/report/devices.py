"""What ``oisa devices`` shows: every profile and adapter this installation knows."""

from __future__ import annotations

from typing import Any

from oisa.catalog import catalog_names
from oisa.device import load_profile
from oisa.device.registry import adapters, plugin_profiles

__all__ = ["device_listing", "devices_text"]


def device_listing() -> dict[str, list[dict[str, Any]]]:
    """Profiles (built in and shipped by plug-ins) and adapters, with their origin."""
    shipped = plugin_profiles()
    profiles = []
    for name in sorted(set(catalog_names("devices")) | set(shipped)):
        profile = load_profile(name)
        origin = f"plug-in ({shipped[name][1].distribution})" if name in shipped else "built in"
        profiles.append({"name": profile.name, "vendor": profile.vendor, "model": profile.model,
                         "native": profile.native, "adapter": profile.adapter, "origin": origin})
    listed = [{"name": entry.name, "native": entry.cls.native, "summary": entry.cls.summary,
               "capabilities": sorted(entry.cls.capabilities), "origin": entry.origin}
              for entry in adapters().values()]
    return {"profiles": profiles, "adapters": listed}


def devices_text(listing: dict[str, list[dict[str, Any]]]) -> str:
    lines = ["Device profiles:"]
    rows = [("name", "vendor", "native", "adapter", "from")] + [
        (p["name"], p["vendor"], p["native"], p["adapter"], p["origin"]) for p in listing["profiles"]]
    lines += _table(rows)
    lines += ["", "Adapters:"]
    rows = [("name", "native", "capabilities", "from")] + [
        (a["name"], a["native"], ", ".join(a["capabilities"]), a["origin"]) for a in listing["adapters"]]
    lines += _table(rows)
    return "\n".join(lines)


def _table(rows: list[tuple[str, ...]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return ["  " + "  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows]
