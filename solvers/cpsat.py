"""OR-Tools CP-SAT: on a QUBO itself (apples to apples) and on a native model it is handed.

CP-SAT needs integer coefficients.  The QUBO is scaled by the smallest power of
ten (up to ``10**max_decimals``) that makes every coefficient integral; if none
does, coefficients are rounded at that scale and the solution records that the
bound is approximate.  Energies are always recomputed in floating point from
the returned bits.

Examples
--------
>>> from solvers import QUBO, solve_qubo
>>> q = QUBO.from_terms({"a": 1.5, "b": -2.0}, {("a", "b"): -1.0})
>>> sol = solve_qubo(q, "cpsat", seed=0)
>>> sol.bits.tolist(), sol.energy, sol.status.value, sol.best_bound
([0, 1], -2.0, 'OPTIMAL', -2.0)
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from solvers.errors import SolverError
from solvers.options import build_options, check_range, options_dict
from solvers.qubo import QUBO
from solvers.solution import Solution, Status

if TYPE_CHECKING:  # pragma: no cover
    from ortools.sat.python import cp_model

__all__ = ["CpSatModel", "CpSatOptions", "integer_scale", "solve_cpsat_model", "solve_qubo_cpsat"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CpSatOptions:
    """Options of the ``cpsat`` solver.

    Attributes
    ----------
    workers : int or None
        Parallel search workers (default: the machine's cores).
    max_decimals : int
        Largest power of ten used to make QUBO coefficients integral.
    onehot_constraints : bool
        On a QUBO: also state its one-hot groups as hard constraints (they are
        implied by the penalty at the optimum; stating them speeds the search).
    log_search : bool
        Let CP-SAT log its search (to the ``solvers.cpsat`` logger's stream).
    deterministic_time : float or None
        A work limit in CP-SAT's deterministic time (its own count of work, in
        units of roughly a second on a typical core) instead of, or under, the
        wall-clock ``time_limit_s``: the same model and seed then give the same
        answer on a loaded machine and on an idle one.  One worker searches as it
        always does; several interleave their strategies in fixed batches
        (``interleave_search``), the price of reproducing with threads (on the
        demo's city-sized instance one worker interleaved found no improvement in
        4 deterministic seconds that it proves optimal in 0.73 without).  The wall
        limit stays a guard (``info["stopped_by"]`` says which limit ended the
        search).
    """

    workers: int | None = None
    max_decimals: int = 6
    onehot_constraints: bool = False
    log_search: bool = False
    deterministic_time: float | None = None

    def __post_init__(self) -> None:
        check_range("cpsat", "workers", self.workers, low=1, high=256, integer=True, allow_none=True)
        check_range("cpsat", "deterministic_time", self.deterministic_time, low=1e-6, high=604_800,
                    allow_none=True)
        check_range("cpsat", "max_decimals", self.max_decimals, low=0, high=9, integer=True)


@dataclass(frozen=True)
class CpSatModel:
    """A native CP-SAT model handed to :func:`solve_cpsat_model`.

    Attributes
    ----------
    model : cp_model.CpModel
        With its objective set (minimise), in integer units.
    bits : sequence of cp_model.IntVar
        Boolean variables aligned with the problem's QUBO variables: their
        values become ``Solution.bits``.
    objective_scale : float
        ``model objective = objective_scale * problem objective + objective_offset``.
    objective_offset : float
    """

    model: Any
    bits: Sequence[Any]
    objective_scale: float = 1.0
    objective_offset: float = 0.0
    info: dict[str, Any] = field(default_factory=dict)


_STATUS = {"OPTIMAL": Status.OPTIMAL, "FEASIBLE": Status.FEASIBLE, "INFEASIBLE": Status.INFEASIBLE,
           "UNKNOWN": Status.TIMEOUT}


def integer_scale(values: np.ndarray, max_decimals: int) -> tuple[int, bool]:
    """Smallest ``10**d`` (``d <= max_decimals``) making ``values`` integral, and whether it is exact."""
    values = np.asarray(values, dtype=np.float64)
    for d in range(max_decimals + 1):
        s = 10**d
        scaled = values * s
        if np.all(np.abs(scaled - np.round(scaled)) <= 1e-9 * np.maximum(1.0, np.abs(scaled))):
            return s, True
    return 10**max_decimals, False


def _interruptible_solve(solver: Any, model: Any) -> Any:
    """``solver.solve(model)`` that Ctrl-C stops at once, then raises KeyboardInterrupt as usual.

    CP-SAT's own SIGINT catching (``catch_sigint_signal``) swaps in a C++ handler
    that outlives the solve: a later Ctrl-C then killed the whole process with no
    cleanup (no staged folder removed, no "interrupted" line).  So it is off.
    Python's handler cannot run while the main thread is inside the solve, but
    its C-level part writes the signal to a wakeup fd: a watcher thread reading
    that fd stops the search, the solve returns, and Python raises the pending
    KeyboardInterrupt.  Off the main thread (a Dask worker's task) the solve just runs.
    """
    import signal

    solver.parameters.catch_sigint_signal = False
    if threading.current_thread() is not threading.main_thread():
        return solver.solve(model)
    r, w = os.pipe()
    os.set_blocking(w, False)
    try:
        old_fd = signal.set_wakeup_fd(w, warn_on_full_buffer=False)
    except ValueError:  # no signal handling here
        os.close(r)
        os.close(w)
        return solver.solve(model)
    done = threading.Event()

    def watch() -> None:
        import select

        while not done.is_set():
            ready, _, _ = select.select([r], [], [], 0.1)
            if ready and signal.SIGINT in os.read(r, 64):
                solver.stop_search()
                return

    watcher = threading.Thread(target=watch, name="cpsat-sigint", daemon=True)
    watcher.start()
    try:
        return solver.solve(model)
    finally:
        done.set()
        watcher.join()
        signal.set_wakeup_fd(old_fd)
        os.close(r)
        os.close(w)


def _run(model: cp_model.CpModel, opts: CpSatOptions, seed: int | None,
         time_limit_s: float | None) -> tuple[Any, Any, str]:
    from ortools.sat.python import cp_model

    solver = cp_model.CpSolver()
    solver.parameters.num_workers = opts.workers or max(1, os.cpu_count() or 1)
    if seed is not None:
        solver.parameters.random_seed = int(seed)
    if time_limit_s is not None:
        solver.parameters.max_time_in_seconds = float(time_limit_s)
    if opts.deterministic_time is not None:
        solver.parameters.max_deterministic_time = float(opts.deterministic_time)
        # one worker is reproducible as it is; several only when interleaved in fixed batches
        solver.parameters.interleave_search = solver.parameters.num_workers > 1
    solver.parameters.log_search_progress = bool(opts.log_search)
    if opts.log_search:
        solver.log_callback = log.info
    status = _interruptible_solve(solver, model)
    name = solver.status_name(status)
    if name == "MODEL_INVALID":
        msg = f"CP-SAT rejected the model: {model.validate()}"
        raise SolverError(msg)
    return solver, status, name


def _stopped_by(solver: Any, name: str, opts: CpSatOptions) -> str:
    """What ended the search: ``"optimal"`` (proved), ``"infeasible"``, ``"work"`` (the deterministic
    budget spent) or ``"time_limit"`` (the wall clock first)."""
    if name in ("OPTIMAL", "INFEASIBLE"):
        return name.lower()
    if opts.deterministic_time is not None and solver.deterministic_time >= 0.999 * opts.deterministic_time:
        return "work"
    return "time_limit"


def solve_qubo_cpsat(qubo: QUBO, *, seed: int | None = None, time_limit_s: float | None = None,
                     **options: object) -> Solution:
    """Minimise a QUBO with CP-SAT; products ``x_i x_j`` become AND variables.

    A positive coefficient needs only ``y >= x_i + x_j - 1`` and a negative
    one only ``y <= x_i, y <= x_j``: the objective pushes ``y`` to the product.
    """
    from ortools.sat.python import cp_model

    opts = build_options(CpSatOptions, "cpsat", options)
    t0 = time.perf_counter()
    n = qubo.num_variables
    scale, exact_scale = integer_scale(np.concatenate([qubo.linear, qubo.quad_w]), opts.max_decimals)
    model = cp_model.CpModel()
    x = [model.new_bool_var(f"x[{i}]") for i in range(n)]
    terms = [(int(round(w * scale)), x[i]) for i, w in enumerate(qubo.linear.tolist()) if w]
    for i, j, w in zip(qubo.quad_i.tolist(), qubo.quad_j.tolist(), qubo.quad_w.tolist()):
        c = int(round(w * scale))
        if c == 0:
            continue
        y = model.new_bool_var(f"y[{i},{j}]")
        if c > 0:
            model.add(y >= x[i] + x[j] - 1)
        else:
            model.add_implication(y, x[i])
            model.add_implication(y, x[j])
        terms.append((c, y))
    if opts.onehot_constraints:
        for g in qubo.onehot:
            model.add_exactly_one(x[i] for i in g)
    model.minimize(sum(c * v for c, v in terms) if terms else 0)
    solver, _, name = _run(model, opts, seed, time_limit_s)
    status = _STATUS.get(name, Status.UNKNOWN)
    if status in (Status.OPTIMAL, Status.FEASIBLE):
        bits = np.array([solver.value(v) for v in x], dtype=np.uint8)
        energy = qubo.energy(bits)
        bound = float(solver.best_objective_bound) / scale + qubo.offset
        if status is Status.OPTIMAL and exact_scale:
            bound = min(bound, energy)
    else:
        bits, energy, bound = np.zeros(n, dtype=np.uint8), float("nan"), None
    return Solution(
        bits, energy, status, "cpsat", bool(n == 0 or qubo.is_feasible(bits)) if bound is not None else False,
        time.perf_counter() - t0, bound, "qubo", {**options_dict(opts), "on": "qubo"},
        info={"scale": scale, "exact_scale": exact_scale, "cpsat_status": name,
              "branches": solver.num_branches, "conflicts": solver.num_conflicts,
              "deterministic_time": solver.deterministic_time, "stopped_by": _stopped_by(solver, name, opts)},
    )


def solve_cpsat_model(native: CpSatModel, *, qubo: QUBO | None = None, seed: int | None = None,
                      time_limit_s: float | None = None, **options: object) -> Solution:
    """Solve a native CP-SAT model; ``best_bound`` is in the problem's objective units.

    ``Solution.energy`` is the QUBO energy of the bits when ``qubo`` is given
    (else ``nan``); ``info["objective"]`` is the native objective.
    """
    opts = build_options(CpSatOptions, "cpsat", options)
    t0 = time.perf_counter()
    solver, _, name = _run(native.model, opts, seed, time_limit_s)
    status = _STATUS.get(name, Status.UNKNOWN)
    info: dict[str, Any] = {"cpsat_status": name, "branches": solver.num_branches,
                            "conflicts": solver.num_conflicts, "deterministic_time": solver.deterministic_time,
                            "stopped_by": _stopped_by(solver, name, opts), **native.info}
    if status in (Status.OPTIMAL, Status.FEASIBLE):
        bits = np.array([solver.value(v) for v in native.bits], dtype=np.uint8)
        info["objective"] = (solver.objective_value - native.objective_offset) / native.objective_scale
        bound = (solver.best_objective_bound - native.objective_offset) / native.objective_scale
    else:
        bits, bound = np.zeros(len(native.bits), dtype=np.uint8), None
    energy = qubo.energy(bits) if (qubo is not None and bound is not None) else float("nan")
    feasible = bound is not None and (qubo is None or qubo.is_feasible(bits))
    return Solution(bits, energy, status, "cpsat", feasible, time.perf_counter() - t0, bound, "native",
                    {**options_dict(opts), "on": "native"}, info=info)
