"""A training step as text and JSON (keys: ``specs/cli-json.md``)."""

from __future__ import annotations

from typing import Any

from oisa.report.roce import roce_json, roce_rows
from oisa.units import format_time
from oisa.workload.training import TrainingResult

__all__ = ["training_json", "training_text", "training_title"]


def training_json(result: TrainingResult) -> dict[str, Any]:
    return {
        "workload": "training",
        "fabric": result.fabric,
        "seed": result.seed,
        "mode": result.mode,
        "model": result.model,
        "parameters": result.parameters,
        "dtype": result.dtype,
        "compute_efficiency": result.compute_efficiency,
        "cards": [{"card": rank, "tokens": result.tokens[rank], "alone_step_ps": result.alone_ps[rank]}
                  for rank in result.ranks],
        "algorithm": result.algorithm,
        "protocol": result.protocol,
        "channels": result.channels,
        "buckets": result.buckets,
        "shard": result.shard,
        "held_bytes": result.held_bytes,
        "spill": {"bytes": result.spill_bytes, "to": result.spill_to},
        "time_ps": {"step": result.step_ps, "compute": result.compute_ps, "optimizer": result.optimizer_ps,
                    "exposed_communication": result.exposed_comm_ps},
        "tokens_per_s": result.tokens_per_s,
        "scaling_efficiency": result.scaling_efficiency,
        "peak_share": result.peak_share,
        "wire": {"frames": result.frames, "bytes": result.wire_bytes},
        "end_time_ps": result.end_ps,
        **roce_json(result.roce),
    }


def training_title(result: TrainingResult) -> str:
    return (f"training, {result.model} ({result.parameters / 1e9:.2f}B parameters, {result.dtype}), "
            f"{len(result.ranks)} cards, {sum(result.tokens.values())} tokens, {result.algorithm} all-reduce in "
            f"{result.buckets} buckets{', sharded' if result.shard else ''}, seed {result.seed}")


def training_text(result: TrainingResult) -> str:
    tokens = sorted(set(result.tokens.values()))
    spread = f"{tokens[0]}" if len(tokens) == 1 else f"{tokens[0]} to {tokens[-1]} (by compute rate)"
    spill = ("none: every card holds its state" if result.spill_to == "none" else
             f"up to {result.spill_bytes / 1e9:.1f} GB per card to {result.spill_to}, read in and written back "
             f"each step")
    return "\n".join([
        f"fabric              {result.fabric}",
        f"workload            {training_title(result)}",
        f"tokens per card     {spread}",
        f"state per card      {result.held_bytes / 1e9:.1f} GB; spilled {spill}",
        f"step                {format_time(result.step_ps)}   {result.tokens_per_s:,.0f} tokens/s",
        f"  compute           {format_time(result.compute_ps)}  (forward and backward, slowest card)",
        f"  optimizer         {format_time(result.optimizer_ps)}  (slowest card, spill included)",
        f"  exposed comm      {format_time(result.exposed_comm_ps)}  (all-reduce not hidden behind compute)",
        f"scaling efficiency  {result.scaling_efficiency:.1%}  (tokens/s against each card alone, holding "
        f"everything)",
        f"share of peak       {result.peak_share:.1%}  (useful FLOPs against the cards' peak {result.dtype} rate; "
        f"the kernels reach {result.compute_efficiency:.1%} of it)",
        f"on the wire         {result.frames} frames, {result.wire_bytes} bytes ({result.mode} mode)",
        *(f"{name:<18}  {value}" for name, value in roce_rows(result.roce)),
    ])
