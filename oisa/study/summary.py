"""What a study run says when it ends: a summary for people, and one JSON object for programs
(keys in ``specs/cli-json.md``, ``oisa study``)."""

from __future__ import annotations

from typing import Any

from oisa.study.runner import StudyReport

__all__ = ["study_json", "study_text"]

_SHOWN_ERRORS = 5


def study_text(report: StudyReport) -> str:
    state = "interrupted" if report.interrupted else "done"
    lines = [f"study {report.study.name}: {state}: {report.points} points: {report.ok} ok, {report.failed} failed, "
             f"{report.crashed} crashed, {report.left} left",
             f"  ran {report.ran} now on {report.executor} in {report.wall_s:.1f} s; {report.resumed} recorded "
             f"earlier",
             f"  table: {report.table.parquet} and {report.table.csv} ({len(report.table.rows)} rows, "
             f"{len(report.table.columns)} columns)"]
    for inputs, error in report.errors[:_SHOWN_ERRORS]:
        shown = ", ".join(f"{key}={value}" for key, value in inputs.items())
        lines.append(f"  not ok: {shown}: {error}")
    if len(report.errors) > _SHOWN_ERRORS:
        lines.append(f"  ... and {len(report.errors) - _SHOWN_ERRORS} more (the table's error column has each)")
    return "\n".join(lines)


def study_json(report: StudyReport) -> dict[str, Any]:
    return {"workload": "study", "study": report.study.name, "source": str(report.study.source),
            "output": str(report.study.output), "points": report.points, "ok": report.ok, "failed": report.failed,
            "crashed": report.crashed, "left": report.left, "resumed": report.resumed, "ran": report.ran,
            "interrupted": report.interrupted, "executor": report.executor, "wall_s": report.wall_s,
            "table": {"parquet": str(report.table.parquet), "csv": str(report.table.csv),
                      "rows": len(report.table.rows), "columns": list(report.table.columns)},
            "errors": [{"inputs": inputs, "error": error} for inputs, error in report.errors]}
