"""The continuous-level MILP of a :class:`~optimizer.problems.dispatch.problem.Dispatch`: its relaxation and bound.

On/off binaries with output anywhere in ``[p_min, p_max]``, the same ramps,
minimum times, storage and balance, quadratic costs under-estimated by tangents
(:func:`solve_continuous`), so its dual bound is a true lower bound on the
discrete optimum (``Dispatch.continuous_bound``).  :func:`mathopt_solve` runs
every dispatch MILP (this one and the discrete ``milp``) on HiGHS.  OR-Tools is
imported inside the functions.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from optimizer.errors import InvalidInputError

if TYPE_CHECKING:  # pragma: no cover
    from optimizer.inputs.grid import Unit
    from optimizer.problems.dispatch.problem import Dispatch

log = logging.getLogger(__name__)

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
    device_mw : ndarray, shape (periods, devices), optional
        The flexible devices' schedule (MW drawn) where the model scheduled them.
    """

    status: str
    bound_eur: float
    objective_eur: float
    p_mw: np.ndarray
    on: np.ndarray
    wall_time_s: float
    info: dict[str, Any]
    device_mw: np.ndarray | None = None


def solve_continuous(prob: Dispatch, *, commitment: str = "free", time_limit_s: float | None = None,
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

    from optimizer.problems.dispatch.flexible import add_devices, device_flow

    if commitment not in ("free", "all_on"):
        msg = f"commitment must be 'free' or 'all_on', got {commitment!r}"
        raise InvalidInputError(msg)
    t0 = time.perf_counter()
    T, dt = prob.periods, prob.dt_h
    units = prob.discrete
    mdl = mathopt.Model(name="dispatch-continuous")
    obj: list[Any] = []
    const = 0.0
    P = [[None] * len(units) for _ in range(T)]
    ON = [[None] * len(units) for _ in range(T)]
    dv = add_devices(mdl, prob) if prob.optimise_devices else None  # flexible devices (continuous anyway)
    if dv is not None:
        obj.extend(dv.objective)
    for i, u in enumerate(units):
        for t in range(T):
            hours = prob.profile.hours(t)
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
            obj.append(_cost_epigraph(mdl, u, p, o, lo, hours, tangents, f"{i},{t}"))
            if u.startup_eur > 0:
                st = mdl.add_variable(lb=0.0, ub=1.0, name=f"start[{i},{t}]")
                prev = ON[t - 1][i] if t else float(u.initial_on)
                mdl.add_linear_constraint(st >= o - prev)
                obj.append(u.startup_eur * st)
    imp = []
    for t in range(T):
        d = float(prob.net_load_mw[t])
        if dv is not None:
            d = d + dv.delta[t]
        supply = []
        for i, u in enumerate(units):
            if u.is_storage:
                supply += [P[t][i][0], -1.0 * P[t][i][1]]
            else:
                supply.append(P[t][i])
        s = mathopt.fast_sum(supply)
        if prob.ext_units:
            m = mdl.add_variable(lb=prob.import_min_mw, ub=prob.import_max_mw, name=f"import[{t}]")
            mdl.add_linear_constraint(s + m == d)
            a0, a1, a2 = prob.import_coefficients(t)
            const += a0
            if a2:
                cv = mdl.add_variable(lb=-math.inf, name=f"import_cost[{t}]")
                lo_m, hi_m = prob.import_min_mw, prob.import_max_mw
                for z in np.linspace(lo_m, hi_m, max(2, 2 * tangents)):
                    mdl.add_linear_constraint(cv >= a1 * m + a2 * (2 * z * m - z * z))
                obj.append(cv)
            else:
                obj.append(a1 * m)
            imp.append(m)
        else:
            mdl.add_linear_constraint(s >= d)
            if prob.spill_max_mw is not None:
                mdl.add_linear_constraint(s <= d + prob.spill_max_mw)
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
        U, D = prob.min_up[i], prob.min_down[i]
        for t in range(T):
            prev = ON[t - 1][i] if t else float(u.initial_on)
            for tau in range(t + 1, min(t + U, T)):
                mdl.add_linear_constraint(ON[t][i] - prev <= ON[tau][i])
            for tau in range(t + 1, min(t + D, T)):
                mdl.add_linear_constraint(prev - ON[t][i] <= 1 - ON[tau][i])
    if prob.dc is not None:  # DC line limits on the continuous outputs
        base, g, limit = prob.line_model_exact  # pandapower's PTDF as it is: continuous outputs need no quanta
        watched = prob.line_model[3]
        for t in range(T):
            p_t = [P[t][i][0] - P[t][i][1] if u.is_storage else P[t][i] for i, u in enumerate(units)]
            for r in np.flatnonzero(watched):
                flow = float(base[t, r]) + mathopt.fast_sum(float(g[r, i]) * p_t[i]
                                                             for i in range(len(units)) if g[r, i] != 0.0)
                if dv is not None:
                    flow = flow + device_flow(prob, dv, t, r)
                mdl.add_linear_constraint(flow <= float(limit[r]))
                mdl.add_linear_constraint(flow >= -float(limit[r]))
    mdl.minimize(mathopt.fast_sum(obj) + const)
    res = mathopt_solve(mdl, time_limit_s=time_limit_s, seed=0)
    reason = res.termination.reason.name
    p_out = np.zeros((T, len(prob.units)))
    on_out = np.zeros((T, len(prob.units)), dtype=bool)
    objective = bound = float("nan")
    dev_out = None
    if res.has_primal_feasible_solution():
        vals = res.variable_values()
        if dv is not None:
            dev_out = dv.values(vals)
        ne = len(prob.ext_units)
        for t in range(T):
            if prob.ext_units:
                m = vals[imp[t]]
                for e in range(ne):
                    p_out[t, e] = m * prob.ext_share[e]
                    on_out[t, e] = True
            for i, u in enumerate(units):
                if u.is_storage:
                    p_out[t, ne + i] = vals[P[t][i][0]] - vals[P[t][i][1]]
                    on_out[t, ne + i] = abs(p_out[t, ne + i]) > 1e-9
                else:
                    on_out[t, ne + i] = vals[ON[t][i]] > 0.5
                    p_out[t, ne + i] = vals[P[t][i]] if on_out[t, ne + i] else 0.0
        objective = prob.evaluate_mw(p_out, on_out, dev_out)
        bound = float(res.termination.objective_bounds.dual_bound)
        if dv is not None:  # the batteries' throughput tie-break is no cost of the plan
            bound -= dv.tiebreak_max_eur
    elif reason == "INFEASIBLE":
        bound = math.inf
    info = {"commitment": commitment, "tangents": tangents, "solver": "HiGHS (MathOpt)"}
    if prob.devices is not None:
        info["device_policy"] = "optimised" if dv is not None else "uncontrolled"
    return ContinuousResult(reason, bound, objective, p_out, on_out, time.perf_counter() - t0, info, dev_out)


def _cost_epigraph(mdl: Any, u: Unit, p: Any, o: Any, lo: float, hours: tuple[float, float],
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


def mathopt_solve(mdl: Any, *, time_limit_s: float | None, seed: int | None) -> Any:
    """Solve a MathOpt model on HiGHS with the gap tolerances, time limit and seed of every dispatch MILP."""
    import datetime

    from ortools.math_opt.python import mathopt

    def params(**kw: Any) -> Any:
        par = mathopt.SolveParameters(relative_gap_tolerance=1e-7, absolute_gap_tolerance=1e-6, **kw)
        if time_limit_s is not None:
            par.time_limit = datetime.timedelta(seconds=float(time_limit_s))
        return par

    try:
        return mathopt.solve(mdl, mathopt.SolverType.HIGHS,
                             params=params(**({"random_seed": int(seed)} if seed is not None else {})))
    except Exception as first:  # noqa: BLE001 - HiGHS's internal errors come through pybind11 as anything
        # HiGHS 1.x fails now and then with "kError [INTERNAL]" on some seeds (case118 over 2 periods with
        # its lines, seed 1); the same model solves with presolve off, which is then the answer
        log.warning("HiGHS failed (%s: %s); solving again with presolve off", type(first).__name__, first)
        try:
            return mathopt.solve(mdl, mathopt.SolverType.HIGHS, params=params(presolve=mathopt.Emphasis.OFF))
        except Exception as second:  # noqa: BLE001
            from solvers.errors import SolverError

            msg = f"HiGHS failed on the dispatch MILP twice ({type(second).__name__}: {second}); try another --seed"
            raise SolverError(msg) from second
