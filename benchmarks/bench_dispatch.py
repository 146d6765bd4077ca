"""Dispatch benchmark: MILP time for a full day against the QUBO size it implies,
QAOA on the demo instance against the MILP optimum and the continuous bound, and
the power-flow check's time per period.

Run: ``python -m benchmarks.bench_dispatch [--grid case118] [--skip-qaoa] [--out outputs/bench_dispatch.json]``.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path
from typing import Any


def bench_full_day(grid: str = "case118", *, periods: int = 24, levels: int = 3, seed: int = 1,
                   time_limit_s: float = 60.0) -> dict[str, Any]:
    """Continuous MILP and discrete models on a full day, with the QUBO size of the discrete model."""
    from optimizer.problems.dispatch.problem import Dispatch
    from optimizer.solve import solve

    t0 = time.perf_counter()
    prob = Dispatch.from_grid(grid, periods=periods, levels=levels, seed=seed)
    t_build = time.perf_counter() - t0
    t0 = time.perf_counter()
    qubo = prob.to_qubo()
    t_qubo = time.perf_counter() - t0
    cont = prob.solve_continuous(time_limit_s=time_limit_s)
    out: dict[str, Any] = {
        "instance": prob.instance_name, "units": prob.num_units, "periods": periods, "levels": levels,
        "quantum_mw": prob.quantum_mw, "build_s": t_build,
        "qubo": {"variables": qubo.num_variables, "interactions": qubo.num_interactions,
                 "level_bits": prob.instance["level_bits"], "slack_bits": prob.instance["slack_bits"],
                 "build_s": t_qubo, "penalty": prob.penalty},
        "continuous_milp": {"status": cont.status, "wall_time_s": cont.wall_time_s, "bound_eur": cont.bound_eur,
                            "objective_eur": cont.objective_eur},
    }
    for name in ("milp", "cpsat"):
        t0 = time.perf_counter()
        sol = solve(prob, name, seed=seed, time_limit_s=time_limit_s)
        wall = time.perf_counter() - t0
        feas = prob.is_feasible(sol.bits)
        obj = prob.objective(sol.bits) if feas else None
        out[f"discrete_{name}"] = {"status": sol.status.value, "wall_time_s": wall, "objective_eur": obj,
                                   "best_bound_eur": sol.best_bound,
                                   "gap_to_continuous_bound": None if obj is None else (obj - cont.bound_eur) / obj}
    return out


def bench_power_flow(grids: tuple[str, ...] = ("case118", "mv_oberrhein", "cigre_mv_der"), *,
                     periods: int = 24) -> dict[str, Any]:
    """Power-flow check time per period, on the continuous MILP's plan of each grid."""
    from optimizer.problems.dispatch.problem import Dispatch

    out = {}
    for g in grids:
        prob = Dispatch.from_grid(g, periods=periods, levels=2, seed=1)
        plan = prob.plan_from_continuous()
        pf = plan.power_flow()
        s = pf["summary"]
        out[g] = {"buses": plan.grid.summary()["bus"], "periods": periods,
                  "s_per_period": s["wall_time_s"] / periods, "converged": s["converged"],
                  "periods_with_violations": s["periods_with_violations"],
                  "max_line_loading_percent": s["max_line_loading_percent"],
                  "vm_pu_range": [s["min_bus_vm_pu"], s["max_bus_vm_pu"]]}
    return out


def bench_qaoa_demo(depth: int = 2, seed: int = 1) -> dict[str, Any]:
    """QAOA on the demo instance against CP-SAT's proven optimum and the continuous bound."""
    from optimizer.problems.dispatch.problem import QAOA_DEMO, Dispatch
    from optimizer.solve import solve

    prob = Dispatch.from_grid(**QAOA_DEMO)
    best = solve(prob, "cpsat", seed=seed)
    opt = prob.objective(best.bits)
    bound = prob.continuous_bound()
    t0 = time.perf_counter()
    sol = solve(prob, "qaoa", depth=depth, seed=seed)
    wall = time.perf_counter() - t0
    feas = prob.is_feasible(sol.bits)
    obj = prob.objective(sol.bits) if feas else None
    res = dict(sol.resources)
    return {"instance": prob.instance_name, "qubits": res.get("qubits"), "depth": depth,
            "two_qubit_gates": res.get("two_qubit_gates"), "wall_time_s": wall, "feasible": feas,
            "qaoa_objective_eur": obj, "milp_optimum_eur": opt, "continuous_bound_eur": bound,
            "qaoa_over_optimum": None if obj is None else obj / opt - 1.0,
            "qaoa_over_bound": None if obj is None else obj / bound - 1.0,
            "optimum_over_bound": opt / bound - 1.0, "p_best": res.get("p_best")}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.bench_dispatch", description=__doc__.splitlines()[0])
    ap.add_argument("--grid", default="case118", help="grid of the full-day MILP (default case118)")
    ap.add_argument("--levels", type=int, default=3)
    ap.add_argument("--time-limit", type=float, default=60.0, help="seconds per discrete solve")
    ap.add_argument("--skip-qaoa", action="store_true")
    ap.add_argument("--out", default="outputs/bench_dispatch.json")
    args = ap.parse_args(argv)
    warnings.simplefilter("ignore")
    results: dict[str, Any] = {}
    results["full_day"] = r = bench_full_day(args.grid, levels=args.levels, time_limit_s=args.time_limit)
    c = r["continuous_milp"]
    print(f"{r['instance']}: continuous MILP {c['wall_time_s']:.2f}s ({c['status']}), bound {c['bound_eur']:,.0f} EUR; "
          f"the discrete model's QUBO: {r['qubo']['variables']} variables, {r['qubo']['interactions']} interactions")
    for k in ("discrete_milp", "discrete_cpsat"):
        d = r[k]
        gap = d["gap_to_continuous_bound"]
        print(f"  {k}: {d['wall_time_s']:.2f}s {d['status']}, objective "
              f"{'-' if d['objective_eur'] is None else format(d['objective_eur'], ',.0f')} EUR"
              + ("" if gap is None else f", {100 * gap:.2f}% above the continuous bound"))
    results["power_flow"] = pf = bench_power_flow()
    for g, v in pf.items():
        print(f"power flow {g} ({v['buses']} buses): {1000 * v['s_per_period']:.1f} ms per period, "
              f"{v['periods_with_violations']} of {v['periods']} periods with violations")
    if not args.skip_qaoa:
        results["qaoa_demo"] = q = bench_qaoa_demo()
        print(f"QAOA p=2 on {q['instance']} ({q['qubits']} qubits): {q['wall_time_s']:.1f}s, objective "
              f"{q['qaoa_objective_eur']} EUR vs MILP optimum {q['milp_optimum_eur']:,.0f} and continuous bound "
              f"{q['continuous_bound_eur']:,.0f}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2, default=str))
    print(f"figures written to {out}")
    return results


if __name__ == "__main__":
    main()
