"""Results for people (text tables) and for programs (JSON with documented keys)."""

from oisa.report.p2p import p2p_json, p2p_text

__all__ = ["p2p_json", "p2p_text"]
