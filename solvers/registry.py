"""One registry of QUBO solvers, imported lazily so ``import solvers`` stays light.

Examples
--------
>>> from solvers import QUBO, available_solvers, solve_qubo
>>> sorted(available_solvers())
['anneal', 'cpsat', 'decompose', 'exact', 'qaoa']
>>> q = QUBO.from_terms({"a": 1.0, "b": -2.0}, {("a", "b"): 0.5})
>>> sol = solve_qubo(q, "exact")
>>> sol.bits.tolist(), sol.energy, sol.status.value
([0, 1], -2.0, 'OPTIMAL')
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from solvers.errors import UnknownSolverError

if TYPE_CHECKING:  # pragma: no cover
    from solvers.qubo import QUBO
    from solvers.solution import Solution

__all__ = ["SolverSpec", "available_solvers", "check_options", "get_solver", "register_solver", "run_checked",
           "solve_qubo"]


@dataclass(frozen=True)
class SolverSpec:
    """A registered solver: ``target`` is ``"module:function"``, imported on first use."""

    name: str
    target: str
    description: str
    options: str = ""

    def load(self) -> Callable[..., Solution]:
        module, func = self.target.split(":")
        return getattr(importlib.import_module(module), func)

    def options_class(self) -> type | None:
        if not self.options:
            return None
        module, cls = self.options.split(":")
        return getattr(importlib.import_module(module), cls)


_REGISTRY: dict[str, SolverSpec] = {}


def register_solver(name: str, target: str, description: str, options: str = "") -> None:
    """Register (or replace) a QUBO solver under ``name``.

    ``target`` and ``options`` are ``"module:attribute"`` strings (the solve
    function and its options dataclass), imported on first use.
    """
    _REGISTRY[name] = SolverSpec(name, target, description, options)


register_solver("exact", "solvers.classical:solve_exact",
                "brute force over all 2**n assignments, vectorised (up to about 26 variables)",
                "solvers.classical:ExactOptions")
register_solver("anneal", "solvers.classical:solve_anneal",
                "simulated annealing, vectorised over independent reads, seeded",
                "solvers.classical:AnnealOptions")
register_solver("cpsat", "solvers.cpsat:solve_qubo_cpsat",
                "OR-Tools CP-SAT on the QUBO (products linearised), with bound and gap",
                "solvers.cpsat:CpSatOptions")
register_solver("decompose", "solvers.decompose:solve_decompose",
                "sub-QUBOs of at most sub_size variables (whole one-hot groups) solved by an inner solver "
                "(qaoa, exact, anneal) with the rest fixed, until none improves",
                "solvers.decompose:DecomposeOptions")
register_solver("qaoa", "solvers.qaoa:solve_qaoa",
                "QAOA in Cirq: optimise angles on a simulator, sample, keep the best sample",
                "solvers.qaoa.options:QAOAOptions")


def check_options(solver: str, options: dict[str, Any]) -> Any:
    """Validate ``options`` for ``solver`` without solving (raises InvalidOptionError)."""
    from solvers.options import build_options

    cls = get_solver(solver).options_class()
    if cls is None:
        return None
    return build_options(cls, solver, options)


def check_fits(solver: str, options: dict[str, Any], num_variables: int) -> None:
    """Before any solve: ``options`` are valid for ``solver`` and a QUBO of ``num_variables`` suits them.

    Calls the options' ``check_size(n)`` (``exact``'s 2**n limit, ``qaoa``'s
    qubits) where the options class has one.  Raises what it raises
    (InvalidOptionError, ProblemTooLargeError).
    """
    opts = check_options(solver, options)
    if callable(getattr(opts, "check_size", None)):
        opts.check_size(num_variables)


def available_solvers() -> dict[str, str]:
    """Registered QUBO solver names and what each does."""
    return {k: v.description for k, v in sorted(_REGISTRY.items())}


def get_solver(name: str) -> SolverSpec:
    try:
        return _REGISTRY[name]
    except KeyError:
        msg = f"unknown solver {name!r}; choose one of: {', '.join(sorted(_REGISTRY))}"
        raise UnknownSolverError(msg) from None


def solve_qubo(
    qubo: QUBO,
    solver: str,
    *,
    seed: int | None = None,
    time_limit_s: float | None = None,
    **options: Any,
) -> Solution:
    """Solve ``qubo`` with the solver registered as ``solver``.

    Parameters
    ----------
    qubo : QUBO
    solver : str
        A name from :func:`available_solvers`.
    seed : int, optional
        Seed for every random choice the solver makes.
    time_limit_s : float, optional
        Wall-time limit where the solver honours one.
    **options
        Solver options (see each solver's options dataclass).

    Returns
    -------
    Solution
    """
    from solvers.options import check_call

    check_call(seed, time_limit_s)
    return run_checked(qubo, solver, seed=seed, time_limit_s=time_limit_s, **options)


def run_checked(qubo: QUBO, solver: str, *, seed: int | None, time_limit_s: float | None,
                **options: Any) -> Solution:
    """:func:`solve_qubo` for a caller that has already checked ``seed`` and ``time_limit_s``."""
    func = get_solver(solver).load()
    t0 = time.perf_counter()
    sol = func(qubo, seed=seed, time_limit_s=time_limit_s, **options)
    if not sol.wall_time_s:
        sol = replace(sol, wall_time_s=time.perf_counter() - t0)
    return sol
