"""Jobs run alone and together, as text and JSON (keys: ``specs/cli-json.md``, "Jobs").

Each job's own result is rendered as its workload's is (:func:`oisa.report.result_json`); beside
it, what running together cost it: its time and p99 latency alone and together, and their ratios.
"""

from __future__ import annotations

from typing import Any

from oisa.report.compare import result_json, result_text
from oisa.report.loadstore import STAT_KEYS
from oisa.units import format_size, format_time
from oisa.workload.jobs import JobReport, JobRun, JobsResult
from oisa.workload.loadstore import LatencyStats

__all__ = ["jobs_json", "jobs_text"]


def _stats(stats: LatencyStats | None) -> dict[str, int] | None:
    return None if stats is None else {key: getattr(stats, key) for key in STAT_KEYS}


def _ratio(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


def _job_run(run: JobRun) -> dict[str, Any]:
    return {"start_ps": run.start_ps, "end_ps": run.end_ps, "time_ps": run.duration_ps,
            "latency": _stats(run.latency), "result": result_json(run.result)}


def _job(report: JobReport) -> dict[str, Any]:
    job = report.job
    return {"name": job.name, "workload": job.workload, "cards": list(job.cards), "tenant": job.tenant,
            "traffic_class": job.traffic_class, "alone": _job_run(report.alone), "together": _job_run(report.together),
            "slowdown": _ratio(report.slowdown), "p99_slowdown": _ratio(report.p99_slowdown)}


def jobs_json(result: JobsResult) -> dict[str, Any]:
    return {
        "workload": "jobs",
        "fabric": result.fabric,
        "seed": result.seed,
        "mode": result.mode,
        "jobs": [_job(report) for report in result.jobs],
        "end_time_ps": result.end_ps,
        "bringup_ps": result.bringup_ps,
        "wire": {"frames": result.frames, "bytes": result.wire_bytes},
        "link": result.link,
        "isolation": result.isolation,
        "qos": result.qos,
    }


def _p99(stats: LatencyStats | None) -> str:
    return "-" if stats is None else format_time(stats.p99_ps)


def jobs_text(result: JobsResult) -> str:
    qos = "" if result.qos is None else f", QoS {result.qos['policy']}"
    lines = [f"fabric       {result.fabric}",
             f"jobs         {len(result.jobs)}, each alone and then all together, seed {result.seed}, {result.mode} "
             f"mode{qos}"]
    header = ("job", "workload", "class", "cards", "alone", "together", "slowdown", "p99 alone", "p99 together",
              "p99 slowdown")
    rows = [header]
    for report in result.jobs:
        job = report.job
        p99 = report.p99_slowdown
        rows.append((job.name, job.workload, str(job.traffic_class), ",".join(map(str, job.cards)),
                     format_time(report.alone.duration_ps), format_time(report.together.duration_ps),
                     f"{report.slowdown:.2f}x", _p99(report.alone.latency), _p99(report.together.latency),
                     "-" if p99 is None else f"{p99:.2f}x"))
    widths = [max(len(row[column]) for row in rows) for column in range(len(header))]
    lines += ["  ".join(cell.ljust(width) if column < 4 else cell.rjust(width)
                        for column, (cell, width) in enumerate(zip(row, widths))).rstrip() for row in rows]
    lines.append(f"together     {format_time(result.end_ps)} from the jobs' start, {result.frames} frames, "
                 f"{format_size(result.wire_bytes)} on the wire (link bring-up {format_time(result.bringup_ps)} "
                 f"before, not counted)")
    if result.isolation is not None:
        lines.append("refused      " + (", ".join(f"{key} {value}" for key, value in result.isolation.items()
                                                 if value) or "nothing"))
    lines.append("latency      each transfer's time for plans (collective steps included), each load's for loadstore")
    for report in result.jobs:
        lines += ["", f"-- job {report.job.name} ({report.job.workload}), beside the others "
                      f"(its wire counts are the whole fabric's while it ran)",
                  result_text(report.together.result)]
    return "\n".join(lines)
