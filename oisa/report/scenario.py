"""The article scenario as text and JSON (keys: ``specs/cli-json.md``): each claim, our figure
beside it, and whether they agree."""

from __future__ import annotations

from typing import Any

from oisa.units import format_time
from oisa.workload.scenario import ArticleResult, Finding, Variation

__all__ = ["article_json", "article_text"]


def _figure(finding: Finding) -> str:
    return f"{finding.figure:.0%}"


def article_json(result: ArticleResult) -> dict[str, Any]:
    return {
        "scenario": "article",
        "model": result.model,
        "big_model": result.big_model,
        "tokens": result.tokens,
        "compute_efficiency": result.compute_efficiency,
        "seed": result.seed,
        "findings": [{"claim": f.claim.key, "claim_text": f.claim.text, "claim_low": f.claim.low,
                      "claim_high": f.claim.high, "claim_source": f.claim.source, "label": f.label,
                      "figure": f.figure, "verdict": f.verdict, "detail": f.detail,
                      "sensitivity": [{"parameter": v.parameter, "value": v.value, "figure": v.figure,
                                       "verdict": v.verdict} for v in f.sensitivity]} for f in result.findings],
        "scaling": [{"fabric": row.fabric, "cards": row.cards, "step_ps": row.step_ps,
                     "scaling_efficiency": row.scaling_efficiency, "peak_share": row.peak_share}
                    for row in result.scaling],
    }


_VARIED = {"tokens": "tokens per card", "compute_efficiency": "compute efficiency", "model": "model"}


def _value(variation: Variation) -> str:
    if variation.parameter == "tokens":
        return f"{variation.value:,}"
    return f"{variation.value:.1%}" if variation.parameter == "compute_efficiency" else str(variation.value)


def _sensitivity(finding: Finding) -> list[str]:
    """One line per varied input: each value with our figure then, marked where the verdict is
    not the finding's own."""
    lines = []
    for parameter, name in _VARIED.items():
        varied = [v for v in finding.sensitivity if v.parameter == parameter]
        if not varied:
            continue
        cells = []
        for v in varied:
            if v.figure is None:
                cells.append(f"{_value(v)}: cannot run")
            else:
                mark = "" if v.verdict == finding.verdict else f" ({v.verdict})"
                cells.append(f"{_value(v)}: {v.figure:.0%}{mark}")
        lines.append(f"               {name:<19} " + "; ".join(cells))
    return lines


def article_text(result: ArticleResult) -> str:
    lines = [f"the article's claims beside the model (training steps of {result.model}, and {result.big_model} where "
             f"memory matters; {result.tokens} tokens per card; kernels at {result.compute_efficiency:.1%} of peak; "
             f"seed {result.seed}, which changes nothing here: no step has equal paths to hash over)", ""]
    for key in dict.fromkeys(f.claim.key for f in result.findings):
        findings = [f for f in result.findings if f.claim.key == key]
        lines.append(f"({key}) claim: {findings[0].claim.text}")
        lines.append(f"    source: {findings[0].claim.source}")
        for finding in findings:
            lines.append(f"    ours {_figure(finding):>5}  {finding.label}: {finding.verdict}")
            lines.append(f"               {finding.detail}")
            if finding.sensitivity:
                lines.append("               with one input changed (our figure; the verdict where it differs):")
                lines.extend(_sensitivity(finding))
        lines.append("")
    lines.append("(c) share of compute as the card count grows: scaling efficiency (and share of peak FLOPs)")
    fabrics = list(dict.fromkeys(row.fabric for row in result.scaling))
    lines.append(f"    {'cards':>5}" + "".join(f"  {name:>28}" for name in fabrics))
    for cards in sorted({row.cards for row in result.scaling}):
        cells = []
        for name in fabrics:
            row = next((r for r in result.scaling if r.fabric == name and r.cards == cards), None)
            cells.append("-" if row is None else
                         f"{row.scaling_efficiency:.1%} ({row.peak_share:.1%}) {format_time(row.step_ps)}")
        lines.append(f"    {cards:>5}" + "".join(f"  {cell:>28}" for cell in cells))
    return "\n".join(lines)
