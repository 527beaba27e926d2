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
(c) scaling efficiency and share of peak compute as the card count grows on ``supernode-64``
    and ``switched-64``, the cabinet filled server by server.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from oisa.errors import NO_VALUE, UsageError
from oisa.fabric import FabricSpec, load_fabric
from oisa.workload.collectives import run_collective
from oisa.workload.run import Run
from oisa.workload.training import MAX_TOKENS, MODELS, TrainingResult, run_training

__all__ = ["CLAIMS", "ArticleResult", "Claim", "Finding", "ScalingRow", "article_steps", "run_article",
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
class Finding:
    """One of our figures set against a claim, with how it was obtained."""

    claim: Claim
    label: str
    figure: float
    detail: str

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
    return counts + [top] if top >= 2 else counts


def _check_max_cards(max_cards: object) -> None:
    if max_cards is not None and (isinstance(max_cards, bool) or not isinstance(max_cards, int) or max_cards < 2):
        raise UsageError("expected a whole number of cards, 2 or more (or None: every accelerator)",
                         parameter="max_cards", value=max_cards)


def _check_article(run: object, model: object, big_model: object, tokens: object, max_cards: object,
                   progress: object) -> None:
    """Refuse, naming the keyword, what :func:`run_article` cannot take, before any step runs."""
    if not isinstance(run, Run):
        raise UsageError(f"expected a Run, not {type(run).__name__}", parameter="run")
    for name, value in (("model", model), ("big_model", big_model)):
        if not isinstance(value, str) or value not in MODELS:
            raise UsageError(f"expected one of {', '.join(MODELS)}", parameter=name,
                             value=value if isinstance(value, (str, int, float)) else NO_VALUE)
    if isinstance(tokens, bool) or not isinstance(tokens, int) or not 1 <= tokens <= MAX_TOKENS:
        raise UsageError(f"expected a whole number of tokens from 1 to {MAX_TOKENS:,}", parameter="tokens",
                         value=tokens if isinstance(tokens, (int, float, str)) else NO_VALUE)
    _check_max_cards(max_cards)
    if progress is not None and not callable(progress):
        raise UsageError("expected a function taking one line of text, or None", parameter="progress")


def article_steps(max_cards: int | None = None) -> int:
    """How many training steps :func:`run_article` runs (for a progress bar)."""
    _check_max_cards(max_cards)
    return _FIXED_STEPS + sum(len(scaling_counts(load_fabric(name), max_cards)) for name in (SUPERNODE, SWITCHED))


_FIXED_STEPS = 6  # (a): two; (b): two models, one card and two


def run_article(run: Run = Run(), *, model: str = "gpt2-xl", big_model: str = "llama-7b", tokens: int = 4096,
                max_cards: int | None = None, progress: Callable[[str], None] | None = None) -> ArticleResult:
    """Run the three parts; ``progress`` hears of each training step once it is done."""
    _check_article(run, model, big_model, tokens, max_cards, progress)
    seed = run.seed
    switched, supernode, direct = (load_fabric(name) for name in (SWITCHED, SUPERNODE, DIRECT))
    counts = {spec.name: scaling_counts(spec, max_cards) for spec in (supernode, switched)}

    def step(spec: FabricSpec, cards: list[int], name: str = model, *, shard: bool = False) -> TrainingResult:
        result = run_training(spec, run, model=name, tokens=tokens, cards=cards, shard=shard)
        if progress is not None:
            progress(f"{name}, {len(cards)} cards of {spec.name}")
        return result

    findings = [*_across_servers(switched, step, run), *_direct_pair(direct, (model, big_model), step)]
    scaling = [ScalingRow(spec.name, n, r.step_ps, r.scaling_efficiency, r.peak_share)
               for spec in (supernode, switched) for n in counts[spec.name]
               for r in [step(spec, _accelerators(spec)[:n])]]
    conventional = _most_cards(scaling, SWITCHED)
    supernode_share = _most_cards(scaling, SUPERNODE).scaling_efficiency
    findings.append(Finding(CLAIMS["c"], f"share of compute, {conventional.cards} cards of {SWITCHED}",
                            conventional.scaling_efficiency,
                            f"{model}: scaling efficiency (tokens/s against each card alone) at the largest count; "
                            f"{SUPERNODE} reaches {supernode_share:.1%} on as many cards"))
    return ArticleResult(model, big_model, tokens, seed, findings, scaling)


def _most_cards(scaling: list[ScalingRow], fabric: str) -> ScalingRow:
    return [row for row in scaling if row.fabric == fabric][-1]


def _accelerators(spec: FabricSpec) -> list[int]:
    return [c.id for c in spec.cards if c.device.role == "accelerator"]


def _across_servers(spec: FabricSpec, step: Callable[..., TrainingResult], run: Run) -> list[Finding]:
    first = spec.card(_accelerators(spec)[0])
    mates = [c.id for c in spec.cards if c.device == first.device and c.id != first.id]
    near = next(c for c in mates if spec.card(c).server == first.server)
    far = next(c for c in mates if spec.card(c).server != first.server)
    same, apart = step(spec, [first.id, near]), step(spec, [first.id, far])
    loss = 1 - apart.scaling_efficiency / same.scaling_efficiency
    trained = Finding(CLAIMS["a"], f"training efficiency lost across servers on {spec.name}", loss,
                      f"{same.model}, two {first.device.name} cards: {same.scaling_efficiency:.1%} in one server "
                      f"(cards {first.id}, {near}), {apart.scaling_efficiency:.1%} in two (cards {first.id}, {far})")
    timed = Run(seed=run.seed, engine="timing", limits=run.limits)
    near_bw, far_bw = (run_collective(spec, "allreduce", timed, size=_SMALL_ALLREDUCE, cards=[first.id, mate]).busbw
                       for mate in (near, far))
    reduced = Finding(CLAIMS["a"], f"1 MiB all-reduce bandwidth lost across servers on {spec.name}",
                      1 - far_bw / near_bw, f"busbw {near_bw / 1e9:.1f} GB/s in one server, {far_bw / 1e9:.1f} "
                      f"GB/s in two (the same cards)")
    return [trained, reduced]


def _direct_pair(spec: FabricSpec, models: tuple[str, str], step: Callable[..., TrainingResult]) -> list[Finding]:
    """Two cards against one, for a model that fits and (sharded over the two) one that does not."""
    cards = _accelerators(spec)[:2]
    findings = []
    for name, shard in zip(models, (False, True)):
        one = step(spec, cards[:1], name)
        two = step(spec, cards, name, shard=shard)
        held = ("one card holds it" if one.spill_to == "none" else
                f"one card spills {one.spill_bytes / 1e9:.1f} GB to its neighbour's memory each step; two shard it")
        findings.append(Finding(CLAIMS["b"], f"two linked cards against one, {one.model}",
                                two.tokens_per_s / one.tokens_per_s,
                                f"{spec.name}: {two.tokens_per_s:,.0f} against {one.tokens_per_s:,.0f} tokens/s; "
                                f"{held}"))
    return findings
