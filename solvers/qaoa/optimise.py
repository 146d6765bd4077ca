"""The classical loop of QAOA: the objective (expectation or CVaR), scipy's optimisers,
and the initial-angle strategies (ramp, INTERP, table transfer) with multistart.

:func:`solvers.qaoa.solver.solve_qaoa` builds the backend and the options and
calls :func:`optimise_angles`; the objective keeps the best point seen.
"""

from __future__ import annotations

import logging
import math
import time
from typing import TYPE_CHECKING, Any

import numpy as np

from solvers.errors import InvalidOptionError
from solvers.qubo import bits_index

if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Callable

    from solvers.qaoa.backends import QAOABackend
    from solvers.qaoa.options import QAOAOptions
    from solvers.qubo import QUBO

__all__ = ["COBYLA_RHOBEG", "LBFGSB_EPS", "Objective", "cvar_from_distribution", "optimise_angles"]

logger = logging.getLogger(__name__)

#: Initial trust-region radius of COBYLA, in radians on the normalised cost.
COBYLA_RHOBEG = 0.2
#: Finite-difference step of L-BFGS-B.  qsim's state is single precision, so the
#: default step (1e-8) would difference rounding noise.
LBFGSB_EPS = 1e-3


class _Stop(Exception):
    """Raised inside the objective to end the optimiser loop early."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def cvar_from_distribution(values: np.ndarray, probabilities: np.ndarray, alpha: float) -> float:
    """CVaR-alpha: the mean of the lowest ``alpha`` probability mass of ``values``.

    Examples
    --------
    >>> cvar_from_distribution(np.array([3.0, 1.0, 2.0]), np.array([0.5, 0.25, 0.25]), 0.5)
    1.5
    """
    order = np.argsort(values, kind="stable")
    v, p = values[order], probabilities[order]
    cum = np.cumsum(p)
    take = np.clip(alpha - (cum - p), 0.0, p)  # mass taken from each value, lowest first
    return float(np.dot(take, v) / alpha)


class Objective:
    """``x = (gammas, betas) -> objective``, counting evaluations and keeping the best point.

    Raises :class:`_Stop` (before simulating) once ``maxiter`` evaluations are
    spent or the deadline has passed; the first evaluation always runs.
    """

    def __init__(self, backend: QAOABackend, opts: QAOAOptions, maxiter: int, deadline: float | None,
                 progress: Any, seed: int | None) -> None:
        self.backend = backend
        self.opts = opts
        self.maxiter = maxiter
        self.deadline = deadline
        self.progress = progress
        self.evaluations = 0
        self.best_value = math.inf
        self.best_x: np.ndarray | None = None
        self.first_value = math.nan
        self.trace: list[float] = []
        self._rng = np.random.default_rng(seed)
        diag = backend.cost.diag
        self._order = np.argsort(diag, kind="stable") if opts.objective == "cvar" else None

    def _check(self) -> None:
        if self.evaluations >= self.maxiter:
            raise _Stop("maxiter")
        if self.evaluations and self.deadline is not None and time.perf_counter() >= self.deadline:
            raise _Stop("time_limit")

    def _record(self, x: np.ndarray, value: float) -> None:
        self.evaluations += 1
        if self.evaluations == 1:
            self.first_value = value
        if value < self.best_value:
            self.best_value, self.best_x = value, x.copy()
        self.trace.append(value)
        self.progress.update(1)
        logger.debug("qaoa evaluation %d: objective %.6g", self.evaluations, value)

    def value(self, x: np.ndarray) -> float:
        """The objective at ``x`` on the normalised cost."""
        p = self.opts.depth
        g, b = x[:p], x[p:]
        be, opts = self.backend, self.opts
        if be.exact_expectation:
            if opts.objective == "expectation":
                return be.expectation(g, b)
            probs = be.probabilities(g, b)
            return cvar_from_distribution(be.cost.diag, probs, opts.cvar_alpha)
        # shot-based backend: estimate from samples
        seed = int(self._rng.integers(2**31))
        samples = be.sample(g, b, opts.shots_per_eval, seed=seed)
        vals = be.cost.diag[bits_index(samples)]
        if opts.objective == "expectation":
            return float(vals.mean())
        return cvar_from_distribution(vals, np.full(vals.size, 1.0 / vals.size), opts.cvar_alpha)

    def __call__(self, x: np.ndarray) -> float:
        self._check()
        x = np.asarray(x, dtype=np.float64)
        v = self.value(x)
        self._record(x, v)
        return v

    def with_gradient(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        """Value and adjoint gradient (expectation objective on a gradient backend)."""
        self._check()
        x = np.asarray(x, dtype=np.float64)
        p = self.opts.depth
        v, grad = self.backend.expectation_and_gradient(x[:p], x[p:])
        self._record(x, float(v))
        return float(v), np.asarray(grad, dtype=np.float64)


def _minimize(fun: Callable[[np.ndarray], Any], x0: np.ndarray, method: str, maxiter: int,
              *, jac: bool = False) -> Any:
    from scipy.optimize import minimize

    if jac:
        return minimize(fun, x0, method=method, jac=True, options={"maxfun": maxiter, "maxiter": maxiter})
    if method == "COBYLA":
        # COBYLA wants at least len(x0) + 2 evaluations; the objective enforces maxiter itself
        budget = max(maxiter, x0.size + 2)
        options: dict[str, Any] = {"maxiter": budget, "rhobeg": COBYLA_RHOBEG, "tol": 1e-4}
    elif method == "Nelder-Mead":
        options = {"maxfev": maxiter, "maxiter": maxiter, "xatol": 1e-4, "fatol": 1e-7}
    elif method == "L-BFGS-B":
        options = {"maxfun": maxiter, "maxiter": maxiter, "eps": LBFGSB_EPS}
    else:  # pragma: no cover - QAOAOptions validates
        msg = f"unknown optimizer {method!r}"
        raise InvalidOptionError(msg)
    return minimize(fun, x0, method=method, options=options)


def optimise_angles(objective: Objective, qubo: QUBO, mixer: str, opts: QAOAOptions, seed: int | None,
              use_jac: bool) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Run the optimiser (per the init strategy and restarts); the objective keeps the best point."""
    from solvers.qaoa.angles import interp, linear_ramp, table_angles

    p = opts.depth
    init_info: dict[str, Any] = {"strategy": opts.init}
    runs: list[dict[str, Any]] = []

    def run(x0: np.ndarray, budget: int, depth: int) -> np.ndarray:
        start_evals = objective.evaluations
        if depth != p:  # INTERP's lower-depth stages: pad to full depth with zero angles
            sub = _SubDepth(objective, depth, p)
            fun: Any = sub.with_gradient if use_jac else sub
        else:
            fun = objective.with_gradient if use_jac else objective
        saved = objective.maxiter
        objective.maxiter = min(saved, objective.evaluations + budget)
        stopped = "converged"
        try:
            res = _minimize(fun, x0, opts.optimizer, budget, jac=use_jac)
            x = np.asarray(res.x, dtype=np.float64)
            if objective.evaluations >= objective.maxiter:
                stopped = "maxiter"
        except _Stop as stop:
            stopped = stop.reason
            x = x0 if objective.best_x is None else _project(objective.best_x, depth, p)
        finally:
            objective.maxiter = saved
        runs.append({"depth": depth, "evaluations": objective.evaluations - start_evals, "stopped_by": stopped})
        return x

    if opts.init == "interp" and p > 1:
        # budget: half for the lower depths, half for the final one
        lower = max(1, opts.maxiter // (2 * (p - 1)))
        g, b = linear_ramp(1)
        x = np.concatenate([g, b])
        for q in range(1, p):
            x = run(x, lower, q)
            objective.best_value, objective.best_x = math.inf, None  # only full-depth points count
            g, b = interp(x[:q], x[q:])
            x = np.concatenate([g, b])
        x0 = x
        init_info["interp_stage_budget"] = lower
    elif opts.init == "table":
        found = table_angles(qubo.metadata.get("problem"), mixer, p)
        if found is None:
            g, b = linear_ramp(p)
            init_info["table"] = "no entry; linear ramp used"
        else:
            g, b = found
            init_info["table"] = f"{qubo.metadata.get('problem')}/{mixer}/p{p}"
        x0 = np.concatenate([g, b])
    else:
        g, b = linear_ramp(p)
        x0 = np.concatenate([g, b])
    remaining = opts.maxiter - objective.evaluations
    rng = np.random.default_rng(seed)
    starts = [x0] + [x0 + rng.normal(0.0, 0.25, size=x0.size) for _ in range(opts.restarts - 1)]
    for i, xs in enumerate(starts):
        left = opts.maxiter - objective.evaluations
        if left <= 0:
            break
        budget = max(1, remaining // len(starts)) if i < len(starts) - 1 else left
        try:
            run(xs, budget, p)
        except _Stop:
            break
        if objective.deadline is not None and time.perf_counter() >= objective.deadline:
            break
    if objective.best_x is None:  # every evaluation went to INTERP's lower depths
        objective.maxiter, objective.deadline = objective.evaluations + 1, None
        objective(x0)
    return runs, init_info


def _project(x: np.ndarray, depth: int, p: int) -> np.ndarray:
    return np.concatenate([x[:depth], x[p : p + depth]])


class _SubDepth:
    """The objective of a lower-depth ansatz: layers ``depth..p-1`` get zero angles (identity)."""

    def __init__(self, objective: Objective, depth: int, p: int) -> None:
        self.objective, self.depth, self.p = objective, depth, p

    def _full(self, x: np.ndarray) -> np.ndarray:
        q, p = self.depth, self.p
        full = np.zeros(2 * p)
        full[:q], full[p : p + q] = x[:q], x[q:]
        return full

    def __call__(self, x: np.ndarray) -> float:
        return self.objective(self._full(np.asarray(x, dtype=np.float64)))

    def with_gradient(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        v, g = self.objective.with_gradient(self._full(np.asarray(x, dtype=np.float64)))
        q, p = self.depth, self.p
        return v, np.concatenate([g[:q], g[p : p + q]])
