"""Plain, warm-start and recursive QAOA side by side on traffic and dispatch instances.

Run: ``python -m benchmarks.bench_qaoa_variants [--depth 1] [--seeds 1 2 3] [--recursive 4]
[--out outputs/bench_qaoa_variants.json]`` (also ``cityopt bench --only variants``).

Per instance and method, on the ``fast`` backend with the solver's defaults otherwise
(L-BFGS-B with the adjoint gradient, ``maxiter`` 300) but ``--shots`` (default 256):

- ``P(opt)``: the probability of the optimum in the optimised state (exact, from the
  state vector; the optimum by enumeration).  Recursive QAOA's answer is no sample,
  so its column shows the first round's state (the full QUBO), in brackets;
- ``gap``: the returned answer's objective (problem units: vehicle-hours, EUR) above
  ``exact``'s, in percent; ``infeasible`` where it breaks a constraint;
- ``evals``: objective evaluations (simulations) the optimiser used, all rounds
  together for recursive QAOA; ``s``: wall time.

Methods: ``plain`` (the default mixer: XY ring on one-hot groups, else X), ``plain-x``
(the X mixer, the warm start's own family), ``warm`` (warm start, the default box-QP
relaxation from 8 starts), ``warm-convex`` (warm start, the convexified relaxation), ``rqaoa``
(recursive down to ``--recursive`` variables, plain mixer) and ``rqaoa-warm``
(recursive, each round warm-started).

Measured on the 2-core development machine (depth 1, seed 1, ``--recursive 4``; the
traffic instances are Helsinki's, ``--trips 4 --routes 3``, 12 qubits, problem seeds
1-3; dispatch is case9 with 1 level, 3 units x 2 periods (10 qubits) and 3 units x 3
periods (14 qubits)):

.. code-block:: text

    RESULTS_TABLE

Reading it: ...
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path
from typing import Any

METHODS: dict[str, dict[str, Any]] = {
    "plain": {},
    "plain-x": {"mixer": "x"},
    "warm": {"warm_start": True},
    "warm-convex": {"warm_start": True, "warm_relaxation": "convex"},
    "rqaoa": {"recursive": None},
    "rqaoa-warm": {"recursive": None, "warm_start": True},
}


def _instances(seeds: list[int], *, large: bool = True) -> list[tuple[str, Any]]:
    from optimizer import City
    from optimizer.problems.dispatch.problem import QAOA_DEMO, Dispatch
    from optimizer.problems.traffic import Traffic

    city = City.load("helsinki")
    out: list[tuple[str, Any]] = []
    for s in seeds:
        p = Traffic.from_city(city, trips=4, routes=3, seed=s)
        out.append((p.instance_name, p))
    for units, periods in ((3, 2), (3, 3)):
        p = Dispatch.from_grid("case9", units=units, periods=periods, levels=1, seed=1)
        out.append((f"case9-u{units}-p{periods}", p))
    if large:  # the demo's instances: 18 and 16 qubits
        p = Traffic.from_city(city, trips=6, routes=3, seed=1)
        out.append((p.instance_name, p))
        out.append(("case9-demo", Dispatch.from_grid(**QAOA_DEMO)))
    return out


def bench_instance(name: str, prob: Any, *, depth: int, seed: int, recursive: int, shots: int) -> dict[str, Any]:
    from optimizer.solve import solve

    qubo = prob.to_qubo()
    best = solve(prob, "exact")
    opt = float(prob.objective(best.bits))
    row: dict[str, Any] = {"qubits": qubo.num_variables, "onehot_groups": len(qubo.onehot),
                           "optimum": opt, "methods": {}}
    for method, extra in METHODS.items():
        options = {k: (recursive if v is None else v) for k, v in extra.items()}
        t0 = time.perf_counter()
        sol = solve(prob, "qaoa", seed=seed, depth=depth, backend="fast", shots=shots, **options)
        wall = time.perf_counter() - t0
        res = sol.resources
        feasible = bool(prob.is_feasible(sol.bits))
        obj = float(prob.objective(sol.bits)) if feasible else None
        if "recursive" in options:
            p_opt = sol.info["first_round"].get("p_optimum_noiseless", sol.info["first_round"].get("p_optimum"))
        else:
            p_opt = res.get("p_optimum_noiseless", res.get("p_optimum"))
        row["methods"][method] = {
            "p_optimum": p_opt, "p_optimum_of": "first round" if "recursive" in options else "state",
            "feasible": feasible, "objective": obj,
            "gap_percent": None if obj is None else 100.0 * (obj - opt) / abs(opt) if opt else obj - opt,
            "evaluations": int(res["evaluations"]), "seconds": wall, "mixer": res.get("mixer"),
            "rounds": res.get("rounds"),
        }
    return row


def table(results: dict[str, Any]) -> str:
    head = ["instance", "qubits"] + list(METHODS)
    lines = ["P(opt) / gap % / evals", "  ".join(f"{h:>22}" if i > 1 else f"{h:<20}" if i == 0 else f"{h:>6}"
                                                 for i, h in enumerate(head))]
    for name, row in results["instances"].items():
        cells = [f"{name:<20}", f"{row['qubits']:>6}"]
        for m in METHODS:
            r = row["methods"][m]
            p = "-" if r["p_optimum"] is None else f"{r['p_optimum']:.3f}"
            if r["p_optimum_of"] == "first round":
                p = f"({p})"
            gap = "infeas" if not r["feasible"] else f"{r['gap_percent']:.2f}"
            cells.append(f"{p + ' / ' + gap + ' / ' + str(r['evaluations']):>22}")
        lines.append("  ".join(cells))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.bench_qaoa_variants",
                                 description=__doc__.splitlines()[0])
    ap.add_argument("--depth", type=int, default=1)
    ap.add_argument("--seed", type=int, default=1, help="solver seed (sampling)")
    ap.add_argument("--seeds", type=int, nargs="*", default=[1, 2, 3], help="traffic instance seeds")
    ap.add_argument("--recursive", type=int, default=4, help="variables left to enumeration (n_c)")
    ap.add_argument("--shots", type=int, default=256,
                    help="samples the answer is picked from (default 256: fewer than the 2**n states, so the "
                         "answer's gap tells the distributions apart)")
    ap.add_argument("--small", action="store_true", help="skip the demo-sized instances (18 and 16 qubits)")
    ap.add_argument("--out", default="outputs/bench_qaoa_variants.json")
    args = ap.parse_args(argv)
    warnings.simplefilter("ignore")
    results: dict[str, Any] = {"depth": args.depth, "recursive": args.recursive, "shots": args.shots,
                               "instances": {}}
    for name, prob in _instances(args.seeds, large=not args.small):
        results["instances"][name] = bench_instance(name, prob, depth=args.depth, seed=args.seed,
                                                    recursive=args.recursive, shots=args.shots)
        print(table({"instances": {name: results["instances"][name]}}).splitlines()[-1], flush=True)
    print(table(results))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2, default=str))
    print(f"figures written to {out}")
    return results


if __name__ == "__main__":
    main()
