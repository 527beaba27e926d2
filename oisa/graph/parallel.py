"""Transformer training steps as execution graphs: data, tensor, pipeline (1F1B) and expert
parallelism, and ZeRO, for any number of ranks.

Layout (Megatron-LM's rank order, tensor parallelism fastest, pipeline slowest: Narayanan et al.
2021, arXiv 2104.04473, section 3): rank r is tensor rank ``r % tp`` of data-parallel replica
``(r // tp) % dp`` of pipeline stage ``r // (tp * dp)``. With the fabric's accelerators in id
order, a tensor-parallel group is ``tp`` consecutive cards, inside one server or scale-up domain
when ``tp`` divides its size; data and pipeline parallelism cross them. Expert parallelism
splits each data-parallel group into groups of ``ep`` replicas that share out the experts.

A step, per rank (Megatron's 1F1B schedule, ibid. section 2.2.1, and its tensor parallelism,
Shoeybi et al. 2019, arXiv 1909.08053, section 3): stage s runs ``min(pp - s - 1, m)`` forward
micro-batches, then one forward and one backward in turn, then the remaining backwards; the
stages idle in the bubbles between. A micro-batch's forward through a layer is attention, an
all-reduce over the tensor group, the MLP (for a mixture of experts: an all-to-all dispatching
tokens to the experts' ranks, their compute, an all-to-all back), and another all-reduce; its
backward is the same in reverse at twice the FLOPs (Kaplan et al. 2020, arXiv 2001.08361, section
2.1). Activations go to the next stage (gradients to the previous) as sends and receives of
``b x s x h / tp`` bf16 values, each tensor rank to its counterpart. Gradients are reduced over the
data-parallel group layer by layer during the last micro-batch's backward (all-reduce; with ZeRO
1 or 2 a reduce-scatter, and an all-gather of the updated weights after the optimizer; with
ZeRO 3 the weights are also all-gathered before every layer's forward and backward and
gradients reduce-scattered every micro-batch: Rajbhandari et al. 2020, arXiv 1910.02054, sections
5.1-5.3). The optimizer streams each rank's state through its memory twice.

Compute nodes carry the model's FLOPs (Kaplan's forward count: 2 per active parameter and token,
plus 2 x n_ctx x d_attn per layer and token for attention), no recomputation, so the share of
peak a run reports is its model FLOPs utilisation. Memory: what a rank holds (its state as ZeRO
shards it, and the activations of the micro-batches in flight: :func:`held_bytes`) is checked
against its card before anything is built.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

from oisa.errors import UsageError
from oisa.graph.model import ExecutionGraph, Kind, Node, RankGraph

__all__ = ["MODELS", "Layout", "TransformerModel", "held_bytes", "layout_of", "training_graph"]

GRADIENT_BYTES = 2  # bf16 values: activations, gradients, weights on the wire (ZeRO, arXiv 1910.02054, section 3.1)
STATE_BYTES = 16  # per parameter: bf16 weights and gradients, fp32 master weights, momentum and variance (ibid.)
WEIGHT_BYTES = 2
OPTIMIZER_PASSES = 2  # the optimizer reads every byte of its state and writes it back: assumption (as training)


@dataclass(frozen=True)
class TransformerModel:
    """A decoder-only transformer as its paper gives it. ``ffn`` is the MLP's hidden size;
    ``gated`` MLPs (SwiGLU) have three matrices, plain ones two; ``experts`` > 1 makes every
    layer's MLP a mixture of that many experts of which ``top_k`` see each token."""

    name: str
    layers: int
    hidden: int
    heads: int
    kv_heads: int
    ffn: int
    vocab: int
    seq: int
    gated: bool
    source: str
    experts: int = 1
    top_k: int = 1

    @property
    def head_dim(self) -> int:
        return self.hidden // self.heads

    @property
    def attention_parameters(self) -> int:
        """Q and O projections of every head, K and V of the key-value heads (grouped-query attention)."""
        d_attn = self.heads * self.head_dim
        return 2 * self.hidden * d_attn + 2 * self.hidden * self.kv_heads * self.head_dim

    @property
    def expert_parameters(self) -> int:
        return (3 if self.gated else 2) * self.hidden * self.ffn

    @property
    def layer_parameters(self) -> int:
        """Every parameter of one layer (all experts); the router's are left out (under 0.1%)."""
        return self.attention_parameters + self.experts * self.expert_parameters

    @property
    def active_layer_parameters(self) -> int:
        """The parameters of one layer a token goes through."""
        return self.attention_parameters + self.top_k * self.expert_parameters

    @property
    def parameters(self) -> int:
        """All of them: the layers, the token embedding and the output layer (untied)."""
        return self.layers * self.layer_parameters + 2 * self.vocab * self.hidden

    def forward_flops_per_token(self, part: str) -> int:
        """Forward FLOPs per token of one layer's ``attention`` or ``mlp`` (the active experts),
        or of the ``head`` (the output layer), by Kaplan et al.'s count."""
        if part == "attention":
            return 2 * self.attention_parameters + 2 * self.seq * self.heads * self.head_dim
        if part == "mlp":
            return 2 * self.top_k * self.expert_parameters
        return 2 * self.vocab * self.hidden


MODELS: dict[str, TransformerModel] = {m.name: m for m in (
    TransformerModel("gpt3-175b", 96, 12288, 96, 96, 4 * 12288, 50257, 2048, False,
                     "GPT-3 175B (Brown et al. 2020, arXiv 2005.14165, table 2.1: 96 layers, d_model 12288, 96 heads "
                     "of 128, context 2048; FFN 4 x d_model and the GPT-2 vocabulary of 50,257, section 2.1)"),
    TransformerModel("llama3-70b", 80, 8192, 64, 8, 28672, 128000, 8192, True,
                     "Llama 3 70B (Llama team 2024, arXiv 2407.21783, table 3: 80 layers, model dimension 8192, "
                     "FFN 28672, 64 heads, 8 key/value heads, vocabulary 128,000; sequences of 8,192 tokens, "
                     "section 3.4)"),
    TransformerModel("llama3-405b", 126, 16384, 128, 8, 53248, 128000, 8192, True,
                     "Llama 3 405B (Llama team 2024, arXiv 2407.21783, table 3: 126 layers, model dimension 16384, "
                     "FFN 53248, 128 heads, 8 key/value heads, vocabulary 128,000; sequences of 8,192 tokens, "
                     "section 3.4)"),
    TransformerModel("mixtral-8x7b", 32, 4096, 32, 8, 14336, 32000, 4096, True,
                     "Mixtral 8x7B (Jiang et al. 2024, arXiv 2401.04088, table 1: dim 4096, 32 layers, 32 heads of "
                     "128, 8 key/value heads, hidden 14336, vocabulary 32,000, 8 experts, top 2); trained here on "
                     "sequences of 4,096 tokens: assumption (its context is 32,768)", experts=8, top_k=2),
)}


@dataclass(frozen=True)
class Layout:
    """How ranks split the work: ``tp`` x ``dp`` x ``pp`` ranks; ``ep`` data-parallel replicas
    share the experts; ``zero`` is the ZeRO stage (0-3); ``microbatches`` of ``batch`` sequences
    each per replica per step. ``layers_per_node``: how many consecutive layers one compute node
    and its collectives stand for (1: each layer its own; more: the same FLOPs and bytes in fewer,
    larger nodes, fewer per-call latencies and less for an engine to do at thousands of ranks)."""

    tp: int
    pp: int
    dp: int
    ep: int
    zero: int
    microbatches: int
    batch: int
    layers_per_node: int = 1

    @property
    def ranks(self) -> int:
        return self.tp * self.pp * self.dp

    def place(self, rank: int) -> tuple[int, int, int]:
        """(tensor rank, data-parallel replica, pipeline stage) of ``rank``."""
        return rank % self.tp, (rank // self.tp) % self.dp, rank // (self.tp * self.dp)

    def rank(self, tensor: int, replica: int, stage: int) -> int:
        return tensor + self.tp * (replica + self.dp * stage)

    def describe(self) -> str:
        return (f"tp {self.tp} x dp {self.dp} x pp {self.pp}" + (f", ep {self.ep}" if self.ep > 1 else "")
                + f", ZeRO {self.zero}, {self.microbatches} micro-batches of {self.batch}"
                + (f", {self.layers_per_node} layers per node" if self.layers_per_node > 1 else ""))


def layout_of(model: TransformerModel, ranks: int, *, tp: int, pp: int, ep: int = 1, zero: int = 0,
              microbatches: int | None = None, batch: int = 1, layers_per_node: int = 1) -> Layout:
    """The layout of ``ranks`` ranks, each figure checked (errors name the parameter)."""
    for name, value in (("tp", tp), ("pp", pp), ("ep", ep), ("batch", batch), ("layers_per_node", layers_per_node)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise UsageError("expected an integer, 1 or more", parameter=name, value=value)
    if ranks % (tp * pp):
        raise UsageError(f"{ranks} ranks do not split into tensor groups of {tp} times {pp} pipeline stages",
                         parameter="tp", value=tp)
    if pp > model.layers:
        raise UsageError(f"{model.name} has {model.layers} layers: at most that many stages", parameter="pp", value=pp)
    if model.heads % tp:
        raise UsageError(f"{model.name}'s {model.heads} heads do not split over {tp} tensor ranks", parameter="tp",
                         value=tp)
    dp = ranks // (tp * pp)
    if dp % ep or model.experts % ep or (ep > 1 and model.experts == 1):
        raise UsageError(f"expert groups of {ep} must divide the {dp} data-parallel replicas and {model.name}'s "
                         f"{model.experts} expert(s)", parameter="ep", value=ep)
    if isinstance(zero, bool) or zero not in (0, 1, 2, 3):
        raise UsageError("a ZeRO stage: 0, 1, 2 or 3", parameter="zero", value=zero)
    chosen = microbatches if microbatches is not None else 4 * pp  # Megatron's runs keep m >= 4p (ibid., 3.3.1)
    if isinstance(chosen, bool) or not isinstance(chosen, int) or chosen < 1:
        raise UsageError("expected an integer, 1 or more", parameter="microbatches", value=microbatches)
    return Layout(tp, pp, dp, ep, zero, chosen, batch, layers_per_node)


def stage_layers(model: TransformerModel, pp: int) -> list[int]:
    """Layers per stage, as even as they go (the first stages take one more)."""
    base, extra = divmod(model.layers, pp)
    return [base + (1 if stage < extra else 0) for stage in range(pp)]


def held_bytes(model: TransformerModel, layout: Layout, stage: int) -> int:
    """What a rank of ``stage`` holds: its parameters' state as ZeRO shards it, and the
    activations of the micro-batches 1F1B keeps in flight there: s b h (10 + 24/t) bytes per layer
    (Korthikanti et al. 2022, arXiv 2205.05198, section 5, tensor parallelism with the attention
    scores recomputed, as FlashAttention does: Dao et al. 2022, arXiv 2205.14135; the FLOPs of
    that recomputation, a few percent, are not counted)."""
    s, b, h, t = model.seq, layout.batch, model.hidden, layout.tp
    per_layer = s * b * h * (10 + 24 / t)
    in_flight = min(layout.pp - stage, layout.microbatches)
    state = _state_bytes(_stage_parameters(model, layout, stage), layout)
    return state + int(per_layer * stage_layers(model, layout.pp)[stage] * in_flight)


def _state_bytes(parameters: int, layout: Layout) -> int:
    """The state a rank holds for ``parameters``: all of it, or with ZeRO 1, 2, 3 the
    optimizer state, then the gradients too, then the weights too split over the replicas."""
    dp = layout.dp
    return {0: STATE_BYTES * parameters, 1: 4 * parameters + -(-12 * parameters // dp),
            2: WEIGHT_BYTES * parameters + -(-14 * parameters // dp),
            3: -(-STATE_BYTES * parameters // dp)}[layout.zero]


def _stage_parameters(model: TransformerModel, layout: Layout, stage: int) -> int:
    """The parameters one rank of ``stage`` keeps (before ZeRO): its tensor share of its layers'
    attention and of its expert group's share of the experts, and the embedding or output layer."""
    layers = stage_layers(model, layout.pp)[stage]
    experts = model.experts // layout.ep
    per_layer = (model.attention_parameters + experts * model.expert_parameters) // layout.tp
    ends = (stage == 0) + (stage == layout.pp - 1)
    return layers * per_layer + ends * model.vocab * model.hidden // layout.tp


def _chunks(layers: int, per_node: int) -> list[tuple[int, int]]:
    """(first layer, layers) of each node's share of a stage's ``layers``."""
    return [(first, min(per_node, layers - first)) for first in range(0, layers, per_node)]


def _layers(first: int, count: int) -> str:
    return f"layer {first}" if count == 1 else f"layers {first}-{first + count - 1}"


class _Groups:
    """Process groups by what they are, numbered as they are first asked for (the numbers are
    the names a Chakra trace carries, as ASTRA-sim's communicator groups are)."""

    def __init__(self, layout: Layout) -> None:
        self.layout = layout
        self.ranks: dict[str, tuple[int, ...]] = {}
        self.by_key: dict[tuple[str, int, int, int], str] = {}

    def of(self, what: str, rank: int) -> str:
        """The name of the ``tp``, ``dp`` or ``ep`` group ``rank`` is in."""
        layout = self.layout
        tensor, replica, stage = layout.place(rank)
        if what == "tp":
            key, members = ("tp", replica, stage, 0), [layout.rank(t, replica, stage) for t in range(layout.tp)]
        elif what == "dp":
            key, members = ("dp", tensor, stage, 0), [layout.rank(tensor, d, stage) for d in range(layout.dp)]
        else:
            first = replica - replica % layout.ep
            key = ("ep", tensor, stage, first)
            members = [layout.rank(tensor, first + e, stage) for e in range(layout.ep)]
        name = self.by_key.get(key)
        if name is None:
            name = self.by_key[key] = str(len(self.by_key) + 1)
            self.ranks[name] = tuple(members)
        return name


def _gradient_node(name: str, collective: str, size: int, group: str, node_id: int, deps: tuple[int, ...]) -> Node:
    """A data-parallel gradient collective, its fields bound now (it is built in a loop)."""
    return Node(node_id, name, Kind.COLLECTIVE, data_deps=deps, collective=collective, size=size, group=group)


class _RankBuilder:
    """One rank's nodes, numbered as added; ``stream`` is the last node of the rank's main
    stream (compute, tensor-parallel collectives, pipeline transfers, in order)."""

    def __init__(self) -> None:
        self.nodes: list[Node] = []
        self.stream: int | None = None
        self.gradients: int | None = None  # the last data-parallel collective: they run in order on their own stream

    def add(self, make: Callable[[int, tuple[int, ...]], Node], *extra: int | None, follow: bool = True) -> int:
        deps = tuple(d for d in ((self.stream,) if follow else ()) + extra if d is not None)
        node = make(len(self.nodes), tuple(dict.fromkeys(deps)))
        self.nodes.append(node)
        if follow:
            self.stream = node.id
        return node.id


def training_graph(model: TransformerModel, layout: Layout, *, name: str | None = None) -> ExecutionGraph:
    """One training step of ``model`` under ``layout``, as an execution graph of ``layout.ranks`` ranks."""
    groups = _Groups(layout)
    ranks = tuple(RankGraph(rank, tuple(_rank_nodes(model, layout, rank, groups))) for rank in range(layout.ranks))
    tokens = layout.dp * layout.microbatches * layout.batch * model.seq
    attributes = {"model": model.name, "model_source": model.source, "parameters": str(model.parameters),
                  "layout": layout.describe(), "tokens": str(tokens)}
    return ExecutionGraph(name or f"{model.name}-tp{layout.tp}-pp{layout.pp}-dp{layout.dp}", ranks, groups.ranks,
                          attributes)


def _rank_nodes(model: TransformerModel, layout: Layout, rank: int, groups: _Groups) -> list[Node]:
    tensor, replica, stage = layout.place(rank)
    chunks = _chunks(stage_layers(model, layout.pp)[stage], layout.layers_per_node)
    tokens = layout.batch * model.seq  # per micro-batch
    t = layout.tp
    activation = tokens * model.hidden * GRADIENT_BYTES  # one micro-batch's activations at a stage boundary
    attention = model.forward_flops_per_token("attention") * tokens // t
    mlp = model.forward_flops_per_token("mlp") * tokens // t
    head = model.forward_flops_per_token("head") * tokens // t if stage == layout.pp - 1 else 0
    layer_weights = (model.attention_parameters + model.experts // layout.ep * model.expert_parameters) // t
    tp_group = groups.of("tp", rank) if t > 1 else None
    dp_group = groups.of("dp", rank) if layout.dp > 1 else None
    ep_group = groups.of("ep", rank) if layout.ep > 1 else None
    previous = layout.rank(tensor, replica, stage - 1) if stage > 0 else None
    following = layout.rank(tensor, replica, stage + 1) if stage < layout.pp - 1 else None
    dispatch = tokens * model.top_k * model.hidden * GRADIENT_BYTES // t  # a micro-batch's tokens to the experts
    out = _RankBuilder()

    def compute(label: str, flops: int) -> None:
        out.add(lambda i, d: Node(i, label, Kind.COMPUTE, data_deps=d, flops=flops))

    def collective(label: str, kind: str, size: int, group: str | None) -> None:
        if group is not None:
            out.add(lambda i, d: Node(i, label, Kind.COLLECTIVE, data_deps=d, collective=kind, size=size, group=group))

    def gather_weights(label: str, count: int) -> None:
        if layout.zero == 3 and dp_group is not None:
            collective(f"{label} weights all-gather", "allgather", WEIGHT_BYTES * layer_weights * count, dp_group)

    def mlp_forward(label: str, factor: int, count: int) -> None:
        if ep_group is not None:
            collective(f"{label} dispatch", "alltoall", count * dispatch, ep_group)
            compute(f"{label} experts", factor * count * mlp)
            collective(f"{label} combine", "alltoall", count * dispatch, ep_group)
        else:
            compute(f"{label} mlp", factor * count * mlp)

    def forward(micro: int) -> None:
        if previous is not None:
            out.add(lambda i, d: Node(i, f"recv activations {micro}", Kind.RECV, data_deps=d, peer=previous,
                                      size=activation // t, tag=micro))
        for first, count in chunks:
            label = f"mb {micro} {_layers(first, count)} fwd"
            gather_weights(label, count)
            compute(f"{label} attention", count * attention)
            collective(f"{label} attention all-reduce", "allreduce", count * activation, tp_group)
            mlp_forward(label, 1, count)
            collective(f"{label} mlp all-reduce", "allreduce", count * activation, tp_group)
        if head:
            compute(f"mb {micro} output layer fwd", head)
        if following is not None:
            out.add(lambda i, d: Node(i, f"send activations {micro}", Kind.SEND, data_deps=d, peer=following,
                                      size=activation // t, tag=micro))

    def backward(micro: int) -> None:
        if following is not None:
            out.add(lambda i, d: Node(i, f"recv gradients {micro}", Kind.RECV, data_deps=d, peer=following,
                                      size=activation // t, tag=micro))
        if head:
            compute(f"mb {micro} output layer bwd", 2 * head)
        last = micro == layout.microbatches - 1
        for first, count in reversed(chunks):
            label = f"mb {micro} {_layers(first, count)} bwd"
            gather_weights(label, count)
            mlp_forward(label, 2, count)
            collective(f"{label} mlp all-reduce", "allreduce", count * activation, tp_group)
            compute(f"{label} attention", 2 * count * attention)
            collective(f"{label} attention all-reduce", "allreduce", count * activation, tp_group)
            if dp_group is not None and (last or layout.zero == 3):
                kind = "allreduce" if layout.zero == 0 else "reducescatter"
                size = GRADIENT_BYTES * layer_weights * count
                out.gradients = out.add(functools.partial(_gradient_node, f"{label} gradient {kind}", kind, size,
                                                          dp_group), out.stream, out.gradients, follow=False)
        if previous is not None:
            out.add(lambda i, d: Node(i, f"send gradients {micro}", Kind.SEND, data_deps=d, peer=previous,
                                      size=activation // t, tag=micro))

    warmup = min(layout.pp - stage - 1, layout.microbatches)
    for micro in range(warmup):
        forward(micro)
    for index in range(layout.microbatches - warmup):
        forward(warmup + index)
        backward(index)
    for micro in range(layout.microbatches - warmup, layout.microbatches):
        backward(micro)
    parameters = _stage_parameters(model, layout, stage)
    state = _state_bytes(parameters, layout)
    out.add(lambda i, d: Node(i, "optimizer", Kind.LOAD, data_deps=d, memory_bytes=OPTIMIZER_PASSES * state),
            out.gradients)
    if layout.zero in (1, 2) and dp_group is not None:
        collective("updated weights all-gather", "allgather", WEIGHT_BYTES * parameters, dp_group)
    return out.nodes
