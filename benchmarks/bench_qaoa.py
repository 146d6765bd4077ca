"""QAOA simulators: the project's ``fast`` simulator against qsim, as ratios in one process.

Run: ``python -m benchmarks.bench_qaoa [--skip-28] [--out FILE.json]``.

(a) An optimiser-like loop, 16 qubits, depth 3: expectation evaluations per second
    on ``fast`` (cost diagonal reused) and on ``qsim`` (the circuit resolved and
    simulated each time, as :class:`~solvers.qaoa.backends.qsim.QsimBackend` does),
    one thread each (the default below 20 qubits).  Target: ``fast`` >= 10x.  Also
    ``fast`` with ``kernels="blas"`` (its matrix-product kernels) against its
    default compiled butterflies, the reason they are written here.  (a') the
    same with the XY-ring mixer on one-hot groups of 4 qubits.
(b) One final state, 24 qubits, depth 4, about 100 ZZ terms, two threads each
    (and ``fast`` on one).  Target: ``fast`` >= 10x qsim.  ``fast``'s achieved
    bandwidth is the bytes-moved model of :meth:`FastSimulator.traffic` (pass by
    pass: how many passes x the bytes each must read + write, caches holding one
    tile and nothing more) over its best time; its share is taken of the best
    STREAM-like figure measured in the same process (``np.copyto`` of 256 MiB,
    read + write; STREAM's triad ``a = b + s c`` compiled, on one and on two
    threads, 3 arrays counted).  Target: >= 35%.
(b') What a second thread can give on this machine (:func:`thread_probe`): the same
    total work on one thread and on two, for a compute-bound loop (no memory
    traffic) and for the triad.
(c) The largest ``n`` each backend can hold in 24 GiB, from the bytes per
    amplitude of the arrays each keeps alive while it computes a state; then
    ``fast`` runs at 28 qubits in complex64 (unless ``--skip-28``, or too little
    memory is free), and the peak resident memory of the process is reported.
(d) ``fast`` against QOKit's C simulator (:func:`bench_qokit`) at n = 16, 20, 24,
    complex128 and complex64, the same diagonal and angles.  QOKit is a
    benchmark-only extra, not a dependency of cityopt: where it is missing each
    row is printed as NOT MEASURED with the reason.

Why two threads gave nothing (issue 15: 0.88 s on two against 0.89 s on one).
This machine is a KVM guest with 2 vCPUs that the kernel reports as 2 cores of 1
thread each (``lscpu``; whether the host backs them with SMT siblings cannot be
seen from inside).  The old tile pass spent most of its time in numpy's ``cos``
and ``sin`` (5 ns a float32 element, 18 ns a float64 one), which scale with
threads; what did not scale was the CPU: the load average on this shared machine
stayed between 2 and 17 all along (other sessions' jobs on both vCPUs), so a
second thread only time-slices with them.  (b') measures it: under a load of
about 10, a pure multiply-add loop on two threads ran at 0.90x its speed on one,
and the triad at 0.92x, where two idle cores give close to 2x for the loop.
Numba's own parallel runtime is not involved (the passes run compiled ``nogil``
kernels on a pool of Python threads, one contiguous share of tiles per thread:
two dispatches per pass of about 50 ms at n = 24).

Measured on this 2-vCPU machine, before (the issue's figures, and the previous
kernels rerun) and after the compiled phase layer, the stencils for the two lowest
qubits and the one gathered pass for the high-order qubits; best of N, ratios
against qsim in the same process, under the load average given:

- (a) n=16, p=3 loop: before 18.9x qsim (issue); rerun at load 8.9: 156 evals/s,
  20.1x.  After, load 8.8: 256 evals/s, 29.9x (the whole bench at load 12.6:
  27.7x); value + gradient 51 -> 64 per second.  (a') XY ring: 12.6x.
- (b) n=24, p=4 state: before 0.88 s, 8.7x qsim, 15% of 36.4 GB/s (issue); rerun
  at load 14.7: 3.44 s wall against qsim's 25.4 s, 7.4x, 0.98 s of CPU on one
  thread, 4.6 GiB by its pass model (the phase layer, then each 3- or 4-qubit
  block outside a tile a pass of its own).  After, load 17.5: 1.81 s wall against
  qsim's 35.5 s, 19.7x; 0.58 s of CPU on one thread; 2.62 GiB moved (8 + 4 x 36 +
  16 bytes per amplitude).  The whole bench at load 12.6: 1.63 s (one thread
  1.44 s) against qsim's 26.4 s, 16.2x, amplitudes equal to 4.9e-8.  CPU time of
  one state, one thread, same process and load (about 13): complex64 0.98 s ->
  0.47 s; complex128 2.89 s -> 0.89 s (9.25 -> 5.25 GiB by the models).
- The bandwidth share could not be measured honestly here: at these loads fast's
  wall time is three times its CPU time, while a copy that happens to run in a
  quiet moment sets the reference (the bench at load 12.6 printed 22% of a copy
  measured at 8.8 GB/s).  On an idle machine the CPU time above (0.47 s on one
  thread, compute-bound: about 6.5 ns per amplitude and layer, of which the phase
  1.3, the stencils 0.6, the rotations of the 12 qubits in a tile 1.6 and the
  high pass 2.5) puts two threads at about 0.24 s, i.e. about 32% of 36.4 GB/s by
  the model above; 35% needs 0.22 s.

On an idle machine at last (2026-12-01, load 0.7-1.4, the same code, three runs of
the whole bench; the spread is the host's, a KVM guest whose neighbours the load
average does not show):

- (a) n=16, p=3 loop: 17.4x, 17.6x, 17.7x qsim (about 1,850 evals/s against 105).
- (b) n=24, p=4 state: fast 0.14 s on two threads, 0.26 s on one (the second
  thread gives 1.9x where it has a core of its own); qsim 1.34, 1.81, 2.17 s:
  9.5x, 13.1x, 15.8x.  Bandwidth by the bytes model: 2.62 GiB in 0.135 s =
  20.5 GB/s, 46-50% of the 40.9-44.3 GB/s measured in the same runs.
- (b') the thread probe swings with the neighbours: the compute-bound loop gave
  1.82x, 1.63x, 1.00x and 0.93x on two threads in four runs; the triad 0.98-1.09x
  (two threads share one memory bus).
- (d) fast / QOKit, complex128 and complex64: n=16 6.9x / 10.9-12.3x (one run 2.4x
  in complex128: a 4 ms timing), n=20 7.7-9.9x / 15.6-22.2x, n=24 13.9-14.3x /
  29.8-30.9x; energies equal to 1e-13 and 2e-6.
- Tried and not kept: fusing the initial state into the first tile pass and the
  frame into the last high pass (2.12 GiB instead of 2.62 by the model) changed
  nothing measurable, 0.141 s against 0.145 s best of 7 on two threads and 0.263
  against 0.260 on one: at two threads the state is compute-bound here (about
  2 ns per amplitude and layer), so the passes the fusion saves were not the
  bottleneck, and the share above is bandwidth actually moved, not a target
  the code was shaped to.
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


def _kernels():
    """STREAM's triad and a compute-bound loop, compiled (GIL released)."""
    from numba import njit

    @njit(nogil=True, fastmath=True)
    def triad(a, b, c, s):  # pragma: no cover - compiled
        for i in range(a.size):
            a[i] = b[i] + s * c[i]

    @njit(nogil=True, fastmath=True)
    def spin(x, rounds):  # pragma: no cover - compiled: FMAs on 32 KiB, no memory traffic
        for _ in range(rounds):
            for i in range(x.size):
                x[i] = x[i] * 0.999 + 0.001
        return x[0]

    return triad, spin


def _on_threads(threads: int, fn, parts: list) -> None:
    """``fn(part)`` for each part, on ``threads`` threads (the calling thread alone for 1)."""
    if threads == 1:
        for part in parts:
            fn(part)
        return
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(fn, parts))


def stream_bandwidth(nbytes: int = 256 << 20, repeats: int = 4) -> dict:
    """STREAM-like bandwidths in this process, bytes per second, best of ``repeats``.

    ``copy``: ``np.copyto`` of an ``nbytes`` array (read + write, 2 x ``nbytes``);
    ``triad_1``, ``triad_2``: ``a = b + s c`` on three ``nbytes`` arrays (STREAM's count,
    3 x ``nbytes``: the read of ``a``'s lines before they are written is not counted), on
    one thread and split over two.  ``best`` is the largest: the reference the
    simulator's share is taken of.
    """
    triad, _ = _kernels()
    n = nbytes // 8
    a, b, c = np.zeros(n), np.ones(n), np.ones(n)
    triad(a[:8], b[:8], c[:8], 0.5)  # compile
    out = {"copy": machine_bandwidth(nbytes, repeats)}
    for threads in (1, 2):
        cuts = np.linspace(0, n, threads + 1).astype(int)
        parts = [(a[i:j], b[i:j], c[i:j]) for i, j in zip(cuts[:-1], cuts[1:])]
        t = _best_time(lambda parts=parts, th=threads: _on_threads(th, lambda p: triad(*p, 0.5), parts), repeats)
        out[f"triad_{threads}"] = 3 * nbytes / t
    out["best"] = max(out.values())
    return out


def thread_probe(repeats: int = 3) -> dict:
    """What a second thread can give here: the same total work on 1 and on 2 threads.

    ``compute``: a multiply-add loop on 32 KiB per thread (no memory traffic);
    ``memory``: STREAM's triad on 3 x 256 MiB.  A ratio near 2 means two idle cores;
    near 1, one core's worth of CPU (other processes busy, or SMT siblings) or, for
    ``memory``, a bus that one core already fills.  Also the CPU topology the kernel
    reports and the load average.
    """
    triad, spin = _kernels()
    xs = [np.ones(4096) for _ in range(2)]
    spin(xs[0], 1)
    rounds = 20000
    t1 = _best_time(lambda: _on_threads(1, lambda x: spin(x, rounds), xs), repeats)
    t2 = _best_time(lambda: _on_threads(2, lambda x: spin(x, rounds), xs), repeats)
    stream = stream_bandwidth(repeats=repeats)
    topo = {"cpus": os.cpu_count(), "usable_cpus": len(os.sched_getaffinity(0))}
    try:
        with open("/proc/cpuinfo") as f:
            info = f.read()
        cores = {line.split(":")[1].strip() for line in info.splitlines() if line.startswith("core id")}
        topo["physical_cores"] = len(cores)
        topo["model"] = next((ln.split(":")[1].strip() for ln in info.splitlines() if ln.startswith("model name")), "?")
        topo["hypervisor"] = " hypervisor " in next((ln for ln in info.splitlines() if ln.startswith("flags")), "") + " "
    except OSError:  # pragma: no cover - not Linux
        pass
    return {
        "compute_speedup_2_threads": t1 / t2,
        "memory_speedup_2_threads": stream["triad_2"] / stream["triad_1"],
        "stream": stream,
        "topology": topo,
        "load_average": os.getloadavg(),
    }


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
    stream = stream_bandwidth()
    bandwidth = stream["best"]
    t_fast = min(best["fast"], best["fast_1_thread"])
    achieved = moved / t_fast
    return {
        "traffic": runs["fast"].simulator.traffic(depth),
        "stream_gb_per_s": {k: v / 1e9 for k, v in stream.items()},
        "load_average": os.getloadavg(),
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
        "machine_bandwidth_gb_per_s": bandwidth / 1e9,  # the best STREAM-like figure
        "bandwidth_share": achieved / bandwidth,
    }


#: The QOKit release the comparison was written against (its C simulator, ``choose_simulator("c")``).
#: ``make bench`` installs it with ``--no-deps``: the comparison uses only ``qokit.fur`` and its
#: compiled C simulator, while QOKit's own requirements pin exact numpy, numba, networkx and
#: qiskit releases that conflict with ``constraints.txt``.  It is never a runtime dependency.
QOKIT_PIN = "qokit==0.1.4"


def _import_qokit_fur():
    """Import ``qokit.fur`` and point it at QOKit's compiled C simulator; the module or why not.

    ``qokit/__init__`` imports qiskit (for circuits the benchmark does not use), so the
    package is entered as a bare namespace and only ``qokit.fur`` runs.  QOKit looks for
    ``libcsim.so`` (built by hand from a source checkout); its PyPI wheel ships the same
    C sources compiled by setuptools as the top-level extension ``simulator*.so``
    (``apply_qaoa_furx`` and friends, no OpenMP), which is used when ``libcsim.so`` is absent.
    """
    import importlib
    import importlib.util
    import sys
    import types

    if "qokit" not in sys.modules:
        try:
            spec = importlib.util.find_spec("qokit")
        except (ImportError, ValueError):
            spec = None
        if spec is None or not spec.submodule_search_locations:
            return None, (f"qokit is not installed; it is a benchmark-only package: "
                          f"pip install --no-deps '{QOKIT_PIN}' (`make bench` does)")
        package = types.ModuleType("qokit")
        package.__path__ = list(spec.submodule_search_locations)
        sys.modules["qokit"] = package
    try:
        libpath = importlib.import_module("qokit.fur.c.csim.libpath")
        if not libpath.is_available():
            roots = [Path(p) for p in sys.path if p and Path(p).is_dir()]
            wheel_lib = next((so for root in roots for so in sorted(root.glob("simulator.cpython-*.so"))), None)
            if wheel_lib is None:
                return None, "qokit is installed but its C simulator (libcsim.so or the wheel's simulator*.so) is not"
            libpath.libpath = wheel_lib
        fur = importlib.import_module("qokit.fur")
    except ImportError as exc:
        return None, f"qokit is installed but qokit.fur does not import: {exc}"
    return fur, "available"


def qokit_status() -> str:
    """``"available"``, or why the QOKit rows cannot be measured here."""
    return _import_qokit_fur()[1]


def bench_qokit(ns: tuple[int, ...] = (16, 20, 24), depth: int = 4, rounds: int = 3, seed: int = 2) -> dict:
    """(d): ``fast`` against QOKit's C simulator on the same diagonal and angles.

    QOKit's ``QAOAFURXSimulatorC`` runs ``exp(-i gamma/2 costs)`` then ``exp(-i beta X)``
    per qubit from ``|+>`` in float64, so it gets ``costs = 2 diag`` and the same angles;
    both compute the energy ``<C'>`` (QOKit: ``simulate_qaoa`` then ``get_expectation``,
    ``fast``: :meth:`FastSimulator.expectation`), in turns, best of ``rounds``.  The
    energies must agree (1e-6 in complex128, 1e-3 in complex64).  QOKit's threads are
    its OpenMP default; ``fast`` runs on two.  Without QOKit every row says why it is
    not measured.
    """
    fur, status = _import_qokit_fur()
    if fur is None:
        return {"measured": False, "reason": status, "rows": []}
    choose_simulator = fur.choose_simulator

    from solvers.qaoa.backends.fast import FastBackend

    rows = []
    g = np.linspace(0.1, 0.6, depth)
    b = -np.linspace(0.6, 0.1, depth)
    for n in ns:
        cost = _cost(n, couplings=3 * n, seed=seed)
        qk = choose_simulator("c")(n, costs=2.0 * np.asarray(cost.diag, dtype=np.float64))

        def qokit_energy(qk=qk) -> float:
            return float(qk.get_expectation(qk.simulate_qaoa(g, b)))

        fast = {p: FastBackend(cost, depth, precision=p, threads=2) for p in ("complex128", "complex64")}
        ref = qokit_energy() / 2.0
        energy = {p: fb.expectation(g, b) for p, fb in fast.items()}
        best = {"qokit": math.inf, **dict.fromkeys(fast, math.inf)}
        for _ in range(rounds):
            best["qokit"] = min(best["qokit"], _best_time(qokit_energy, 1))
            for p, fb in fast.items():
                best[p] = min(best[p], _best_time(lambda fb=fb: fb.expectation(g, b), 1))
        rows.append(
            {
                "n": n,
                "depth": depth,
                "qokit_s": best["qokit"],
                **{f"fast_{p}_s": best[p] for p in fast},
                **{f"speedup_{p}": best["qokit"] / best[p] for p in fast},
                **{f"energy_difference_{p}": abs(energy[p] - ref) for p in fast},
            }
        )
    return {"measured": True, "reason": "", "rows": rows}


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
        f"-> {r['speedup']:.1f}x (target >= 10x); max |amplitude difference| {r['max_amplitude_difference']:.1e}"
    )
    model = " + ".join(f"{count} x {each / 2**20:.0f} MiB ({name})" for name, count, each in r["traffic"])
    st = r["stream_gb_per_s"]
    print(
        f"    bytes-moved model (read + write per pass): {model} = {r['fast_bytes_moved'] / GIB:.2f} GiB; "
        f"over fast's best time: {r['fast_bandwidth_gb_per_s']:.1f} GB/s = "
        f"{100 * r['bandwidth_share']:.0f}% of the machine's {r['machine_bandwidth_gb_per_s']:.1f} GB/s "
        f"(target >= 35%; measured here: copy {st['copy']:.1f}, triad 1 thread {st['triad_1']:.1f}, "
        f"2 threads {st['triad_2']:.1f} GB/s; load average {r['load_average'][0]:.1f})"
    )

    results["threads"] = r = thread_probe()
    print(
        f"(b') what a 2nd thread can give: compute-bound loop x{r['compute_speedup_2_threads']:.2f}, "
        f"STREAM triad x{r['memory_speedup_2_threads']:.2f}; {r['topology']}, "
        f"load average {r['load_average'][0]:.1f}"
    )

    results["qokit"] = q = bench_qokit()
    if not q["measured"]:
        for n in (16, 20, 24):
            print(f"(d) fast vs QOKit (C simulator), n={n}: NOT MEASURED: {q['reason']}")
    for row in q["rows"]:
        print(
            f"(d) fast vs QOKit (C simulator), n={row['n']}, p={row['depth']}: QOKit {row['qokit_s']:.3f}s; "
            f"fast complex128 {row['fast_complex128_s']:.3f}s -> {row['speedup_complex128']:.1f}x, "
            f"complex64 {row['fast_complex64_s']:.3f}s -> {row['speedup_complex64']:.1f}x; energies differ by "
            f"{row['energy_difference_complex128']:.1e} / {row['energy_difference_complex64']:.1e}"
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
