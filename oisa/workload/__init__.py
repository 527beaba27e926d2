"""Workloads: what runs on a fabric, declared once in a registry, run on an engine, returning
results that carry checked data.

This layer describes what runs (point to point, load/store, collectives, a training step) and
hands it to an engine (:mod:`oisa.workload.engines`) with a :class:`Run`.

What it must not know: ``report`` and ``cli``. How results are shown is the report layer's, which
command-line flags exist the command's: errors name the keyword argument, never a flag.
"""

from oisa.workload.engines import ENGINES, Engine
from oisa.workload.p2p import P2PResult, Phase, default_pair, run_p2p
from oisa.workload.registry import Headline, Option, Renderer, Workload, workload, workloads
from oisa.workload.run import DATA_LIMIT, Limits, Run

__all__ = ["DATA_LIMIT", "ENGINES", "Engine", "Headline", "Limits", "Option", "P2PResult", "Phase", "Renderer", "Run",
           "Workload", "default_pair", "run_p2p", "workload", "workloads"]
