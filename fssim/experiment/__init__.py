"""Experiments at scale: compare scenarios with replications, common random numbers and intervals.

* :mod:`.design` — experiment files (base config, factors, design, baseline, replications);
* :mod:`.execute` — work units (scenario, replication, département shard) on local processes or Dask;
* :mod:`.store` — finished units on disk, for resuming;
* :mod:`.partials` — what a unit returns: KPI sums and a wait histogram, not its visits;
* :mod:`.stats` — Student-t intervals, paired differences, sequential stopping;
* :mod:`.runner` — ``run_experiment`` and the results directory;
* :mod:`.staffing` — the smallest staffing meeting a wait target, site by site;
* :mod:`.bench` — the national benchmark.

::

    from fssim.experiment import run_experiment
    res = run_experiment("experiments/staffing-levels.yaml", "runs/staffing", workers=2)
    res.summary; res.differences
"""
__all__ = ["Experiment", "ExperimentResult", "load_experiment", "load_experiment_results", "run_experiment",
           "StaffingProblem", "bench_national"]

_WHERE = {"Experiment": "design", "load_experiment": "design", "ExperimentResult": "runner",
          "load_experiment_results": "runner", "run_experiment": "runner", "StaffingProblem": "staffing",
          "bench_national": "bench"}


def __getattr__(name):  # imported on first use: workers that only run units do not load pandas/scipy here
    if name in _WHERE:
        from importlib import import_module
        return getattr(import_module(f".{_WHERE[name]}", __name__), name)
    raise AttributeError(name)
