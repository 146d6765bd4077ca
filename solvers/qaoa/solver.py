"""The ``qaoa`` solver: optimise QAOA angles on a simulator, sample, keep the best sample.

The flow of :func:`solve_qaoa`:

1. the QUBO's Ising form is normalised (:class:`~solvers.qaoa.cost.IsingCost`) and
   its cost diagonal computed once;
2. a backend (:mod:`solvers.qaoa.backends`: ``qsim``, ``fast``, ``qvm:<processor>``,
   ``engine:<processor>``) is built for the depth-``p`` ansatz with its mixer (X, or
   XY on the one-hot groups, whose penalty then leaves the cost layer);
3. a classical optimiser (scipy; with the adjoint gradient where the backend gives
   one) minimises the expectation or CVaR, starting from the linear ramp, INTERP
   or the table of transferred angles, with multistart, within ``maxiter``
   evaluations and the time limit;
4. ``shots`` bitstrings are sampled at the best angles found, each distinct one
   is scored with the QUBO, and the best *feasible* sample is the answer.  The
   answer is always a sampled bitstring, never a classical solve.
"""

from __future__ import annotations

import logging
import sys
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from solvers.errors import InvalidInputError, InvalidOptionError, ProblemTooLargeError
from solvers.options import build_options, check_call, check_range
from solvers.qaoa._optimise import (  # noqa: F401 - COBYLA_RHOBEG, LBFGSB_EPS re-exported
    COBYLA_RHOBEG,
    LBFGSB_EPS,
    _Objective,
    _optimise,
    cvar_from_distribution,
)
from solvers.qaoa.backends import split_backend_name

if TYPE_CHECKING:  # pragma: no cover
    from solvers.qubo import QUBO
    from solvers.solution import Solution

__all__ = ["MIXERS", "OPTIMIZERS", "QAOAOptions", "cost_qubo_for", "cvar_from_distribution", "resolve_mixer", "solve_qaoa"]

logger = logging.getLogger(__name__)

_SOLVER = "qaoa"

#: Optimiser names accepted by the ``optimizer`` option (matched case-insensitively);
#: ``auto`` is L-BFGS-B with the adjoint gradient where the backend gives one (``fast``)
#: and the objective is the expectation, else COBYLA.
OPTIMIZERS = ("auto", "COBYLA", "Nelder-Mead", "L-BFGS-B")
#: Initial-angle strategies accepted by the ``init`` option.
INITS = ("ramp", "interp", "table")
#: Mixers accepted by the ``mixer`` option (``auto``: XY ring on one-hot groups, else X).
MIXERS = ("auto", "x", "xy-ring", "xy-complete")
#: Objectives accepted by the ``objective`` option.
OBJECTIVES = ("expectation", "cvar")
#: Largest ``max_qubits`` (the dense cost diagonal holds ``2**n`` values).
MAX_QUBITS_LIMIT = 30
#: Default ``maxiter`` on shot-based backends (qvm, engine), where one evaluation takes seconds.
SHOT_BACKEND_MAXITER = 40


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
    optimizer : {"auto", "COBYLA", "Nelder-Mead", "L-BFGS-B"}
        scipy method minimising the objective; L-BFGS-B uses the backend's adjoint
        gradient where it has one, else finite differences (step ``LBFGSB_EPS``).
        ``auto`` (default): L-BFGS-B with the adjoint gradient on gradient backends
        (``fast``) for the expectation, else COBYLA.  Matched case-insensitively.
    maxiter : int
        Most objective evaluations (simulations) the optimiser may spend (at least 1);
        when not given, ``SHOT_BACKEND_MAXITER`` (40) on shot-based backends.
    init : {"ramp", "interp", "table"}
        Initial angles.  ``ramp``: the linear ramp ``gamma_k = (k+1/2)/p * 0.75``,
        ``beta_k = -(1-(k+1/2)/p) * 0.75`` on the normalised cost (betas
        negative for minimisation, see :func:`solvers.qaoa.angles.linear_ramp`).
        ``interp``: optimise depth 1 from the ramp, then each depth ``q+1``
        from the INTERP extrapolation of depth ``q``'s optimum (Zhou et al.
        2020), the budget shared among depths.  ``table``: angles transferred
        from the project's table of good angles for the QUBO's problem kind,
        mixer and depth (:mod:`solvers.qaoa.angles`), the ramp where the table
        has none.
    mixer : {"auto", "x", "xy-ring", "xy-complete"}
        ``x``: the transverse field on every qubit, from ``|+>^n``.  ``xy-ring``
        / ``xy-complete``: XY hopping inside each one-hot group of the QUBO
        (ring or all pairs), from a W state per group, so every sample keeps
        the one-hot constraints; the one-hot penalty, constant on that
        subspace, is then dropped from the cost layer (fewer gates).
        ``auto``: ``xy-ring`` when the QUBO has one-hot groups, else ``x``.
    objective : {"expectation", "cvar"}
        What the optimiser minimises: ``<C>``, or CVaR-alpha, the mean of the
        lowest ``cvar_alpha`` fraction of the energy distribution
        (Barkoutsos et al. 2020): exact from the state on state-vector
        backends, from ``shots_per_eval`` samples on shot-based ones.
    cvar_alpha : float
        In ``(0, 1]``; ``1`` is the expectation.
    restarts : int
        Multistart: optimiser runs from the initial angles and ``restarts - 1``
        seeded perturbations of them; ``maxiter`` is shared among them.
    shots_per_eval : int
        Samples per objective evaluation on shot-based backends (``qvm``, ``engine``).
    backend_options : dict or None
        Backend-specific options (``project_id``, ``sampler``, ``precision``, ...).
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
    optimizer: str = "auto"
    maxiter: int = 300
    init: str = "ramp"
    mixer: str = "auto"
    objective: str = "expectation"
    cvar_alpha: float = 0.2
    restarts: int = 1
    shots_per_eval: int = 1000
    backend_options: dict[str, Any] | None = None
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
        for name, allowed in (("init", INITS), ("mixer", MIXERS), ("objective", OBJECTIVES)):
            value = getattr(self, name)
            if value not in allowed:
                msg = (f"option {name!r} of solver {_SOLVER!r} must be one of: {', '.join(allowed)}; "
                       f"got {value!r}")
                raise InvalidOptionError(msg)
        check_range(_SOLVER, "cvar_alpha", self.cvar_alpha, low=1e-6, high=1.0)
        check_range(_SOLVER, "restarts", self.restarts, low=1, high=100, integer=True)
        check_range(_SOLVER, "shots_per_eval", self.shots_per_eval, low=1, integer=True)
        if self.backend_options is not None and not isinstance(self.backend_options, dict):
            msg = f"option 'backend_options' of solver {_SOLVER!r} must be a dict, got {self.backend_options!r}"
            raise InvalidOptionError(msg)
        taken = sorted(set(self.backend_options or {}) & {"mixer", "groups", "threads"})
        if taken:
            msg = (f"backend_options of solver {_SOLVER!r} may not set {', '.join(map(repr, taken))}: "
                   f"{'it is' if len(taken) == 1 else 'they are'} the solver's own option(s); pass "
                   f"{', '.join(f'{k}=...' for k in taken)} to the solver instead")
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
    """Solve ``qubo`` with QAOA and return the best bitstring among its own samples.

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
    from solvers.qaoa.backends import make_backend
    from solvers.qaoa.cost import IsingCost
    from solvers.solution import Solution, Status

    t0 = time.perf_counter()
    check_call(seed, time_limit_s)
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

    mixer = resolve_mixer(opts.mixer, qubo)
    groups = qubo.onehot if mixer != "x" else ()
    cost_qubo, penalty_dropped = cost_qubo_for(qubo, mixer)
    cost = IsingCost.from_qubo(cost_qubo)
    backend = make_backend(opts.backend, cost, opts.depth, mixer=mixer, groups=groups, threads=opts.threads,
                           **dict(opts.backend_options or {}))
    if not backend.exact_expectation and "maxiter" not in options:
        import dataclasses

        # each evaluation on a shot-based backend is a noisy sampling run (seconds, not ms)
        opts = dataclasses.replace(opts, maxiter=SHOT_BACKEND_MAXITER)
        logger.info("qaoa: shot-based backend %s: maxiter defaults to %d", opts.backend, SHOT_BACKEND_MAXITER)
    gradient = backend.supports_gradient and opts.objective == "expectation"
    if opts.optimizer == "auto":
        import dataclasses

        opts = dataclasses.replace(opts, optimizer="L-BFGS-B" if gradient else "COBYLA")
    p = opts.depth
    use_jac = opts.optimizer == "L-BFGS-B" and gradient
    logger.info(
        "qaoa: %d qubits, depth %d, mixer %s, backend %s, optimizer %s%s, objective %s, maxiter %d",
        n, p, mixer, opts.backend, opts.optimizer, " (adjoint gradient)" if use_jac else "",
        opts.objective, opts.maxiter,
    )

    from tqdm.auto import tqdm

    with tqdm(total=opts.maxiter, desc="qaoa", unit="eval", leave=False,
              disable=not _stderr_is_tty()) as progress:
        objective = _Objective(backend, opts, opts.maxiter, deadline, progress, seed)
        runs, init_info = _optimise(objective, qubo, mixer, opts, seed, use_jac)
    best = objective.best_x
    gammas, betas = best[:p], best[p:]
    t_opt = time.perf_counter()
    stopped_by = runs[-1]["stopped_by"] if runs else "maxiter"
    logger.info("qaoa: optimiser %s after %d evaluations (%.3g s): objective %.6g -> %.6g",
                stopped_by, objective.evaluations, t_opt - t0,
                cost.to_energy(objective.first_value), cost.to_energy(objective.best_value))

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
    final_expectation = (cost.to_energy(backend.expectation(gammas, betas)) if backend.exact_expectation
                         else float(np.dot(counts, qubo.energies(distinct)) / shots))

    resources: dict[str, Any] = {
        "qubits": n,
        "depth": p,
        "mixer": mixer,
        **backend.resources(),
        "shots": opts.shots,
        "backend": opts.backend,
        "optimizer": opts.optimizer + (" (adjoint gradient)" if use_jac else ""),
        "objective": opts.objective if opts.objective == "expectation" else f"cvar-{opts.cvar_alpha:g}",
        "evaluations": objective.evaluations,
        "expectation": final_expectation,
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
        "runs": runs,
        "init": init_info,
        "penalty_dropped": penalty_dropped,
        "initial_expectation": cost.to_energy(objective.first_value),
        "objective_trace": [cost.to_energy(v) for v in objective.trace],
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
        options=_options_for_summary(opts),
        resources=resources,
        info=info,
    )


def resolve_mixer(mixer: str, qubo: QUBO) -> str:
    """``auto`` -> ``xy-ring`` when the QUBO has one-hot groups, else ``x``; XY needs groups."""
    if mixer == "auto":
        return "xy-ring" if qubo.onehot else "x"
    if mixer != "x" and not qubo.onehot:
        msg = (f"option 'mixer' of solver {_SOLVER!r} is {mixer!r}, but the QUBO has no one-hot groups "
               "for an XY mixer to act on; use mixer='x'")
        raise InvalidOptionError(msg)
    return mixer


def cost_qubo_for(qubo: QUBO, mixer: str) -> tuple[QUBO, bool]:
    """The QUBO the cost layer encodes: with an XY mixer, the one-hot penalty dropped.

    On the one-hot subspace that an XY mixer never leaves, ``P (1 - sum_g x)**2`` is
    zero, so removing it changes no feasible energy and saves its gates.  The
    penalty weight is read from ``qubo.metadata["onehot_penalty"]``; without it
    the QUBO is used as it is (still correct, just more gates).
    """
    from solvers.qubo import QUBO, QUBOBuilder

    P = qubo.metadata.get("onehot_penalty")
    if mixer == "x" or not qubo.onehot or not P:
        return qubo, False
    b = QUBOBuilder(qubo.labels)
    for g in qubo.onehot:
        b.add_onehot([qubo.labels[i] for i in g], penalty=-float(P))
    minus = b.build()
    return qubo + QUBO(minus.linear, minus.quad_i, minus.quad_j, minus.quad_w, minus.offset,
                       qubo.labels, qubo.onehot), True


def _options_for_summary(opts: QAOAOptions) -> dict[str, Any]:
    import dataclasses

    d = {f.name: getattr(opts, f.name) for f in dataclasses.fields(opts)}
    bo = d.get("backend_options") or {}
    d["backend_options"] = {k: (v if isinstance(v, (str, int, float, bool, type(None))) else repr(v))
                            for k, v in bo.items()} or None
    return d
