"""One entry point from problems to solvers: ``solve(problem, "qaoa", depth=2)``.

``optimizer`` knows solvers only by name and options.  Names resolve in this order:

* the problem's own solvers (e.g. traffic's ``shortest`` baseline);
* ``cpsat`` with ``on="native"`` (the default where the problem has a native
  model): CP-SAT on the problem's own integer model;
* any registered QUBO solver (``exact``, ``anneal``, ``cpsat`` with
  ``on="qubo"``, ``qaoa``, ...) on ``problem.to_qubo()``.

Examples
--------
>>> from optimizer import solver_names
>>> "qaoa" in solver_names() and "shortest" in solver_names()
True
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from optimizer.errors import InvalidOptionError, UnknownSolverError

if TYPE_CHECKING:  # pragma: no cover
    from optimizer.problems.base import Problem
    from solvers.solution import Solution

__all__ = ["check_request", "solve", "solver_names"]

#: Problem-level solver names (not QUBO solvers) and what they are.
PROBLEM_SOLVERS = {
    "shortest": "traffic baseline: every trip on its shortest path by travel time",
    "milp": "dispatch: the discrete model as a MathOpt MILP on HiGHS (bound in EUR)",
    "routing": "fleet: the OR-Tools Routing library (first solution + guided local search, time limit)",
}


def solver_names() -> dict[str, str]:
    """Every solver name ``solve`` accepts, with a line on each."""
    from solvers import available_solvers

    return {**available_solvers(), **PROBLEM_SOLVERS}


def solve(problem: Problem, solver: str, *, seed: int | None = None, time_limit_s: float | None = None,
          **options: Any) -> Solution:
    """Solve ``problem`` with the solver named ``solver``.

    Parameters
    ----------
    problem : Problem
        E.g. :class:`optimizer.problems.Traffic`.
    solver : str
        ``qaoa``, ``cpsat``, ``exact``, ``anneal``, or a problem's own (``shortest``).
    seed : int, optional
    time_limit_s : float, optional
    **options
        Solver options; ``on="qubo"|"native"`` picks CP-SAT's model.

    Returns
    -------
    solvers.Solution
        ``bits`` index the problem's QUBO variables whatever solver ran.
    """
    from solvers import solve_qubo

    native = problem.native_solvers()
    if solver in native:
        t0 = time.perf_counter()
        sol = native[solver](seed=seed, time_limit_s=time_limit_s, **options)
        return sol if sol.wall_time_s else replace(sol, wall_time_s=time.perf_counter() - t0)
    if solver == "cpsat":
        on = options.pop("on", None)
        if on not in (None, "native", "qubo"):
            msg = f"option 'on' of solver 'cpsat' must be 'native' or 'qubo', got {on!r}"
            raise InvalidOptionError(msg)
        t0 = time.perf_counter()
        model = problem.native_cpsat() if on != "qubo" else None
        if on == "native" and model is None:
            msg = f"problem {problem.kind!r} has no native CP-SAT model; use on='qubo'"
            raise InvalidOptionError(msg)
        if model is not None:
            from solvers.cpsat import solve_cpsat_model

            sol = solve_cpsat_model(model, seed=seed, time_limit_s=time_limit_s, **options)
            return replace(sol, wall_time_s=time.perf_counter() - t0)
    if solver in PROBLEM_SOLVERS:
        msg = f"solver {solver!r} does not apply to {problem.kind!r} problems"
        raise UnknownSolverError(msg)
    return solve_qubo(problem.to_qubo(), solver, seed=seed, time_limit_s=time_limit_s, **options)


def check_request(solver: str, options: dict[str, Any]) -> None:
    """Validate a solver name and its options before anything runs (no partial output)."""
    from solvers.registry import check_options

    opts = dict(options)
    if solver in PROBLEM_SOLVERS:
        if opts:
            msg = f"solver {solver!r} takes no options, got {sorted(opts)}"
            raise InvalidOptionError(msg)
        return
    if solver == "cpsat":
        on = opts.pop("on", None)
        if on not in (None, "native", "qubo"):
            msg = f"option 'on' of solver 'cpsat' must be 'native' or 'qubo', got {on!r}"
            raise InvalidOptionError(msg)
    check_options(solver, opts)
