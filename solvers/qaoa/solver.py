"""The ``qaoa`` solver: optimise QAOA angles on a simulator, sample, keep the best sample.

The flow of :func:`solve_qaoa`:

1. the QUBO's Ising form is normalised (:class:`~solvers.qaoa.cost.IsingCost`) and
   its cost diagonal computed once;
2. a backend (:mod:`solvers.qaoa.backends`) is built for the depth-``p`` ansatz;
3. a classical optimiser (scipy) minimises the expectation ``<psi|C'|psi>``,
   starting from the linear ramp, within ``maxiter`` evaluations and the time limit;
4. ``shots`` bitstrings are sampled at the best angles found, each distinct one
   is scored with the QUBO, and the best *feasible* sample is the answer.  The
   answer is always a sampled bitstring, never a classical solve.
"""

from __future__ import annotations

import logging
import math
import sys
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from solvers._options import build_options, check_range, options_dict
from solvers.errors import InvalidInputError, InvalidOptionError, ProblemTooLargeError
from solvers.qaoa.backends import split_backend_name

if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Callable

    from solvers.qaoa.backends import QAOABackend
    from solvers.qubo import QUBO
    from solvers.solution import Solution

__all__ = ["OPTIMIZERS", "QAOAOptions", "solve_qaoa"]

logger = logging.getLogger(__name__)

_SOLVER = "qaoa"

#: Optimiser names accepted by the ``optimizer`` option (matched case-insensitively).
OPTIMIZERS = ("COBYLA", "Nelder-Mead", "L-BFGS-B")
#: Initial-angle schedules accepted by the ``init`` option.
INITS = ("ramp",)
#: Largest ``max_qubits`` (the dense cost diagonal holds ``2**n`` values).
MAX_QUBITS_LIMIT = 30
#: Initial trust-region radius of COBYLA, in radians on the normalised cost.
COBYLA_RHOBEG = 0.2
#: Finite-difference step of L-BFGS-B.  qsim's state is single precision, so the
#: default step (1e-8) would difference rounding noise.
LBFGSB_EPS = 1e-3


@dataclass(frozen=True)
class QAOAOptions:
    """Options of the ``qaoa`` solver.

    Parameters
    ----------
    depth : int
        QAOA layers ``p``, in ``[1, 20]``.
    backend : {"qsim"}
        Where the circuit runs: ``"qsim"``, qsim's exact state vector for the
        optimiser and qsim sampling for the answer.
    shots : int
        Bitstrings sampled at the optimised angles (at least 1).
    optimizer : {"COBYLA", "Nelder-Mead", "L-BFGS-B"}
        scipy method minimising the expectation; L-BFGS-B uses finite
        differences (step ``LBFGSB_EPS``).  Matched case-insensitively.
    maxiter : int
        Most objective evaluations (simulations) the optimiser may spend (at least 1).
    init : {"ramp"}
        Initial angles: the linear ramp ``gamma_k = (k+1/2)/p * 0.75``,
        ``beta_k = -(1-(k+1/2)/p) * 0.75`` on the normalised cost (betas
        negative for minimisation, see :func:`solvers.qaoa.angles.linear_ramp`).
    max_qubits : int
        Refuse QUBOs with more variables than this (``ProblemTooLargeError``), in ``[1, 30]``.
    threads : int or None
        CPU threads of the simulator; ``None``: one thread below 20 qubits, every
        core this process may use from 20 up (see
        :func:`solvers.qaoa.backends.default_threads`).
    """

    depth: int = 1
    backend: str = "qsim"
    shots: int = 4096
    optimizer: str = "COBYLA"
    maxiter: int = 300
    init: str = "ramp"
    max_qubits: int = 26
    threads: int | None = None

    def __post_init__(self) -> None:
        check_range(_SOLVER, "depth", self.depth, low=1, high=20, integer=True)
        check_range(_SOLVER, "shots", self.shots, low=1, integer=True)
        check_range(_SOLVER, "maxiter", self.maxiter, low=1, integer=True)
        check_range(
            _SOLVER, "max_qubits", self.max_qubits, low=1, high=MAX_QUBITS_LIMIT, integer=True
        )
        check_range(_SOLVER, "threads", self.threads, low=1, integer=True, allow_none=True)
        split_backend_name(self.backend)  # raises InvalidOptionError naming the valid ones
        canonical = {m.lower(): m for m in OPTIMIZERS}
        if not isinstance(self.optimizer, str) or self.optimizer.lower() not in canonical:
            msg = (
                f"option 'optimizer' of solver {_SOLVER!r} must be one of: "
                f"{', '.join(OPTIMIZERS)}; got {self.optimizer!r}"
            )
            raise InvalidOptionError(msg)
        object.__setattr__(self, "optimizer", canonical[self.optimizer.lower()])
        if self.init not in INITS:
            msg = f"option 'init' of solver {_SOLVER!r} must be one of: {', '.join(INITS)}; got {self.init!r}"
            raise InvalidOptionError(msg)


class _Stop(Exception):
    """Raised inside the objective to end the optimiser loop early."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _Objective:
    """``x = (gammas, betas) -> <C'>``, counting evaluations and keeping the best point.

    Raises :class:`_Stop` (before simulating) once ``maxiter`` evaluations are
    spent or the deadline has passed; the first evaluation always runs.
    """

    def __init__(
        self,
        backend: QAOABackend,
        depth: int,
        maxiter: int,
        deadline: float | None,
        progress: Any,
    ) -> None:
        self.backend = backend
        self.depth = depth
        self.maxiter = maxiter
        self.deadline = deadline
        self.progress = progress
        self.evaluations = 0
        self.best_value = math.inf
        self.best_x: np.ndarray | None = None
        self.first_value = math.nan

    def __call__(self, x: np.ndarray) -> float:
        if self.evaluations >= self.maxiter:
            raise _Stop("maxiter")
        if self.evaluations and self.deadline is not None and time.perf_counter() >= self.deadline:
            raise _Stop("time_limit")
        x = np.asarray(x, dtype=np.float64)
        p = self.depth
        value = self.backend.expectation(x[:p], x[p:])
        self.evaluations += 1
        if self.evaluations == 1:
            self.first_value = value
        if value < self.best_value:
            self.best_value, self.best_x = value, x.copy()
        self.progress.update(1)
        logger.debug("qaoa evaluation %d: <C'> = %.6g", self.evaluations, value)
        return value


def _minimize(fun: Callable[[np.ndarray], float], x0: np.ndarray, method: str, maxiter: int) -> Any:
    from scipy.optimize import minimize

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


def _check_call(seed: int | None, time_limit_s: float | None) -> None:
    if seed is not None and not (
        isinstance(seed, int) and not isinstance(seed, bool) and seed >= 0
    ):
        msg = f"seed must be a non-negative integer, got {seed!r}"
        raise InvalidOptionError(msg)
    if time_limit_s is not None and not (
        isinstance(time_limit_s, (int, float))
        and not isinstance(time_limit_s, bool)
        and time_limit_s > 0
    ):
        msg = f"time_limit_s must be a positive number of seconds, got {time_limit_s!r}"
        raise InvalidOptionError(msg)


def _stderr_is_tty() -> bool:
    try:
        return bool(sys.stderr.isatty())
    except (AttributeError, ValueError):
        return False


def solve_qaoa(
    qubo: QUBO,
    *,
    seed: int | None = None,
    time_limit_s: float | None = None,
    **options: Any,
) -> Solution:
    """Solve ``qubo`` with QAOA (X mixer) on a simulator and return the best sampled bitstring.

    Parameters
    ----------
    qubo : QUBO
        The problem; one qubit per variable.
    seed : int, optional
        Seed of the sampling (the optimisers used are deterministic).
    time_limit_s : float, optional
        Wall-time budget of the solve: the optimiser loop stops once it is
        spent (keeping the best angles so far), then one sampling run follows.
    **options
        See :class:`QAOAOptions` (``depth``, ``backend``, ``shots``,
        ``optimizer``, ``maxiter``, ``init``, ``max_qubits``, ``threads``).

    Returns
    -------
    Solution
        ``bits`` the lowest-energy *feasible* sample (every one-hot group of the
        QUBO satisfied), status ``FEASIBLE``; when no sample is feasible, the
        lowest-energy sample with ``feasible=False`` and status ``INFEASIBLE``.
        ``resources`` holds ``qubits``, ``depth``, ``two_qubit_gates``,
        ``circuit_moments``, ``shots``, ``backend``, ``optimizer``,
        ``evaluations``, ``expectation`` (the final ``<E>`` in QUBO energy
        units), ``p_best`` (fraction of shots equal to ``bits``),
        ``feasible_fraction`` and ``parameters``: ``gammas`` in the units of the
        original QUBO's Ising cost (the phase is ``exp(-i gamma (E - offset))``),
        ``betas`` (mixer angles, ``exp(-i beta sum X)``), and
        ``gammas_normalised`` with ``cost_scale`` (``gammas_normalised =
        gammas * cost_scale``, the angles on the normalised cost).

    Raises
    ------
    InvalidOptionError
        An option is unknown or out of range (the message names it).
    ProblemTooLargeError
        The QUBO has more variables than ``max_qubits``.
    BackendUnavailableError
        The backend's libraries are missing.

    Examples
    --------
    >>> from solvers import QUBO
    >>> q = QUBO.from_terms({"a": 1.0, "b": -2.0}, {("a", "b"): 0.5})
    >>> sol = solve_qaoa(q, seed=1, depth=1, shots=256)
    >>> sol.bits.tolist(), sol.energy, sol.status.value
    ([0, 1], -2.0, 'FEASIBLE')
    """
    from solvers.qaoa.angles import initial_angles
    from solvers.qaoa.backends import make_backend
    from solvers.qaoa.cost import IsingCost
    from solvers.solution import Solution, Status

    t0 = time.perf_counter()
    _check_call(seed, time_limit_s)
    opts = build_options(QAOAOptions, _SOLVER, options)
    n = qubo.num_variables
    if n == 0:
        msg = "the QUBO has no variables; QAOA needs at least one qubit"
        raise InvalidInputError(msg)
    if n > opts.max_qubits:
        msg = (
            f"the QUBO has {n} variables, more than the qaoa option max_qubits={opts.max_qubits}; "
            f"raise max_qubits (at most {MAX_QUBITS_LIMIT}) or use the 'decompose' solver"
        )
        raise ProblemTooLargeError(msg)
    deadline = None if time_limit_s is None else t0 + float(time_limit_s)

    cost = IsingCost.from_qubo(qubo)
    backend = make_backend(opts.backend, cost, opts.depth, threads=opts.threads)
    p = opts.depth
    g0, b0 = initial_angles(opts.init, p)
    x0 = np.concatenate([g0, b0])
    logger.info(
        "qaoa: %d qubits, depth %d, backend %s, optimizer %s, maxiter %d, cost scale %.6g",
        n,
        p,
        opts.backend,
        opts.optimizer,
        opts.maxiter,
        cost.scale,
    )

    from tqdm.auto import tqdm

    stopped_by = "converged"
    message = ""
    with tqdm(
        total=opts.maxiter, desc="qaoa", unit="eval", leave=False, disable=not _stderr_is_tty()
    ) as progress:
        objective = _Objective(backend, p, opts.maxiter, deadline, progress)
        try:
            result = _minimize(objective, x0, opts.optimizer, opts.maxiter)
            message = str(getattr(result, "message", ""))
            if objective.evaluations >= opts.maxiter:
                stopped_by = "maxiter"
        except _Stop as stop:
            stopped_by = stop.reason
            message = f"stopped: {stop.reason}"
    if objective.best_x is None:  # pragma: no cover - the first evaluation always runs
        objective.best_x, objective.best_value = x0, backend.expectation(g0, b0)
    best = objective.best_x
    gammas, betas = best[:p], best[p:]
    t_opt = time.perf_counter()
    logger.info(
        "qaoa: optimiser %s after %d evaluations (%.3g s): <E> %.6g -> %.6g",
        stopped_by,
        objective.evaluations,
        t_opt - t0,
        cost.to_energy(objective.first_value),
        cost.to_energy(objective.best_value),
    )

    samples = backend.sample(gammas, betas, opts.shots, seed=seed)
    distinct, counts = np.unique(samples, axis=0, return_counts=True)
    energies = qubo.energies(distinct)
    feasible = qubo.onehot_violations(distinct) == 0
    if feasible.any():
        candidates = np.flatnonzero(feasible)
        status = Status.FEASIBLE
    else:
        candidates = np.arange(distinct.shape[0])
        status = Status.INFEASIBLE
        logger.warning("qaoa: none of %d samples satisfies every one-hot group", opts.shots)
    k = candidates[np.argmin(energies[candidates])]
    shots = int(samples.shape[0])

    resources: dict[str, Any] = {
        "qubits": n,
        "depth": p,
        **backend.resources(),
        "shots": opts.shots,
        "backend": opts.backend,
        "optimizer": opts.optimizer,
        "evaluations": objective.evaluations,
        "expectation": cost.to_energy(objective.best_value),
        "p_best": float(counts[k]) / shots,
        "feasible_fraction": float(counts[feasible].sum()) / shots,
        "parameters": {
            "gammas": (gammas / cost.scale).tolist(),
            "betas": betas.tolist(),
            "gammas_normalised": gammas.tolist(),
            "cost_scale": cost.scale,
        },
    }
    info = {
        "stopped_by": stopped_by,
        "optimizer_message": message,
        "initial_expectation": cost.to_energy(objective.first_value),
        "distinct_samples": int(distinct.shape[0]),
        "ising_offset": cost.offset,
        "threads": backend.threads,
        "optimize_time_s": t_opt - t0,
        "sample_time_s": time.perf_counter() - t_opt,
    }
    return Solution(
        bits=distinct[k],
        energy=float(energies[k]),
        status=status,
        solver=_SOLVER,
        feasible=bool(feasible[k]),
        wall_time_s=time.perf_counter() - t0,
        options=options_dict(opts),
        resources=resources,
        info=info,
    )
