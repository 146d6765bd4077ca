"""Flexible devices as continuous variables of a dispatch MILP (the ``milp`` model and the continuous-level one).

For every device of :mod:`optimizer.inputs.devices` and period ``t`` the power it
draws, ``p[t, j]`` (MW, a battery's negative while it discharges):

* **EV** and **demand response**: ``0 <= p[t] <= max_rate * a[t]`` with ``a[t]``
  the share of period ``t`` it is plugged in (its window), and
  ``dt * sum_t p[t] = energy`` (delivered by departure, consumed within the
  window);
* **battery**: ``p = ch - dis`` with ``0 <= ch, dis <= max_rate``, state of charge
  ``E_t = E_0 + dt * sum_{tau <= t} (eta ch - dis / eta)`` (``eta`` =
  sqrt of the round trip) within ``[soc_min, soc_max]``, ``E_T >= E_0``;
* **the peak**: in no period do the loads and the devices together draw more
  than the day's uncontrolled peak, ``max_t (L_t + U_t)`` (``L`` the profile's
  loads, ``U`` the uncontrolled schedule): flexibility may move energy in time,
  never raise the peak a grid is built for (without this cap the cost optimum
  may charge batteries at the peak, where a discrete commitment leaves cheap
  power over: case118 did, by 80 MW);
* **discomfort**: a demand-response load pays ``c * dt * u[t]`` with
  ``u[t] >= baseline[t] - p[t]``, ``u >= 0``: EUR per MWh moved away from its baseline.

A battery's charge and discharge carry a tie-break of :data:`THROUGHPUT_EUR_PER_MWH`
so that an optimum never charges and discharges in one period (which the
schedule, netted to one ``p``, could not show).  It is not part of the plan's cost.

The models add ``sum_j p[t, j] - U_t`` (``U_t`` the uncontrolled schedule, which
the problem's net load already holds) to each period's balance, and
``G_dev (p[t] - u[t])`` to the DC branch flows (:attr:`Dispatch.device_ptdf`).
With every ``p`` fixed at the uncontrolled schedule the models are the ones
without devices, so the optimised plan costs no more than the uncontrolled one
(up to the models' own tolerances).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from optimizer.problems.dispatch.problem import Dispatch

__all__ = ["THROUGHPUT_EUR_PER_MWH", "DeviceVariables", "add_devices", "delta_range", "device_flow"]

#: Tie-break on battery throughput (EUR per MWh charged or discharged), left out of the plan's cost.
THROUGHPUT_EUR_PER_MWH = 1e-3


@dataclass
class DeviceVariables:
    """The device variables of one MathOpt model."""

    draw: list[list[Any]]  # [t][j]: the linear expression of the power device j draws in period t
    parts: list[list[tuple[Any, ...]]]  # [t][j]: (p,) or (ch, dis)
    objective: list[Any]
    delta: list[Any]  # [t]: sum_j draw[t][j] - uncontrolled total
    tiebreak_max_eur: float = 0.0  # the most the throughput tie-break can add to the model's objective
    bus_delta: list[dict[int, Any]] | None = None  # [t][bus]: a variable, what the bus's devices draw beyond U

    def values(self, vals: Any) -> np.ndarray:
        """The schedule (periods x devices, MW drawn) in a solution's variable values."""
        T = len(self.parts)
        n = len(self.parts[0]) if T else 0
        out = np.zeros((T, n))
        for t in range(T):
            for j, part in enumerate(self.parts[t]):
                out[t, j] = vals[part[0]] - vals[part[1]] if len(part) == 2 else vals[part[0]]
        return _clean(out)


def _clean(p: np.ndarray) -> np.ndarray:
    """Round-off of the solver (1e-12 MW) set to zero, so ``p >= 0`` holds as written."""
    p = np.where(np.abs(p) < 1e-10, 0.0, p)
    return p


def add_devices(mdl: Any, prob: Dispatch) -> DeviceVariables:
    """Add ``prob.devices``'s variables and constraints to a MathOpt model (see the module docstring)."""
    from ortools.math_opt.python import mathopt

    from optimizer.inputs.devices import Battery

    devs = prob.devices
    T, dt = prob.periods, prob.dt_h
    avail = devs.availability(T)
    base = prob.device_base_mw
    draw: list[list[Any]] = [[None] * len(devs) for _ in range(T)]
    parts: list[list[tuple[Any, ...]]] = [[()] * len(devs) for _ in range(T)]
    obj: list[Any] = []
    for j, d in enumerate(devs.items):
        if isinstance(d, Battery):
            e = d.soc_init_mwh
            for t in range(T):
                ch = mdl.add_variable(lb=0.0, ub=d.max_rate_mw, name=f"dev_ch[{j},{t}]")
                dis = mdl.add_variable(lb=0.0, ub=d.max_rate_mw, name=f"dev_dis[{j},{t}]")
                draw[t][j] = ch - dis
                parts[t][j] = (ch, dis)
                e = e + dt * (d.eta * ch - (1.0 / d.eta) * dis)
                mdl.add_linear_constraint(e >= d.soc_min_mwh)
                mdl.add_linear_constraint(e <= d.soc_max_mwh)
                obj.append(THROUGHPUT_EUR_PER_MWH * dt * (ch + dis))
            mdl.add_linear_constraint(e >= d.soc_init_mwh)
            continue
        ps = []
        for t in range(T):
            p = mdl.add_variable(lb=0.0, ub=max(0.0, d.max_rate_mw * float(avail[t, j])), name=f"dev_p[{j},{t}]")
            draw[t][j] = p
            parts[t][j] = (p,)
            ps.append(p)
            if d.kind == "dr" and d.discomfort_eur_per_mwh > 0 and base[t, j] > 0:
                u = mdl.add_variable(lb=0.0, ub=float(base[t, j]), name=f"dev_moved[{j},{t}]")
                mdl.add_linear_constraint(u >= float(base[t, j]) - p)
                obj.append(d.discomfort_eur_per_mwh * dt * u)
        mdl.add_linear_constraint(dt * mathopt.fast_sum(ps) == d.energy_mwh)
    delta = [mathopt.fast_sum(draw[t]) - float(base[t].sum()) for t in range(T)]
    load = prob.profile.load_mw
    cap = float(np.max(load + base.sum(axis=1)))
    for t in range(T):
        mdl.add_linear_constraint(mathopt.fast_sum(draw[t]) <= cap - float(load[t]))
    tie = sum(2.0 * d.max_rate_mw * 24.0 * THROUGHPUT_EUR_PER_MWH for d in devs.items if isinstance(d, Battery))
    bus_delta = None
    if prob.dc is not None:  # one variable per bus and period: the line limits then read a handful of buses
        at: dict[int, list[int]] = {}
        for j, d in enumerate(devs.items):
            at.setdefault(d.bus, []).append(j)
        bus_delta = []
        for t in range(T):
            row = {}
            for b, js in at.items():
                y = mdl.add_variable(lb=-math.inf, name=f"dev_bus[{b},{t}]")
                mdl.add_linear_constraint(y == mathopt.fast_sum(draw[t][j] for j in js)
                                          - float(sum(base[t, j] for j in js)))
                row[b] = y
            bus_delta.append(row)
    return DeviceVariables(draw, parts, obj, delta, tie, bus_delta)


def device_flow(prob: Dispatch, dv: DeviceVariables, t: int, r: int) -> Any:
    """Branch ``r``'s DC flow in period ``t`` from the devices' draw beyond their uncontrolled schedule."""
    from ortools.math_opt.python import mathopt

    gd = prob.device_ptdf
    col = {b: j for j, b in enumerate(prob.devices.buses)}  # every device at a bus has that bus's column
    terms = [float(gd[r, col[b]]) * y for b, y in dv.bus_delta[t].items() if gd[r, col[b]] != 0.0]
    return mathopt.fast_sum(terms) if terms else 0.0


def delta_range(prob: Dispatch) -> tuple[np.ndarray, np.ndarray]:
    """Per period, the least and the most the devices can draw beyond their uncontrolled schedule (MW)."""
    from optimizer.inputs.devices import Battery

    devs = prob.devices
    T = prob.periods
    avail = devs.availability(T)
    lo = np.zeros(T)
    hi = np.zeros(T)
    for j, d in enumerate(devs.items):
        if isinstance(d, Battery):
            lo -= d.max_rate_mw
            hi += d.max_rate_mw
        else:
            hi += d.max_rate_mw * avail[:, j]
    base = prob.device_base_mw.sum(axis=1)
    return lo - base, hi - base
