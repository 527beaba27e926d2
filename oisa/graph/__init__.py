"""Execution graphs: what every rank of a job does, as data, and Chakra traces in and out.

This package owns the graph's shape and checks (:mod:`oisa.graph.model`), the Chakra execution
trace format (:mod:`oisa.graph.chakra`, its schema ``chakra.proto``), and building graphs:
transformer training under data, tensor, pipeline and expert parallelism and ZeRO
(:mod:`oisa.graph.parallel`), and scaling a small trace to more ranks (:mod:`oisa.graph.scale`).

What it must not know: ``fabric``, ``device``, ``ccl``, ``flow``, ``sim`` and ``workload``. A graph
says what each rank computes, sends and waits for, never on which card, over which links or with
which engine: placing and running a graph is the workload layer's (:mod:`oisa.workload.graph`), so
one trace runs on any fabric and any engine.
"""

from oisa.graph.chakra import read_graph, write_graph
from oisa.graph.model import COLLECTIVE_KINDS, WORLD, ExecutionGraph, Kind, Node, RankGraph, Where

__all__ = ["COLLECTIVE_KINDS", "WORLD", "ExecutionGraph", "Kind", "Node", "RankGraph", "Where", "read_graph",
           "write_graph"]
