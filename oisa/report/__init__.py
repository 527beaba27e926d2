"""Results for people (text tables) and for programs (JSON with documented keys)."""

from oisa.report.compare import comparison_json, comparison_text
from oisa.report.devices import device_listing, devices_text
from oisa.report.p2p import p2p_json, p2p_text

__all__ = ["comparison_json", "comparison_text", "device_listing", "devices_text", "p2p_json", "p2p_text"]
