"""Fabrics: cards, switches and NICs joined by links, described in TOML (``fabrics/``) or in
Python, routed, and built inside a kernel.

What it must not know: ``flow``, ``ccl``, ``workload`` and ``report``. A fabric is specified,
routed and built without knowing what will run on it or how its results are shown.
"""

from oisa.fabric.build import FIDELITIES, BringUp, Fabric, Fidelity, Link, Mode, build
from oisa.fabric.loader import load_fabric
from oisa.fabric.spec import CardSpec, FabricSpec, LinkKind, LinkSpec, NicSpec, SwitchSpec

__all__ = ["FIDELITIES", "BringUp", "CardSpec", "Fabric", "FabricSpec", "Fidelity", "Link", "LinkKind", "LinkSpec",
           "Mode", "NicSpec", "SwitchSpec", "build", "load_fabric"]
