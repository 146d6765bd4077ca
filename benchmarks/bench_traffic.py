"""The Helsinki morning peak judged three ways: the BPR model, AequilibraE's equilibria, SUMO.

On the demo's city-sized peak (1,000 trips of 4 vehicles departing 07:00-09:00,
3 candidate routes each), every plan (``shortest``, ``ue``, ``cpsat`` on the
exact model, ``anneal`` and ``decompose`` with QAOA inside on the surrogate
QUBO) is scored in the model and replayed in SUMO; AequilibraE gives the
continuous UE, SO and the SO lower bound.  Reported:

* system travel time per plan in the model and in SUMO, and each ranking;
* the SO bound and each plan's gap to it;
* the planner's headline: what the best coordinated plan saves over selfish
  routing (``ue``), in the model and in SUMO;
* the surrogate's error on each plan;
* SUMO's wall time per plan, and the network build;
* how much of SUMO's ranking is SUMO's own randomness: each plan replayed with
  ``--sumo-seeds`` seeds (mean and standard deviation), so a difference between
  plans smaller than that spread is not a difference.

Run: ``python -m benchmarks.bench_traffic [--trips 1000] [--vehicles 4] [--time-limit 60] [--sumo-seeds 3]
[--json OUT]``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

SOLVERS = (("shortest", {}), ("ue", {}), ("cpsat", {}), ("anneal", {}),
           ("decompose", {"inner": "qaoa", "max_rounds": 2}))


def bench_peak(*, trips: int = 1000, vehicles: int = 4, seed: int = 1, time_limit_s: float = 60.0,
               sumo_seeds: int = 3) -> dict[str, Any]:
    from optimizer.runs.runner import (
        SolverRequest,
        comparison_rows,
        run_problem,
        traffic_references,
        verdict,
    )
    from optimizer.runs.scenarios import build_problem

    t0 = time.perf_counter()
    prob = build_problem("traffic", trips=trips, routes=3, seed=seed, vehicles_per_trip=vehicles)
    build_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    refs = traffic_references(prob)
    refs_s = time.perf_counter() - t0
    records = []
    for name, opts in SOLVERS:
        limit = time_limit_s if name in ("cpsat", "decompose", "anneal") else None
        records += run_problem(prob, [SolverRequest(name, opts, time_limit_s=limit)], out=None, seed=seed,
                               simulate=True, references=refs)
    rows = comparison_rows(records)
    v = verdict(records)
    import tempfile

    import numpy as np

    from optimizer.plans.simulation import sumo_network

    with tempfile.TemporaryDirectory() as tmp:
        net = sumo_network(prob.graph, Path(tmp) / "net")
        spread = {r.request.folder: [r.plan.simulate(seed=k, network=net).total_travel_time_veh_h
                                     for k in range(1, sumo_seeds + 1)] for r in records}
    plans = []
    for r, row in zip(records, rows):
        s = r.summary
        sim = s["simulation"]
        plans.append({
            "solver": row["solver"], "status": s["status"], "solve_s": s["wall_time_s"],
            "model_veh_h": s["assessment"]["system_travel_time_veh_h"], "rank_model": row["rank_model"],
            "sumo_veh_h": sim["total_travel_time_veh_h"], "rank_sumo": row["rank_simulation"],
            "sumo_mean_time_loss_s": sim["mean_time_loss_s"], "sumo_arrived": sim["arrived"],
            "sumo_vehicles": sim["vehicles"], "sumo_teleports": sim["teleports"],
            "route_mismatches": sim["route_mismatches"], "sumo_wall_s": sim["wall_s"],
            "gap_to_so_bound": (s["assessment"]["system_travel_time_veh_h"] - refs["so_bound_veh_h"])
            / refs["so_bound_veh_h"],
            "surrogate_error": s["assessment"]["surrogate_error"],
            "max_volume_capacity": s["assessment"]["max_volume_capacity"],
            "sumo_seeds_mean_veh_h": float(np.mean(spread[row["solver"]])),
            "sumo_seeds_std_veh_h": float(np.std(spread[row["solver"]], ddof=1)) if sumo_seeds > 1 else 0.0,
        })
    return {"instance": prob.instance_name, "trips": prob.num_trips, "vehicles": prob.num_vehicles,
            "variables": len(prob.variables), "cells": len(prob.cell_users), "build_s": build_s,
            "references": refs, "references_s": refs_s, "plans": plans, "verdict": v}


def _print(r: dict[str, Any]) -> None:
    print(f"{r['instance']}: {r['trips']} trips, {r['vehicles']} vehicles, {r['variables']} variables, "
          f"{r['cells']} cells")
    head = ("solver", "model veh-h", "rank", "SUMO veh-h", "rank", "SUMO over seeds", "loss s", "arrived",
            "teleports", "gap to SO bound", "surrogate err", "solve s", "SUMO s")
    print(" | ".join(head))
    for p in r["plans"]:
        print(" | ".join([p["solver"], f"{p['model_veh_h']:.3f}", str(p["rank_model"]), f"{p['sumo_veh_h']:.3f}",
                          str(p["rank_sumo"]),
                          f"{p['sumo_seeds_mean_veh_h']:.2f} +- {p['sumo_seeds_std_veh_h']:.2f}",
                          f"{p['sumo_mean_time_loss_s']:.1f}",
                          f"{p['sumo_arrived']}/{p['sumo_vehicles']}", str(p["sumo_teleports"]),
                          f"{100 * p['gap_to_so_bound']:.2f}%", f"{100 * p['surrogate_error']:.3f}%",
                          f"{p['solve_s']:.1f}", f"{p['sumo_wall_s']:.1f}"]))
    ref = r["references"]
    print(f"AequilibraE ({r['references_s']:.1f}s): SO bound {ref['so_bound_veh_h']:.3f} veh-h over "
          f"{ref['span_h']:.2f} h; static UE {ref['static']['ue']['system_travel_time_veh_h']:.3f} "
          f"(gap {ref['static']['ue']['relative_gap']:.1e}), SO {ref['static']['so']['system_travel_time_veh_h']:.3f} "
          f"(gap {ref['static']['so']['relative_gap']:.1e}); by departure slice UE "
          f"{ref['by_departure_slice']['ue']['system_travel_time_veh_h']:.3f}, SO "
          f"{ref['by_departure_slice']['so']['system_travel_time_veh_h']:.3f}")
    print("verdict:", r["verdict"]["text"])


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.bench_traffic", description=__doc__.splitlines()[0])
    ap.add_argument("--trips", type=int, default=1000)
    ap.add_argument("--vehicles", type=int, default=4)
    ap.add_argument("--time-limit", type=float, default=60.0, help="cpsat, anneal, decompose: seconds each")
    ap.add_argument("--sumo-seeds", type=int, default=3, help="SUMO replays of each plan, seeds 1..N")
    ap.add_argument("--json", default="outputs/bench_traffic.json")
    args = ap.parse_args(argv)
    r = bench_peak(trips=args.trips, vehicles=args.vehicles, time_limit_s=args.time_limit,
                   sumo_seeds=args.sumo_seeds)
    _print(r)
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(r, indent=2, default=str))
    return r


if __name__ == "__main__":
    main()
