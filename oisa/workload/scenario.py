"""The article scenario: the published OISA claims beside what our model of them gives.

Three claims come with OISA's announcement, none with a method (the team's protocol facts,
section 1.1, mark them unverified): two cards in different servers lose 20% or more of their
efficiency in a switched deployment; two cards linked directly over OISA give 240% of one card;
a conventional 10k-card cluster reaches only 60-70% of its compute. Each is restated here as a
training step (:mod:`oisa.workload.training`) on the catalog fabrics, so every figure comes
from the emulation:

(a) efficiency of a two-card step on ``switched-64`` with both cards in one server, against
    one card in each of two servers (the same card model); the loss is one minus their ratio;
    and, where forwarding latency weighs most, the bus bandwidth of a 1 MiB all-reduce between
    the same two pairs;
(b) tokens per second of two cards over the one OISA link of ``pair`` against one card alone,
    once for a model both hold and once for one that a single card cannot hold (it spills to
    its neighbour's memory; two cards shard it, ZeRO stage 2);
(c) the share of peak compute (model FLOPs utilisation, what the claim is about) of the largest
    step on ``switched-64``, and its scaling efficiency and share of peak as the card count grows
    on ``supernode-64`` and ``switched-64``, the cabinet filled server by server.

Every verdict comes with its sensitivity: the finding recomputed with tokens per card, the
kernels' compute efficiency and the model changed one at a time, so a reader sees whether it
holds over the plausible range or sits on a knife-edge.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, replace

from oisa.errors import NO_VALUE, UsageError
from oisa.fabric import FabricSpec, load_fabric
from oisa.workload.collectives import run_collective
from oisa.workload.run import Run
from oisa.workload.training import COMPUTE_EFFICIENCY, MAX_TOKENS, MODELS, TrainingResult, run_training

__all__ = ["CLAIMS", "ArticleResult", "Claim", "Finding", "ScalingRow", "Variation", "article_steps", "run_article",
           "scaling_counts"]

SWITCHED, SUPERNODE, DIRECT = "switched-64", "supernode-64", "pair"
_SMALL_ALLREDUCE = 1 << 20  # bytes: small enough that latency, not bandwidth, sets the time


@dataclass(frozen=True)
class Claim:
    """A published figure and the range we read it as (``high`` None: "or more")."""

    key: str
    text: str
    low: float
    high: float | None
    source: str

    def verdict(self, figure: float) -> str:
        if figure < self.low:
            return "disagrees: ours is lower"
        if self.high is not None and figure > self.high:
            return "disagrees: ours is higher"
        return "agrees"


_ANNOUNCEMENT = ("China Mobile's OISA announcement as quoted in the project brief; not found in any source reached "
                 "(../shared/reference/protocol-facts.md, section 1.1: unverified)")
CLAIMS: dict[str, Claim] = {c.key: c for c in (
    Claim("a", "two cards in different servers lose 20%+ efficiency", 0.20, None, _ANNOUNCEMENT),
    # "240%" read as 2.2x to 2.6x: the announcement gives no precision
    Claim("b", "two directly linked cards give 240% of one card", 2.2, 2.6, _ANNOUNCEMENT),
    Claim("c", "a conventional 10k-card cluster reaches only 60-70% of its compute", 0.60, 0.70,
          _ANNOUNCEMENT + "; for context, Moore Threads reports MFU 60% for dense models on its 10k-card KUAE "
          "cluster (https://reportify.ai/news/1199777153437274112)"),
)}


@dataclass(frozen=True)
class Variation:
    """A finding recomputed with one input changed: ``figure`` None when the step cannot run
    with it (``reason`` says why, as the workload refused it)."""

    parameter: str  # "tokens", "compute_efficiency" or "model"
    value: int | float | str
    figure: float | None
    verdict: str


@dataclass(frozen=True)
class Finding:
    """One of our figures set against a claim, with how it was obtained, and how the verdict
    moves when tokens per card, the kernels' compute efficiency or the model change."""

    claim: Claim
    label: str
    figure: float
    detail: str
    sensitivity: tuple[Variation, ...] = ()

    @property
    def verdict(self) -> str:
        return self.claim.verdict(self.figure)


@dataclass(frozen=True)
class ScalingRow:
    fabric: str
    cards: int
    step_ps: int
    scaling_efficiency: float
    peak_share: float


@dataclass(frozen=True)
class ArticleResult:
    model: str
    big_model: str
    tokens: int  # per card per step, on average
    compute_efficiency: float
    seed: int
    findings: list[Finding]
    scaling: list[ScalingRow]


def scaling_counts(spec: FabricSpec, max_cards: int | None = None) -> list[int]:
    """2, 4, 8, ... up to the fabric's accelerators (or ``max_cards``), the largest always included."""
    top = len(_accelerators(spec)) if max_cards is None else min(max_cards, len(_accelerators(spec)))
    counts, n = [], 2
    while n < top:
        counts.append(n)
        n *= 2
    return [*counts, top] if top >= 2 else counts


def _check_max_cards(max_cards: object) -> None:
    if max_cards is not None and (isinstance(max_cards, bool) or not isinstance(max_cards, int) or max_cards < 2):
        raise UsageError("expected a whole number of cards, 2 or more (or None: every accelerator)",
                         parameter="max_cards", value=max_cards)


def _check_article(run: object, model: object, big_model: object, tokens: object, compute_efficiency: object,
                   max_cards: object, progress: object) -> None:
    """Refuse, naming the keyword, what :func:`run_article` cannot take, before any step runs."""
    if not isinstance(run, Run):
        raise UsageError(f"expected a Run, not {type(run).__name__}", parameter="run")
    for name, value in (("model", model), ("big_model", big_model)):
        if not isinstance(value, str) or value not in MODELS:
            raise UsageError(f"expected one of {', '.join(MODELS)}", parameter=name,
                             value=value if isinstance(value, (str, int, float)) else NO_VALUE)
    _check_inputs(tokens, compute_efficiency)
    _check_max_cards(max_cards)
    if progress is not None and not callable(progress):
        raise UsageError("expected a function taking one line of text, or None", parameter="progress")


def _check_inputs(tokens: object, compute_efficiency: object) -> None:
    if isinstance(tokens, bool) or not isinstance(tokens, int) or not 1 <= tokens <= MAX_TOKENS:
        raise UsageError(f"expected a whole number of tokens from 1 to {MAX_TOKENS:,}", parameter="tokens",
                         value=tokens if isinstance(tokens, (int, float, str)) else NO_VALUE)
    if (isinstance(compute_efficiency, bool) or not isinstance(compute_efficiency, (int, float))
            or not 0 < compute_efficiency <= 1):
        raise UsageError("expected a fraction above 0 and at most 1", parameter="compute_efficiency",
                         value=compute_efficiency if isinstance(compute_efficiency, (int, float, str)) else NO_VALUE)


@dataclass(frozen=True)
class _Inputs:
    """What the training steps behind a finding depend on, and what its sensitivity varies."""

    model: str
    tokens: int
    compute_efficiency: float


# How far each input is moved to show a verdict's sensitivity: tokens per card from a quarter to
# four times, the kernels' share of peak from half to one and a half times (PaLM's 46.2% spans
# what published large runs reach, 38-55%: the README's sources), and every other model.
TOKEN_FACTORS = (0.25, 0.5, 2.0, 4.0)
EFFICIENCY_FACTORS = (0.5, 1.5)


def _variations(base: _Inputs) -> list[tuple[str, int | float | str, _Inputs]]:
    """(parameter, value, inputs) for each variation of ``base`` a sensitivity runs."""
    out: list[tuple[str, int | float | str, _Inputs]] = []
    for factor in TOKEN_FACTORS:
        tokens = round(base.tokens * factor)
        if 1 <= tokens <= MAX_TOKENS and tokens != base.tokens:
            out.append(("tokens", tokens, replace(base, tokens=tokens)))
    for factor in EFFICIENCY_FACTORS:
        efficiency = round(base.compute_efficiency * factor, 4)
        if 0 < efficiency <= 1:
            out.append(("compute_efficiency", efficiency, replace(base, compute_efficiency=efficiency)))
    out.extend(("model", name, replace(base, model=name)) for name in MODELS if name != base.model)
    return out


def article_steps(max_cards: int | None = None, *, tokens: int = 4096, compute_efficiency: float = COMPUTE_EFFICIENCY,
                  sensitivity: bool = True) -> int:
    """How many training steps :func:`run_article` runs with these arguments (for a progress bar)."""
    _check_max_cards(max_cards)
    _check_inputs(tokens, compute_efficiency)
    scaling = sum(len(scaling_counts(load_fabric(name), max_cards)) for name in (SUPERNODE, SWITCHED))
    varied = len(_variations(_Inputs("gpt2-xl", tokens, compute_efficiency))) if sensitivity else 0
    return _FIXED_STEPS + scaling + varied * _VARIED_FINDINGS


_FIXED_STEPS = 6  # (a): two; (b): two models, one card and two
_VARIED_FINDINGS = 4  # (a)'s training, (b)'s two, (c): each variation of each is one tick of progress


class _Progress:
    """Tells ``progress`` of each step of a finding's own figure, and of each variation once it
    is done (a variation that cannot run stops at its first step, so steps would not add up)."""

    def __init__(self, progress: Callable[[str], None] | None) -> None:
        self.progress, self.muted = progress, False

    def tell(self, text: str) -> None:
        if self.progress is not None and not self.muted:
            self.progress(text)


def run_article(run: Run = Run(), *, model: str = "gpt2-xl", big_model: str = "llama-7b", tokens: int = 4096,
                compute_efficiency: float = COMPUTE_EFFICIENCY, max_cards: int | None = None, sensitivity: bool = True,
                progress: Callable[[str], None] | None = None) -> ArticleResult:
    """Run the three parts; ``progress`` hears of each training step once it is done. With
    ``sensitivity`` every finding that rests on training steps is recomputed with each input of
    :func:`_variations` changed, one at a time.

    ``run.seed`` picks among equal paths where a fabric hashes flows over several; on the three
    fabrics here no step's traffic has such a choice, so every seed gives the same figures (a
    test holds it so) and the output says the seed only to name the run."""
    _check_article(run, model, big_model, tokens, compute_efficiency, max_cards, progress)
    if not isinstance(sensitivity, bool):
        raise UsageError("expected True or False", parameter="sensitivity", value=sensitivity)
    switched, supernode, direct = (load_fabric(name) for name in (SWITCHED, SUPERNODE, DIRECT))
    counts = {spec.name: scaling_counts(spec, max_cards) for spec in (supernode, switched)}
    base = _Inputs(model, tokens, compute_efficiency)
    told = _Progress(progress)

    def step(spec: FabricSpec, cards: list[int], inputs: _Inputs, *, shard: bool = False) -> TrainingResult:
        result = run_training(spec, run, model=inputs.model, tokens=inputs.tokens, cards=cards, shard=shard,
                              compute_efficiency=inputs.compute_efficiency)
        told.tell(f"{inputs.model}, {len(cards)} cards of {spec.name}")
        return result

    def finding(claim: Claim, label: str, measure: Callable[[_Inputs], tuple[float, str]], inputs: _Inputs) -> Finding:
        figure, detail = measure(inputs)
        varied = []
        for parameter, value, changed in _variations(inputs) if sensitivity else ():
            told.muted = True
            try:
                varied.append(_vary(claim, measure, parameter, value, changed))
            finally:
                told.muted = False
            told.tell(f"({claim.key}) with {parameter} {value}")
        return Finding(claim, label, figure, detail, tuple(varied))

    across = _AcrossServers(switched, step)
    findings = [finding(CLAIMS["a"], f"training efficiency lost across servers on {switched.name}", across.training,
                        base),
                across.all_reduce(run)]
    pair = _DirectPair(direct, step)
    findings += [finding(CLAIMS["b"], f"two linked cards against one, {name}",
                         functools.partial(pair.ratio, shard=shard), replace(base, model=name))
                 for name, shard in ((model, False), (big_model, True))]
    scaling = [ScalingRow(spec.name, n, r.step_ps, r.scaling_efficiency, r.peak_share)
               for spec in (supernode, switched) for n in counts[spec.name]
               for r in [step(spec, _accelerators(spec)[:n], base)]]
    conventional, beside = _most_cards(scaling, SWITCHED), _most_cards(scaling, SUPERNODE)

    def share_of_peak(inputs: _Inputs) -> tuple[float, str]:
        row = conventional if inputs == base else _row(switched, conventional.cards, step(
            switched, _accelerators(switched)[:conventional.cards], inputs))
        return row.peak_share, (
            f"{inputs.model}: useful FLOPs against the cards' peak rate (MFU) at the largest count, with scaling "
            f"efficiency {row.scaling_efficiency:.1%}; the kernels reach {inputs.compute_efficiency:.1%} of peak, so "
            f"no step can exceed that; {SUPERNODE} reaches {beside.peak_share:.1%} (scaling efficiency "
            f"{beside.scaling_efficiency:.1%}) on as many cards")

    findings.append(finding(CLAIMS["c"], f"share of peak compute, {conventional.cards} cards of {SWITCHED}",
                            share_of_peak, base))
    return ArticleResult(model, big_model, tokens, compute_efficiency, run.seed, findings, scaling)


def _vary(claim: Claim, measure: Callable[[_Inputs], tuple[float, str]], parameter: str, value: int | float | str,
          inputs: _Inputs) -> Variation:
    try:
        figure = measure(inputs)[0]
    except UsageError as refused:  # the step cannot run so (a model no card or pair of cards can hold)
        return Variation(parameter, value, None, f"cannot run: {refused.problem}")
    return Variation(parameter, value, figure, claim.verdict(figure))


def _row(spec: FabricSpec, cards: int, result: TrainingResult) -> ScalingRow:
    return ScalingRow(spec.name, cards, result.step_ps, result.scaling_efficiency, result.peak_share)


def _most_cards(scaling: list[ScalingRow], fabric: str) -> ScalingRow:
    return [row for row in scaling if row.fabric == fabric][-1]


def _accelerators(spec: FabricSpec) -> list[int]:
    return [c.id for c in spec.cards if c.device.role == "accelerator"]


Step = Callable[..., TrainingResult]


class _AcrossServers:
    """Claim (a) on the switched fabric: the first card with a card of its model in its own
    server, then with one in another server."""

    def __init__(self, spec: FabricSpec, step: Step) -> None:
        self.spec, self.step = spec, step
        first = spec.card(_accelerators(spec)[0])
        mates = [c.id for c in spec.cards if c.device == first.device and c.id != first.id]
        self.first = first
        self.near = next(c for c in mates if spec.card(c).server == first.server)
        self.far = next(c for c in mates if spec.card(c).server != first.server)

    def training(self, inputs: _Inputs) -> tuple[float, str]:
        same = self.step(self.spec, [self.first.id, self.near], inputs)
        apart = self.step(self.spec, [self.first.id, self.far], inputs)
        return 1 - apart.scaling_efficiency / same.scaling_efficiency, (
            f"{same.model}, two {self.first.device.name} cards: {same.scaling_efficiency:.1%} in one server (cards "
            f"{self.first.id}, {self.near}), {apart.scaling_efficiency:.1%} in two (cards {self.first.id}, {self.far})")

    def all_reduce(self, run: Run) -> Finding:
        """The same pairs' 1 MiB all-reduce, in timing mode: no training input changes it."""
        timed = Run(seed=run.seed, engine="timing", limits=run.limits)
        near_bw, far_bw = (run_collective(self.spec, "allreduce", timed, size=_SMALL_ALLREDUCE,
                                          cards=[self.first.id, mate]).busbw for mate in (self.near, self.far))
        return Finding(CLAIMS["a"], f"1 MiB all-reduce bandwidth lost across servers on {self.spec.name}",
                       1 - far_bw / near_bw, f"busbw {near_bw / 1e9:.1f} GB/s in one server, {far_bw / 1e9:.1f} "
                       f"GB/s in two (the same cards)")


class _DirectPair:
    """Claim (b): two cards of ``pair`` against one, for a model that fits one card and (sharded
    over the two) one that does not."""

    def __init__(self, spec: FabricSpec, step: Step) -> None:
        self.spec, self.step = spec, step
        self.cards = _accelerators(spec)[:2]

    def ratio(self, inputs: _Inputs, *, shard: bool) -> tuple[float, str]:
        one = self.step(self.spec, self.cards[:1], inputs)
        two = self.step(self.spec, self.cards, inputs, shard=shard)
        held = ("one card holds it" if one.spill_to == "none" else
                f"one card spills {one.spill_bytes / 1e9:.1f} GB to its neighbour's memory each step; two shard it")
        return two.tokens_per_s / one.tokens_per_s, (
            f"{self.spec.name}: {two.tokens_per_s:,.0f} against {one.tokens_per_s:,.0f} tokens/s; {held}")
