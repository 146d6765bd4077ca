"""Native OR-Tools models of a :class:`~optimizer.problems.dispatch.Dispatch`'s discrete model.

CP-SAT (:meth:`_DispatchModels.native_cpsat`) and the MathOpt MILP on HiGHS (the
``milp`` native solver), both over the QUBO's bits; and :func:`_mathopt_solve`,
which the continuous model shares.  :class:`_DispatchModels` is mixed into ``Dispatch``.
OR-Tools is imported inside the functions.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from optimizer.errors import InvalidOptionError

if TYPE_CHECKING:  # pragma: no cover
    from solvers.ortools import CpSatModel
    from solvers.solution import Solution

#: Integer scale of CP-SAT's objective (milli-euros).
CPSAT_SCALE = 1000.0


class _DispatchModels:
    """The discrete model in CP-SAT and MathOpt (mixed into ``Dispatch``)."""

    # ---------------------------------------------------------- CP-SAT model
    def native_cpsat(self) -> CpSatModel:
        """CP-SAT on the discrete model; ``bits`` are the QUBO's variables in order."""
        from ortools.sat.python import cp_model

        from solvers.ortools import CpSatModel

        m = cp_model.CpModel()
        x = [m.new_bool_var(f"v{j}") for j in range(len(self.variables))]
        T, q = self.periods, self.quantum_mw
        sc = CPSAT_SCALE
        obj: list[Any] = []
        offset = 0

        def on(i: int, t: int) -> Any:
            return sum(x[v] for v, _ in self._on_terms(i, t))

        for i, u in enumerate(self.discrete):
            for t in range(T):
                vs = [x[v] for v, _ in self._on_terms(i, t)]
                if len(vs) > 1:
                    m.add_at_most_one(vs)
                for k, v in enumerate(vs):
                    c = int(round(float(self.level_cost[i][t, k]) * sc))
                    if c:
                        obj.append(c * v)
                S = int(round(u.startup_eur * sc))
                if S > 0 and not u.is_storage:
                    st = m.new_bool_var(f"start[{i},{t}]")
                    prev = on(i, t - 1) if t else int(u.initial_on)
                    m.add(st >= on(i, t) - prev)
                    obj.append(S * st)
        for t, w in enumerate(self.balance_windows):
            supply = sum(int(c) * x[v] for v, c in self._supply_terms(t))
            if w.binding:
                m.add(supply == w.lo + sum(int(c) * x[v] for v, c in zip(self.balance_slack[t], w.slack)))
            if self.ext_units:
                d = float(self.profile.net_load_mw[t])
                dom = list(range(max(w.lo, self.supply_range_q[0]), min(w.hi, self.supply_range_q[1]) + 1))
                costs = [int(round(self.import_cost_eur(t, d - q * s) * sc)) for s in dom]
                base = min(costs)
                offset += base
                sv = m.new_int_var(dom[0], dom[-1], f"supply[{t}]")
                m.add(sv == supply)
                cv = m.new_int_var(0, max(costs) - base, f"import_cost[{t}]")
                idx = m.new_int_var(0, len(dom) - 1, f"import_idx[{t}]")
                m.add(idx == sv - dom[0])
                m.add_element(idx, [c - base for c in costs], cv)
                obj.append(cv)
        for i, ws in self.soc_windows.items():
            for t, w in enumerate(ws):
                if not w.binding:
                    continue
                cum = sum(int(qk) * x[self.level_var[(i, tau, k)]] for tau in range(t + 1)
                          for k, qk in enumerate(self.level_quanta[i]))
                m.add(cum == w.lo + sum(int(c) * x[v] for v, c in zip(self.soc_slack[(i, t)], w.slack)))
        for i, pairs in self.ramp_pairs.items():
            for t in range(1, T):
                for a, c in pairs:
                    m.add_bool_or([x[self.level_var[(i, t - 1, a)]].Not(), x[self.level_var[(i, t, c)]].Not()])
        for con in _min_up_down_constraints(self, x, on, int):
            m.add(con)
        m.minimize(sum(obj) + offset if obj else offset)
        return CpSatModel(m, x, objective_scale=sc, info={"model": "dispatch-native"})

    # ----------------------------------------------------------- MathOpt MILPs
    def native_solvers(self) -> dict[str, Any]:
        return {"milp": self._solve_milp}

    def _solve_milp(self, *, seed: int | None = None, time_limit_s: float | None = None,
                    **options: Any) -> Solution:
        """The discrete model as a MathOpt MILP on HiGHS (bits aligned with the QUBO)."""
        from ortools.math_opt.python import mathopt

        from solvers.solution import Solution, Status

        if options:
            msg = f"solver 'milp' takes no options besides seed and time_limit_s, got {sorted(options)}"
            raise InvalidOptionError(msg)
        t0 = time.perf_counter()
        mdl = mathopt.Model(name="dispatch-discrete")
        x = [mdl.add_binary_variable(name=f"v{j}") for j in range(len(self.variables))]
        T, q = self.periods, self.quantum_mw
        obj: list[Any] = []

        def on(i: int, t: int) -> Any:
            return mathopt.fast_sum(x[v] for v, _ in self._on_terms(i, t))

        const = 0.0
        for i, u in enumerate(self.discrete):
            for t in range(T):
                vs = [x[v] for v, _ in self._on_terms(i, t)]
                if len(vs) > 1:
                    mdl.add_linear_constraint(mathopt.fast_sum(vs) <= 1)
                obj.extend(float(self.level_cost[i][t, k]) * v for k, v in enumerate(vs))
                if u.startup_eur > 0 and not u.is_storage:
                    st = mdl.add_variable(lb=0.0, ub=1.0, name=f"start[{i},{t}]")
                    prev = on(i, t - 1) if t else float(u.initial_on)
                    mdl.add_linear_constraint(st >= on(i, t) - prev)
                    obj.append(u.startup_eur * st)
        for t, w in enumerate(self.balance_windows):
            supply = mathopt.fast_sum(float(c) * x[v] for v, c in self._supply_terms(t))
            if w.binding:
                mdl.add_linear_constraint(supply == w.lo + mathopt.fast_sum(
                    float(c) * x[v] for v, c in zip(self.balance_slack[t], w.slack)))
            if self.ext_units:
                d = float(self.profile.net_load_mw[t])
                lo, hi = max(w.lo, self.supply_range_q[0]), min(w.hi, self.supply_range_q[1])
                a0, a1, a2 = self.import_coefficients(t)
                if a2 == 0 or lo == hi:
                    const += a0 + a1 * d
                    obj.append(-a1 * q * supply)
                    if a2:
                        const += a2 * (d - q * lo) ** 2
                else:
                    cv = mdl.add_variable(lb=-math.inf, name=f"import_cost[{t}]")
                    for s in range(lo, hi):
                        f0, f1 = self.import_cost_eur(t, d - q * s), self.import_cost_eur(t, d - q * (s + 1))
                        mdl.add_linear_constraint(cv >= f0 + (f1 - f0) * (supply - s))
                    obj.append(cv)
        for i, ws in self.soc_windows.items():
            for t, w in enumerate(ws):
                if w.binding:
                    cum = mathopt.fast_sum(float(qk) * x[self.level_var[(i, tau, k)]] for tau in range(t + 1)
                                           for k, qk in enumerate(self.level_quanta[i]))
                    mdl.add_linear_constraint(cum == w.lo + mathopt.fast_sum(
                        float(c) * x[v] for v, c in zip(self.soc_slack[(i, t)], w.slack)))
        for i, pairs in self.ramp_pairs.items():
            for t in range(1, T):
                for a, c in pairs:
                    mdl.add_linear_constraint(x[self.level_var[(i, t - 1, a)]] + x[self.level_var[(i, t, c)]] <= 1)
        for con in _min_up_down_constraints(self, x, on, float):
            mdl.add_linear_constraint(con)
        mdl.minimize(mathopt.fast_sum(obj) + const)
        res = _mathopt_solve(mdl, time_limit_s=time_limit_s, seed=seed)
        reason = res.termination.reason.name
        has = res.has_primal_feasible_solution()
        qubo = self.to_qubo()
        if has:
            vals = res.variable_values()
            bits = np.array([1 if vals[v] > 0.5 else 0 for v in x], dtype=np.uint8)
            energy = qubo.energy(bits)
            bound = float(res.termination.objective_bounds.dual_bound)
            status = Status.OPTIMAL if reason == "OPTIMAL" else Status.FEASIBLE
        else:
            bits, energy, bound = np.zeros(len(x), dtype=np.uint8), float("nan"), None
            status = Status.INFEASIBLE if reason == "INFEASIBLE" else Status.TIMEOUT
        return Solution(bits, energy, status, "milp", bool(has), time.perf_counter() - t0, bound, "native",
                        {"solver": "HiGHS (MathOpt)"},
                        info={"termination": reason, "objective": float(res.objective_value()) if has else None})


def _min_up_down_constraints(prob: Any, x: Sequence[Any], on: Callable[[int, int], Any],
                             initial: Callable[[bool], Any]) -> Iterator[Any]:
    """The start/stop linking and minimum up/down constraints over the bits ``x``, in order.

    ``on(i, t)`` is unit ``i``'s on-expression in period ``t``; ``initial`` turns
    ``initial_on`` into the model's constant (``int`` for CP-SAT, ``float`` for MathOpt).
    """
    T = prob.periods
    for (i, t), y in prob.start_var.items():
        s = prob.stop_var[(i, t)]
        prev = on(i, t - 1) if t else initial(prob.discrete[i].initial_on)
        yield on(i, t) - prev == x[y] - x[s]
        yield x[y] + x[s] <= 1
        for tau in range(t + 1, min(t + prob.min_up[i], T)):
            yield x[y] <= on(i, tau)
        for tau in range(t + 1, min(t + prob.min_down[i], T)):
            yield x[s] + on(i, tau) <= 1


def _mathopt_solve(mdl: Any, *, time_limit_s: float | None, seed: int | None) -> Any:
    import datetime

    from ortools.math_opt.python import mathopt

    params = mathopt.SolveParameters(relative_gap_tolerance=1e-7, absolute_gap_tolerance=1e-6)
    if time_limit_s is not None:
        params.time_limit = datetime.timedelta(seconds=float(time_limit_s))
    if seed is not None:
        params.random_seed = int(seed)
    return mathopt.solve(mdl, mathopt.SolverType.HIGHS, params=params)
