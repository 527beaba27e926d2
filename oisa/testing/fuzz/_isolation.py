"""``isolation``: random tenancies on small fabrics under random and spoofed accesses; no tenant
reads or writes a byte outside its grants, and every spoofed write is dropped and counted
(:mod:`oisa.testing._isolation`)."""

from __future__ import annotations

from oisa.testing._isolation import check_case, isolation_cases
from oisa.testing.fuzz._target import FuzzTarget

__all__ = ["isolation_target"]


def isolation_target() -> FuzzTarget:
    return FuzzTarget("isolation", "random tenants, windows and partitions on a direct-connect and a switched fabric, "
                      "under random reads and writes and spoofed source IDs: no byte outside a tenant's grants is "
                      "read or changed, and every spoofed write is dropped and counted", isolation_cases(), check_case)
