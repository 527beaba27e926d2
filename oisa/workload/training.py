"""A data-parallel training step: compute from the cards' rates, gradient all-reduce overlapped
with the backward pass, and what happens when a card's memory is too small.

Every card holds the whole model and trains on its own tokens; with ``balance`` (the default)
a card's share of the step's tokens follows its compute rate, so that cards of different
vendors finish their backward passes together instead of all waiting for the slowest (as
heterogeneity-aware data parallelism does). A step is the forward pass, the
backward pass cut into gradient buckets, each all-reduced as soon as every card has computed it
while the next is computed (as PyTorch DDP does), by the collective library the cards run
(:mod:`oisa.ccl`: its tuner picks the algorithm, protocol and channels), then the optimizer. Compute takes the FLOPs of
:data:`FLOPS_PER_PARAMETER_TOKEN` at the card's rate for ``dtype`` times an efficiency
(:data:`COMPUTE_EFFICIENCY`); the optimizer streams the model's state through memory. A card
whose memory cannot hold the state (:data:`STATE_BYTES_PER_PARAMETER`) spills the rest: each
step it reads the spilled part in and writes it back, over PCIe from its server's host in a
switched deployment, or from peers with memory to spare (or a memory pool) over the fabric in
a supernode. With ``shard`` the cards split the gradients and optimizer state between them
(ZeRO stage 2: each keeps its bf16 weights and 1/N of the rest), which moves the same bytes
as the all-reduce (a reduce-scatter, then an all-gather of the updated weights) but lets N
cards hold a model none could hold alone. The whole step is one plan
(:class:`~oisa.plan.Plan`) of compute, one collective per bucket, memory streams and spill
transfers, timed in the emulation: on the flow engine unless the run asks for timing mode (or
records frames): the flow engine takes seconds where timing mode takes minutes, and the two agree
within 4% on the supernode's steps, less closely where NICs carry traffic both ways
(``benchmarks/engines.py`` and the README say how far); no bytes move in either.

Scaling efficiency compares the step with one card that holds everything and talks to no
one: the cards' tokens per second against the sum of what each would do alone on its share. The share of peak is the
useful FLOPs of a step over what the cards' peak rates could do in the step's time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from oisa.ccl import ALGORITHMS, Call, Topology
from oisa.device.profile import DeviceProfile
from oisa.errors import UsageError
from oisa.fabric import FabricSpec
from oisa.plan import Compute, Plan, PlanBuilder, Read, Send, Stream
from oisa.units import S, serialisation_ps
from oisa.workload.collectives import collective_ranks, plan_call
from oisa.workload.registry import CARDS, CHOICE, COUNT, FLAG, FRACTION, TEXT, Option, workload
from oisa.workload.run import Run

__all__ = ["COMPUTE_EFFICIENCY", "FLOPS_PER_PARAMETER_TOKEN", "MODELS", "STATE_BYTES_PER_PARAMETER", "Model",
           "TrainingResult", "run_training"]

FLOPS_PER_PARAMETER_TOKEN = 6  # forward 2, backward 4: C = 6ND (Kaplan et al. 2020, arXiv 2001.08361, section 2.1)
GRADIENT_BYTES = 2  # bf16 gradients, all-reduced (Rajbhandari et al. 2020, ZeRO, arXiv 1910.02054, section 3.1)
STATE_BYTES_PER_PARAMETER = 16  # bf16 weights and gradients, fp32 master weights, momentum, variance (ZeRO, 3.1)
WEIGHT_BYTES = 2  # bf16 weights, which every card keeps whole even when the rest is sharded (ZeRO stage 2, 5.2)
# The most tokens a card may train on in one step: 16.8 million, four times the largest global
# batch PaLM 540B trained with across 6,144 chips (2,048 sequences of 2,048 tokens, Chowdhery et
# al. 2022, section 5); beyond it a step's FLOP counts would overflow 64-bit integers for nothing.
MAX_TOKENS = 1 << 24

# The share of peak the compute kernels reach: PaLM 540B's model FLOPs utilisation (Chowdhery et
# al. 2022, arXiv 2204.02311, table 3). That figure includes PaLM's own communication, so for
# compute alone it is a floor: an assumption on the cautious side.
COMPUTE_EFFICIENCY = 0.462
OPTIMIZER_PASSES = 2  # the optimizer reads the state and writes it back: assumption (Adam touches each state once)
_SPILL_AT = 1 << 40  # where spilled state lives in its donor (timing mode: addresses only name ranges)
_SPILL_STRIPES = 8  # donors a card's spill is spread over, at most: assumption, as striping over planes


@dataclass(frozen=True)
class Model:
    name: str
    parameters: int
    source: str


MODELS: dict[str, Model] = {m.name: m for m in (
    Model("llama-7b", 6_738_415_616, "LLaMA 7B (Touvron et al. 2023, arXiv 2302.13971, table 2)"),
    Model("llama-13b", 13_015_864_320, "LLaMA 13B (Touvron et al. 2023, arXiv 2302.13971, table 2)"),
    Model("llama-70b", 68_976_648_192, "Llama 2 70B (Touvron et al. 2023, arXiv 2307.09288, table 1)"),
    Model("gpt2-xl", 1_557_611_200, "GPT-2 XL, 1.5B (Radford et al. 2019, table 2)"),
)}


@dataclass(frozen=True)
class TrainingResult:
    fabric: str
    seed: int
    mode: str  # the engine that timed the step: timing or flow
    model: str
    parameters: int
    tokens: dict[int, int]  # per rank: the tokens it trains on in the step
    dtype: str
    compute_efficiency: float  # the share of peak the compute kernels reach
    ranks: tuple[int, ...]
    algorithm: str  # the gradient all-reduce's, as the library chose it ("none" for one card)
    protocol: str  # its protocol ("none" for one card)
    channels: int  # its channels (0 for one card)
    buckets: int
    shard: bool
    held_bytes: int  # state each card holds, spilled part included
    step_ps: int  # until the last card has finished its optimizer
    compute_ps: int  # forward and backward of the slowest card
    optimizer_ps: int  # optimizer of the slowest card, spill included
    spill_bytes: int  # the most any card spills
    spill_to: str  # "host", "peers" or "none"
    exposed_comm_ps: int  # what the step spends beyond compute and optimizer: communication not hidden
    alone_ps: dict[int, int]  # per rank: a step of that card alone, holding everything
    useful_flops: int
    peak_flops_per_s: int  # the cards' peak rates for dtype, summed
    frames: int
    wire_bytes: int
    end_ps: int
    roce: dict[str, int] | None = None  # PFC, ECN and DCQCN counters (None: no RoCE in the fabric)

    @property
    def verified(self) -> None:
        """Nothing to verify: a training step runs in timing or flow mode, no bytes move."""
        return None

    @property
    def tokens_per_s(self) -> float:
        return sum(self.tokens.values()) * S / self.step_ps

    @property
    def scaling_efficiency(self) -> float:
        """Tokens per second of all cards over what each would do alone, summed."""
        return self.tokens_per_s / sum(self.tokens[r] * S / t for r, t in self.alone_ps.items())

    @property
    def peak_share(self) -> float:
        """Useful FLOPs per second over the cards' summed peak rate."""
        return self.useful_flops * S / self.step_ps / self.peak_flops_per_s


@workload("training", summary="one data-parallel training step: compute at the cards' rates, the gradient "
          "all-reduce in buckets overlapped with the backward pass, the optimizer, and spilling what a card cannot "
          "hold", result=TrainingResult, engines=("timing", "flow"), options=(
              Option("model", CHOICE, "the model each card holds (its sources: specs/cli-json.md)",
                     choices=tuple(MODELS)),
              Option("tokens", COUNT, "tokens per card per step, on average (cards get shares by compute rate)",
                     minimum=1, maximum=MAX_TOKENS),
              Option("cards", CARDS, "the cards that train (default: every accelerator, by id)"),
              Option("algorithm", CHOICE, "the gradient all-reduce's algorithm (auto: the collective library's tuner "
                                          "picks)", choices=(*ALGORITHMS, "auto"), short="a"),
              Option("buckets", COUNT, "gradient buckets, each all-reduced while the next is computed", minimum=1),
              Option("spill", CHOICE, "where state a card cannot hold goes: its server's host over PCIe, or peers' "
                                      "and pools' memory over the fabric (auto: host where the fabric has hosts)",
                     choices=("auto", "host", "peers")),
              Option("shard", FLAG, "split gradients and optimizer state over the cards (ZeRO stage 2)"),
              Option("balance", FLAG, "give cards tokens in proportion to their compute rates"),
              Option("compute_efficiency", FRACTION, "the share of a card's peak rate its kernels reach (default: "
                                                     "PaLM 540B's MFU, see COMPUTE_EFFICIENCY)"),
              Option("precision", TEXT, "the compute rate used, by the names in the device profiles (bf16, fp8, ...)"),
              Option("calibration", TEXT, "a calibration of the collective library (what oisa calibrate writes), "
                                          "applied to its profile"),
          ))
def run_training(spec: FabricSpec, run: Run = Run(), *, model: str = "llama-7b", tokens: int = 4096,
                 cards: Sequence[int] | None = None, algorithm: str = "auto", buckets: int = 4, spill: str = "auto",
                 shard: bool = False, balance: bool = True, precision: str = "bf16",
                 compute_efficiency: float = COMPUTE_EFFICIENCY, calibration: str | None = None) -> TrainingResult:
    """One data-parallel step of ``model`` on ``tokens`` tokens per card on average.

    ``spill`` says where cards put the state they cannot hold: ``host`` (their server's host,
    over PCIe), ``peers`` (accelerators with memory to spare, training or idle, then memory
    devices, over the fabric) or ``auto`` (host where the fabric has hosts, peers otherwise).
    """
    dtype = precision
    ranks = collective_ranks(spec, cards, least=1)  # one card trains alone: no all-reduce
    rates = {}
    for rank in ranks:
        device = spec.card(rank).device
        if dtype not in device.compute:
            raise UsageError(f"{spec.card(rank).name} ({device.name}) has no such rate (it has: "
                             f"{', '.join(sorted(device.compute))})", parameter="precision", value=dtype)
        rates[rank] = int(device.compute[dtype].value)
    if spill == "auto":
        spill = "host" if any(c.device.role == "host" for c in spec.cards) else "peers"
    run = run.settled("flow" if run.observer is None else "timing", allowed=("timing", "flow"), workload="training",
                      spec=spec)
    held = _state_bytes(MODELS[model], len(ranks), shard)
    shares = _balanced(spec, MODELS[model], tokens * len(ranks), rates, held, compute_efficiency) if balance else \
        {rank: tokens for rank in ranks}
    step = _StepPlan(MODELS[model], shares, dtype, ranks, buckets, shard, held,
                     _spills(spec, held, ranks, spill, model), compute_efficiency)
    plan, marks, chosen = _step_plan(spec, step, algorithm, calibration)
    outcome = run.executor.run_plan(spec, run, plan)
    times = outcome.execution
    compute = {rank: times.finished_of(marks.backward[rank]) - times.start_ps for rank in ranks}
    optimizer = {rank: max(times.finished_of(op) for op in marks.optimizer_end[rank])
                 - times.started_of(marks.optimizer_start[rank]) for rank in ranks}
    step_ps = times.duration_ps
    spill_bytes = max((sum(b for _, b in spills) for spills in step.spills.values()), default=0)
    return TrainingResult(
        fabric=spec.name, seed=run.seed, mode=run.engine, model=step.model.name, parameters=step.model.parameters,
        tokens=step.tokens, dtype=dtype, compute_efficiency=compute_efficiency, ranks=ranks, algorithm=chosen[0],
        protocol=chosen[1], channels=chosen[2], buckets=buckets,
        shard=shard, held_bytes=held, step_ps=step_ps, compute_ps=max(compute.values()),
        optimizer_ps=max(optimizer.values()), spill_bytes=spill_bytes, spill_to=_where(spec, step),
        exposed_comm_ps=step_ps - max(compute[r] + optimizer[r] for r in ranks),
        alone_ps={rank: _alone_ps(spec.card(rank).device, step, rank) for rank in ranks},
        useful_flops=FLOPS_PER_PARAMETER_TOKEN * step.model.parameters * sum(step.tokens.values()),
        peak_flops_per_s=sum(rates.values()), frames=outcome.frames, wire_bytes=outcome.wire_bytes,
        end_ps=times.end_ps, roce=outcome.roce)


@dataclass(frozen=True)
class _StepPlan:
    model: Model
    tokens: dict[int, int]  # rank -> its tokens
    dtype: str
    ranks: tuple[int, ...]
    buckets: int
    shard: bool
    held: int  # state bytes each card must hold
    spills: dict[int, list[tuple[int, int]]]  # rank -> [(donor card, bytes)]
    efficiency: float  # the share of peak the compute kernels reach


@dataclass(frozen=True)
class _Marks:
    """Where, in the step's plan, each rank's compute ends and its optimizer starts and ends."""

    backward: dict[int, int]
    optimizer_start: dict[int, int]
    optimizer_end: dict[int, tuple[int, ...]]


def _step_plan(spec: FabricSpec, step: _StepPlan, algorithm: str,
               calibration: str | None) -> tuple[Plan, _Marks, tuple[str, str, int]]:
    """The step as one plan: every rank's forward and backward compute, bucket by bucket; a
    gradient all-reduce per bucket once every rank has computed it; then every rank's optimizer
    over what it holds and over what it spilled (read in, updated, written back)."""
    builder = PlanBuilder()
    backward: dict[int, list[int]] = {}
    for rank in step.ranks:
        flops = FLOPS_PER_PARAMETER_TOKEN * step.model.parameters * step.tokens[rank]
        done = builder.add(Compute(rank, flops / 3 / step.efficiency, step.dtype))
        backward[rank] = []
        for _ in range(step.buckets):
            done = builder.add(Compute(rank, flops * 2 / 3 / step.buckets / step.efficiency, step.dtype,
                                       deps=(done,)))
            backward[rank].append(done)
    reduced: list[int] = []
    chosen = ("none", "none", 0)
    if len(step.ranks) > 1:
        count = step.model.parameters * GRADIENT_BYTES // 2 // step.buckets  # float16-sized elements per bucket
        topology, base = Topology(spec, step.ranks), 0
        for bucket in range(step.buckets):
            call = Call("allreduce", step.ranks, count, "float16", "sum", base=base, group=bucket + 1)
            planned = plan_call(spec, call, algorithm=algorithm, calibration=calibration, topology=topology)
            base = planned.end
            decision = planned.decision
            chosen = (decision.algorithm, decision.protocol, decision.channels)
            ready = tuple(backward[r][bucket] for r in step.ranks)
            reduced.append(builder.add(replace(planned.collective, deps=ready)))
    starts, ends = {}, {}
    for rank in step.ranks:
        spills = step.spills[rank]
        resident = step.held - sum(size for _, size in spills)
        starts[rank] = done = builder.add(Stream(rank, OPTIMIZER_PASSES * resident,
                                                 deps=(backward[rank][-1], *reduced)))
        reads = tuple(builder.add(Read(rank, donor, size, _SPILL_AT, _SPILL_AT, deps=(done,)))
                      for donor, size in spills)
        if spills:
            done = builder.add(Stream(rank, OPTIMIZER_PASSES * sum(size for _, size in spills), deps=reads))
            ends[rank] = tuple(builder.add(Send(rank, donor, size, _SPILL_AT, _SPILL_AT, deps=(done,), confirmed=True))
                               for donor, size in spills)
        else:
            ends[rank] = (done,)
    return builder.build(), _Marks({r: backward[r][-1] for r in step.ranks}, starts, ends), chosen


def _balanced(spec: FabricSpec, model: Model, total: int, rates: dict[int, int], held: int,
              efficiency: float) -> dict[int, int]:
    """Share ``total`` tokens so that every card's compute and optimizer end together, from the
    rates alone (what spilling costs is not known before the run): card r gets
    (T - optimizer_r) x rate_r x efficiency / (6 x parameters) tokens, T chosen to use them all."""
    per_token = FLOPS_PER_PARAMETER_TOKEN * model.parameters / efficiency  # FLOPs at full rate
    optimizer = {r: OPTIMIZER_PASSES * held * 8 / int(spec.card(r).device.memory_bandwidth.value) for r in rates}
    end = (total * per_token + sum(optimizer[r] * rates[r] for r in rates)) / sum(rates.values())
    return {r: max(1, round((end - optimizer[r]) * rates[r] / per_token)) for r in rates}


def _state_bytes(model: Model, cards: int = 1, shard: bool = False) -> int:
    """What one of ``cards`` cards holds: everything, or with ``shard`` its weights and its
    share of the rest."""
    if not shard:
        return model.parameters * STATE_BYTES_PER_PARAMETER
    return model.parameters * WEIGHT_BYTES + -(-model.parameters * (STATE_BYTES_PER_PARAMETER - WEIGHT_BYTES) // cards)


def _spills(spec: FabricSpec, need: int, ranks: tuple[int, ...], policy: str,
            model_name: str) -> dict[int, list[tuple[int, int]]]:
    """Where each card puts what it cannot hold of the ``need`` bytes: [(donor, bytes)], empty
    if it fits."""
    short = {r: need - spec.card(r).device.capacity for r in ranks if need > spec.card(r).device.capacity}
    spills: dict[int, list[tuple[int, int]]] = {r: [] for r in ranks}
    if not short:
        return spills
    if policy == "host":
        hosts = {c.server: c for c in spec.cards if c.device.role == "host"}
        for rank, missing in short.items():
            host = hosts.get(spec.card(rank).server)
            if host is None:
                raise UsageError(f"{spec.card(rank).name} must spill {missing} B and its server has no host",
                                 parameter="spill", value="host", remedy=("spill", "peers"))
            spills[rank].append((host.id, missing))
        return spills
    # Peers first (each has its own links): cards that train and have room to spare, and
    # accelerators that do not train, whose whole memory is free; memory pools only when peers
    # are full. Every card stripes what it spills over several donors, so that its reads take
    # several paths.
    spare = {c.id: c.device.capacity - (need if c.id in ranks else 0) for c in spec.cards
             if c.device.role != "host" and (c.id not in ranks or need < c.device.capacity)}
    pools = {c.id for c in spec.cards if c.device.role == "memory"}
    for rank, missing in short.items():
        stripe = -(-missing // _SPILL_STRIPES)
        while missing > 0:
            donor = max(spare, key=lambda card: (card not in pools, spare[card], -card), default=None)
            if donor is None or spare[donor] <= 0:
                raise UsageError(f"the cards' and pools' spare memory cannot hold what {spec.card(rank).name} must "
                                 f"spill ({missing} B more); sharding splits the state over the cards",
                                 parameter="model", value=model_name, remedy=("shard", True))
            taken = min(missing, spare[donor], stripe)
            spills[rank].append((donor, taken))
            spare[donor] -= taken
            missing -= taken
    return spills


def _alone_ps(device: DeviceProfile, step: _StepPlan, rank: int) -> int:
    """A step of the card of ``rank`` alone, holding everything: compute and the optimizer, from its rates."""
    rate = int(device.compute[step.dtype].value)
    flops = FLOPS_PER_PARAMETER_TOKEN * step.model.parameters * step.tokens[rank] / step.efficiency
    memory_bps = int(device.memory_bandwidth.value)
    return int(flops * S / rate) + serialisation_ps(OPTIMIZER_PASSES * _state_bytes(step.model), memory_bps)


def _where(spec: FabricSpec, plan: _StepPlan) -> str:
    donors = {donor for spills in plan.spills.values() for donor, _ in spills}
    if not donors:
        return "none"
    return "host" if all(spec.card(d).device.role == "host" for d in donors) else "peers"
