"""The article scenario as text and JSON (keys: ``specs/cli-json.md``): each claim, our figure
beside it, and whether they agree."""

from __future__ import annotations

from typing import Any

from oisa.units import format_time
from oisa.workload.scenario import ArticleResult, Finding

__all__ = ["article_json", "article_text"]


def _figure(finding: Finding) -> str:
    return f"{finding.figure:.0%}"


def article_json(result: ArticleResult) -> dict[str, Any]:
    return {
        "scenario": "article",
        "model": result.model,
        "big_model": result.big_model,
        "tokens": result.tokens,
        "seed": result.seed,
        "findings": [{"claim": f.claim.key, "claim_text": f.claim.text, "claim_low": f.claim.low,
                      "claim_high": f.claim.high, "claim_source": f.claim.source, "label": f.label,
                      "figure": f.figure, "verdict": f.verdict, "detail": f.detail} for f in result.findings],
        "scaling": [{"fabric": row.fabric, "cards": row.cards, "step_ps": row.step_ps,
                     "scaling_efficiency": row.scaling_efficiency, "peak_share": row.peak_share}
                    for row in result.scaling],
    }


def article_text(result: ArticleResult) -> str:
    lines = [f"the article's claims beside the model (training steps of {result.model}, and {result.big_model} where "
             f"memory matters; {result.tokens} tokens per card; seed {result.seed})", ""]
    for key in dict.fromkeys(f.claim.key for f in result.findings):
        findings = [f for f in result.findings if f.claim.key == key]
        lines.append(f"({key}) claim: {findings[0].claim.text}")
        lines.append(f"    source: {findings[0].claim.source}")
        for finding in findings:
            lines.append(f"    ours {_figure(finding):>5}  {finding.label}: {finding.verdict}")
            lines.append(f"               {finding.detail}")
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
