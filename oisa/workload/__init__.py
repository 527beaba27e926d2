"""Workloads that run on a fabric and return results carrying checked data."""

from oisa.workload.p2p import P2PResult, Phase, default_pair, run_p2p

__all__ = ["P2PResult", "Phase", "default_pair", "run_p2p"]
