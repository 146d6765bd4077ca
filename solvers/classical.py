"""Classical QUBO solvers: ``exact`` (vectorised brute force) and ``anneal`` (simulated annealing).

``exact`` enumerates every assignment in ``O(2**n)`` work: the high variables
are fixed chunk by chunk, and each chunk's ``2**c`` energies are built by
doubling (see :func:`solvers.qubo._doubling_energies`), so 26 variables take
seconds, not hours.

``anneal`` runs many independent Metropolis chains at once (numpy over reads)
and flips whole colour classes of the interaction graph together (variables of
one colour share no term, so their flips are independent), with a geometric
inverse-temperature schedule set from the QUBO's own energy scales.

Examples
--------
>>> from solvers import QUBO, solve_qubo
>>> q = QUBO.from_terms({"a": -1, "b": -1, "c": 2}, {("a", "b"): 3, ("b", "c"): -4})
>>> solve_qubo(q, "exact").bits.tolist()
[0, 1, 1]
>>> solve_qubo(q, "anneal", seed=3).bits.tolist()
[0, 1, 1]
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

import numpy as np

from solvers.errors import InvalidOptionError, ProblemTooLargeError
from solvers.options import build_options, check_range, options_dict
from solvers.qubo import QUBO, _doubling_energies
from solvers.solution import Solution, Status

__all__ = ["AnnealOptions", "ExactOptions", "solve_anneal", "solve_exact"]

log = logging.getLogger(__name__)


# --------------------------------------------------------------------- exact
@dataclass(frozen=True)
class ExactOptions:
    """Options of the ``exact`` solver.

    Attributes
    ----------
    max_variables : int
        Refuse QUBOs larger than this (2**n assignments are enumerated).
    chunk_bits : int
        Assignments are enumerated ``2**chunk_bits`` at a time (memory bound).
    """

    max_variables: int = 26
    chunk_bits: int = 20

    def __post_init__(self) -> None:
        check_range("exact", "max_variables", self.max_variables, low=1, high=40, integer=True)
        check_range("exact", "chunk_bits", self.chunk_bits, low=1, high=26, integer=True)

    def check_size(self, n: int) -> None:
        """Raise ProblemTooLargeError if a QUBO of ``n`` variables is beyond ``max_variables``."""
        if n > self.max_variables:
            msg = (f"exact search over {n} variables needs 2**{n} energies; the limit is "
                   f"max_variables={self.max_variables}: use 'cpsat', 'anneal' or 'decompose'")
            raise ProblemTooLargeError(msg)


def solve_exact(qubo: QUBO, *, seed: int | None = None, time_limit_s: float | None = None,
                **options: object) -> Solution:
    """Minimise ``qubo`` by enumerating every assignment.

    Ties are broken toward the lowest assignment index (variable 0 most
    significant), so the answer is deterministic; ``seed`` is unused.
    """
    opts = build_options(ExactOptions, "exact", options)
    n = qubo.num_variables
    opts.check_size(n)
    t0 = time.perf_counter()
    if n == 0:
        return Solution(np.zeros(0), qubo.offset, Status.OPTIMAL, "exact", True,
                        time.perf_counter() - t0, qubo.offset, "qubo", options_dict(opts))
    # Little-endian inside the enumeration: bit i of the index is variable perm[i].
    # Put variable 0 in the top bit so ties break toward the lowest big-endian index.
    perm = np.arange(n)[::-1]
    h = qubo.linear[perm]
    W = qubo.symmetric_couplings()[np.ix_(perm, perm)]
    c = min(n, opts.chunk_bits)
    hi = n - c
    W_low = W[:c, :c]
    W_cross = W[c:, :c]  # (hi, c)
    # energies of the high part alone, for every high assignment
    E_high = _doubling_energies(h[c:], W[c:, c:], qubo.offset, np.float64)
    best_e, best_idx, count_min = math.inf, -1, 0
    timed_out = False
    for y in range(1 << hi):
        if time_limit_s is not None and time.perf_counter() - t0 > time_limit_s:
            timed_out = True
            break
        ybits = (y >> np.arange(hi)) & 1 if hi else np.zeros(0, dtype=np.int64)
        h_eff = h[:c] + ybits @ W_cross if hi else h[:c]
        E = _doubling_energies(h_eff, W_low, float(E_high[y]), np.float64)
        k = int(np.argmin(E))
        e = float(E[k])
        if e < best_e - 1e-12 * max(1.0, abs(e)):
            best_e, best_idx = e, (y << c) | k
    bits_little = (best_idx >> np.arange(n)) & 1
    bits = np.empty(n, dtype=np.uint8)
    bits[perm] = bits_little
    del count_min
    energy = qubo.energy(bits)
    status = Status.FEASIBLE if timed_out else Status.OPTIMAL
    return Solution(
        bits, energy, status, "exact", qubo.is_feasible(bits), time.perf_counter() - t0,
        None if timed_out else energy, "qubo", options_dict(opts),
        info={"assignments": (1 << n) if not timed_out else None},
    )


# -------------------------------------------------------------------- anneal
@dataclass(frozen=True)
class AnnealOptions:
    """Options of the ``anneal`` solver.

    Attributes
    ----------
    sweeps : int
        Metropolis sweeps per read (each sweep visits every variable once).
    reads : int
        Independent chains run side by side.
    beta_start, beta_end : float or None
        Inverse temperatures of the geometric schedule; by default set from the
        QUBO so the largest energy change is accepted half the time at the start
        and the smallest one 1% of the time at the end.
    group_moves : bool
        Move each one-hot group as a whole (reads stay one-hot feasible).
    """

    sweeps: int = 1000
    reads: int = 16
    beta_start: float | None = None
    beta_end: float | None = None
    group_moves: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.group_moves, bool):
            msg = f"option 'group_moves' of solver 'anneal' must be true or false, got {self.group_moves!r}"
            raise InvalidOptionError(msg)
        check_range("anneal", "sweeps", self.sweeps, low=1, high=10**7, integer=True)
        check_range("anneal", "reads", self.reads, low=1, high=10**5, integer=True)
        check_range("anneal", "beta_start", self.beta_start, low=0, allow_none=True)
        check_range("anneal", "beta_end", self.beta_end, low=0, allow_none=True)
        if self.beta_start is not None and self.beta_end is not None and self.beta_end < self.beta_start:
            msg = "option 'beta_end' of solver 'anneal' must be >= beta_start (it cools down)"
            raise InvalidOptionError(msg)


def _colour_classes(qubo: QUBO) -> list[np.ndarray]:
    """Greedy colouring of the interaction graph: variables of one class share no term."""
    n = qubo.num_variables
    nbrs: list[list[int]] = [[] for _ in range(n)]
    for i, j in zip(qubo.quad_i.tolist(), qubo.quad_j.tolist()):
        nbrs[i].append(j)
        nbrs[j].append(i)
    colour = np.full(n, -1, dtype=np.int64)
    for v in sorted(range(n), key=lambda v: -len(nbrs[v])):
        used = {colour[u] for u in nbrs[v]}
        c = 0
        while c in used:
            c += 1
        colour[v] = c
    return [np.flatnonzero(colour == c) for c in range(int(colour.max()) + 1)] if n else []


def _default_betas(qubo: QUBO) -> tuple[float, float]:
    W = np.abs(qubo.symmetric_couplings())
    max_delta = float(np.max(np.abs(qubo.linear) + W.sum(axis=1))) if qubo.num_variables else 1.0
    coeffs = np.concatenate([np.abs(qubo.linear), np.abs(qubo.quad_w)])
    coeffs = coeffs[coeffs > 1e-12]
    min_delta = float(coeffs.min()) if coeffs.size else 1.0
    max_delta = max(max_delta, min_delta)
    return math.log(2.0) / max_delta, math.log(100.0) / min_delta


def _group_classes(qubo: QUBO, W: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """Colour classes of one-hot groups (groups in a class share no term), padded.

    Returns per class ``(idx, mask)``: ``idx[g, j]`` the j-th variable of group g
    (padded with 0), ``mask[g, j]`` whether it is real.
    """
    groups = [np.array(g) for g in qubo.onehot]
    owner = np.full(qubo.num_variables, -1)
    for gi, g in enumerate(groups):
        owner[g] = gi
    nbrs: list[set[int]] = [set() for _ in groups]
    for i, j in zip(qubo.quad_i.tolist(), qubo.quad_j.tolist()):
        a, b = owner[i], owner[j]
        if a >= 0 and b >= 0 and a != b:
            nbrs[a].add(b)
            nbrs[b].add(a)
    colour = np.full(len(groups), -1)
    for g in sorted(range(len(groups)), key=lambda g: -len(nbrs[g])):
        used = {colour[h] for h in nbrs[g]}
        c = 0
        while c in used:
            c += 1
        colour[g] = c
    out = []
    for c in range(int(colour.max()) + 1 if len(groups) else 0):
        members = [groups[g] for g in np.flatnonzero(colour == c) if len(groups[g]) > 1]
        if not members:
            continue
        kmax = max(len(g) for g in members)
        idx = np.zeros((len(members), kmax), dtype=np.int64)
        mask = np.zeros((len(members), kmax), dtype=bool)
        for r, g in enumerate(members):
            idx[r, : len(g)] = g
            mask[r, : len(g)] = True
        out.append((idx, mask))
    return out


def solve_anneal(qubo: QUBO, *, seed: int | None = None, time_limit_s: float | None = None,
                 **options: object) -> Solution:
    """Simulated annealing; the lowest-energy final state over all reads is the answer.

    Variables outside one-hot groups take single-flip Metropolis moves.  With
    ``group_moves`` (default), each one-hot group moves as a whole: its hot
    variable hands over to another member, so reads start and stay inside the
    one-hot subspace (the energy minimised is still the QUBO's, penalties and all).
    """
    from scipy import sparse

    opts = build_options(AnnealOptions, "anneal", options)
    t0 = time.perf_counter()
    n = qubo.num_variables
    rng = np.random.default_rng(seed)
    b0, b1 = _default_betas(qubo)
    beta0 = opts.beta_start if opts.beta_start is not None else b0
    beta1 = opts.beta_end if opts.beta_end is not None else max(b1, beta0)
    betas = np.geomspace(max(beta0, 1e-12), max(beta1, 1e-12), opts.sweeps)
    Wd = qubo.symmetric_couplings()
    Wsp = sparse.csr_matrix(Wd)
    h = qubo.linear
    R = opts.reads
    x = rng.integers(0, 2, size=(R, n)).astype(np.float64)
    grouped = np.zeros(n, dtype=bool)
    gclasses: list[tuple[np.ndarray, np.ndarray]] = []
    if opts.group_moves and qubo.onehot:
        for g in qubo.onehot:
            g = np.array(g)
            grouped[g] = True
            x[:, g] = 0.0
            x[np.arange(R), g[rng.integers(0, len(g), size=R)]] = 1.0
        gclasses = _group_classes(qubo, Wd)
    free = np.flatnonzero(~grouped)
    sub = QUBO(h[free], *_sub_terms(qubo, free)) if free.size else None
    classes = [free[c] for c in _colour_classes(sub)] if sub is not None else []
    rows = [Wsp[c] for c in classes]
    grows = [(idx, mask, Wsp[idx.reshape(-1)]) for idx, mask in gclasses]
    f = np.asarray(Wsp.T.dot(x.T).T) if n else x  # local fields: f[r, i] = sum_j W_ij x_rj
    sweeps_done = 0
    for beta in betas:
        if time_limit_s is not None and time.perf_counter() - t0 > time_limit_s:
            break
        for c, Wc in zip(classes, rows):
            xc = x[:, c]
            delta = (1.0 - 2.0 * xc) * (h[c] + f[:, c])
            accept = (delta <= 0) | (rng.random(delta.shape) < np.exp(-beta * np.maximum(delta, 0)))
            if not accept.any():
                continue
            dx = np.where(accept, 1.0 - 2.0 * xc, 0.0)
            x[:, c] = xc + dx
            f += np.asarray(Wc.T.dot(dx.T).T)
        for idx, mask, Wg in grows:
            G, K = idx.shape
            xg = x[:, idx] * mask  # (R, G, K)
            a = np.argmax(xg, axis=2)  # current hot member
            sizes = mask.sum(axis=1)
            off = rng.integers(1, np.maximum(sizes, 2)[None, :], size=(R, G))
            b = (a + off) % sizes[None, :]
            gi = np.arange(G)[None, :]
            va, vb = idx[gi, a], idx[gi, b]
            delta = (h[vb] + np.take_along_axis(f, vb, 1) - Wd[va, vb]) - (h[va] + np.take_along_axis(f, va, 1))
            accept = (delta <= 0) | (rng.random(delta.shape) < np.exp(-beta * np.maximum(delta, 0)))
            if not accept.any():
                continue
            dx = np.zeros((R, G, K))
            rr = np.nonzero(accept)
            dx[rr[0], rr[1], a[rr]] = -1.0
            dx[rr[0], rr[1], b[rr]] = 1.0
            np.add.at(x, (rr[0], va[rr]), -1.0)
            np.add.at(x, (rr[0], vb[rr]), 1.0)
            f += np.asarray(Wg.T.dot(dx.reshape(R, G * K).T).T)
        sweeps_done += 1
    X = np.rint(x).astype(np.uint8)
    E = qubo.energies(X)
    viol = qubo.onehot_violations(X)
    best = int(np.argmin(E))
    bits = X[best]
    feasible = bool(viol[best] == 0)
    return Solution(
        bits, float(E[best]), Status.FEASIBLE if feasible else Status.INFEASIBLE, "anneal", feasible,
        time.perf_counter() - t0, None, "qubo", options_dict(opts),
        info={"sweeps_done": sweeps_done, "stopped_by": "work" if sweeps_done == opts.sweeps else "time_limit",
              "colour_classes": len(classes), "group_classes": len(grows),
              "beta_start": float(betas[0]) if len(betas) else None,
              "beta_end": float(betas[-1]) if len(betas) else None,
              "read_energies": E.tolist()},
    )


def _sub_terms(qubo: QUBO, keep: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Quadratic terms among ``keep`` only, re-indexed."""
    pos = np.full(qubo.num_variables, -1)
    pos[keep] = np.arange(keep.size)
    sel = (pos[qubo.quad_i] >= 0) & (pos[qubo.quad_j] >= 0)
    return pos[qubo.quad_i[sel]], pos[qubo.quad_j[sel]], qubo.quad_w[sel]
