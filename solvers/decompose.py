"""The ``decompose`` solver: a QUBO larger than the qubits at hand, solved piece by piece.

Large-neighbourhood search over sub-QUBOs:

1. start from an assignment (``start``: a random one-hot assignment, a greedy
   sweep, or one given by the caller), said plainly in ``Solution.info``;
2. pick a sub-problem: a seed unit (a whole one-hot group, or one free
   variable) chosen by *energy impact* (the largest energy drop one move in the
   unit would bring, ties and zero gains in a seeded random order), grown by
   *graph neighbourhood* (the units most strongly coupled to those already in)
   up to ``sub_size`` variables.  One-hot groups always go in whole;
3. the sub-QUBO over those variables, the rest held fixed: the fixed
   neighbours' couplings fold into its linear terms and the energy of the rest
   into its offset, so its energy *is* the full energy;
4. the inner solver (``qaoa`` on any backend, ``exact``, ``anneal``, ...) solves
   it; a strictly lower energy is accepted;
5. a round visits every unit as a seed once; when a round improves nothing,
   a fraction ``perturb`` of the units is re-drawn at random (up to
   ``max_perturbations`` times), and the search stops when no sub-problem
   improves or the budget (``max_rounds``, ``max_inner_calls``, time limit) is spent.

The best assignment seen is returned, so the answer is never worse than the
start.  ``info`` reports the start, every sub-problem's size, the number of
inner-solver calls (QAOA calls when ``inner="qaoa"``), the energy trace, and
``energy_before_inner`` / ``energy_after_inner`` (the start and the result),
so an inner solver's contribution is visible.

Examples
--------
>>> from solvers import QUBO, solve_qubo
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> q = QUBO.from_matrix(rng.normal(size=(14, 14)))
>>> sol = solve_qubo(q, "decompose", inner="exact", sub_size=7, seed=1)
>>> bool(abs(sol.energy - solve_qubo(q, "exact").energy) < 1e-9)
True
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from solvers.errors import InvalidOptionError, ProblemTooLargeError
from solvers.options import build_options, check_range, inner_solves, progress_level
from solvers.qubo import QUBO
from solvers.solution import Solution, Status

if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Sequence

__all__ = ["DecomposeOptions", "solve_decompose", "sub_qubo"]

log = logging.getLogger(__name__)

_SOLVER = "decompose"
STARTS = ("greedy", "random", "zeros", "given")
#: Defaults of the inner QAOA when the caller gives none (quick simulator, short loop).
#: COBYLA rather than the adjoint L-BFGS-B: on sub-QUBOs of 15 variables it reaches the same
#: energies with 60 evaluations in about 0.6x the time (measured on the 60-trip traffic instance).
QAOA_INNER_DEFAULTS = {"backend": "fast", "depth": 2, "shots": 512, "maxiter": 60, "optimizer": "COBYLA"}


@dataclass(frozen=True)
class DecomposeOptions:
    """Options of the ``decompose`` solver.

    Attributes
    ----------
    inner : str
        The solver of each sub-QUBO: ``qaoa``, ``exact``, ``anneal``, ``cpsat``.
    sub_size : int
        Most variables in one sub-problem (the qubits at hand), in [1, 30].
    inner_options : dict or None
        Options for the inner solver (for ``qaoa`` by default
        ``QAOA_INNER_DEFAULTS``: the ``fast`` backend, depth 2, 512 shots).
    max_rounds : int
        Most rounds (a round seeds a sub-problem at every unit once).
    max_inner_calls : int or None
        Most inner-solver calls in all.
    start : {"greedy", "random", "zeros", "given"}
        ``greedy``: one sweep over the units, each set to its best value given
        those before (a classical start, reported as such); ``random``: each
        one-hot group's hot member at random, free variables 0; ``zeros``;
        ``given``: ``initial``.
    initial : sequence of int or None
        The start for ``start="given"``.
    perturb : float
        Fraction of units re-drawn at random (from the best assignment) when a
        round improves nothing; the k-th perturbation re-draws k times as many.
    max_perturbations : int
        Perturbations without a new best before the search stops.
    """

    inner: str = "qaoa"
    sub_size: int = 16
    inner_options: dict[str, Any] | None = None
    max_rounds: int = 10
    max_inner_calls: int | None = None
    start: str = "greedy"
    initial: Sequence[int] | None = field(default=None, repr=False)
    perturb: float = 0.2
    max_perturbations: int = 3

    def __post_init__(self) -> None:
        if not isinstance(self.inner, str) or self.inner == _SOLVER:
            msg = f"option 'inner' of solver {_SOLVER!r} must name another solver (qaoa, exact, anneal), got {self.inner!r}"
            raise InvalidOptionError(msg)
        check_range(_SOLVER, "sub_size", self.sub_size, low=1, high=30, integer=True)
        check_range(_SOLVER, "max_rounds", self.max_rounds, low=1, high=10**5, integer=True)
        check_range(_SOLVER, "max_inner_calls", self.max_inner_calls, low=1, high=10**6, integer=True,
                    allow_none=True)
        check_range(_SOLVER, "perturb", self.perturb, low=0.0, high=1.0)
        check_range(_SOLVER, "max_perturbations", self.max_perturbations, low=0, high=10**5, integer=True)
        if self.start not in STARTS:
            msg = f"option 'start' of solver {_SOLVER!r} must be one of {', '.join(STARTS)}, got {self.start!r}"
            raise InvalidOptionError(msg)
        if self.start == "given" and self.initial is None:
            msg = f"option 'start' of solver {_SOLVER!r} is 'given' but option 'initial' is missing"
            raise InvalidOptionError(msg)
        if self.inner_options is not None and not isinstance(self.inner_options, dict):
            msg = f"option 'inner_options' of solver {_SOLVER!r} must be a dict, got {self.inner_options!r}"
            raise InvalidOptionError(msg)


class _State:
    """The current assignment and its local fields ``f = W x`` (W symmetric couplings)."""

    def __init__(self, qubo: QUBO, x: np.ndarray) -> None:
        from scipy import sparse

        n = qubo.num_variables
        self.qubo = qubo
        W = sparse.coo_matrix((qubo.quad_w, (qubo.quad_i, qubo.quad_j)), shape=(n, n)).tocsr()
        self.W = (W + W.T).tocsr()
        self.h = qubo.linear
        self.set(x)

    def set(self, x: np.ndarray) -> None:
        self.x = np.asarray(x, dtype=np.float64).copy()
        self.f = self.W @ self.x
        self.energy = self.qubo.energy(self.x.astype(np.uint8))

    def update(self, idx: np.ndarray, new: np.ndarray) -> None:
        dx = np.asarray(new, dtype=np.float64) - self.x[idx]
        self.x[idx] = new
        self.f += self.W[:, idx] @ dx
        self.energy = self.qubo.energy(self.x.astype(np.uint8))

    def unit_gain(self, unit: np.ndarray, grouped: bool) -> float:
        """Largest energy drop of one move in ``unit`` (a flip, or a hand-over in a group)."""
        local = self.h[unit] + self.f[unit]
        if not grouped:
            i = unit[0]
            return float(-(1.0 - 2.0 * self.x[i]) * local[0])
        hot = np.flatnonzero(self.x[unit] > 0.5)
        if hot.size != 1:
            return float("inf")  # an infeasible group: always worth a look
        a = unit[hot[0]]
        Wrow = self.W[a].toarray().ravel()[unit]
        delta = local - Wrow - (self.h[a] + self.f[a])  # move the 1 from a to b
        delta[hot[0]] = 0.0
        return float(max(0.0, -delta.min()))


def sub_qubo(qubo: QUBO, idx: np.ndarray, x: np.ndarray, W: Any = None) -> QUBO:
    """The QUBO over ``qubo``'s variables ``idx`` with the others fixed at ``x``.

    Its energy at ``y`` equals ``qubo``'s energy at ``x`` with ``x[idx] = y``:
    couplings to fixed variables fold into the linear terms, the rest into the offset.
    Whole one-hot groups inside ``idx`` stay one-hot groups (re-indexed).
    """
    n = qubo.num_variables
    idx = np.asarray(idx, dtype=np.int64)
    pos = np.full(n, -1, dtype=np.int64)
    pos[idx] = np.arange(idx.size)
    xf = np.asarray(x, dtype=np.float64).copy()
    xf[idx] = 0.0
    if W is None:
        from scipy import sparse

        Wu = sparse.coo_matrix((qubo.quad_w, (qubo.quad_i, qubo.quad_j)), shape=(n, n)).tocsr()
        W = (Wu + Wu.T).tocsr()
    lin = qubo.linear[idx] + W[idx] @ xf
    offset = qubo.energy(xf.astype(np.uint8))
    sel = (pos[qubo.quad_i] >= 0) & (pos[qubo.quad_j] >= 0)
    qi, qj = pos[qubo.quad_i[sel]], pos[qubo.quad_j[sel]]
    lo, hi = np.minimum(qi, qj), np.maximum(qi, qj)
    inside = set(idx.tolist())
    groups = tuple(tuple(int(pos[v]) for v in g) for g in qubo.onehot if inside.issuperset(g))
    meta = {k: v for k, v in qubo.metadata.items() if k in ("problem", "onehot_penalty", "instance")}
    meta["sub_problem_of"] = n
    return QUBO(lin, lo, hi, qubo.quad_w[sel], offset, tuple(qubo.labels[i] for i in idx.tolist()),
                groups, meta)


def _units(qubo: QUBO) -> tuple[list[np.ndarray], list[bool]]:
    grouped = np.zeros(qubo.num_variables, dtype=bool)
    units, is_group = [], []
    for g in qubo.onehot:
        units.append(np.array(g, dtype=np.int64))
        is_group.append(True)
        grouped[list(g)] = True
    for v in np.flatnonzero(~grouped):
        units.append(np.array([v], dtype=np.int64))
        is_group.append(False)
    return units, is_group


def _unit_graph(qubo: QUBO, units: list[np.ndarray]) -> list[dict[int, float]]:
    owner = np.empty(qubo.num_variables, dtype=np.int64)
    for u, vs in enumerate(units):
        owner[vs] = u
    nbrs: list[dict[int, float]] = [{} for _ in units]
    for i, j, w in zip(qubo.quad_i.tolist(), qubo.quad_j.tolist(), np.abs(qubo.quad_w).tolist()):
        a, b = int(owner[i]), int(owner[j])
        if a != b:
            nbrs[a][b] = nbrs[a].get(b, 0.0) + w
            nbrs[b][a] = nbrs[b].get(a, 0.0) + w
    return nbrs


def _random_start(qubo: QUBO, units: list[np.ndarray], is_group: list[bool], rng: np.random.Generator,
                  x: np.ndarray | None = None, which: Sequence[int] | None = None) -> np.ndarray:
    x = np.zeros(qubo.num_variables) if x is None else x.copy()
    for u in (range(len(units)) if which is None else which):
        vs = units[u]
        if is_group[u]:
            x[vs] = 0.0
            x[vs[rng.integers(len(vs))]] = 1.0
        else:
            x[vs] = float(rng.integers(2)) if which is not None else 0.0
    return x


def _greedy_start(state: _State, units: list[np.ndarray], is_group: list[bool]) -> None:
    """One sweep: each unit set to its best value given the current others."""
    x = np.zeros(state.qubo.num_variables)
    state.set(x)
    for u, vs in enumerate(units):
        local = state.h[vs] + state.f[vs]
        if is_group[u]:
            new = np.zeros(vs.size)
            new[int(np.argmin(local))] = 1.0
        else:
            new = np.array([1.0 if local[0] < 0 else 0.0])
        state.x[vs] = new
        state.f += state.W[:, vs] @ new
    state.set(state.x)


def _pick(seed_unit: int, units: list[np.ndarray], nbrs: list[dict[int, float]], sub_size: int,
          rng: np.random.Generator) -> list[int]:
    """Grow a sub-problem from ``seed_unit`` by strongest coupling, up to ``sub_size`` variables."""
    chosen = [seed_unit]
    size = units[seed_unit].size
    frontier: dict[int, float] = dict(nbrs[seed_unit])
    while frontier:
        # strongest coupling first, jittered so repeated seeds explore different neighbourhoods
        cands = sorted(frontier.items(), key=lambda kv: -kv[1] * rng.uniform(0.5, 1.5))
        added = False
        for u, _ in cands:
            if size + units[u].size <= sub_size:
                chosen.append(u)
                size += units[u].size
                del frontier[u]
                for w, s in nbrs[u].items():
                    if w not in chosen:
                        frontier[w] = frontier.get(w, 0.0) + s
                added = True
                break
            del frontier[u]
        if not added:
            break
    if size < sub_size:  # fill with random small units (disconnected QUBOs)
        rest = [u for u in rng.permutation(len(units)).tolist() if u not in chosen]
        for u in rest:
            if size + units[u].size <= sub_size:
                chosen.append(u)
                size += units[u].size
    return chosen


def solve_decompose(qubo: QUBO, *, seed: int | None = None, time_limit_s: float | None = None,
                    **options: Any) -> Solution:
    """Minimise ``qubo`` by solving sub-QUBOs of at most ``sub_size`` variables with an inner solver.

    See the module docstring; options in :class:`DecomposeOptions`.

    Raises
    ------
    ProblemTooLargeError
        A one-hot group has more variables than ``sub_size``.
    """
    from solvers.registry import solve_qubo

    opts = build_options(DecomposeOptions, _SOLVER, options)
    t0 = time.perf_counter()
    deadline = None if time_limit_s is None else t0 + float(time_limit_s)
    n = qubo.num_variables
    rng = np.random.default_rng(seed)
    units, is_group = _units(qubo)
    big = [len(u) for u in units if len(u) > opts.sub_size]
    if big:
        msg = (f"a one-hot group has {big[0]} variables, more than option 'sub_size'={opts.sub_size} of solver "
               f"{_SOLVER!r}; raise sub_size (groups go into sub-problems whole)")
        raise ProblemTooLargeError(msg)
    inner_opts = dict(opts.inner_options or (QAOA_INNER_DEFAULTS if opts.inner == "qaoa" else {}))
    nbrs = _unit_graph(qubo, units)

    if opts.start == "given":
        x0 = np.asarray(opts.initial, dtype=np.float64).reshape(-1)
        if x0.shape[0] != n:
            msg = f"option 'initial' of solver {_SOLVER!r} has {x0.shape[0]} bits, the QUBO has {n}"
            raise InvalidOptionError(msg)
        state = _State(qubo, x0)
    elif opts.start == "greedy":
        state = _State(qubo, np.zeros(n))
        _greedy_start(state, units, is_group)
    elif opts.start == "random":
        state = _State(qubo, _random_start(qubo, units, is_group, rng))
    else:
        state = _State(qubo, np.zeros(n))
    start_energy = state.energy
    best_x, best_e = state.x.copy(), state.energy
    trace = [start_energy]
    sub_sizes: list[int] = []
    calls = accepted = rounds = perturbations = 0
    stopped_by = "converged"
    inner_time = 0.0

    def out_of_budget() -> str | None:
        if deadline is not None and time.perf_counter() > deadline:
            return "time_limit"
        if opts.max_inner_calls is not None and calls >= opts.max_inner_calls:
            return "max_inner_calls"
        return None

    whole = n <= opts.sub_size
    while rounds < opts.max_rounds:
        rounds += 1
        improved = False
        if whole:
            order = [0]
        else:
            gains = np.array([state.unit_gain(u, g) for u, g in zip(units, is_group)])
            order = np.lexsort((rng.random(len(units)), -gains)).tolist()
        covered: set[int] = set()
        for seed_unit in order:
            if (reason := out_of_budget()) is not None:
                stopped_by = reason
                break
            if seed_unit in covered:
                continue
            chosen = list(range(len(units))) if whole else _pick(seed_unit, units, nbrs, opts.sub_size, rng)
            covered.update(chosen[: max(1, len(chosen) // 2)])  # about two sub-problems per unit a round
            idx = np.sort(np.concatenate([units[u] for u in chosen]))
            sub = sub_qubo(qubo, idx, state.x, state.W)
            ti = time.perf_counter()
            remaining = None if deadline is None else max(1e-3, deadline - ti)
            with inner_solves():  # their per-call lines at DEBUG: one summary line below, not dozens
                sol = solve_qubo(sub, opts.inner, seed=None if seed is None else int(rng.integers(2**31)),
                                 time_limit_s=remaining, **inner_opts)
            inner_time += time.perf_counter() - ti
            calls += 1
            sub_sizes.append(int(idx.size))
            cur = sub.energy(state.x[idx].astype(np.uint8))
            if sol.energy < cur - 1e-9 * max(1.0, abs(cur)):
                state.update(idx, sol.bits.astype(np.float64))
                accepted += 1
                improved = True
                trace.append(state.energy)
                if state.energy < best_e - 1e-12:
                    best_x, best_e = state.x.copy(), state.energy
        else:
            stopped_by = "converged"
        if stopped_by in ("time_limit", "max_inner_calls"):
            break
        if improved and not whole:
            continue
        if whole or perturbations >= opts.max_perturbations or opts.perturb == 0:
            stopped_by = "converged"
            break
        # stuck: perturb the best assignment and go on
        perturbations += 1
        # stronger each time it is stuck again (adaptive large-neighbourhood kick)
        k = max(1, int(round(opts.perturb * perturbations * len(units))))
        which = rng.choice(len(units), size=min(k, len(units)), replace=False).tolist()
        state.set(_random_start(qubo, units, is_group, rng, best_x, which))
        trace.append(state.energy)
    else:
        stopped_by = "max_rounds"

    bits = best_x.astype(np.uint8)
    energy = qubo.energy(bits)
    feasible = qubo.is_feasible(bits)
    log.log(progress_level(), "decompose: %d inner %s solves of up to %d variables (%d improved), %d rounds, "
            "stopped by %s: energy %.6g -> %.6g (%.3g s)", calls, opts.inner, max(sub_sizes, default=0), accepted,
            rounds, stopped_by, start_energy, energy, time.perf_counter() - t0)
    status = Status.FEASIBLE if feasible else Status.INFEASIBLE
    info = {
        "start": opts.start, "start_is_classical": opts.start in ("greedy", "given"),
        "energy_before_inner": start_energy, "energy_after_inner": energy,
        "inner": opts.inner, "inner_calls": calls, "qaoa_calls": calls if opts.inner == "qaoa" else 0,
        "accepted": accepted, "rounds": rounds, "perturbations": perturbations, "stopped_by": stopped_by,
        "sub_sizes": sub_sizes, "max_sub_size": max(sub_sizes) if sub_sizes else 0,
        "energy_trace": trace, "inner_time_s": inner_time, "units": len(units),
    }
    opts_out = {k: getattr(opts, k) for k in ("inner", "sub_size", "max_rounds", "max_inner_calls", "start",
                                              "perturb", "max_perturbations")}
    opts_out["inner_options"] = inner_opts
    resources = {"max_qubits": max(sub_sizes) if sub_sizes else 0, "inner_calls": calls}
    return Solution(bits, energy, status, _SOLVER, feasible, time.perf_counter() - t0, None, "qubo",
                    opts_out, resources, info)
