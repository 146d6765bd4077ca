"""Cross-check benchmark: case118's unit commitment, 24 periods, in cityopt's continuous MILP and in PyPSA.

Both state the same model (:mod:`optimizer.problems.dispatch.crosscheck`): the
optima should agree within 0.1% (``TOLERANCE``); the figures are both optima,
the relative difference, both dispatches at the exact quadratic costs, the
commitment differences per period and the wall times (PyPSA's split into
building the network and ``n.optimize``).

Run: ``python -m benchmarks.bench_crosscheck [--grid case118] [--periods 24] [--line-limits]
[--out outputs/bench_crosscheck.json]``.
"""

from __future__ import annotations

import argparse
import json
import warnings
from pathlib import Path
from typing import Any


def bench_crosscheck(grid: str = "case118", *, periods: int = 24, seed: int = 1, time_limit_s: float = 300.0,
                     line_limits: bool = False) -> dict[str, Any]:
    from optimizer.problems.dispatch.crosscheck import crosscheck
    from optimizer.problems.dispatch.problem import Dispatch

    prob = Dispatch.from_grid(grid, periods=periods, seed=seed)
    return crosscheck(prob, time_limit_s=time_limit_s, line_limits=line_limits)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.bench_crosscheck", description=__doc__.splitlines()[0])
    ap.add_argument("--grid", default="case118")
    ap.add_argument("--periods", type=int, default=24)
    ap.add_argument("--time-limit", type=float, default=300.0, help="seconds per solver")
    ap.add_argument("--line-limits", action="store_true",
                    help="rate PyPSA's lines (cityopt's continuous MILP has none: PyPSA's optimum is then only "
                         "bounded below by cityopt's)")
    ap.add_argument("--out", default="outputs/bench_crosscheck.json")
    args = ap.parse_args(argv)
    warnings.simplefilter("ignore")
    r = bench_crosscheck(args.grid, periods=args.periods, time_limit_s=args.time_limit, line_limits=args.line_limits)
    c, p = r["cityopt"], r["pypsa"]
    print(f"{r['instance']} ({r['units']} units, {r['periods']} periods, line limits {r['line_limits']}):")
    print(f"  cityopt continuous MILP: {c['objective_eur']:,.2f} EUR ({c['status']}), {c['wall_time_s']:.2f}s")
    print(f"  PyPSA (linopy, HiGHS):   {p['objective_eur']:,.2f} EUR ({p['status']}), {p['wall_time_s']:.2f}s "
          f"+ {p['build_s']:.2f}s to build the network")
    print(f"  relative difference {r['rel_diff']:.2e} ({'within' if r['agree'] else 'OUTSIDE'} "
          f"{r['tolerance']:.1%}); exact costs {c['exact_cost_eur']:,.2f} vs {p['exact_cost_eur']:,.2f} EUR; "
          f"PyPSA's plan valid in cityopt: {p['plan_valid']}; periods with a different commitment: "
          f"{r.get('periods_with_commitment_diff')}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(r, indent=2, default=str))
    return r


if __name__ == "__main__":
    main()
