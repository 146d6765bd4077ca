"""QAOA simulators: the project's ``fast`` simulator against qsim, as ratios in one process.

Run: ``python -m benchmarks.bench_qaoa [--skip-28] [--out FILE.json]``.

(a) An optimiser-like loop, 16 qubits, depth 3: expectation evaluations per second
    on ``fast`` (cost diagonal reused) and on ``qsim`` (the circuit resolved and
    simulated each time, as :class:`~solvers.qaoa.backends.qsim.QsimBackend` does),
    one thread each (the default below 20 qubits).  Target: ``fast`` >= 10x.  Also
    ``fast`` with ``kernels="blas"`` (its matrix-product kernels) against its
    default compiled butterflies, the reason they are written here.  (a') the
    same with the XY-ring mixer on one-hot groups of 4 qubits.
(b) One final state, 24 qubits, depth 4, about 100 ZZ terms, two threads each.
    Target: ``fast`` >= 3x.  ``fast``'s achieved memory bandwidth (the bytes of
    :meth:`FastSimulator.bytes_moved` over its time) is reported as a share of the
    machine's, measured here as bytes read + written by ``np.copyto`` of a 1 GiB
    array over its time.
(c) The largest ``n`` each backend can hold in 24 GiB, from the bytes per
    amplitude of the arrays each keeps alive while it computes a state; then
    ``fast`` runs at 28 qubits in complex64 (unless ``--skip-28``, or too little
    memory is free), and the peak resident memory of the process is reported.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import time
from pathlib import Path

import numpy as np

GIB = 1 << 30


def _cost(n: int, couplings: int, seed: int):
    """The normalised Ising cost of a random QUBO with ``couplings`` quadratic terms."""
    from solvers import QUBO
    from solvers.qaoa.cost import IsingCost

    rng = np.random.default_rng(seed)
    pairs = [(i, j) for i in range(n) for j in range(i + 1, n)]
    Q = np.zeros((n, n))
    for k in rng.choice(len(pairs), size=min(couplings, len(pairs)), replace=False):
        i, j = pairs[k]
        Q[i, j] = rng.normal()
    Q[np.diag_indices(n)] = rng.normal(size=n)
    return IsingCost.from_qubo(QUBO.from_matrix(Q))


def _best_time(fn, repeats: int) -> float:
    best = math.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def machine_bandwidth(nbytes: int = GIB, repeats: int = 3) -> float:
    """Bytes per second read + written by ``np.copyto`` of an ``nbytes`` array (best of ``repeats``)."""
    src = np.ones(nbytes // 8)
    dst = np.zeros_like(src)
    t = _best_time(lambda: np.copyto(dst, src), repeats)
    return 2 * nbytes / t


def bench_loop(
    n: int = 16, depth: int = 3, rounds: int = 5, seed: int = 0, mixer: str = "x"
) -> dict:
    """(a): evaluations per second along the same random-walk sequence of angles.

    The backends take turns, ``rounds`` times (qsim 8 evaluations, fast 80 a turn),
    and each keeps its best turn, so load from other processes that comes and
    goes does not tilt the ratio.  An XY ``mixer`` acts on one-hot groups of 4
    consecutive qubits (the traffic and dispatch QUBOs' kind of ansatz).
    """
    from solvers.qaoa.backends.fast import FastBackend
    from solvers.qaoa.backends.qsim import QsimBackend

    cost = _cost(n, couplings=3 * n, seed=seed)
    rng = np.random.default_rng(seed)
    start = np.concatenate([np.linspace(0.1, 0.7, depth), -np.linspace(0.7, 0.1, depth)])
    xs = start + np.cumsum(rng.normal(scale=0.05, size=(80, 2 * depth)), axis=0)
    kw: dict = {"mixer": mixer}
    if mixer != "x":
        kw["groups"] = [tuple(range(i, min(i + 4, n))) for i in range(0, n, 4)]
    backends = {
        "qsim": QsimBackend(cost, depth, **kw),
        "fast": FastBackend(cost, depth, **kw),
        "fast_blas": FastBackend(cost, depth, kernels="blas", **kw),  # the matrix-product kernels
    }
    turn = {"qsim": 8, "fast": 80, "fast_blas": 80}
    rates = dict.fromkeys(backends, 0.0)
    grad_rate = 0.0
    for backend in backends.values():
        backend.expectation(xs[0, :depth], xs[0, depth:])  # warm up
    for _ in range(rounds):
        for name, backend in backends.items():
            t0 = time.perf_counter()
            for x in xs[: turn[name]]:
                backend.expectation(x[:depth], x[depth:])
            rates[name] = max(rates[name], turn[name] / (time.perf_counter() - t0))
        t0 = time.perf_counter()
        for x in xs[:20]:
            backends["fast"].expectation_and_gradient(x[:depth], x[depth:])
        grad_rate = max(grad_rate, 20 / (time.perf_counter() - t0))
    return {
        "n": n,
        "depth": depth,
        "mixer": mixer,
        "qsim_evals_per_s": rates["qsim"],
        "fast_evals_per_s": rates["fast"],
        "speedup": rates["fast"] / rates["qsim"],
        "fast_blas_evals_per_s": rates["fast_blas"],
        "jit_over_blas": rates["fast"] / rates["fast_blas"],
        "fast_value_and_gradient_per_s": grad_rate,
        # central differences on qsim: the value and 2 evaluations per angle
        "qsim_value_and_gradient_per_s": rates["qsim"] / (1 + 4 * depth),
    }


def bench_state(
    n: int = 24,
    depth: int = 4,
    couplings: int = 100,
    threads: int = 2,
    rounds: int = 3,
    seed: int = 1,
) -> dict:
    """(b): one final state, qsim and fast with ``threads`` threads (and fast on one),
    taking turns ``rounds`` times, best time of each."""
    from solvers.qaoa.backends.fast import FastBackend
    from solvers.qaoa.backends.qsim import QsimBackend

    cost = _cost(n, couplings, seed)
    g = np.linspace(0.1, 0.6, depth)
    b = -np.linspace(0.6, 0.1, depth)
    runs = {
        "qsim": QsimBackend(cost, depth, threads=threads),
        "fast": FastBackend(cost, depth, threads=threads),
        "fast_1_thread": FastBackend(cost, depth, threads=1),
    }
    ref = runs["qsim"].state(g, b)  # the first call also warms qsim up
    max_diff = float(np.abs(runs["fast"].state(g, b) - ref).max())
    del ref
    best = dict.fromkeys(runs, math.inf)
    for _ in range(rounds):
        for name, backend in runs.items():
            best[name] = min(best[name], _best_time(lambda backend=backend: backend.state(g, b), 1))
    moved = runs["fast"].simulator.bytes_moved(depth)
    bandwidth = machine_bandwidth()
    t_fast = min(best["fast"], best["fast_1_thread"])
    achieved = moved / t_fast
    return {
        "n": n,
        "depth": depth,
        "zz_terms": len(cost.J),
        "threads": threads,
        "qsim_s": best["qsim"],
        "fast_s": best["fast"],
        "fast_1_thread_s": best["fast_1_thread"],
        "speedup": best["qsim"] / best["fast"],
        "max_amplitude_difference": max_diff,
        "fast_bytes_moved": moved,
        "fast_bandwidth_gb_per_s": achieved / 1e9,
        "machine_bandwidth_gb_per_s": bandwidth / 1e9,
        "bandwidth_share": achieved / bandwidth,
    }


#: Bytes per amplitude alive while each backend computes one state, complex64 state.
MEMORY_MODEL = {
    "fast": {
        "IsingCost.diag (float64)": 8,
        "working diagonal (float32)": 4,
        "state (complex64)": 8,
    },
    "qsim": {
        "IsingCost.diag (float64)": 8,
        "qsim's state (complex64, C++)": 8,
        "state returned to numpy (complex64)": 8,
    },
}


def largest_n(budget_bytes: int = 24 * GIB) -> dict:
    """(c): the largest n whose arrays fit in ``budget_bytes``, per :data:`MEMORY_MODEL`."""
    out = {}
    for name, parts in MEMORY_MODEL.items():
        per_amp = sum(parts.values())
        n = int(math.floor(math.log2(budget_bytes / per_amp)))
        if per_amp << n >= budget_bytes:  # exactly full leaves no room for anything else
            n -= 1
        out[name] = {"bytes_per_amplitude": per_amp, "largest_n": n, "parts": parts}
    return out


def _available_memory() -> int:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:  # pragma: no cover - not Linux
        pass
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def run_28(n: int = 28, depth: int = 1, threads: int = 2) -> dict:
    """``fast`` at ``n`` qubits in complex64: the cost diagonal, one state, its expectation."""
    from solvers.qaoa.backends.fast import FastBackend

    t0 = time.perf_counter()
    cost = _cost(n, couplings=3 * n, seed=28)
    t_cost = time.perf_counter() - t0
    backend = FastBackend(cost, depth, threads=threads)
    t0 = time.perf_counter()
    value = backend.expectation([0.3] * depth, [-0.4] * depth)
    t_state = time.perf_counter() - t0
    return {
        "n": n,
        "depth": depth,
        "cost_diagonal_s": t_cost,
        "expectation_s": t_state,
        "expectation": value,
        "peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / GIB,
    }


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(
        prog="python -m benchmarks.bench_qaoa", description=__doc__.splitlines()[0]
    )
    ap.add_argument("--skip-28", action="store_true", help="do not run fast at 28 qubits")
    ap.add_argument("--out", default=None, help="also write the figures to this JSON file")
    args = ap.parse_args(argv)
    results: dict = {}

    results["loop"] = r = bench_loop()
    print(
        f"(a) optimiser loop, n={r['n']}, p={r['depth']}: fast {r['fast_evals_per_s']:.0f} evals/s vs "
        f"qsim {r['qsim_evals_per_s']:.1f} evals/s -> {r['speedup']:.1f}x (target >= 10x); "
        f"compiled butterflies {r['jit_over_blas']:.1f}x the matrix-product kernels "
        f"({r['fast_blas_evals_per_s']:.0f} evals/s); "
        f"value+gradient: fast (adjoint) {r['fast_value_and_gradient_per_s']:.0f}/s vs qsim "
        f"(central differences, {1 + 4 * r['depth']} evaluations) "
        f"{r['qsim_value_and_gradient_per_s']:.1f}/s"
    )

    results["loop_xy"] = r = bench_loop(mixer="xy-ring")
    print(
        f"(a') the same loop with the XY-ring mixer on 4 groups of 4: fast {r['fast_evals_per_s']:.0f} evals/s "
        f"vs qsim {r['qsim_evals_per_s']:.1f} evals/s -> {r['speedup']:.1f}x; compiled kernels "
        f"{r['jit_over_blas']:.1f}x the matrix-product ones"
    )

    results["state"] = r = bench_state()
    print(
        f"(b) one state, n={r['n']}, p={r['depth']}, {r['zz_terms']} ZZ terms, {r['threads']} threads: "
        f"fast {r['fast_s']:.2f}s (1 thread {r['fast_1_thread_s']:.2f}s) vs qsim {r['qsim_s']:.2f}s "
        f"-> {r['speedup']:.1f}x (target >= 3x); max |amplitude difference| {r['max_amplitude_difference']:.1e}"
    )
    print(
        f"    fast moves >= {r['fast_bytes_moved'] / GIB:.1f} GiB: {r['fast_bandwidth_gb_per_s']:.1f} GB/s = "
        f"{100 * r['bandwidth_share']:.0f}% of the machine's {r['machine_bandwidth_gb_per_s']:.1f} GB/s "
        "(np.copyto, read + write)"
    )

    results["memory"] = m = largest_n()
    for name, v in m.items():
        parts = ", ".join(f"{k} {b} B" for k, b in v["parts"].items())
        print(
            f"(c) {name}: {v['bytes_per_amplitude']} B/amplitude ({parts}) -> "
            f"largest n in 24 GiB: {v['largest_n']}"
        )
    print(
        "    (the gradient adds a co-state, 8 B; sampling adds float64 probabilities and their "
        "cumulative sum, 16 B, after the state is freed)"
    )
    need = 8 * GIB
    if args.skip_28:
        print("    n=28 run skipped (--skip-28)")
    elif _available_memory() < need:
        print(
            f"    n=28 run skipped: {_available_memory() / GIB:.1f} GiB free, needs {need / GIB:.0f}"
        )
    else:
        results["fast_28"] = r = run_28()
        print(
            f"    fast at n={r['n']}, complex64: cost diagonal {r['cost_diagonal_s']:.1f}s, "
            f"expectation (p={r['depth']}) {r['expectation_s']:.1f}s, peak RSS {r['peak_rss_gib']:.1f} GiB"
        )
    if args.out:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(results, indent=2))
        print(f"figures written to {out}")
    return results


if __name__ == "__main__":
    main()
