"""Fleet and decompose benchmarks, ratios measured in one run.

1. ``decompose`` with QAOA (``fast`` backend) inside on the 600-variable traffic
   instance (Helsinki, 200 trips x 3 routes, seed 1) beside CP-SAT on the native
   model: objective gap and time ratio, the energy before and after the QAOA phase.
2. OR-Tools Routing on literature CVRP instances with published optima
   (Augerat P-n16-k8 and A-n32-k5, Christofides-Eilon E-n22-k4): gap at fixed
   time limits of 1 s and 10 s.
3. The fleet distance matrix (one Dijkstra per location) against all-pairs
   shortest paths on the Helsinki graph.

Run: ``python -m benchmarks.bench_fleet [--quick] [--json OUT]``.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

DATA = Path(__file__).resolve().parent / "data"
#: Literature instances and their published optima.
INSTANCES = {"P-n16-k8.vrp": 450.0, "E-n22-k4.vrp": 375.0, "A-n32-k5.vrp": 784.0}


def bench_traffic_decompose(city: Any, *, trips: int = 200, routes: int = 3, seed: int = 1,
                            time_limit_s: float = 300.0, max_rounds: int = 3, sub_size: int = 15,
                            cpsat_time_s: float = 60.0) -> dict[str, Any]:
    from optimizer import solve
    from optimizer.problems.traffic import Traffic

    prob = Traffic.from_city(city, trips=trips, routes=routes, seed=seed)
    t0 = time.perf_counter()
    ref = solve(prob, "cpsat", seed=seed, time_limit_s=cpsat_time_s)
    t_cp = time.perf_counter() - t0
    t0 = time.perf_counter()
    dec = solve(prob, "decompose", seed=seed, time_limit_s=time_limit_s, inner="qaoa", sub_size=sub_size,
                max_rounds=max_rounds, start="random")
    t_dec = time.perf_counter() - t0
    obj_cp, obj_dec = prob.objective(ref.bits), prob.objective(dec.bits)
    base = prob.objective(prob.shortest_path_bits())
    return {"instance": prob.instance_name, "variables": len(prob.variables),
            "cpsat_objective": obj_cp, "cpsat_status": ref.status.value, "cpsat_time_s": t_cp,
            "decompose_objective": obj_dec, "decompose_time_s": t_dec,
            "gap_to_cpsat": (obj_dec - obj_cp) / obj_cp, "time_ratio": t_dec / t_cp,
            "shortest_path_objective": base, "start": dec.info["start"],
            "energy_before_qaoa": dec.info["energy_before_inner"], "energy_after_qaoa": dec.info["energy_after_inner"],
            "qaoa_calls": dec.info["qaoa_calls"], "max_sub_size": dec.info["max_sub_size"],
            "rounds": dec.info["rounds"], "stopped_by": dec.info["stopped_by"]}


def bench_routing_instances(*, time_limits_s: tuple[float, ...] = (1.0, 10.0)) -> list[dict[str, Any]]:
    """Routing's gap to each published optimum at each fixed time limit."""
    from optimizer import solve
    from optimizer.problems.fleet.problem import Fleet

    out = []
    for name, opt in INSTANCES.items():
        prob = Fleet.from_instance(DATA / name)
        for limit in time_limits_s:
            sol = solve(prob, "routing", time_limit_s=limit, seed=0)
            obj = prob.objective(sol.bits)
            out.append({"instance": name, "known_optimum": opt, "routing_objective": obj,
                        "gap": (obj - opt) / opt, "time_limit_s": limit, "wall_time_s": sol.wall_time_s})
    return out


def bench_fleet_qaoa(city: Any, *, stops: int = 8, vehicles: int = 2, capacity: int = 4, seed: int = 1
                     ) -> dict[str, Any]:
    """QAOA-based fleet solve (cluster first, route second with QAOA) against Routing on Helsinki."""
    from optimizer import solve
    from optimizer.problems.fleet.problem import Fleet

    prob = Fleet.from_city(city, stops=stops, vehicles=vehicles, capacity=capacity, seed=seed)
    r = solve(prob, "routing", time_limit_s=2.0)
    d = solve(prob, "decompose", seed=seed, inner="qaoa")
    o_r, o_d = prob.objective(r.bits), prob.objective(d.bits)
    return {"instance": prob.instance_name, "routing_objective_s": o_r, "decompose_qaoa_objective_s": o_d,
            "gap_to_routing": (o_d - o_r) / o_r, "after_cluster_route_s": d.info["objective_after_cluster_route"],
            "qaoa_calls": d.info["qaoa_calls"], "decompose_time_s": d.wall_time_s}


def bench_matrix(city: Any, *, stops: int = 20, seed: int = 1) -> dict[str, Any]:
    import networkx as nx

    from optimizer.inputs.roads import _fastest_digraph, distance_matrices

    G = city.graph
    import numpy as np

    rng = np.random.default_rng(seed)
    nodes = [list(G.nodes)[i] for i in rng.choice(G.number_of_nodes(), size=stops, replace=False)]
    t0 = time.perf_counter()
    distance_matrices(G, nodes)
    t_m = time.perf_counter() - t0
    t0 = time.perf_counter()
    D = _fastest_digraph(G)
    dict(nx.all_pairs_dijkstra(D, weight="travel_time"))
    t_all = time.perf_counter() - t0
    return {"graph_nodes": G.number_of_nodes(), "locations": stops, "matrix_time_s": t_m,
            "all_pairs_time_s": t_all, "speedup": t_all / t_m}


def main(argv: list[str] | None = None) -> int:
    from optimizer.inputs.city import City

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="60 trips instead of 200, one round")
    ap.add_argument("--json", type=Path, help="write the figures here")
    ap.add_argument("--skip-traffic", action="store_true")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    city = City.load("helsinki")
    res: dict[str, Any] = {}
    res["matrix"] = bench_matrix(city)
    log.info("matrix: %s", res["matrix"])
    res["routing"] = bench_routing_instances()
    log.info("routing: %s", res["routing"])
    res["fleet_qaoa"] = bench_fleet_qaoa(city)
    log.info("fleet qaoa: %s", res["fleet_qaoa"])
    if not args.skip_traffic:
        kw = {"trips": 60, "max_rounds": 1} if args.quick else {}
        res["traffic_decompose"] = bench_traffic_decompose(city, **kw)
        log.info("traffic decompose: %s", res["traffic_decompose"])
    text = json.dumps(res, indent=2, default=float)
    if args.json:
        args.json.write_text(text + "\n")
    else:
        log.info("%s", text)
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
