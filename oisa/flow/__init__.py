"""The flow-level engine: transfers as flows with max-min fair rates over a fabric's routes.

The frame-level engines time every frame; at 1,000 cards and more that is hours. This engine
reads the same fabric specifications and the same plans and times transfers as fluids: each
transfer is a flow over the links its route loads (:mod:`oisa.fabric.routes`), with the
framing overhead of its messages folded into its weight on each link
(:mod:`oisa.flow.network`); rates are max-min fair (:mod:`oisa.flow.maxmin`, progressive
filling over a sparse matrix) and recomputed when flows start or drain
(:mod:`oisa.flow.fluid`); latencies are added per path. Collectives run by their phases, each
repeated pattern's rates computed once (:mod:`oisa.flow.execute`).

What it must not know: trio, ``sim`` and ``workload``. It knows fabric specifications and
routes, device profiles and plans. How closely it agrees with the timing engine, and
where it is known to be looser, is in the README ("The flow engine").
"""

from oisa.flow.execute import ENTRY_BYTES, FlowRun, run_plan
from oisa.flow.maxmin import max_min_rates
from oisa.flow.network import Network

__all__ = ["ENTRY_BYTES", "FlowRun", "Network", "max_min_rates", "run_plan"]
