"""The engines a workload can run on, as a small registry: what each is and how it runs.

``data`` builds every frame and checks real bytes; ``timing`` times every frame and moves no
bytes. Both are frame-level engines: they build the fabric inside a virtual-time kernel at a
:class:`~oisa.fabric.Fidelity` and run the workload's tasks there. An engine is chosen once, in
the :class:`~oisa.workload.run.Run`; the cards' half of it is the
:class:`~oisa.device.movement.Movement` the fidelity gives them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from oisa.fabric import FIDELITIES, Fabric, FabricSpec, Fidelity, build
from oisa.sim import Kernel

if TYPE_CHECKING:
    from oisa.workload.run import Run

__all__ = ["ENGINES", "Engine"]

T = TypeVar("T")


@dataclass(frozen=True)
class Engine:
    """A frame-level engine: the fabric built at ``fidelity`` in a fresh kernel."""

    name: str
    summary: str
    fidelity: Fidelity

    @property
    def moves_bytes(self) -> bool:
        return self.fidelity.moves_bytes

    def execute(self, spec: FabricSpec, run: Run, workload: Callable[..., Awaitable[T]], *args: Any) -> T:
        """Run ``workload(fabric, run, *args)`` on a fresh instance of ``spec`` and return its
        result. The run's observer sees it and is closed when it ends, even in an error, so what
        was gathered until then is kept."""
        kernel = Kernel(run.seed)
        kernel.observer = run.observer
        try:
            fabric: Fabric = build(spec, kernel, run.faults, self.fidelity)
            return kernel.run(workload, fabric, run, *args)
        finally:
            if run.observer is not None:
                run.observer.close()


ENGINES: dict[str, Engine] = {e.name: e for e in (
    Engine("data", "every frame built and CRC-checked, real bytes moved and verified", FIDELITIES["data"]),
    Engine("timing", "every frame timed, no bytes: for sizes data mode would take too long to move",
           FIDELITIES["timing"]),
)}
