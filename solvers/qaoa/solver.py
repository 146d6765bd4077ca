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
   On a shot-based device backend (``qvm``, ``engine``) the angles are by
   default optimised on the noiseless ``fast`` simulator (``device_optimise``);
4. ``shots`` bitstrings are sampled at the best angles found, each distinct one
   is scored with the QUBO, and the best *feasible* sample is the answer.  The
   answer is always a sampled bitstring, never a classical solve.

Two variants are options of the same solve: ``warm_start`` (:mod:`solvers.qaoa.warm`:
initial state and mixer from the QUBO's continuous relaxation, step 2's mixer
replaced) and ``recursive`` (:mod:`solvers.qaoa.recursive`: rounds of this solve on
ever smaller QUBOs, each eliminating one variable from its state's correlations,
the last variables enumerated; the answer is the lifted assignment, not a sample).
"""

from __future__ import annotations

import logging
import sys
import time
from typing import TYPE_CHECKING, Any

import numpy as np

from solvers.errors import InvalidInputError, InvalidOptionError
from solvers.options import build_options, check_call, progress_level
from solvers.qaoa.optimise import Objective, optimise_angles
from solvers.qaoa.options import SHOT_BACKEND_MAXITER, SOLVER, QAOAOptions

if TYPE_CHECKING:  # pragma: no cover
    from solvers.qubo import QUBO
    from solvers.solution import Solution

__all__ = ["cost_qubo_for", "resolve_mixer", "solve_qaoa"]

logger = logging.getLogger(__name__)


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
        ``feasible_fraction`` (shots with every one-hot group satisfied),
        ``p_feasible`` (shots that meet every constraint of the QUBO: one-hot and,
        where the QUBO states ``metadata["feasible_below"]``, an energy below it),
        ``p_optimum`` (fraction of shots at the optimum,
        see ``optimum_energy`` and ``optimum_reference``), for a device backend
        optimised noiselessly also ``p_optimum_noiseless`` and
        ``feasible_fraction_noiseless`` (the same at the same angles in the
        noiseless state), and ``parameters``: ``gammas`` in the units of the
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
    opts = build_options(QAOAOptions, SOLVER, options)
    n = qubo.num_variables
    if n == 0:
        msg = "the QUBO has no variables; QAOA needs at least one qubit"
        raise InvalidInputError(msg)
    opts.check_size(n)
    deadline = None if time_limit_s is None else t0 + float(time_limit_s)

    if opts.recursive:  # recursive QAOA: rounds of this solve on ever smaller QUBOs
        from solvers.qaoa.recursive import solve_recursive

        def run_round(q: QUBO, left: float | None) -> tuple[Solution, np.ndarray]:
            return _qaoa_round(q, opts, seed, left)

        return solve_recursive(qubo, opts, run_round, time_limit_s=time_limit_s, started=t0,
                               options_summary=_options_for_summary(opts))

    warm = None
    if opts.warm_start:  # warm-start QAOA: state and mixer from the relaxation, penalty kept in the cost
        from solvers.qaoa.warm import WARM_MIXER, make_warm_backend, prepare_warm_start

        warm = prepare_warm_start(qubo, relaxation=opts.warm_relaxation, epsilon=opts.warm_epsilon, seed=seed)
        mixer, groups, cost_qubo, penalty_dropped = WARM_MIXER, (), qubo, False
        cost = IsingCost.from_qubo(cost_qubo)
        backend = make_warm_backend(opts.backend, cost, opts.depth, warm.thetas, threads=opts.threads,
                                    **dict(opts.backend_options or {}))
    else:
        mixer = resolve_mixer(opts.mixer, qubo)
        groups = qubo.onehot if mixer != "x" else ()
        cost_qubo, penalty_dropped = cost_qubo_for(qubo, mixer)
        cost = IsingCost.from_qubo(cost_qubo)
        backend = make_backend(opts.backend, cost, opts.depth, mixer=mixer, groups=groups, threads=opts.threads,
                               **dict(opts.backend_options or {}))
    # the backend the angles are optimised on: the noiseless simulator for a device by default
    opt_backend = backend
    noiseless_first = not backend.exact_expectation and opts.device_optimise == "noiseless"
    if opts.device_refine and not noiseless_first:
        msg = (f"option 'device_refine' of solver {SOLVER!r} refines noiselessly optimised angles on a device: it "
               f"needs a shot-based backend (qvm:..., engine:...) with device_optimise='noiseless', got backend "
               f"{opts.backend!r} with device_optimise={opts.device_optimise!r}")
        raise InvalidOptionError(msg)
    if noiseless_first:
        extra = {k: v for k, v in (opts.backend_options or {}).items() if k == "init_state"}
        opt_backend = make_backend("fast", cost, opts.depth, mixer=mixer, groups=groups, threads=opts.threads,
                                   **extra)
        logger.log(progress_level(), "qaoa: angles optimised on the noiseless 'fast' simulator, then %d shots "
                   "on %s", opts.shots, opts.backend)
    elif not backend.exact_expectation and "maxiter" not in options:
        import dataclasses

        # each evaluation on a shot-based backend is a noisy sampling run (seconds, not ms)
        opts = dataclasses.replace(opts, maxiter=SHOT_BACKEND_MAXITER)
        logger.log(progress_level(), "qaoa: shot-based backend %s: maxiter defaults to %d", opts.backend,
                   SHOT_BACKEND_MAXITER)
    gradient = opt_backend.supports_gradient and opts.objective == "expectation"
    if opts.optimizer == "auto":
        import dataclasses

        opts = dataclasses.replace(opts, optimizer="L-BFGS-B" if gradient else "COBYLA")
    p = opts.depth
    use_jac = opts.optimizer == "L-BFGS-B" and gradient
    logger.log(
        progress_level(),
        "qaoa: %d qubits, depth %d, mixer %s, backend %s, optimizer %s%s, objective %s, maxiter %d",
        n, p, mixer, opts.backend, opts.optimizer, " (adjoint gradient)" if use_jac else "",
        opts.objective, opts.maxiter,
    )

    from tqdm.auto import tqdm

    with tqdm(total=opts.maxiter, desc="qaoa", unit="eval", leave=False,
              disable=not _stderr_is_tty()) as progress:
        objective = Objective(opt_backend, opts, opts.maxiter, deadline, progress, seed)
        runs, init_info = optimise_angles(objective, qubo, mixer, opts, seed, use_jac)
    best = objective.best_x
    refine: dict[str, Any] | None = None
    if noiseless_first and opts.device_refine:
        best, refine = _refine_on_device(backend, opts, best, deadline, seed, cost)
    gammas, betas = best[:p], best[p:]
    t_opt = time.perf_counter()
    stopped_by = runs[-1]["stopped_by"] if runs else "maxiter"
    logger.log(progress_level(), "qaoa: optimiser %s after %d evaluations (%.3g s): objective %.6g -> %.6g",
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
    quality = _sample_quality(qubo, distinct, counts, energies, feasible,
                              opt_backend if opt_backend.exact_expectation else None, gammas, betas)

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
        **quality,
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
        "optimised_on": "device" if opt_backend is backend else opt_backend.name,
        "optimize_time_s": t_opt - t0,
        "sample_time_s": time.perf_counter() - t_opt,
    }
    if warm is not None:
        info["warm_start"] = warm.summary()
    if refine is not None:
        info["device_refine"] = refine
        resources["evaluations_on_device"] = refine["evaluations"]
    return Solution(
        bits=distinct[k],
        energy=float(energies[k]),
        status=status,
        solver=SOLVER,
        feasible=bool(feasible[k]),
        wall_time_s=time.perf_counter() - t0,
        options=_options_for_summary(opts),
        resources=resources,
        info=info,
    )


def _refine_on_device(backend: Any, opts: QAOAOptions, start: np.ndarray, deadline: float | None,
                      seed: int | None, cost: Any) -> tuple[np.ndarray, dict[str, Any]]:
    """A few COBYLA evaluations on the device from the noiseless optimum ``start`` (the first of them);
    returns the angles of the lowest device estimate and what the refinement did."""
    from scipy.optimize import minimize

    from solvers.qaoa.optimise import _Stop

    class _Quiet:
        def update(self, _n: int) -> None:
            pass

    dev = Objective(backend, opts, int(opts.device_refine), deadline, _Quiet(), seed)
    stopped_by = "converged"
    try:
        minimize(dev, np.asarray(start, dtype=np.float64), method="COBYLA",
                 options={"maxiter": int(opts.device_refine), "rhobeg": 0.1})
    except _Stop as stop:
        stopped_by = stop.reason
    if stopped_by == "converged" and dev.evaluations >= int(opts.device_refine):
        stopped_by = "maxiter"
    best = dev.best_x if dev.best_x is not None else np.asarray(start, dtype=np.float64)
    logger.log(progress_level(), "qaoa: device refinement, %d evaluations: device estimate %.6g at the "
               "noiseless optimum -> %.6g", dev.evaluations, cost.to_energy(dev.first_value),
               cost.to_energy(dev.best_value))
    return best, {"evaluations": dev.evaluations, "stopped_by": stopped_by,
                  "estimate_at_noiseless_optimum": cost.to_energy(dev.first_value),
                  "best_estimate": cost.to_energy(dev.best_value),
                  "moved": bool(not np.allclose(best, start)),
                  "trace": [cost.to_energy(v) for v in dev.trace]}


#: Largest QUBO whose optimum and noiseless P(optimum) are found by enumerating every bitstring.
ENUMERATE_MAX_QUBITS = 20


def _sample_quality(qubo: QUBO, distinct: np.ndarray, counts: np.ndarray, energies: np.ndarray,
                    feasible: np.ndarray, exact: Any, gammas: np.ndarray, betas: np.ndarray) -> dict[str, Any]:
    """P(optimum) of the samples and, from an exact-state backend ``exact``, the noiseless figures.

    The optimum is the lowest energy of a feasible bitstring (every one-hot group
    satisfied), by enumeration up to :data:`ENUMERATE_MAX_QUBITS` variables, else the
    best feasible sampled energy (``optimum_reference`` says which).  ``p_feasible``
    is the share of shots that are feasible: every one-hot group satisfied and,
    where the QUBO states it (``metadata["feasible_below"]``: the energy below
    which exactly the assignments meeting every constraint lie, as a proven
    penalty bound gives), an energy below it.  With ``exact``
    (the noiseless simulator the angles were optimised on, for a device backend)
    and enumeration possible, ``p_optimum_noiseless`` and
    ``feasible_fraction_noiseless`` are the same figures in the noiseless state.
    """
    n = qubo.num_variables
    shots = float(counts.sum())
    out: dict[str, Any] = {}
    probs = None
    below = qubo.metadata.get("feasible_below")
    ok = feasible if below is None else feasible & (energies < float(below))
    out["p_feasible"] = float(counts[ok].sum()) / shots
    if n <= ENUMERATE_MAX_QUBITS:
        from solvers.qubo import index_bits

        every = index_bits(np.arange(2**n, dtype=np.int64), n)  # row i: state index i, as the backends
        e_all = qubo.energies(every)
        ok_all = qubo.onehot_violations(every) == 0
        optimum = float(e_all[ok_all].min()) if ok_all.any() else None
        out["optimum_reference"] = "enumeration"
        if exact is not None:
            probs = np.asarray(exact.probabilities(gammas, betas), dtype=np.float64)
            probs = probs / probs.sum()
            out["feasible_fraction_noiseless"] = float(probs[ok_all].sum())
            if optimum is not None:
                at = ok_all & np.isclose(e_all, optimum, rtol=1e-9, atol=1e-9)
                out["p_optimum_noiseless"] = float(probs[at].sum())
    else:
        optimum = float(energies[feasible].min()) if feasible.any() else None
        out["optimum_reference"] = "best sample"
    out["optimum_energy"] = optimum
    if optimum is not None:
        hit = feasible & np.isclose(energies, optimum, rtol=1e-9, atol=1e-9)
        out["p_optimum"] = float(counts[hit].sum()) / shots
    else:
        out["p_optimum"] = None
    return out


def resolve_mixer(mixer: str, qubo: QUBO) -> str:
    """``auto`` -> ``xy-ring`` when the QUBO has one-hot groups, else ``x``; XY needs groups."""
    if mixer == "auto":
        return "xy-ring" if qubo.onehot else "x"
    if mixer != "x" and not qubo.onehot:
        msg = (f"option 'mixer' of solver {SOLVER!r} is {mixer!r}, but the QUBO has no one-hot groups "
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


def _qaoa_round(qubo: QUBO, opts: QAOAOptions, seed: int | None,
                time_limit_s: float | None) -> tuple[Solution, np.ndarray]:
    """One round of recursive QAOA: this solve on ``qubo`` (``recursive`` off), and the
    probabilities of its optimised state, rebuilt on the same backend from the angles it reports."""
    import dataclasses

    from solvers.qaoa.backends import make_backend
    from solvers.qaoa.cost import IsingCost

    options = {f.name: getattr(opts, f.name) for f in dataclasses.fields(opts)}
    options["recursive"] = 0
    sol = solve_qaoa(qubo, seed=seed, time_limit_s=time_limit_s, **options)
    par, mixer = sol.resources["parameters"], sol.resources["mixer"]
    extra = dict(opts.backend_options or {})
    if "warm_start" in sol.info:
        from solvers.qaoa.warm import make_warm_backend

        backend = make_warm_backend(opts.backend, IsingCost.from_qubo(qubo), opts.depth,
                                    sol.info["warm_start"]["thetas"], threads=opts.threads, **extra)
    else:
        backend = make_backend(opts.backend, IsingCost.from_qubo(cost_qubo_for(qubo, mixer)[0]), opts.depth,
                               mixer=mixer, groups=qubo.onehot if mixer != "x" else (), threads=opts.threads,
                               **extra)
    probs = np.asarray(backend.probabilities(par["gammas_normalised"], par["betas"]), dtype=np.float64)
    return sol, probs / probs.sum()
