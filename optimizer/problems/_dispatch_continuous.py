"""The continuous-level MILP of a :class:`~optimizer.problems.dispatch.Dispatch`: its relaxation and bound.

On/off binaries with output anywhere in ``[p_min, p_max]``, the same ramps,
minimum times, storage and balance, quadratic costs under-estimated by tangents
(:meth:`_DispatchContinuous.solve_continuous`), so its dual bound is a true lower
bound on the discrete optimum (:meth:`_DispatchContinuous.continuous_bound`).
:class:`_DispatchContinuous` is mixed into ``Dispatch``.  OR-Tools is imported
inside the functions.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from optimizer.errors import InfeasibleSolutionError, InvalidInputError
from optimizer.problems._dispatch_models import _mathopt_solve

if TYPE_CHECKING:  # pragma: no cover
    from optimizer.dispatch_plan import DispatchPlan
    from optimizer.grid import Unit

# the public module's logger, as before the split
log = logging.getLogger("optimizer.problems.dispatch")

#: Tangent points per unit of the continuous model's quadratic costs.
TANGENTS = 32


@dataclass(frozen=True, eq=False)
class ContinuousResult:
    """The continuous-level MILP's answer.

    Attributes
    ----------
    status : str
        MathOpt's termination reason (``OPTIMAL``, ``FEASIBLE``, ``INFEASIBLE``, ...).
    bound_eur : float
        A proven lower bound on the continuous (hence the discrete) optimum, EUR.
    objective_eur : float
        The exact cost of the MILP's dispatch (quadratic costs evaluated exactly).
    p_mw : ndarray, shape (periods, units)
        Output of each unit (storage: discharge positive) per period.
    on : ndarray of bool, shape (periods, units)
    wall_time_s : float
    """

    status: str
    bound_eur: float
    objective_eur: float
    p_mw: np.ndarray
    on: np.ndarray
    wall_time_s: float
    info: dict[str, Any]


class _DispatchContinuous:
    """The continuous-level MILP (mixed into ``Dispatch``)."""

    def solve_continuous(self, *, commitment: str = "free", time_limit_s: float | None = None,
                         tangents: int = TANGENTS) -> ContinuousResult:
        """The MILP with continuous levels (see the module docstring), on HiGHS through MathOpt.

        Parameters
        ----------
        commitment : {"free", "all_on"}
            ``all_on`` fixes every generator on (the economic dispatch that an
            OPF solves); ``free`` decides it.
        time_limit_s : float, optional
        tangents : int
            Tangent points per quadratic cost (the under-estimate's resolution).
        """
        from ortools.math_opt.python import mathopt

        if commitment not in ("free", "all_on"):
            msg = f"commitment must be 'free' or 'all_on', got {commitment!r}"
            raise InvalidInputError(msg)
        t0 = time.perf_counter()
        T, dt = self.periods, self.dt_h
        units = self.discrete
        mdl = mathopt.Model(name="dispatch-continuous")
        obj: list[Any] = []
        const = 0.0
        P = [[None] * len(units) for _ in range(T)]
        ON = [[None] * len(units) for _ in range(T)]
        for i, u in enumerate(units):
            for t in range(T):
                hours = self.profile.hours(t)
                if u.is_storage:
                    ch = mdl.add_variable(lb=0.0, ub=u.p_max_mw, name=f"ch[{i},{t}]")
                    dis = mdl.add_variable(lb=0.0, ub=u.p_max_mw, name=f"dis[{i},{t}]")
                    P[t][i] = (dis, ch)
                    obj.append(u.cycle_cost_eur_per_mwh * dt * dis)
                    continue
                lo = max(0.0, u.p_min_mw)
                o = mdl.add_binary_variable(name=f"on[{i},{t}]")
                if commitment == "all_on":
                    mdl.add_linear_constraint(o == 1)
                p = mdl.add_variable(lb=0.0, ub=u.p_max_mw, name=f"p[{i},{t}]")
                mdl.add_linear_constraint(p <= u.p_max_mw * o)
                mdl.add_linear_constraint(p >= lo * o)
                P[t][i], ON[t][i] = p, o
                obj.append(self._cost_epigraph(mdl, u, p, o, lo, hours, tangents, f"{i},{t}"))
                if u.startup_eur > 0:
                    st = mdl.add_variable(lb=0.0, ub=1.0, name=f"start[{i},{t}]")
                    prev = ON[t - 1][i] if t else float(u.initial_on)
                    mdl.add_linear_constraint(st >= o - prev)
                    obj.append(u.startup_eur * st)
        imp = []
        for t in range(T):
            d = float(self.profile.net_load_mw[t])
            supply = []
            for i, u in enumerate(units):
                if u.is_storage:
                    supply += [P[t][i][0], -1.0 * P[t][i][1]]
                else:
                    supply.append(P[t][i])
            s = mathopt.fast_sum(supply)
            if self.ext_units:
                m = mdl.add_variable(lb=self.import_min_mw, ub=self.import_max_mw, name=f"import[{t}]")
                mdl.add_linear_constraint(s + m == d)
                a0, a1, a2 = self.import_coefficients(t)
                const += a0
                if a2:
                    cv = mdl.add_variable(lb=-math.inf, name=f"import_cost[{t}]")
                    lo_m, hi_m = self.import_min_mw, self.import_max_mw
                    for z in np.linspace(lo_m, hi_m, max(2, 2 * tangents)):
                        mdl.add_linear_constraint(cv >= a1 * m + a2 * (2 * z * m - z * z))
                    obj.append(cv)
                else:
                    obj.append(a1 * m)
                imp.append(m)
            else:
                mdl.add_linear_constraint(s >= d)
                if self.spill_max_mw is not None:
                    mdl.add_linear_constraint(s <= d + self.spill_max_mw)
        for i, u in enumerate(units):
            if u.is_storage:
                e = u.e_init_mwh
                for t in range(T):
                    dis, ch = P[t][i]
                    e = e - dt * dis + dt * ch
                    mdl.add_linear_constraint(e >= u.e_min_mwh)
                    mdl.add_linear_constraint(e <= u.e_max_mwh)
                mdl.add_linear_constraint(e >= u.e_init_mwh)
                continue
            if u.ramp_mw_per_h is not None:
                r = u.ramp_mw_per_h * dt
                for t in range(1, T):
                    slack = u.p_max_mw * (2 - ON[t][i] - ON[t - 1][i])
                    mdl.add_linear_constraint(P[t][i] - P[t - 1][i] <= r + slack)
                    mdl.add_linear_constraint(P[t - 1][i] - P[t][i] <= r + slack)
            U, D = self.min_up[i], self.min_down[i]
            for t in range(T):
                prev = ON[t - 1][i] if t else float(u.initial_on)
                for tau in range(t + 1, min(t + U, T)):
                    mdl.add_linear_constraint(ON[t][i] - prev <= ON[tau][i])
                for tau in range(t + 1, min(t + D, T)):
                    mdl.add_linear_constraint(prev - ON[t][i] <= 1 - ON[tau][i])
        mdl.minimize(mathopt.fast_sum(obj) + const)
        res = _mathopt_solve(mdl, time_limit_s=time_limit_s, seed=0)
        reason = res.termination.reason.name
        p_out = np.zeros((T, len(self.units)))
        on_out = np.zeros((T, len(self.units)), dtype=bool)
        objective = bound = float("nan")
        if res.has_primal_feasible_solution():
            vals = res.variable_values()
            ne = len(self.ext_units)
            for t in range(T):
                if self.ext_units:
                    m = vals[imp[t]]
                    for e in range(ne):
                        p_out[t, e] = m * self.ext_share[e]
                        on_out[t, e] = True
                for i, u in enumerate(units):
                    if u.is_storage:
                        p_out[t, ne + i] = vals[P[t][i][0]] - vals[P[t][i][1]]
                        on_out[t, ne + i] = abs(p_out[t, ne + i]) > 1e-9
                    else:
                        on_out[t, ne + i] = vals[ON[t][i]] > 0.5
                        p_out[t, ne + i] = vals[P[t][i]] if on_out[t, ne + i] else 0.0
            objective = self.evaluate_mw(p_out, on_out)
            bound = float(res.termination.objective_bounds.dual_bound)
        elif reason == "INFEASIBLE":
            bound = math.inf
        return ContinuousResult(reason, bound, objective, p_out, on_out, time.perf_counter() - t0,
                                {"commitment": commitment, "tangents": tangents, "solver": "HiGHS (MathOpt)"})

    def _cost_epigraph(self, mdl: Any, u: Unit, p: Any, o: Any, lo: float, hours: tuple[float, float],
                       tangents: int, tag: str) -> Any:
        """A variable under-estimating the unit's running cost over a period (exact for linear/pwl)."""
        dt = hours[1] - hours[0]
        cost = u.cost
        if cost.pwl:
            if not cost.pwl_convex():
                msg = (f"unit {u.name!r} has a non-convex pwl_cost; the continuous model needs a convex one "
                       "(non-decreasing slopes)")
                raise InvalidInputError(msg)
            cv = mdl.add_variable(lb=0.0, name=f"cost[{tag}]")
            acc = 0.0
            for p0, p1, s in cost.pwl:
                # f(p) >= f(p0) + s (p - p0) on each segment, scaled by on
                mdl.add_linear_constraint(cv >= dt * (acc * o + s * (p - p0 * o)))
                acc += s * (p1 - p0)
            return cv
        c1 = cost.c1_at(hours)
        if cost.c2 == 0:
            return dt * (cost.c0 * o + c1 * p)
        if cost.c2 < 0:
            msg = f"unit {u.name!r} has a negative quadratic cost; the continuous model needs a convex cost"
            raise InvalidInputError(msg)
        cv = mdl.add_variable(lb=-math.inf, name=f"cost[{tag}]")
        for z in np.linspace(lo, u.p_max_mw, max(2, tangents)):
            mdl.add_linear_constraint(cv >= dt * (cost.c0 * o + c1 * p + cost.c2 * (2 * z * p - z * z * o)))
        return cv

    def continuous_bound(self, *, time_limit_s: float | None = None) -> float:
        """A proven lower bound (EUR) on the day's cost with continuous levels: the discrete plan's yardstick."""
        return self._continuous(time_limit_s).bound_eur

    def summary_extras(self) -> dict[str, Any]:
        """Extra ``summary.json`` fields: the continuous bound the discrete plan is compared with."""
        try:
            bound = self.continuous_bound(time_limit_s=60.0)
        except Exception as e:  # noqa: BLE001 - a summary must not fail on the yardstick
            log.warning("continuous bound unavailable: %s", e)
            bound = None
        return {"continuous_bound_eur": bound}

    def _continuous(self, time_limit_s: float | None = None) -> ContinuousResult:
        cache = self.__dict__.setdefault("_continuous_cache", {})
        if time_limit_s not in cache:
            cache[time_limit_s] = self.solve_continuous(time_limit_s=time_limit_s)
        return cache[time_limit_s]

    def evaluate_mw(self, p_mw: np.ndarray, on: np.ndarray) -> float:
        """The exact cost of outputs ``p_mw`` (periods x :attr:`units`, storage discharge positive)."""
        total = 0.0
        ne = len(self.ext_units)
        for t in range(self.periods):
            hours = self.profile.hours(t)
            for j, u in enumerate(self.units):
                if j < ne:
                    total += u.period_cost_eur(float(p_mw[t, j]), hours)
                    continue
                if u.is_storage:
                    total += u.period_cost_eur(float(p_mw[t, j]), hours)
                elif on[t, j]:
                    total += u.period_cost_eur(float(p_mw[t, j]), hours)
                    prev = on[t - 1, j] if t else u.initial_on
                    if not prev:
                        total += u.startup_eur
        return float(total)

    def plan_from_continuous(self, result: ContinuousResult | None = None) -> DispatchPlan:
        """The plan of the continuous MILP's dispatch (default: solve it)."""
        from optimizer.dispatch_plan import DispatchPlan

        r = result or self._continuous()
        if not np.isfinite(r.objective_eur):
            msg = f"the continuous model found no dispatch ({r.status})"
            raise InfeasibleSolutionError(msg)
        return DispatchPlan.from_outputs(self, r.p_mw, r.on, source="milp-continuous", objective=r.objective_eur)
