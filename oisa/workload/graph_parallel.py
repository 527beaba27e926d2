"""The synthesised training step as a workload: a transformer from a published configuration,
laid out over the fabric's cards with tensor, pipeline, data and expert parallelism and ZeRO
(:mod:`oisa.graph.parallel`), run as an execution graph (:mod:`oisa.workload.graph`).

Before anything is built, every card must hold what its rank holds (state and activations in
flight); a card that cannot is refused, naming the options that would shrink it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from oisa.errors import UsageError
from oisa.fabric import FabricSpec
from oisa.graph import ExecutionGraph
from oisa.graph.parallel import MODELS, Layout, TransformerModel, held_bytes, layout_of, training_graph
from oisa.workload.collectives import collective_ranks
from oisa.workload.graph import _RENDERER, GraphResult, run_execution_graph
from oisa.workload.registry import CARDS, CHOICE, COUNT, TEXT, Option, workload
from oisa.workload.run import Run

__all__ = ["PARALLEL_OPTIONS", "parallel_layout", "run_parallel", "synthesised"]

PARALLEL_OPTIONS = (
    Option("model", CHOICE, "the model each card holds (its sources: specs/cli-json.md)", choices=tuple(MODELS)),
    Option("tp", COUNT, "tensor-parallel ranks (consecutive cards: inside a server or scale-up domain)", minimum=1),
    Option("pp", COUNT, "pipeline stages (1F1B)", minimum=1),
    Option("ep", COUNT, "data-parallel replicas that share out a mixture of experts' experts", minimum=1),
    Option("zero", COUNT, "ZeRO stage: 0 (none), 1 (optimizer state), 2 (and gradients), 3 (and weights) split over "
                          "the data-parallel replicas", minimum=0, maximum=3),
    Option("microbatches", COUNT, "micro-batches per replica per step (default: 4 per stage)", minimum=1),
    Option("batch", COUNT, "sequences per micro-batch", minimum=1),
    Option("seq", COUNT, "tokens per sequence (default: the model's training sequence length)", minimum=1),
    Option("layers_per_node", COUNT, "consecutive layers one compute node and its collectives stand for (more: "
                                     "fewer, larger nodes, for thousands of cards)", minimum=1),
    Option("cards", CARDS, "the cards that train (default: every accelerator, by id)"),
    Option("precision", TEXT, "the compute rate used, by the names in the device profiles (bf16, fp8, ...)"),
    Option("calibration", TEXT, "a calibration of the collective library (what oisa calibrate writes), applied to "
                                "its profile"),
)


@workload("parallel", summary="one training step of a transformer (GPT-3 175B, Llama 3, Mixtral) with tensor, "
          "pipeline (1F1B), data and expert parallelism and ZeRO, as an execution graph", result=GraphResult,
          engines=("data", "timing", "flow"), renderer=_RENDERER, options=PARALLEL_OPTIONS)
def run_parallel(spec: FabricSpec, run: Run = Run(), *, model: str = "gpt3-175b", tp: int = 8, pp: int = 1,
                 ep: int = 1, zero: int = 1, microbatches: int | None = None, batch: int = 1, seq: int | None = None,
                 layers_per_node: int = 1, cards: Sequence[int] | None = None, precision: str = "bf16",
                 calibration: str | None = None) -> GraphResult:
    """One step of ``model`` over the cards: ``tp`` x ``pp`` x (the rest) data-parallel replicas."""
    placed = collective_ranks(spec, cards, least=1)
    graph = _training_step(spec, placed, model=model, tp=tp, pp=pp, ep=ep, zero=zero, microbatches=microbatches,
                           batch=batch, seq=seq, layers_per_node=layers_per_node)
    return run_execution_graph(spec, graph, run, cards=placed, precision=precision, calibration=calibration)


def synthesised(spec: FabricSpec, **options: Any) -> ExecutionGraph:
    """The graph :func:`run_parallel` runs with ``options`` (its keywords but the compute rate's,
    checked as it checks them): what ``oisa export-graph`` writes."""
    checked = run_parallel.workload.checked(options, spec)  # type: ignore[attr-defined]  # see registry.workload
    for unused in ("precision", "calibration"):
        if options.get(unused) is not None:
            raise UsageError("sets the compute rate a run uses, not the graph", parameter=unused,
                             value=options[unused])
        checked.pop(unused)
    placed = collective_ranks(spec, checked.pop("cards"), least=1)
    return _training_step(spec, placed, **checked)


def _training_step(spec: FabricSpec, placed: Sequence[int], *, model: str, seq: int | None,
                   **layout: Any) -> ExecutionGraph:
    chosen = MODELS[model] if seq is None else replace(MODELS[model], seq=seq)
    return training_graph(chosen, parallel_layout(spec, placed, model=chosen, **layout))


def parallel_layout(spec: FabricSpec, cards: Sequence[int], *, model: TransformerModel, tp: int, pp: int, ep: int = 1,
                    zero: int = 1, microbatches: int | None = None, batch: int = 1,
                    layers_per_node: int = 1) -> Layout:
    """The layout over ``cards``, checked against what each card can hold."""
    chosen = model
    layout = layout_of(chosen, len(cards), tp=tp, pp=pp, ep=ep, zero=zero, microbatches=microbatches, batch=batch,
                       layers_per_node=layers_per_node)
    for rank, card_id in enumerate(cards):
        stage = layout.place(rank)[2]
        need = held_bytes(chosen, layout, stage)
        card = spec.card(card_id)
        if need > card.device.capacity:
            raise UsageError(f"rank {rank} (stage {stage}) would hold {need / 2**30:.1f} GiB of state and activations "
                             f"on {card.name} ({card.device.name}, {card.device.capacity / 2**30:.1f} GiB): more "
                             f"tensor or pipeline parallelism, a higher ZeRO stage or fewer micro-batches in flight "
                             f"shrink it",
                             parameter=("tp", "pp", "zero", "microbatches"))
    return layout
