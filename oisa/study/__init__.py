"""Design-space studies: many runs over fabric variants, workloads, engines and seeds, on this
machine's cores or a Dask cluster, with every result kept as it arrives.

A study file (:func:`load_study`) says what to cross; each point is one run, keyed by a hash of
its full inputs (:mod:`oisa.study.points`); :func:`run_study` runs the points not yet done on
an :class:`Executor` and records each as it completes (:mod:`oisa.study.store`), so a study
resumes where it stopped, and the results form one table (Parquet and CSV).

This layer builds on workloads (what runs) and reports (their JSON); errors name keywords and
study-file entries, never the command line's flags.

What it must not know: ``cli``, ``specgen``.
"""

from oisa.study.design import Study, load_study
from oisa.study.executors import DaskCluster, Executor, InProcess, LocalPool, Lost, executor_for
from oisa.study.points import Point, plan_points, run_point
from oisa.study.runner import StudyReport, run_study
from oisa.study.store import Table

__all__ = ["DaskCluster", "Executor", "InProcess", "LocalPool", "Lost", "Point", "Study", "StudyReport", "Table",
           "executor_for", "load_study", "plan_points", "run_point", "run_study"]
