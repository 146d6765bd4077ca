"""Recursive QAOA (Bravyi, Gosset, König and Tang, "Obstacles to variational quantum
optimization from symmetry protection", PRL 125, 260505, 2020).

Option ``recursive=n_c`` (``n_c > 0``) of the ``qaoa`` solver runs, while the QUBO
has more than ``n_c`` variables, one *round*:

1. **Quantum.**  QAOA on the current QUBO, exactly as :func:`solvers.qaoa.solver.solve_qaoa`
   runs it (the same depth, mixer, warm start, optimiser and budget: ``maxiter``
   evaluations *per round*), and the optimised state ``|psi>`` (exact, from the
   state-vector backend, ``fast`` or ``qsim``).
2. **Correlations.**  ``<Z_i>`` and ``<Z_i Z_j>`` in ``|psi>`` (spin ``Z = 1 - 2x``).
   Bravyi et al. use the pairs only (their Ising models have no fields); a QUBO
   has fields, so the single-variable ones compete too.
3. **Eliminate.**  The largest ``|correlation|`` (the first in index order on a
   tie) fixes one variable, ``x_i = 0`` if ``<Z_i> >= 0`` else ``1``, or ties one
   variable to another, ``x_j = x_i`` if ``<Z_i Z_j> >= 0`` else ``x_j = 1 - x_i``
   (the higher index ``j`` leaves).  :func:`fix_variable` and :func:`tie_variables`
   substitute it into the QUBO; the reduced QUBO's energy plus its new constant
   equals the original's under the substitution, exactly (tested by enumeration).

The last ``n_c`` variables are then solved **classically, by enumeration** (all
``2**n_c`` assignments, the lowest energy), and the assignment is lifted back
through the eliminations in reverse (:func:`lift`).  The answer is that lifted
assignment: no sample of any round is the answer; the QAOA states decide every
elimination, and the enumeration decides the rest.  ``resources["evaluations"]``
counts every round's optimiser evaluations.

One-hot groups: a group none of whose variables has left stays a group of the
reduced QUBO (its penalty is unchanged by the substitution, so an XY mixer can
still drop it); a group that lost a variable is no longer one (its penalty stays
in the energy).  Feasibility of the answer is checked on the original QUBO.

Examples
--------
>>> from solvers import QUBO
>>> q = QUBO.from_terms({"a": 1.0, "b": -2.0, "c": 0.5}, {("a", "b"): 1.5, ("b", "c"): -1.0})
>>> r = tie_variables(q, 0, 1, -1)             # x_b = 1 - x_a: b leaves
>>> r.labels
('a', 'c')
>>> all(abs(r.energy(y) - q.energy(lift(y, r.labels, [("tie", "b", "a", -1)], q.labels))) < 1e-12
...     for y in ([0, 0], [0, 1], [1, 0], [1, 1]))
True
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Hashable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from solvers.errors import InvalidOptionError
from solvers.options import progress_level

if TYPE_CHECKING:  # pragma: no cover
    from solvers.qaoa.options import QAOAOptions
    from solvers.qubo import QUBO
    from solvers.solution import Solution

__all__ = ["correlations", "fix_variable", "lift", "solve_recursive", "strongest", "tie_variables"]

logger = logging.getLogger(__name__)

#: One elimination: ``("fix", label, None, value)`` or ``("tie", label, other_label, sign)``
#: (``x_label = x_other`` for sign +1, ``1 - x_other`` for -1).
Step = tuple[str, Hashable, Any, int]

#: One round: ``(qubo, time_limit_s) -> (solution, probabilities of the optimised state)``.
RoundSolver = Callable[["QUBO", "float | None"], "tuple[Solution, np.ndarray]"]
#: Up to this many variables the original QUBO's optimum is enumerated for ``answer_gap``
#: (as the plain solve's ``ENUMERATE_MAX_QUBITS``).
OPTIMUM_MAX_QUBITS = 20
#: Rows of the probability vector per chunk when summing correlations.
_CHUNK = 1 << 16


# -------------------------------------------------------------- the reduction
def _dense(qubo: QUBO) -> tuple[np.ndarray, np.ndarray, float]:
    return np.array(qubo.linear, dtype=np.float64), qubo.symmetric_couplings(), float(qubo.offset)


def _rebuild(qubo: QUBO, a: np.ndarray, W: np.ndarray, c: float, gone: int) -> QUBO:
    """The QUBO on the variables but ``gone``: linear ``a``, couplings ``W`` (symmetric), offset ``c``."""
    from solvers.qubo import QUBO

    keep = [v for v in range(qubo.num_variables) if v != gone]
    a, W = a[keep], W[np.ix_(keep, keep)]
    iu, ju = np.triu_indices(len(keep), 1)
    w = W[iu, ju]
    nz = w != 0.0
    new_index = {v: k for k, v in enumerate(keep)}
    groups = tuple(tuple(new_index[v] for v in g) for g in qubo.onehot if gone not in g)
    return QUBO(a, iu[nz], ju[nz], w[nz], c, tuple(qubo.labels[v] for v in keep), groups, qubo.metadata)


def fix_variable(qubo: QUBO, k: int, value: int) -> QUBO:
    """``qubo`` with ``x_k = value`` substituted (variable ``k`` leaves).

    Examples
    --------
    >>> from solvers import QUBO
    >>> q = QUBO.from_terms({0: 1.0, 1: -1.0}, {(0, 1): 3.0})
    >>> r = fix_variable(q, 0, 1)
    >>> r.labels, r.linear.tolist(), r.offset
    ((1,), [2.0], 1.0)
    """
    a, W, c = _dense(qubo)
    v = 1.0 if int(value) else 0.0
    c += a[k] * v
    a += v * W[:, k]
    return _rebuild(qubo, a, W, c, k)


def tie_variables(qubo: QUBO, keep: int, gone: int, sign: int) -> QUBO:
    """``qubo`` with ``x_gone = x_keep`` (``sign`` +1) or ``1 - x_keep`` (-1) substituted."""
    if keep == gone:
        msg = "a variable cannot be tied to itself"
        raise ValueError(msg)
    a, W, c = _dense(qubo)
    i, j = gone, keep
    w_ij = W[i, j]
    row = W[i].copy()
    row[[i, j]] = 0.0
    if sign > 0:  # x_i = x_j: a_i x_j, w_ij x_j (x_j**2 = x_j), w_il x_j x_l
        a[j] += a[i] + w_ij
        W[j] += row
        W[:, j] += row
    else:  # x_i = 1 - x_j: a_i - a_i x_j; w_ij (1 - x_j) x_j = 0; w_il x_l - w_il x_j x_l
        c += a[i]
        a[j] -= a[i]
        a += row
        W[j] -= row
        W[:, j] -= row
    return _rebuild(qubo, a, W, c, i)


def lift(bits: Sequence[int] | np.ndarray, labels: Sequence[Hashable], steps: Sequence[Step],
         original_labels: Sequence[Hashable]) -> np.ndarray:
    """An assignment of the reduced variables ``labels`` lifted through ``steps`` (undone in reverse)
    to every variable of ``original_labels`` (uint8, in that order)."""
    value = {lab: int(b) for lab, b in zip(labels, np.asarray(bits).reshape(-1).tolist())}
    for kind, lab, other, v in reversed(list(steps)):
        if kind == "fix":
            value[lab] = int(v)
        else:
            value[lab] = value[other] if v > 0 else 1 - value[other]
    return np.array([value[lab] for lab in original_labels], dtype=np.uint8)


# -------------------------------------------------------------- correlations
def correlations(probabilities: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """``<Z_i>`` (shape ``(n,)``) and ``<Z_i Z_j>`` (``(n, n)``, diagonal 1) of a distribution
    over the ``2**n`` basis states (big-endian, qubit 0 the most significant bit).

    Examples
    --------
    >>> p = np.zeros(4); p[0b01] = 1.0            # x_0 = 0, x_1 = 1
    >>> z, zz = correlations(p, 2)
    >>> z.tolist(), float(zz[0, 1])
    ([1.0, -1.0], -1.0)
    """
    from solvers.qubo import index_bits

    p = np.asarray(probabilities, dtype=np.float64).reshape(-1)
    z = np.zeros(n)
    zz = np.zeros((n, n))
    for s in range(0, p.size, _CHUNK):
        pc = p[s : s + _CHUNK]
        spins = 1.0 - 2.0 * index_bits(np.arange(s, s + pc.size, dtype=np.int64), n, order="big")
        z += pc @ spins
        zz += (spins * pc[:, None]).T @ spins
    return z, zz


def strongest(z: np.ndarray, zz: np.ndarray) -> tuple[str, int, int, float]:
    """The elimination the correlations pick: ``("fix", i, value, <Z_i>)`` or
    ``("tie", i, j, <Z_i Z_j>)`` with ``i < j`` (``j`` leaves), the largest ``|value|``;
    single variables first, then pairs in index order, on a tie."""
    n = z.shape[0]
    i = int(np.argmax(np.abs(z)))
    best = ("fix", i, 0 if z[i] >= 0 else 1, float(z[i]))
    if n > 1:
        iu, ju = np.triu_indices(n, 1)
        vals = zz[iu, ju]
        k = int(np.argmax(np.abs(vals)))
        if abs(vals[k]) > abs(best[3]):
            best = ("tie", int(iu[k]), int(ju[k]), float(vals[k]))
    return best


# -------------------------------------------------------------- the solve
def solve_recursive(qubo: QUBO, opts: QAOAOptions, run_round: RoundSolver, *, time_limit_s: float | None,
                    started: float, options_summary: dict[str, Any]) -> Solution:
    """Recursive QAOA down to ``opts.recursive`` variables (see the module docstring).

    Called by :func:`solvers.qaoa.solver.solve_qaoa` for ``recursive > 0``, with
    ``run_round(qubo, time_limit_s)``: one plain (or warm-start) QAOA solve of a
    QUBO and the probabilities of its optimised state.  ``options_summary`` goes
    to ``Solution.options``.

    Raises
    ------
    InvalidOptionError
        ``recursive`` is not below the QUBO's number of variables (no round would run QAOA).
    """
    from solvers.qaoa.options import SOLVER
    from solvers.qubo import index_bits
    from solvers.solution import Solution, Status

    n, n_c = qubo.num_variables, opts.recursive
    if n_c >= n:
        msg = (f"option 'recursive' of solver {SOLVER!r} is {n_c}, not below the QUBO's {n} variables, so no round "
               f"would run QAOA; use recursive in [1, {n - 1}] (or 0 for plain QAOA)")
        raise InvalidOptionError(msg)
    deadline = None if time_limit_s is None else started + float(time_limit_s)
    current, steps, rounds = qubo, [], []
    evaluations = 0
    first: Solution | None = None
    while current.num_variables > n_c:
        left = None if deadline is None else max(1e-3, deadline - time.perf_counter())
        sol, probabilities = run_round(current, left)
        first = first or sol
        evaluations += int(sol.resources["evaluations"])
        z, zz = correlations(probabilities, current.num_variables)
        kind, i, other, corr = strongest(z, zz)
        labels = current.labels
        if kind == "fix":
            step: Step = ("fix", labels[i], None, other)
            current = fix_variable(current, i, other)
        else:
            sign = 1 if corr >= 0 else -1
            step = ("tie", labels[other], labels[i], sign)
            current = tie_variables(current, i, other, sign)
        steps.append(step)
        rounds.append({
            "variables": len(labels), "evaluations": int(sol.resources["evaluations"]),
            "expectation": sol.resources["expectation"], "p_optimum": sol.resources.get("p_optimum"),
            "step": ("fix" if kind == "fix" else ("tie" if step[3] > 0 else "anti-tie")),
            "variable": repr(step[1]), "to": repr(step[2]) if kind == "tie" else int(other),
            "correlation": corr,
        })
        logger.log(progress_level(), "rqaoa: %d variables: %s %r (correlation %.4f)", len(labels),
                   rounds[-1]["step"], step[1], corr)

    # the classical end: every assignment of the n_c variables left
    energies = current.all_energies(order="big")
    k = int(np.argmin(energies))
    rest = index_bits(np.array([k], dtype=np.int64), current.num_variables, order="big")[0]
    bits = lift(rest, current.labels, steps, qubo.labels)
    energy = float(qubo.energy(bits))
    feasible = bool(qubo.onehot_violations(bits[None, :])[0] == 0)
    optimum = None
    if n <= OPTIMUM_MAX_QUBITS:
        every = qubo.all_energies(order="big")
        ok = qubo.onehot_violations(index_bits(np.arange(2**n, dtype=np.int64), n)) == 0
        optimum = float(every[ok].min()) if ok.any() else None
    assert first is not None  # n_c < n: at least one round ran
    res = first.resources
    resources: dict[str, Any] = {
        "qubits": n, "depth": opts.depth, "mixer": res["mixer"],
        "two_qubit_gates": res.get("two_qubit_gates"), "circuit_moments": res.get("circuit_moments"),
        "shots": opts.shots, "backend": opts.backend, "optimizer": res["optimizer"], "objective": res["objective"],
        "evaluations": evaluations, "recursive": n_c, "rounds": len(rounds), "enumerated_variables": current.num_variables,
        "expectation": res["expectation"], "p_optimum": None,
        "optimum_energy": optimum, "optimum_reference": "enumeration" if optimum is not None else None,
        "answer_gap": None if optimum is None else energy - optimum,
        "parameters": res["parameters"],
    }
    info = {
        "answer": ("the lifted assignment: each round's QAOA state chose one elimination; the last "
                   f"{current.num_variables} variables were enumerated exactly ({2 ** current.num_variables} "
                   "assignments)"),
        "rounds": rounds,
        "enumerated_energy": float(energies[k]),
        "first_round": {k: res.get(k) for k in ("p_optimum", "p_optimum_noiseless", "feasible_fraction",
                                                 "feasible_fraction_noiseless", "p_best")},
    }
    if "warm_start" in first.info:
        info["warm_start"] = first.info["warm_start"]
    return Solution(
        bits=bits, energy=energy, status=Status.FEASIBLE if feasible else Status.INFEASIBLE, solver=SOLVER,
        feasible=feasible, wall_time_s=time.perf_counter() - started, options=options_summary,
        resources=resources, info=info,
    )
