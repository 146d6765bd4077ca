"""The QUBO of a :class:`~optimizer.problems.dispatch.Dispatch` and its penalty weight.

``E(x) = C(x) + P V(x)``: the cost terms (levels, start-ups, import), the
at-most-one, window, ramp and minimum up/down penalties, and the penalty rule
``P = ceil(UB - LB) + 1`` (see the module docstring of
:mod:`optimizer.problems.dispatch`).  :class:`_DispatchQubo` is mixed into ``Dispatch``.
"""

from __future__ import annotations

import math
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from solvers.qubo import QUBO


class _DispatchQubo:
    """The QUBO formulation (mixed into ``Dispatch``)."""

    # ------------------------------------------------------------------- QUBO
    def _on_terms(self, i: int, t: int) -> list[tuple[int, float]]:
        """``on[i, t]`` as ``[(var, 1.0), ...]`` over the unit's level bits."""
        return [(self.level_var[(i, t, k)], 1.0) for k in range(len(self.level_quanta[i]))]

    def _supply_terms(self, t: int) -> list[tuple[int, float]]:
        return [(self.level_var[(i, t, k)], float(qk)) for i in range(len(self.discrete))
                for k, qk in enumerate(self.level_quanta[i])]

    @cached_property
    def _cost_parts(self) -> tuple[float, float]:
        """``(UB, LB)`` of the penalty rule (see the module docstring)."""
        T = self.periods
        ub = lb = 0.0
        for i, u in enumerate(self.discrete):
            c = self.level_cost[i]
            m = len(self.level_quanta[i])
            ub += float(np.maximum(c.max(axis=1), 0.0).sum())
            lb += float(np.minimum(c, 0.0).sum())
            if u.startup_eur > 0 and not u.is_storage:
                ub += u.startup_eur * T
                lb -= u.startup_eur * m * (m - 1) * (T - 1)
        if self.ext_units:
            q = self.quantum_mw
            all_lo = sum(min(0, k) for ks in self.level_quanta for k in ks)
            all_hi = sum(max(0, k) for ks in self.level_quanta for k in ks)
            net = self.profile.net_load_mw
            for t, w in enumerate(self.balance_windows):
                d = float(net[t])
                f = lambda m, t=t: self.import_cost_eur(t, m)  # noqa: E731
                ub += max(f(d - q * w.lo), f(d - q * w.hi))
                lo_m, hi_m = d - q * all_hi, d - q * all_lo
                cands = [lo_m, hi_m]
                _, a1, a2 = self.import_coefficients(t)
                if a2 > 0:
                    cands.append(min(max(-a1 / (2 * a2), lo_m), hi_m))
                lb += min(f(m) for m in cands)
        return ub, lb

    @cached_property
    def penalty(self) -> float:
        """The penalty weight ``P = ceil(UB - LB) + 1`` (see the module docstring for the proof)."""
        ub, lb = self._cost_parts
        return float(math.ceil(ub - lb) + 1.0)

    @cached_property
    def amo_weight(self) -> int:
        """Weight of the at-most-one terms relative to the other penalties (largest minimum-up time)."""
        return max([1, *(self.min_up[i] for i in range(len(self.discrete)))])

    @cached_property
    def _qubo(self) -> QUBO:
        from solvers.qubo import QUBOBuilder

        b = QUBOBuilder(self.variables)
        lab = self.variables
        P, T, q = self.penalty, self.periods, self.quantum_mw

        def sq(terms: list[tuple[int, float]], const: float, w: float) -> None:
            """Add ``w * (sum c x + const)**2`` (repeated variables summed first)."""
            acc: dict[int, float] = {}
            for v, c in terms:
                acc[v] = acc.get(v, 0.0) + c
            items = sorted(acc.items())
            b.add_offset(w * const * const)
            for a, (v, c) in enumerate(items):
                b.add_linear(lab[v], w * (c * c + 2.0 * const * c))
                for u2, c2 in items[a + 1:]:
                    b.add_quadratic(lab[v], lab[u2], 2.0 * w * c * c2)

        # --- cost: levels, start-ups, import
        for i, u in enumerate(self.discrete):
            for t in range(T):
                for k in range(len(self.level_quanta[i])):
                    b.add_linear(lab[self.level_var[(i, t, k)]], float(self.level_cost[i][t, k]))
                S = u.startup_eur
                if S > 0 and not u.is_storage:
                    on_t = self._on_terms(i, t)
                    for v, _ in on_t:
                        b.add_linear(lab[v], S if (t or not u.initial_on) else 0.0)
                    if t:
                        for v, _ in on_t:
                            for v2, _ in self._on_terms(i, t - 1):
                                b.add_quadratic(lab[v], lab[v2], -S)
        if self.ext_units:
            net = self.profile.net_load_mw
            for t in range(T):
                a0, a1, a2 = self.import_coefficients(t)
                d = float(net[t])
                # a0 + a1 (d - q S) + a2 (d - q S)^2
                terms = self._supply_terms(t)
                b.add_offset(a0 + a1 * d)
                for v, c in terms:
                    b.add_linear(lab[v], -a1 * q * c)
                if a2:
                    sq([(v, -q * c) for v, c in terms], d, a2)
        # --- penalties
        wamo = P * self.amo_weight
        for i in range(len(self.discrete)):
            for t in range(T):
                vs = [v for v, _ in self._on_terms(i, t)]
                for a, v in enumerate(vs):
                    for v2 in vs[a + 1:]:
                        b.add_quadratic(lab[v], lab[v2], wamo)
        for t, w in enumerate(self.balance_windows):
            if w.binding:
                terms = self._supply_terms(t) + [(v, -float(c)) for v, c in zip(self.balance_slack[t], w.slack)]
                sq(terms, -float(w.lo), P)
        for i, ws in self.soc_windows.items():
            for t, w in enumerate(ws):
                if w.binding:
                    terms = [(self.level_var[(i, tau, k)], float(qk)) for tau in range(t + 1)
                             for k, qk in enumerate(self.level_quanta[i])]
                    terms += [(v, -float(c)) for v, c in zip(self.soc_slack[(i, t)], w.slack)]
                    sq(terms, -float(w.lo), P)
        for i, pairs in self.ramp_pairs.items():
            for t in range(1, T):
                for a, c in pairs:
                    b.add_quadratic(lab[self.level_var[(i, t - 1, a)]], lab[self.level_var[(i, t, c)]], P)
        for (i, t), y in self.start_var.items():
            s = self.stop_var[(i, t)]
            u = self.discrete[i]
            terms = self._on_terms(i, t) + [(y, -1.0), (s, 1.0)]
            const = 0.0
            if t:
                terms += [(v, -1.0) for v, _ in self._on_terms(i, t - 1)]
            else:
                const = -1.0 if u.initial_on else 0.0
            sq(terms, const, P)
            b.add_quadratic(lab[y], lab[s], P)
            for tau in range(t + 1, min(t + self.min_up[i], T)):
                b.add_linear(lab[y], P)  # y (1 - on_tau)
                for v, _ in self._on_terms(i, tau):
                    b.add_quadratic(lab[y], lab[v], -P)
            for tau in range(t + 1, min(t + self.min_down[i], T)):
                for v, _ in self._on_terms(i, tau):
                    b.add_quadratic(lab[s], lab[v], P)  # s on_tau
        ub, lb = self._cost_parts
        return b.build(metadata={
            "problem": "dispatch", "instance": self.instance_name, "penalty": P,
            "penalty_rule": "P = ceil(UB - LB) + 1: UB >= any feasible cost, LB <= cost of any assignment",
            "penalty_ub_eur": ub, "penalty_lb_eur": lb, "amo_weight": self.amo_weight,
            "encoding": "L bits per unit-period (storage 2L), off = all zero, at most one",
            "quantum_mw": self.quantum_mw, "balancing": self.balancing})

    def to_qubo(self) -> QUBO:
        return self._qubo
