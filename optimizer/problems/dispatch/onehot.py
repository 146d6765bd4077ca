r"""The one-hot encoding of a dispatch: each period picks one commitment its balance admits.

The default encoding of :class:`~optimizer.problems.dispatch.problem.Dispatch`
(``encoding="levels"``) has a bit per unit, period and level and meets the
balance with a penalty on slack bits, which QAOA's X mixer does not keep: on
case9's QAOA demo (3 units x 4 periods, 16 qubits, depth 2) it sampled no
feasible plan.  ``encoding="onehot"`` encodes the balance in the variables
instead:

* **Variables**: for each period ``t``, one bit ``z[t, c]`` per *commitment*
  ``c`` (a level or off for every discrete unit) that the period's balance
  window admits and, with ``network``, every line window of the period admits.
  Then the storage slack bits and the start/stop bits of units with minimum
  up/down times, exactly as in the level encoding.
* **One-hot groups**: each period's bits form a group (exactly one commitment
  per period), declared on the QUBO with its penalty weight
  (``metadata["onehot_penalty"]``), so the ``qaoa`` solver's ``mixer="auto"``
  takes the XY mixer, starts in the W state of each group and never leaves
  them: every sample meets the balance and the line limits.  A period with a
  single admitted commitment is a group of one (its bit is 1 in every sample).
* **Cost** ``C``: per commitment, its level costs, the import cost of its
  supply (exact: any function of the commitment is linear in one-hot bits) and
  the start-up cost of each unit it runs; minus ``S_u on[u, t-1] on[u, t]`` for
  each generator ``u`` and ``t >= 1`` (``on[u, t]`` the sum of the period's
  bits that run ``u``), so a unit running on is not started again.
* **Penalties** ``V`` (each an integer, 0 exactly when its constraint holds,
  on one-hot assignments): ramps ``z[t-1, c] z[t, c']`` for each commitment
  pair some unit cannot ramp between; storage windows
  ``(D_it - lo - s)^2`` over the cumulative discharge; minimum up/down with
  start/stop bits as in the level encoding; and the one-hot term
  ``w (1 - sum_c z[t, c])^2`` with ``w = 1 + sum_u (U_u - 1)`` (``U_u`` the
  minimum-up time in periods).

**The penalty** ``P = ceil(UB - LB) + 1``, with ``UB = offset + sum_t max_c
a[t, c] + sum of the positive quadratic cost terms`` (``a`` the linear cost
coefficients: an upper bound on ``C`` over one-hot assignments, so over every
feasible plan) and ``LB = offset + sum of the negative linear and quadratic
cost coefficients`` (a lower bound on ``C`` over *all* assignments).  ``V >= 1``
on every infeasible assignment: on a period whose group holds ``m != 1`` bits,
the one-hot term ``w (m - 1)^2`` outweighs the only negative penalty terms
that read that period, ``-y (on[u, tau] - 1)`` of the minimum-up rule, at most
``(U_u - 1)(m - 1)`` per unit (``w (m-1)^2 - (w - 1)(m-1) >= 1`` for
``m >= 2``; for ``m = 0`` those terms vanish and the one-hot term is ``w``); on
one-hot assignments ``V`` is the level encoding's, an integer ``>= 1`` where
any constraint fails.  So an infeasible assignment has ``E >= LB + P > UB >=
OPT``: the QUBO minimum is the optimum, and ``E < LB + P`` exactly on the
feasible plans (``metadata["feasible_below"]``, which the ``qaoa`` solver uses
to report the share of feasible samples).  The tests check it assignment by
assignment against the problem's own feasibility and cost.

Its size: the admitted commitments of a period are at most ``prod_u (L_u + 1)``,
and usually far fewer (the balance window is narrow); the demo instance
(:data:`~optimizer.problems.dispatch.problem.QAOA_DEMO`) has 4 of them over its
4 periods (1 per period: the balance leaves a single commitment), against the
level encoding's 16 qubits.  A period with more than :data:`MAX_COMMITMENTS`
level combinations to enumerate is refused (use ``encoding="levels"``).
``encoding="auto"`` takes the one-hot encoding where it has no more variables
than the level encoding (:func:`auto_layout`).

Examples
--------
>>> from optimizer.problems.dispatch.problem import Dispatch, QAOA_DEMO
>>> prob = Dispatch.from_grid(**{**QAOA_DEMO, "levels": 2, "encoding": "onehot"})
>>> q = prob.to_qubo()
>>> q.num_variables, [len(g) for g in q.onehot]
(11, [2, 3, 3, 3])
>>> from optimizer import solve
>>> sol = solve(prob, "exact")
>>> abs(prob.objective(sol.bits) - prob.objective(solve(prob, "milp").bits)) < 1e-6
True
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from optimizer.errors import InfeasibleSolutionError, InvalidInputError

if TYPE_CHECKING:  # pragma: no cover
    from optimizer.problems.dispatch.problem import Dispatch
    from solvers.qubo import QUBO, QUBOBuilder

__all__ = ["ENCODINGS", "MAX_COMMITMENTS", "OneHotLayout", "auto_layout", "build_layout", "onehot_qubo"]

#: The encodings a Dispatch's QUBO takes (``encoding``).
ENCODINGS = ("levels", "onehot")

#: The most level combinations of one period the one-hot encoding enumerates.
MAX_COMMITMENTS = 4096


@dataclass(frozen=True)
class OneHotLayout:
    """The variables of the one-hot encoding.

    Attributes
    ----------
    combos : tuple of ndarray
        Per period, the admitted commitments (rows: the level index of each
        discrete unit, ``-1`` off), in the order of their bits.
    first : tuple of int
        Per period, the index of its first commitment bit (the bits of period
        ``t`` are ``first[t] .. first[t] + len(combos[t]) - 1``).
    labels : tuple
        Every variable's label: ``("c", t, levels)`` for the commitment bits,
        then the level encoding's storage slack and start/stop labels.
    carried : dict
        Level-encoding variable index -> index here, for the storage slack and
        start/stop bits (the same meaning in both encodings).
    """

    combos: tuple[np.ndarray, ...]
    first: tuple[int, ...]
    labels: tuple[tuple[Any, ...], ...]
    carried: dict[int, int]

    def group(self, t: int) -> range:
        """The bit indices of period ``t``'s commitments."""
        return range(self.first[t], self.first[t] + len(self.combos[t]))

    def index(self, t: int, levels: np.ndarray) -> int:
        """The bit of period ``t``'s commitment ``levels`` (raises InfeasibleSolutionError if not admitted)."""
        hit = np.flatnonzero((self.combos[t] == np.asarray(levels)[None, :]).all(axis=1))
        if hit.size == 0:
            msg = (f"period {t}: the commitment {np.asarray(levels).tolist()} (level per unit, -1 off) breaks the "
                   "period's balance or line windows; the one-hot encoding has no bit for it")
            raise InfeasibleSolutionError(msg)
        return self.first[t] + int(hit[0])


def build_layout(prob: Dispatch) -> OneHotLayout:
    """The one-hot variables of ``prob`` (its level layout, windows and line windows already built)."""
    sizes = [len(ks) + 1 for ks in prob.level_quanta]
    if math.prod(sizes) > MAX_COMMITMENTS:
        msg = (f"encoding='onehot' enumerates each period's level combinations; this dispatch has "
               f"{math.prod(sizes):,} (units x levels), more than {MAX_COMMITMENTS:,}; use encoding='levels' "
               "or fewer units / levels")
        raise InvalidInputError(msg)
    grids = np.meshgrid(*[np.arange(-1, n - 1) for n in sizes], indexing="ij")
    every = np.stack([g.reshape(-1) for g in grids], axis=1).astype(np.int64)
    idx = every + 1
    supply = sum(np.array([0, *qs], dtype=np.int64)[idx[:, i]] for i, qs in enumerate(prob.level_quanta))
    combos, first, labels = [], [], []
    for t, w in enumerate(prob.balance_windows):
        ok = (supply >= w.lo) & (supply <= w.hi)
        for (r, tt), lw in prob.line_windows.items():
            if tt == t:
                flow = sum(np.array([0, *cs], dtype=np.int64)[idx[:, i]]
                           for i, cs in enumerate(prob.line_coef[(r, t)]))
                ok &= (flow >= lw.lo) & (flow <= lw.hi)
        if not ok.any():
            msg = (f"infeasible day: in period {t} no commitment of the units meets the balance window "
                   f"{w.lo * prob.quantum_mw:g}..{w.hi * prob.quantum_mw:g} MW"
                   + (" and the line limits" if prob.line_windows else "")
                   + "; lower the demand (load_scale), add units or levels, or change quantum_mw")
            raise InvalidInputError(msg)
        rows = every[ok]
        first.append(len(labels))
        combos.append(rows)
        labels.extend(("c", t, tuple(int(k) for k in row)) for row in rows)
    carried = {}
    level_labels = prob.level_variables
    for vs in [*prob.soc_slack.values(), *([v] for v in prob.start_var.values()),
               *([v] for v in prob.stop_var.values())]:
        for v in vs:
            carried[v] = -1
    for v in sorted(carried):
        carried[v] = len(labels)
        labels.append(level_labels[v])
    return OneHotLayout(tuple(combos), tuple(first), tuple(labels), carried)


def auto_layout(prob: Dispatch) -> OneHotLayout | None:
    """The one-hot layout ``encoding="auto"`` takes, or None for the level encoding: one-hot where its
    combinations are few enough to enumerate, every period admits one, and it has no more variables
    than the level encoding."""
    if math.prod(len(ks) + 1 for ks in prob.level_quanta) > MAX_COMMITMENTS:
        return None
    try:
        lay = build_layout(prob)
    except InvalidInputError:
        return None
    return lay if len(lay.labels) <= len(prob.level_variables) else None


def choice_of(prob: Dispatch, lay: OneHotLayout, bits: np.ndarray) -> np.ndarray:
    """The level choice (periods x discrete units) of one-hot ``bits``; raises when a period is not one-hot."""
    out = np.empty((prob.periods, len(prob.discrete)), dtype=np.int64)
    for t in range(prob.periods):
        g = lay.group(t)
        on = np.flatnonzero(bits[g.start:g.stop])
        if on.size != 1:
            msg = f"period {t} has {on.size} commitments chosen; exactly one"
            raise InfeasibleSolutionError(msg)
        out[t] = lay.combos[t][on[0]]
    return out


def bits_of(prob: Dispatch, lay: OneHotLayout, choice: np.ndarray, level_bits: np.ndarray) -> np.ndarray:
    """One-hot bits for a level choice, the carried bits taken from its level-encoding ``level_bits``."""
    bits = np.zeros(len(lay.labels), dtype=np.uint8)
    for t in range(prob.periods):
        bits[lay.index(t, choice[t])] = 1
    for v, j in lay.carried.items():
        bits[j] = level_bits[v]
    return bits


def _on(prob: Dispatch, lay: OneHotLayout, i: int, t: int) -> list[int]:
    """The bits of period ``t`` whose commitment runs unit ``i``."""
    return [lay.first[t] + j for j in np.flatnonzero(lay.combos[t][:, i] >= 0).tolist()]


def _cost(prob: Dispatch, lay: OneHotLayout, b: QUBOBuilder) -> None:
    """Add the cost ``C`` (module docstring) to ``b``."""
    T = prob.periods
    for t in range(T):
        rows = lay.combos[t]
        a = np.zeros(len(rows))
        for i, u in enumerate(prob.discrete):
            runs = rows[:, i] >= 0
            a[runs] += prob.level_cost[i][t, rows[runs, i]]
            if u.startup_eur > 0 and not u.is_storage and (t or not u.initial_on):
                a[runs] += u.startup_eur
        if prob.ext_units:
            q, d = prob.quantum_mw, float(prob.net_load_mw[t])
            for j, row in enumerate(rows):
                s = sum(prob.level_quanta[i][k] for i, k in enumerate(row) if k >= 0)
                a[j] += prob.import_cost_eur(t, d - q * s)
        b.add_linear_array(np.arange(lay.first[t], lay.first[t] + len(rows)), a)
    for i, u in enumerate(prob.discrete):
        if u.startup_eur > 0 and not u.is_storage:
            for t in range(1, T):
                prev, now = _on(prob, lay, i, t - 1), _on(prob, lay, i, t)
                if prev and now:
                    pi, ni = np.meshgrid(prev, now, indexing="ij")
                    b.add_quadratic_array(pi.reshape(-1), ni.reshape(-1), np.full(pi.size, -u.startup_eur))


def cost_bounds(prob: Dispatch, lay: OneHotLayout) -> tuple[float, float]:
    """``(UB, LB)`` of the one-hot penalty rule (module docstring)."""
    from solvers.qubo import QUBOBuilder

    b = QUBOBuilder(lay.labels)
    _cost(prob, lay, b)
    c = b.build()
    lin = np.asarray(c.linear)
    ub = c.offset + sum(float(lin[lay.group(t).start:lay.group(t).stop].max()) for t in range(prob.periods))
    ub += float(np.maximum(c.quad_w, 0.0).sum())
    lb = c.offset + float(np.minimum(lin, 0.0).sum()) + float(np.minimum(c.quad_w, 0.0).sum())
    return float(ub), float(lb)


def onehot_weight(prob: Dispatch) -> int:
    """``w = 1 + sum_u (U_u - 1)``: the one-hot term's weight relative to ``P`` (module docstring)."""
    return 1 + sum(prob.min_up[i] - 1 for i in range(len(prob.discrete)) if (i, 0) in prob.start_var)


def onehot_qubo(prob: Dispatch, lay: OneHotLayout, P: float) -> QUBO:
    """The one-hot QUBO of ``prob`` with penalty ``P`` (module docstring)."""
    from solvers.qubo import QUBOBuilder

    b = QUBOBuilder(lay.labels)
    T = prob.periods
    _cost(prob, lay, b)

    W = onehot_weight(prob) * P
    for t in range(T):
        b.add_onehot([lay.labels[v] for v in lay.group(t)], penalty=W)
    for i, pairs in prob.ramp_pairs.items():
        for t in range(1, T):
            prev, now = lay.combos[t - 1][:, i], lay.combos[t][:, i]
            for a, c in pairs:
                ja, jc = np.flatnonzero(prev == a) + lay.first[t - 1], np.flatnonzero(now == c) + lay.first[t]
                if ja.size and jc.size:
                    pa, pc = np.meshgrid(ja, jc, indexing="ij")
                    b.add_quadratic_array(pa.reshape(-1), pc.reshape(-1), np.full(pa.size, P))
    for i, ws in prob.soc_windows.items():
        for t, w in enumerate(ws):
            if w.binding:
                terms = [(lay.first[tau] + j, float(prob.level_quanta[i][k]))
                         for tau in range(t + 1) for j, k in enumerate(lay.combos[tau][:, i].tolist()) if k >= 0]
                terms += [(lay.carried[v], -float(c)) for v, c in zip(prob.soc_slack[(i, t)], w.slack)]
                add_square(b, terms, -float(w.lo), P)
    for (i, t), y0 in prob.start_var.items():
        y, s = lay.carried[y0], lay.carried[prob.stop_var[(i, t)]]
        u = prob.discrete[i]
        terms = [(v, 1.0) for v in _on(prob, lay, i, t)] + [(y, -1.0), (s, 1.0)]
        const = 0.0
        if t:
            terms += [(v, -1.0) for v in _on(prob, lay, i, t - 1)]
        else:
            const = -1.0 if u.initial_on else 0.0
        add_square(b, terms, const, P)
        b.add_quadratic_array(np.array([y]), np.array([s]), np.array([P]))
        for tau in range(t + 1, min(t + prob.min_up[i], T)):
            b.add_linear_array(np.array([y]), np.array([P]))  # y (1 - on_tau)
            vs = _on(prob, lay, i, tau)
            b.add_quadratic_array(np.full(len(vs), y), np.array(vs, dtype=np.int64), np.full(len(vs), -P))
        for tau in range(t + 1, min(t + prob.min_down[i], T)):
            vs = _on(prob, lay, i, tau)
            b.add_quadratic_array(np.full(len(vs), s), np.array(vs, dtype=np.int64), np.full(len(vs), P))
    ub, lb = cost_bounds(prob, lay)
    return b.build(metadata={
        "problem": "dispatch", "instance": prob.instance_name, "penalty": P,
        "penalty_rule": "P = ceil(UB - LB) + 1: UB >= any feasible cost, LB <= cost of any assignment",
        "penalty_ub_eur": ub, "penalty_lb_eur": lb, "onehot_penalty": W, "onehot_weight": W / P,
        "feasible_below": lb + P,
        "encoding": "onehot: one bit per period and admitted commitment, one-hot per period",
        "commitments": [len(c) for c in lay.combos],
        "quantum_mw": prob.quantum_mw, "balancing": prob.balancing,
        "line_windows": len(prob.line_windows)})


def add_square(b: Any, terms: list[tuple[int, float]], const: float, w: float) -> None:
    """Add ``w * (sum c x + const)**2`` to the QUBO builder ``b`` (repeated variables summed first).

    The one expansion of a squared penalty that both dispatch encodings use; the pairs go in
    as arrays, row-major.
    """
    acc: dict[int, float] = {}
    for v, c in terms:
        acc[v] = acc.get(v, 0.0) + c
    idx = np.array(sorted(acc), dtype=np.int64)
    c = np.array([acc[v] for v in idx.tolist()], dtype=np.float64)
    b.add_offset(w * const * const)
    b.add_linear_array(idx, w * (c * c + 2.0 * const * c))
    r, s = np.triu_indices(len(idx), 1)
    b.add_quadratic_array(idx[r], idx[s], 2.0 * w * c[r] * c[s])
