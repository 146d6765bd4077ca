"""Plain, warm-start and recursive QAOA side by side on traffic and dispatch instances.

Run: ``python -m benchmarks.bench_qaoa_variants [--depth 1] [--seeds 1 2 3] [--recursive 4]
[--out outputs/bench_qaoa_variants.json]`` (also ``cityopt bench --only variants``).

Per instance and method, on the ``fast`` backend with the solver's defaults otherwise
(L-BFGS-B with the adjoint gradient, ``maxiter`` 300) but ``--shots`` (default 256):

- ``P(opt)``: the probability of the optimum in the optimised state (exact, from the
  state vector; the optimum by enumeration).  Recursive QAOA's answer is no sample,
  so its column shows the first round's state (the full QUBO), in brackets;
- ``gap``: the returned answer's objective (problem units: vehicle-hours, EUR) above
  ``exact``'s, in percent; ``infeas`` where it breaks a constraint;
- ``evals``: objective evaluations (simulations) the optimiser used, all rounds
  together for recursive QAOA.  The JSON also has each solve's wall time.

Methods: ``plain`` (the default mixer: XY ring on one-hot groups, else X), ``plain-x``
(the X mixer from ``|+>``, the warm start's own family), ``warm`` (warm start, the
default box-QP relaxation from 8 starts), ``warm-convex`` (warm start, the convexified
relaxation), ``rqaoa`` (recursive down to ``--recursive`` variables, plain mixer) and
``rqaoa-warm`` (recursive, each round warm-started).

Instances: Helsinki traffic ``--trips 4 --routes 3`` (12 qubits, 4 one-hot groups)
with problem seeds 1-3 and ``--trips 6 --routes 3`` (18 qubits, the demo's); dispatch
case9 with 1 level, 3 units x 2 periods (10 qubits), 3 units x 3 periods (14 qubits)
and the demo's ``QAOA_DEMO`` (3 units x 4 periods, 16 qubits), all in today's
dispatch encoding (no one-hot groups).

Measured on the 2-core development machine, depth 1, seed 1, ``--recursive 4``,
``python -m benchmarks.bench_qaoa_variants``; P(opt) / gap % / evals:

.. code-block:: text

    instance           qubits   plain               plain-x             warm                warm-convex         rqaoa                 rqaoa-warm
    helsinki-t4-k3-s1      12   0.083 / 0.00 / 10   0.003 / 0.09 / 14   0.155 / 0.00 / 8    0.086 / 0.00 / 7    (0.083) / 0.00 / 138  (0.155) / 0.00 / 60
    helsinki-t4-k3-s2      12   0.042 / 0.00 / 19   0.003 / 0.00 / 19   0.149 / 0.00 / 8    0.064 / 0.00 / 7    (0.042) / 0.00 / 277  (0.149) / 0.00 / 57
    helsinki-t4-k3-s3      12   0.194 / 0.00 / 68   0.003 / 0.00 / 22   0.144 / 0.00 / 8    0.008 / 0.00 / 7    (0.194) / 0.00 / 178  (0.144) / 0.00 / 55
    case9-u3-p2            10   0.003 / 0.00 / 45   0.003 / 0.00 / 45   0.112 / 0.00 / 7    0.006 / 0.00 / 8    (0.003) / 0.00 / 142  (0.112) / 0.00 / 42
    case9-u3-p3            14   0.001 / 0.00 / 6    0.001 / 0.00 / 6    0.005 / 0.00 / 7    0.003 / 0.00 / 7    (0.001) / 0.00 / 144  (0.005) / 0.00 / 77
    helsinki-t6-k3-s1      18   0.009 / 0.00 / 30   0.000 / 3.38 / 75   0.006 / 0.00 / 8    0.018 / 0.00 / 7    (0.009) / 0.00 / 308  (0.006) / 0.00 / 98
    case9-demo             16   0.000 / infeas / 21 0.000 / infeas / 21 0.041 / 0.00 / 7    0.001 / 0.00 / 7    (0.000) / 0.00 / 293  (0.041) / 0.00 / 82

The same at depth 2 (``--depth 2``):

.. code-block:: text

    instance           qubits   plain               plain-x             warm                warm-convex         rqaoa                 rqaoa-warm
    helsinki-t4-k3-s1      12   0.128 / 0.00 / 24   0.003 / 0.09 / 25   0.196 / 0.00 / 13   0.101 / 0.00 / 13   (0.128) / 0.00 / 376  (0.196) / 0.00 / 152
    helsinki-t4-k3-s2      12   0.060 / 0.00 / 66   0.002 / 0.50 / 15   0.177 / 0.00 / 12   0.069 / 0.00 / 13   (0.060) / 0.00 / 438  (0.177) / 0.00 / 136
    helsinki-t4-k3-s3      12   0.044 / 0.00 / 43   0.002 / 0.00 / 52   0.159 / 0.00 / 11   0.007 / 0.00 / 13   (0.044) / 0.00 / 545  (0.159) / 0.00 / 192
    case9-u3-p2            10   0.004 / infeas / 25 0.004 / infeas / 25 0.143 / 0.00 / 12   0.008 / 0.00 / 15   (0.004) / 0.00 / 196  (0.143) / 0.00 / 75
    case9-u3-p3            14   0.001 / 0.00 / 24   0.001 / 0.00 / 24   0.007 / 0.00 / 11   0.004 / 0.00 / 14   (0.001) / 0.00 / 346  (0.007) / 0.00 / 123
    helsinki-t6-k3-s1      18   0.018 / 0.00 / 33   0.000 / 0.60 / 23   0.006 / 0.00 / 12   0.021 / 0.00 / 13   (0.018) / 0.00 / 778  (0.006) / 0.04 / 259
    case9-demo             16   0.000 / 0.00 / 16   0.000 / 0.00 / 16   0.066 / 0.00 / 11   0.001 / 0.00 / 15   (0.000) / 0.00 / 585  (0.066) / 0.00 / 158

Reading it:

- **Warm start** (box relaxation) has the higher P(optimum) than plain QAOA on 5 of 7
  instances at depth 1 (case9-u3-p2: 0.112 against 0.003; the demo's dispatch:
  0.041 against 0.000, where plain QAOA's 256 samples hold no feasible plan) and on
  6 of 7 at depth 2 (all but helsinki-t6-k3-s1, where the convex relaxation's is
  the higher); the lower at depth 1 on helsinki-t4-k3-s3 (0.144 against 0.194) and
  t6 (0.006 against 0.009).  Against its own mixer family (``plain-x``, the penalty
  in the cost as for the warm start) it is about 50x higher on the 12-qubit traffic
  instances.  Its evaluations are few and steady: L-BFGS-B converges after 7-8
  (depth 1) and 11-13 (depth 2), plain QAOA after 6-68 and 16-66, at a local optimum
  near the ramp's start (with the convex relaxation on helsinki-t4-k3-s3, 4 restarts
  and COBYLA reach the same point).
- The **convexified relaxation** lands inside the box (on helsinki-t4-k3-s3, 10
  of 12 ``c*_i`` strictly between 0 and 1), so its warm start is weaker: the box
  QP is better on 6 of 7 instances and is the default.
- **Recursive QAOA** returned the optimum on all 7 instances at both depths, the
  demo's dispatch included, for 138-308 evaluations over its 6-14 rounds at depth 1
  (196-778 at depth 2); with warm-started rounds 42-98 (75-259), the optimum on 13
  of 14 runs (helsinki-t6-k3-s1 at depth 2: 0.04% above).  Its answer is the lifted
  assignment: the QAOA states chose the 6-14 eliminations, and the last 4 variables
  (16 assignments) were enumerated classically.
- The **gap** is 0 almost everywhere: up to 14 qubits 256 samples usually include
  the optimum (and case9's optima are degenerate in cost); it tells the methods
  apart at 16-18 qubits (``plain-x`` 3.38% above on t6 at depth 1, 0.60% at depth 2)
  and on dispatch, where plain QAOA's answer was infeasible (the demo's instance at
  depth 1, case9-u3-p2 at depth 2) and every warm or recursive one feasible.
- Warm starts cost classical time: the 8-start relaxation and the warm ansatz's own
  numpy simulator (not ``fast``'s tile kernels; 0.14 s per 16-qubit, depth-3
  gradient here): 1.9-4.2 s per warm solve against 0.2-3.4 s for plain at 10-16
  qubits, and recursive rounds repeat both.
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
