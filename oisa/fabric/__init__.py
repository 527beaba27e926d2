"""Fabrics: cards joined by links, described in TOML (``fabrics/``) or in Python, and built
inside a kernel."""

from oisa.fabric.build import Fabric, Link, build
from oisa.fabric.spec import CardSpec, FabricSpec, LinkSpec, load_fabric

__all__ = ["CardSpec", "Fabric", "FabricSpec", "Link", "LinkSpec", "build", "load_fabric"]
