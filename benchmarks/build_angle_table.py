"""Build ``solvers/qaoa/angle_table.json``: good QAOA angles per problem kind, mixer and depth.

Run: ``python -m benchmarks.build_angle_table [--backend fast] [--depths 1 2 3]``.

For each (mixer, depth) the angles are optimised (INTERP, 3 starts) on training
traffic instances sampled from the bundled Helsinki extract, all on the
*normalised* cost (see :mod:`solvers.qaoa.cost`), and the table keeps the
median angles.  Then, on held-out instances, it measures what transfer buys:
the probability of sampling the optimum and the normalised expectation
``(<E> - E_min) / (E_mean - E_min)`` (0 is perfect, 1 is the uniform average
over the feasible space), with the transferred angles against the linear ramp,
with no optimisation at all.  The file records all of it: the command, the
date, the instances and those figures.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time

import numpy as np

TRAIN = [(seed, 4, 3) for seed in range(101, 107)]
HELD_OUT = [(seed, 4, 3) for seed in range(201, 205)]


def _instances(specs):
    from optimizer import City
    from optimizer.problems.traffic import Traffic

    city = City.load("helsinki")
    return [Traffic.from_city(city, trips=t, routes=k, seed=s) for s, t, k in specs]


def _quality(qubo, mixer, depth, gammas, betas, backend):
    """(p_opt, normalised expectation) of the ansatz at the given normalised angles."""
    from solvers.qaoa.backends import make_backend
    from solvers.qaoa.cost import IsingCost
    from solvers.qaoa.solver import cost_qubo_for

    cq, _ = cost_qubo_for(qubo, mixer)
    cost = IsingCost.from_qubo(cq)
    be = make_backend(backend, cost, depth, mixer=mixer, groups=qubo.onehot if mixer != "x" else ())
    probs = be.probabilities(np.asarray(gammas), np.asarray(betas))
    E = qubo.all_energies()
    from solvers.qubo import index_bits

    feas = qubo.onehot_violations(index_bits(np.arange(E.size), qubo.num_variables)) == 0
    emin, emean = E[feas].min(), E[feas].mean()
    p_opt = float(probs[np.isclose(E, emin) & feas].sum())
    exp_e = float(probs @ E)
    return p_opt, (exp_e - emin) / (emean - emin)


def main(argv: list[str] | None = None) -> None:
    from solvers import solve_qubo
    from solvers.qaoa.angles import ANGLE_TABLE_PATH, linear_ramp, table_key

    ap = argparse.ArgumentParser(prog="python -m benchmarks.build_angle_table", description=__doc__.splitlines()[0])
    ap.add_argument("--backend", default="fast")
    ap.add_argument("--depths", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument("--mixers", nargs="+", default=["x", "xy-ring"])
    ap.add_argument("--maxiter", type=int, default=300)
    ap.add_argument("--out", default=str(ANGLE_TABLE_PATH))
    args = ap.parse_args(argv)
    train, held = _instances(TRAIN), _instances(HELD_OUT)
    entries = {}
    t0 = time.perf_counter()
    for mixer in args.mixers:
        for p in args.depths:
            gs, bs = [], []
            for prob in train:
                sol = solve_qubo(prob.to_qubo(), "qaoa", seed=1, depth=p, mixer=mixer, init="interp", restarts=3,
                                 maxiter=args.maxiter, shots=16, backend=args.backend)
                par = sol.resources["parameters"]
                gs.append(par["gammas_normalised"])
                bs.append(par["betas"])
            g, b = np.median(np.array(gs), axis=0), np.median(np.array(bs), axis=0)
            rg, rb = linear_ramp(p)
            table_q = [_quality(pr.to_qubo(), mixer, p, g, b, args.backend) for pr in held]
            ramp_q = [_quality(pr.to_qubo(), mixer, p, rg, rb, args.backend) for pr in held]
            entries[table_key("traffic", mixer, p)] = {
                "gammas": g.tolist(),
                "betas": b.tolist(),
                "spread_gammas": np.std(np.array(gs), axis=0).tolist(),
                "spread_betas": np.std(np.array(bs), axis=0).tolist(),
                "held_out_p_opt_table": float(np.mean([q[0] for q in table_q])),
                "held_out_p_opt_ramp": float(np.mean([q[0] for q in ramp_q])),
                "held_out_norm_expectation_table": float(np.mean([q[1] for q in table_q])),
                "held_out_norm_expectation_ramp": float(np.mean([q[1] for q in ramp_q])),
            }
            e = entries[table_key("traffic", mixer, p)]
            print(f"traffic/{mixer}/p{p}: p_opt {e['held_out_p_opt_table']:.3f} (ramp {e['held_out_p_opt_ramp']:.3f}), "
                  f"normalised <E> {e['held_out_norm_expectation_table']:.3f} "
                  f"(ramp {e['held_out_norm_expectation_ramp']:.3f})", flush=True)
    table = {
        "schema_version": 1,
        "made_by": "python -m benchmarks.build_angle_table " + " ".join(argv if argv is not None else sys.argv[1:]),
        "made_on": dt.date.today().isoformat(),
        "how": ("median over training instances of angles optimised by INTERP with 3 starts, on the normalised "
                "cost (gammas_normalised, betas); held-out figures use the angles as they are, no optimisation"),
        "train_instances": [f"helsinki-t{t}-k{k}-s{s}" for s, t, k in TRAIN],
        "held_out_instances": [f"helsinki-t{t}-k{k}-s{s}" for s, t, k in HELD_OUT],
        "backend": args.backend,
        "seconds": round(time.perf_counter() - t0, 1),
        "entries": entries,
    }
    from pathlib import Path

    Path(args.out).write_text(json.dumps(table, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
