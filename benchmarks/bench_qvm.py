"""What noise costs: one small traffic-like QUBO solved by QAOA on qsim and on each QVM.

QAOA with the X mixer, depth 1.

Run: ``python -m benchmarks.bench_qvm [--maxiter 15] [--shots 1000] [--device-optimise device]
[--out outputs/bench_qvm.json]``.  ``--device-optimise device`` (the default here) optimises on each
QVM, every evaluation a noisy sampling run, which is what ``s/eval`` measures; ``noiseless`` is the
solver's default (angles from the noiseless simulator, one QVM run for the answer).

The QUBO: 3 trips x 3 candidate routes (9 variables, one one-hot group per trip),
travel times on the diagonal and congestion couplings between routes of
different trips that share road segments.  For each backend (``qsim``, then
``qvm:<processor>`` for every processor cirq_google ships) it reports:

* the solver's answer (``solve_qubo(q, "qaoa", backend=..., depth=1, seed=1, ...)``):
  its energy against the optimum, ``p_best`` and ``feasible_fraction`` from the
  solution's resources, the wall time and the time per optimiser evaluation;
* at one fixed set of angles (those qsim's optimiser found), the probability of
  sampling the optimum and the feasible fraction, on ``--fixed-shots`` shots:
  the noise alone, the optimiser's noise taken out;
* the compiled circuit: two-qubit gates (logical -> compiled), SWAPs, moments.

About 3 minutes on 2 cores with the defaults (each QVM evaluation is 1000 noisy
shots, 1.5-4 s for these 9 qubits; qsim's exact evaluations take milliseconds).
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
from pathlib import Path
from typing import Any

import numpy as np


def traffic_qubo(trips: int = 3, routes: int = 3, seed: int = 1) -> Any:
    """A toy route-assignment QUBO: one-hot per trip, travel times, shared-segment congestion."""
    from solvers import QUBOBuilder

    rng = np.random.default_rng(seed)
    b = QUBOBuilder()
    names = [[f"t{t}r{r}" for r in range(routes)] for t in range(trips)]
    for t in range(trips):
        for r in range(routes):
            b.add_linear(names[t][r], float(rng.uniform(1.0, 2.0)))  # travel time
    for (t1, t2) in itertools.combinations(range(trips), 2):
        for r1 in range(routes):
            for r2 in range(routes):
                if rng.random() < 0.5:  # the two routes share a segment
                    b.add_quadratic(names[t1][r1], names[t2][r2], float(rng.uniform(0.5, 1.5)))
    for group in names:
        b.add_onehot(group, penalty=6.0)
    return b.build()


def _optimum(q: Any) -> tuple[float, np.ndarray]:
    n = q.num_variables
    energies = q.all_energies(order="big")
    k = int(np.argmin(energies))
    return float(energies[k]), np.array([(k >> (n - 1 - i)) & 1 for i in range(n)], dtype=np.uint8)


def run(maxiter: int = 15, shots: int = 1000, fixed_shots: int = 2000,
        device_optimise: str = "device") -> dict[str, Any]:
    from solvers import solve_qubo
    from solvers.qaoa.backends import make_backend
    from solvers.qaoa.backends.qvm import virtual_processors
    from solvers.qaoa.cost import IsingCost

    q = traffic_qubo()
    best_e, best_x = _optimum(q)
    cost = IsingCost.from_qubo(q)
    out: dict[str, Any] = {
        "variables": q.num_variables,
        "optimum_energy": best_e,
        "optimum": best_x.tolist(),
        "backends": {},
    }
    # the X mixer on every backend: the same logical circuit everywhere, so the
    # fixed-angle figures compare like with like (an XY mixer's feasibility is
    # exactly what noise breaks; that is another benchmark)
    from dataclasses import fields

    from solvers.qaoa.options import QAOAOptions

    extra = {"mixer": "x"} if "mixer" in {f.name for f in fields(QAOAOptions)} else {}
    angles = None
    for backend in ["qsim", *(f"qvm:{p}" for p in virtual_processors())]:
        t0 = time.perf_counter()
        sol = solve_qubo(
            q, "qaoa", backend=backend, depth=1, seed=1, shots=shots, maxiter=maxiter,
            device_optimise=device_optimise, **extra
        )
        wall = time.perf_counter() - t0
        res = sol.resources
        if angles is None:  # qsim's optimum angles, reused for the fixed-angle comparison
            angles = (res["parameters"]["gammas_normalised"], res["parameters"]["betas"])
        t1 = time.perf_counter()
        be = make_backend(backend, cost, 1)
        bits = be.sample(*angles, fixed_shots, seed=2)
        fixed_s = time.perf_counter() - t1
        rres = be.resources()
        row = {
            "energy": sol.energy,
            "optimal": bool(np.isclose(sol.energy, best_e)),
            "feasible": sol.feasible,
            "p_best": res["p_best"],
            "feasible_fraction": res["feasible_fraction"],
            "expectation": res["expectation"],
            "evaluations": res["evaluations"],
            "wall_s": wall,
            "s_per_evaluation": sol.info.get("optimize_time_s", wall) / max(1, res["evaluations"]),
            "fixed_angles_p_optimum": float(np.mean(np.all(bits == best_x, axis=1))),
            "fixed_angles_feasible_fraction": float(np.mean(q.onehot_violations(bits) == 0)),
            "fixed_angles_sample_s": fixed_s,
            "two_qubit_gates_logical": rres.get("two_qubit_gates_logical", rres["two_qubit_gates"]),
            "two_qubit_gates_compiled": rres.get("two_qubit_gates_compiled", rres["two_qubit_gates"]),
            "swaps_inserted": rres.get("swaps_inserted", 0),
            "circuit_moments": rres["circuit_moments"],
        }
        out["backends"][backend] = row
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.bench_qvm", description=__doc__.splitlines()[0])
    ap.add_argument("--maxiter", type=int, default=15, help="optimiser evaluations per solve")
    ap.add_argument("--shots", type=int, default=1000, help="final sampling shots per solve")
    ap.add_argument("--fixed-shots", type=int, default=2000, help="shots at the fixed angles")
    ap.add_argument("--device-optimise", choices=["device", "noiseless"], default="device",
                    help="QVM solves: optimise on the device (each evaluation a noisy run) or noiseless")
    ap.add_argument("--out", default="outputs/bench_qvm.json", help="where to write the figures as JSON")
    args = ap.parse_args(argv)
    r = run(args.maxiter, args.shots, args.fixed_shots, args.device_optimise)
    print(f"traffic-like QUBO, {r['variables']} variables, optimum energy {r['optimum_energy']:.4f}, "
          f"QAOA p=1, maxiter={args.maxiter}, shots={args.shots}")
    head = (f"{'backend':<17}{'energy':>9} {'opt':>4}{'p_best':>8}{'feas':>7}{'wall s':>8}{'s/eval':>8}"
            f"{'P(opt)@θ':>10}{'feas@θ':>8}{'2q log->comp':>14}{'swaps':>6}{'moments':>8}")
    print(head)
    for name, x in r["backends"].items():
        print(f"{name:<17}{x['energy']:9.4f} {'yes' if x['optimal'] else 'no':>4}{x['p_best']:8.3f}"
              f"{x['feasible_fraction']:7.3f}{x['wall_s']:8.1f}{x['s_per_evaluation']:8.2f}"
              f"{x['fixed_angles_p_optimum']:10.3f}{x['fixed_angles_feasible_fraction']:8.3f}"
              f"{x['two_qubit_gates_logical']:>7}->{x['two_qubit_gates_compiled']:<6}"
              f"{x['swaps_inserted']:6}{x['circuit_moments']:8}")
    base = r["backends"]["qsim"]
    for name, x in r["backends"].items():
        if name != "qsim":
            print(f"noise on {name}: P(optimum) at fixed angles {base['fixed_angles_p_optimum']:.3f} -> "
                  f"{x['fixed_angles_p_optimum']:.3f}, feasible {base['fixed_angles_feasible_fraction']:.3f} -> "
                  f"{x['fixed_angles_feasible_fraction']:.3f}, solve {x['wall_s'] / max(base['wall_s'], 1e-9):.0f}x "
                  "the time of qsim")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(r, indent=2, default=str))
    print(f"figures written to {out}")


if __name__ == "__main__":
    main()
