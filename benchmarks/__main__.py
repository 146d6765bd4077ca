"""``make bench``: speed as ratios against a reference run in the same process.

Run: ``python -m benchmarks [--only core qaoa qvm dispatch dispatch-qaoa grid crosscheck fleet batch traffic
variants] [--skip-demo] [--out outputs/bench.json]``.

``core`` (this module):

* ``exact`` on 20 variables against a plain Python loop over assignments (the
  loop is timed on 2**14 assignments and scaled to 2**20: it is linear);
* CP-SAT (native model) on the demo's city-sized traffic instance against
  ``anneal`` on the same instance: time and objective ratios;
* the wall time of ``cityopt demo`` stage by stage, as shares of the total.

``qaoa``: :mod:`benchmarks.bench_qaoa` (``fast`` against qsim); ``qvm``:
:mod:`benchmarks.bench_qvm` (what noise costs, each QVM against qsim);
``dispatch``: :mod:`benchmarks.bench_dispatch` (MILP, QAOA, power flow); ``dispatch-qaoa``:
:mod:`benchmarks.bench_dispatch_qaoa` (QAOA on case9 seed by seed: feasible and optimal plans,
P(feasible), P(optimum), the one-hot encoding against the level encoding); ``fleet``:
:mod:`benchmarks.bench_fleet` (decompose with QAOA vs CP-SAT, Routing on a published
CVRP, the distance matrix vs all pairs); ``traffic``: :mod:`benchmarks.bench_traffic`
(the Helsinki peak in the BPR model, against AequilibraE's UE/SO and in SUMO);
``grid``: :mod:`benchmarks.bench_grid` (AC violations of the plans per grid: copper plate, DC network,
DC network + AC OPF, and the OPF rounds); ``crosscheck``: :mod:`benchmarks.bench_crosscheck` (case118's unit commitment in cityopt's
continuous MILP and in PyPSA: both optima and their relative difference); ``variants``:
:mod:`benchmarks.bench_qaoa_variants` (plain, warm-start and recursive QAOA on traffic and
dispatch: P(optimum), the answer's gap, evaluations).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np


def _plain_loop_min(Q: np.ndarray, offset: float, n: int, count: int) -> float:
    """The textbook loop: decode each index to bits, sum the terms one by one."""
    best = float("inf")
    idx = [(i, j, Q[i, j]) for i in range(n) for j in range(i, n) if Q[i, j] != 0.0]
    for k in range(count):
        bits = [(k >> (n - 1 - i)) & 1 for i in range(n)]
        e = offset
        for i, j, w in idx:
            if bits[i] and bits[j]:
                e += w
        best = min(best, e)
    return best


def bench_exact(n: int = 20, sample_bits: int = 14) -> dict:
    from solvers import QUBO, solve_qubo

    rng = np.random.default_rng(0)
    Q = np.triu(rng.normal(size=(n, n)))
    q = QUBO.from_matrix(Q, 0.0)
    t0 = time.perf_counter()
    sol = solve_qubo(q, "exact")
    t_exact = time.perf_counter() - t0
    t0 = time.perf_counter()
    _plain_loop_min(q.dense(), q.offset, n, 1 << sample_bits)
    t_loop = (time.perf_counter() - t0) * (1 << (n - sample_bits))
    return {"n": n, "exact_s": t_exact, "plain_loop_s_estimated": t_loop, "speedup": t_loop / t_exact,
            "energy": sol.energy}


def bench_cpsat_vs_anneal(trips: int = 200, routes: int = 3, seed: int = 1) -> dict:
    from optimizer import City, solve
    from optimizer.problems.traffic import Traffic

    prob = Traffic.from_city(City.load("helsinki"), trips=trips, routes=routes, seed=seed)
    prob.to_qubo()
    t0 = time.perf_counter()
    c = solve(prob, "cpsat", seed=seed, time_limit_s=60)
    t_c = time.perf_counter() - t0
    t0 = time.perf_counter()
    a = solve(prob, "anneal", seed=seed)
    t_a = time.perf_counter() - t0
    oc, oa = prob.objective(c.bits), prob.objective(a.bits)
    base = prob.objective(prob.shortest_path_bits())
    return {"instance": prob.instance_name, "variables": len(prob.variables), "cpsat_s": t_c, "anneal_s": t_a,
            "time_ratio_cpsat_over_anneal": t_c / t_a, "cpsat_status": c.status.value,
            "cpsat_objective": oc, "anneal_objective": oa, "objective_ratio_anneal_over_cpsat": oa / oc,
            "shortest_objective": base, "reduction_vs_shortest": (base - oc) / base}


def bench_qaoa_traffic(trips: int = 6, routes: int = 3, seed: int = 1) -> dict:
    """The whole QAOA solve of the demo's small traffic instance, ``fast`` against ``qsim``."""
    from optimizer import City, solve
    from optimizer.problems.traffic import Traffic

    prob = Traffic.from_city(City.load("helsinki"), trips=trips, routes=routes, seed=seed)
    best = prob.objective(solve(prob, "exact").bits)
    out = {"instance": prob.instance_name, "qubits": len(prob.variables), "optimum": best}
    # the same optimiser (COBYLA, 300 evaluations) on both, then fast with its default (adjoint L-BFGS-B)
    for key, backend, optimizer in (("qsim", "qsim", "COBYLA"), ("fast", "fast", "COBYLA"), ("fast_auto", "fast", "auto")):
        t0 = time.perf_counter()
        sol = solve(prob, "qaoa", seed=seed, depth=2, backend=backend, optimizer=optimizer)
        out[key] = {"seconds": time.perf_counter() - t0, "objective": prob.objective(sol.bits),
                    "optimizer": sol.resources["optimizer"], "evaluations": sol.resources["evaluations"],
                    "expectation": sol.resources["expectation"], "p_best": sol.resources["p_best"]}
    out["speedup_fast_over_qsim"] = out["qsim"]["seconds"] / out["fast"]["seconds"]
    return out


def bench_demo() -> dict:
    from optimizer.demo import run_demo

    with tempfile.TemporaryDirectory() as d:
        res = run_demo(Path(d), quiet=True)
        timing = json.loads((Path(d) / "demo_timing.json").read_text())
    st = res["stages_s"]
    # shares of the wall time: with two workers the stages overlap, so they add up to more than 1
    return {"stages_s": st, "shares": {k: v / st["total"] for k, v in st.items() if k != "total"},
            "cpu_s": timing["total_cpu_s"], "workers": timing["workers"],
            "stages_cpu_s": {f"{r['group']}: {r['stage']}": r["cpu_s"] for r in timing["stages"]}}


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    ap.add_argument("--skip-demo", action="store_true", help="skip timing the whole demo")
    groups = ["core", "qaoa", "qvm", "dispatch", "dispatch-qaoa", "grid", "crosscheck", "fleet", "batch", "traffic",
              "variants"]
    ap.add_argument("--only", nargs="+", choices=groups, default=groups,
                    help="which benchmark groups to run")
    ap.add_argument("--out", default="outputs/bench.json", help="where to write the figures as JSON")
    args = ap.parse_args(argv)
    results: dict = {}
    if "core" in args.only:
        core(args, results)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if "qaoa" in args.only:
        from benchmarks import bench_qaoa

        print("\n== QAOA simulators: fast vs qsim", flush=True)
        results["qaoa"] = bench_qaoa.main(["--out", str(out.with_name("bench_qaoa.json"))])
    if "qvm" in args.only:
        from benchmarks import bench_qvm

        print("\n== what noise costs: qsim vs each QVM", flush=True)
        bench_qvm.main(["--out", str(out.with_name("bench_qvm.json"))])
        results["qvm"] = _read(out.with_name("bench_qvm.json"))
    if "dispatch" in args.only:
        try:
            from benchmarks import bench_dispatch
        except ImportError as e:  # pragma: no cover
            print(f"dispatch benchmark unavailable: {e}")
        else:
            print("\n== dispatch", flush=True)
            results["dispatch"] = bench_dispatch.main(["--out", str(out.with_name("bench_dispatch.json"))])
    if "dispatch-qaoa" in args.only:
        from benchmarks import bench_dispatch_qaoa

        print("\n== dispatch QAOA, seeds 1..10: feasible and optimal plans", flush=True)
        results["dispatch_qaoa"] = bench_dispatch_qaoa.main(["--out", str(out.with_name("bench_dispatch_qaoa.json"))])
    if "grid" in args.only:
        from benchmarks import bench_grid

        print("\n== grids: AC violations before and after the network and the AC loop", flush=True)
        results["grid"] = bench_grid.main(["--out", str(out.with_name("bench_grid.json"))])
    if "crosscheck" in args.only:
        from benchmarks import bench_crosscheck

        print("\n== dispatch cross-check: cityopt against PyPSA", flush=True)
        results["crosscheck"] = bench_crosscheck.main(["--out", str(out.with_name("bench_crosscheck.json"))])
    if "fleet" in args.only:
        from benchmarks import bench_fleet

        print("\n== fleet routing and decompose", flush=True)
        bench_fleet.main(["--json", str(out.with_name("bench_fleet.json"))])
        results["fleet"] = _read(out.with_name("bench_fleet.json"))
    if "batch" in args.only:
        from benchmarks import bench_batch

        print("\n== batch on Dask: overhead and throughput", flush=True)
        results["batch"] = bench_batch.main(["--out", str(out.with_name("bench_batch.json"))])
    if "traffic" in args.only:
        from benchmarks import bench_traffic

        print("\n== the Helsinki peak: BPR model, AequilibraE, SUMO", flush=True)
        results["traffic"] = bench_traffic.main(["--json", str(out.with_name("bench_traffic.json"))])
    if "variants" in args.only:
        from benchmarks import bench_qaoa_variants

        print("\n== QAOA variants: plain, warm-start, recursive", flush=True)
        results["variants"] = bench_qaoa_variants.main(["--out", str(out.with_name("bench_qaoa_variants.json"))])
    out.write_text(json.dumps(results, indent=2, default=str))
    print(f"figures written to {out}")
    return results


def _read(path: Path) -> dict:
    """A group's figures from the JSON file it wrote (empty if it wrote none)."""
    return json.loads(path.read_text()) if path.exists() else {}


def core(args: argparse.Namespace, results: dict) -> None:
    results["exact"] = bench_exact()
    r = results["exact"]
    print(f"exact, n={r['n']}: {r['exact_s']:.3f}s vs plain Python loop ~{r['plain_loop_s_estimated']:.1f}s "
          f"-> {r['speedup']:.0f}x faster")
    results["cpsat_vs_anneal"] = r = bench_cpsat_vs_anneal()
    print(f"{r['instance']} ({r['variables']} vars): CP-SAT {r['cpsat_s']:.2f}s ({r['cpsat_status']}) vs anneal "
          f"{r['anneal_s']:.2f}s -> time ratio {r['time_ratio_cpsat_over_anneal']:.2f}; anneal objective / "
          f"CP-SAT = {r['objective_ratio_anneal_over_cpsat']:.4f}; congestion -{100 * r['reduction_vs_shortest']:.1f}% "
          "vs shortest paths")
    results["qaoa_traffic"] = r = bench_qaoa_traffic()
    print(f"QAOA solve of {r['instance']} ({r['qubits']} qubits, depth 2): qsim {r['qsim']['seconds']:.2f}s, "
          f"fast {r['fast']['seconds']:.2f}s -> {r['speedup_fast_over_qsim']:.1f}x; objectives "
          f"{r['qsim']['objective']:.6g} / {r['fast']['objective']:.6g} (optimum {r['optimum']:.6g}); fast with "
          f"{r['fast_auto']['optimizer']}: {r['fast_auto']['seconds']:.2f}s, expectation "
          f"{r['fast_auto']['expectation']:.6g} vs {r['fast']['expectation']:.6g} (COBYLA), P(best) "
          f"{r['fast_auto']['p_best']:.4f} vs {r['fast']['p_best']:.4f}")
    if not args.skip_demo:
        results["demo"] = r = bench_demo()
        print(f"cityopt demo: {r['stages_s']['total']:.1f}s in all")
        for k, v in r["stages_s"].items():
            if k != "total":
                print(f"  {k:<32} {v:7.2f}s  {100 * r['shares'][k]:5.1f}%")


if __name__ == "__main__":
    main()
