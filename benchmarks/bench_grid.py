"""Grid benchmark: AC violations of dispatch plans before and after the network and the AC loop, per grid.

For each grid the same day is planned three ways with ``milp``:

* ``copper plate``: the commitment model alone (the plans cityopt emitted before issue 13);
* ``DC network``: line and transformer limits in the DC flow (``--network``);
* ``DC network + AC OPF``: each period re-dispatched by pandapower's AC OPF, commitment <-> AC
  rounds until every period has one (``--network --ac``).

Each plan is then checked from scratch by :meth:`DispatchPlan.power_flow` (pandapower
``runpp``): violations (lines and transformers over 100%, bus voltages outside their
limits, the import over its limit), the periods they fall in, the plan's cost, the OPF
rounds, and the wall time.

Run: ``python -m benchmarks.bench_grid [--grids case9 case30 case118 city:helsinki] [--periods 24]
[--modes "DC network + AC OPF"] [--out outputs/bench_grid.json]``.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path
from typing import Any

MODES = {"copper plate": {"network": False, "ac": False},
         "DC network": {"network": True, "ac": False},
         "DC network + AC OPF": {"network": True, "ac": True}}


def bench_grid(grid: str, *, periods: int = 24, levels: int = 3, seed: int = 1,
               time_limit_s: float = 120.0, modes: list[str] | None = None) -> list[dict[str, Any]]:
    """The three plans (or those of ``modes``) of one grid's day and what the AC power flow says of each."""
    from optimizer.problems.dispatch.problem import Dispatch
    from optimizer.solve import solve

    rows = []
    for mode, kw in MODES.items():
        if modes is not None and mode not in modes:
            continue
        prob = Dispatch.from_grid(grid, periods=periods, levels=levels, seed=seed, network=kw["network"], ac=kw["ac"])
        t0 = time.perf_counter()
        sol = solve(prob, "milp", seed=seed, time_limit_s=time_limit_s)
        row: dict[str, Any] = {"grid": grid, "mode": mode, "instance": prob.instance_name, "status": sol.status.value}
        if sol.feasible:
            plan = prob.decode(sol).validate()
            pf = plan.power_flow()
            kinds: dict[str, int] = {}
            for p in pf["periods"]:
                for v in p["violations"]:
                    kinds[f"{v['element']} {v['quantity']}"] = kinds.get(f"{v['element']} {v['quantity']}", 0) + 1
            row.update(violations=pf["summary"]["violations"],
                       periods_with_violations=pf["summary"]["periods_with_violations"], kinds=kinds,
                       min_vm_pu=pf["summary"]["min_bus_vm_pu"],
                       max_line_loading_percent=pf["summary"]["max_line_loading_percent"],
                       cost_eur=plan.objective, source=plan.source,
                       opf_iterations=(sol.info or {}).get("opf_iterations"),
                       opf_runs=(sol.info or {}).get("ac_opf_runs"), milp_solves=(sol.info or {}).get("ac_milp_solves"),
                       ac_added_units=(sol.info or {}).get("ac_added_units") or None,
                       ac_unresolved=(sol.info or {}).get("ac_failed_periods") or None)
        row["wall_s"] = time.perf_counter() - t0
        rows.append(row)
    return rows


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.bench_grid", description=__doc__.splitlines()[0])
    ap.add_argument("--grids", nargs="+", default=["case9", "case30", "case118", "city:helsinki"])
    ap.add_argument("--periods", type=int, default=24)
    ap.add_argument("--levels", type=int, default=3)
    ap.add_argument("--time-limit", type=float, default=120.0, help="seconds per MILP solve")
    ap.add_argument("--modes", nargs="+", choices=list(MODES), help="only these plans (default: all three)")
    ap.add_argument("--out", default="outputs/bench_grid.json")
    args = ap.parse_args(argv)
    warnings.simplefilter("ignore")
    rows = []
    print(f"{'grid':14} {'mode':22} {'violations':>10} {'periods':>7} {'cost EUR':>14} {'OPF rounds':>10} {'s':>7}")
    for g in args.grids:
        for r in bench_grid(g, periods=args.periods, levels=args.levels, time_limit_s=args.time_limit,
                            modes=args.modes):
            rows.append(r)
            print(f"{g:14} {r['mode']:22} {r.get('violations', '-')!s:>10} {r.get('periods_with_violations', '-')!s:>7} "
                  f"{r.get('cost_eur', float('nan')):>14,.0f} {r.get('opf_iterations') or '-'!s:>10} {r['wall_s']:>7.1f}"
                  + (f"  unresolved periods {r['ac_unresolved']}" if r.get("ac_unresolved") else "")
                  + ("" if "violations" in r else f"  {r['status']}"), flush=True)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    result = {"periods": args.periods, "levels": args.levels, "rows": rows}
    out.write_text(json.dumps(result, indent=2, default=str))
    return result


if __name__ == "__main__":  # pragma: no cover
    main()
