"""The physical dispatch: once units are committed, each period's outputs from pandapower's AC OPF.

The commitment models (``milp``, CP-SAT, the QUBO) decide who runs, on a
lossless DC or copper-plate network.  What a grid operator signs is an AC
power flow inside every limit, so for a commitment ``on[t, u]`` each period is
re-dispatched by ``pandapower.runopp`` (an AC optimal power flow, PYPOWER's
interior-point solver) on a copy of the net:

* loads and renewables of the period as the profile gives them, and the
  flexible devices' draw (``device_mw``) as a load at each device bus (unity
  power factor; a discharging battery a negative load);
* committed generators in service, free within ``[p_min, p_max]`` (and within
  ``ramp * dt`` of their previous output when they ran then: periods are solved
  in order), their reactive limits and voltage set points the net's; units off
  out of service; storage held at the commitment's output;
* the external grid within its import limits;
* bus voltages within ``min_vm_pu``/``max_vm_pu`` (0.9-1.1 where the net gives
  none), lines and transformers within ``max_loading_percent`` (100);
* each unit's cost curve (:class:`optimizer.inputs.grid.CostCurve`, the same
  euros the commitment minimised) as its OPF cost, the import at its price.

A period whose OPF does not converge has no AC-feasible dispatch for that
commitment: :func:`ac_dispatch` reports it, and the ``milp`` solver (option
``ac``) repairs it (the commitment <-> AC loop,
:meth:`~optimizer.problems.dispatch.problem.Dispatch._solve_milp`): the OPF
probed with more units running, and where that is not enough with the devices at
their uncontrolled draw in that period, the commitment solved again with the
period locked, until every period dispatches or the iteration budget is spent,
which the summary then says.  A ``cache`` keeps each period's OPF under its
inputs, so a round re-runs only the periods whose inputs changed.

Examples
--------
>>> from optimizer.problems.dispatch.problem import Dispatch
>>> import numpy as np
>>> prob = Dispatch.from_grid("case9", units=3, periods=2, seed=1)
>>> res = ac_dispatch(prob, np.ones((2, len(prob.units)), dtype=bool))
>>> res.converged.all(), res.p_mw.shape
(np.True_, (2, 3))
"""

from __future__ import annotations

import logging
import math
import time
import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from optimizer.problems.dispatch.problem import Dispatch

__all__ = ["ACDispatch", "ac_dispatch"]

log = logging.getLogger(__name__)

#: Bus voltage limits where the net gives none (p.u.).
DEFAULT_VM_PU = (0.9, 1.1)


@dataclass(frozen=True)
class ACDispatch:
    """Outputs (periods x ``prob.units``, MW, storage discharge positive) and each period's OPF result."""

    p_mw: np.ndarray
    on: np.ndarray
    converged: np.ndarray
    cost_eur: np.ndarray
    losses_mw: np.ndarray
    vm_pu: np.ndarray
    failures: list[str] = field(default_factory=list)
    wall_s: float = 0.0
    q_mvar: np.ndarray | None = None  # the units' reactive outputs (periods x units, Mvar; 0 where off or failed)

    @property
    def failed_periods(self) -> list[int]:
        return [int(t) for t in np.flatnonzero(~self.converged)]


def ac_dispatch(prob: Dispatch, on: np.ndarray, p_fixed: np.ndarray | None = None, *,
                periods: list[int] | None = None, device_mw: np.ndarray | None = None,
                cache: dict[Any, Any] | None = None) -> ACDispatch:
    """Each period's AC OPF for the commitment ``on`` (periods x ``prob.units``; the external grids' entries
    ignored); storage runs at ``p_fixed`` (the commitment's outputs, discharge positive; default idle); the
    flexible devices draw ``device_mw`` (periods x ``prob.devices``, MW) at their buses.

    ``periods``: only these (a probe: ramps then bind only between consecutive ones; the others are reported
    as not converged).

    ``cache`` (a dict the caller keeps between calls on one problem): each period's OPF result under the
    key of everything it depends on (the period, its commitment, storage outputs and device draws, and
    the previous period's outputs where ramps bind), so a commitment <-> AC round re-runs the OPF only in
    the periods whose inputs changed.
    """

    from optimizer.plans.dispatch import device_loads, plan_net

    t_all = time.perf_counter()
    T, dt = prob.periods, prob.dt_h
    prof = prob.profile
    net = plan_net(prob.grid, prob.units)
    devices = getattr(prob, "devices", None)
    dev_bus = device_loads(net, devices, device_mw)
    dev_total = np.zeros(T) if device_mw is None else np.asarray(device_mw, dtype=np.float64).sum(axis=1)
    _prepare_limits(net)
    for tab in ("sgen", "storage"):  # renewables and storage follow the plan, not the OPF
        if len(net[tab]):
            net[tab]["controllable"] = False
    net.poly_cost.drop(net.poly_cost.index, inplace=True)
    if "pwl_cost" in net:
        net.pwl_cost.drop(net.pwl_cost.index, inplace=True)
    p_out = np.zeros((T, len(prob.units)))
    vm_out = np.full((T, len(prob.units)), np.nan)
    q_out = np.zeros((T, len(prob.units)))
    conv = np.zeros(T, dtype=bool)
    cost = np.full(T, np.nan)
    losses = np.zeros(T)
    failures: list[str] = []
    prev_p: dict[int, float] = {}
    prev_t: set[int] = set()
    lidx, sidx = list(prof.load_index), list(prof.sgen_index)
    dev_arr = None if device_mw is None else np.asarray(device_mw, dtype=np.float64)
    ramps = any(u.ramp_mw_per_h is not None for u in prob.units)
    for t in range(T) if periods is None else sorted(periods):
        if t - 1 not in prev_t:
            prev_p = {}
        prev_t = {t}
        key = None
        if cache is not None:
            key = (t, np.asarray(on[t], dtype=bool).tobytes(),
                   None if p_fixed is None else np.round(np.asarray(p_fixed[t], dtype=np.float64), 9).tobytes(),
                   None if dev_arr is None else np.round(dev_arr[t], 9).tobytes(),
                   tuple(sorted((j, round(v, 9)) for j, v in prev_p.items())) if ramps else None)
            hit = cache.get(key)
            if hit is not None:
                ok_t, row = hit
                if not ok_t:
                    failures.append(row)
                    prev_p = {}
                    continue
                conv[t] = True
                p_out[t], vm_out[t], cost[t], losses[t], prev_p, q_out[t] = (row[0], row[1], row[2], row[3],
                                                                             dict(row[4]), row[5])
                continue
        hours = prof.hours(t)
        if lidx:
            net.load.loc[lidx, "p_mw"] = prof.load_p_mw[t]
            net.load.loc[lidx, "q_mvar"] = prof.load_q_mvar[t]
        if sidx:
            net.sgen.loc[sidx, "p_mw"] = prof.sgen_p_mw[t]
        for li, series in dev_bus:
            net.load.at[li, "p_mw"] = float(series[t])
        net.poly_cost.drop(net.poly_cost.index, inplace=True)
        if "pwl_cost" in net:
            net.pwl_cost.drop(net.pwl_cost.index, inplace=True)
        for j, u in enumerate(prob.units):
            if u.kind == "ext_grid":
                net.ext_grid.loc[u.index, ["min_p_mw", "max_p_mw"]] = [u.p_min_mw, u.p_max_mw]
                _cost(net, u, "ext_grid", hours)
            elif u.kind in ("gen", "sgen"):
                running = bool(on[t, j])
                net[u.kind].loc[u.index, "in_service"] = running
                lo, hi = max(0.0, u.p_min_mw), u.p_max_mw
                if running and u.ramp_mw_per_h is not None and j in prev_p and bool(on[t - 1, j]):
                    r = u.ramp_mw_per_h * dt
                    lo, hi = max(lo, prev_p[j] - r), min(hi, prev_p[j] + r)
                net[u.kind].loc[u.index, ["min_p_mw", "max_p_mw", "controllable"]] = [lo, max(lo, hi), True]
                if running:
                    _cost(net, u, u.kind, hours)
            elif u.kind == "storage":
                net.storage.loc[u.index, "p_mw"] = 0.0 if p_fixed is None else -float(p_fixed[t, j])
        ok, why = _runopp(net)
        if not ok:
            failures.append(f"period {t}: no AC-feasible dispatch for this commitment ({why})")
            if key is not None:
                cache[key] = (False, failures[-1])
            prev_p = {}
            continue
        conv[t] = True
        cost[t] = float(net.res_cost)
        for j, u in enumerate(prob.units):
            if u.kind == "ext_grid":
                p_out[t, j] = float(net.res_ext_grid.p_mw.at[u.index])
                q_out[t, j] = float(net.res_ext_grid.q_mvar.at[u.index])
                vm_out[t, j] = float(net.res_bus.vm_pu.at[net.ext_grid.bus.at[u.index]])
            elif u.kind in ("gen", "sgen"):
                p_out[t, j] = float(net[f"res_{u.kind}"].p_mw.at[u.index]) if on[t, j] else 0.0
                q_out[t, j] = float(net[f"res_{u.kind}"].q_mvar.at[u.index]) if on[t, j] else 0.0
                prev_p[j] = p_out[t, j]
                if u.kind == "gen" and on[t, j]:  # the OPF's voltage set point, which the plan carries
                    vm_out[t, j] = float(net.res_gen.vm_pu.at[u.index])
            elif u.kind == "storage" and p_fixed is not None:
                p_out[t, j] = float(p_fixed[t, j])
        # what the dispatch supplies beyond the net load: the network's losses (res_line/res_trafo pl_mw),
        # taken from the balance itself so the plan adds up to the OPF's own tolerance
        losses[t] = max(0.0, float(p_out[t].sum()) - float(prof.net_load_mw[t]) - float(dev_total[t]))
        if key is not None:
            cache[key] = (True, (p_out[t].copy(), vm_out[t].copy(), cost[t], losses[t], dict(prev_p), q_out[t].copy()))
    return ACDispatch(p_out, np.asarray(on, dtype=bool), conv, cost, losses, vm_out, failures,
                      time.perf_counter() - t_all, q_out)


def _runopp(net: Any) -> tuple[bool, str]:
    """pandapower's AC OPF; on a net whose transformers shift the phase (a distribution grid's Dyn5, 150
    degrees) PYPOWER's interior point often fails with the shifts in, so it is tried again without voltage
    angles, which on a radial net changes no magnitude or flow (the shift only rotates what lies below)."""
    import pandapower as pp

    shifted = len(net.trafo) and "shift_degree" in net.trafo and bool((net.trafo.shift_degree % 360 != 0).any())
    why = ""
    for angles in ("auto", False) if shifted else ("auto",):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                pp.runopp(net, numba=False, calculate_voltage_angles=angles)
            if bool(net.OPF_converged):
                return True, ""
            why = "the OPF did not converge"
        except Exception as exc:  # noqa: BLE001 - pandapower's OPFNotConverged and friends
            why = type(exc).__name__
    return False, why


def _cost(net: Any, u: Any, kind: str, hours: tuple[float, float]) -> None:
    """The unit's cost curve as the OPF's cost (EUR/h; the running cost c0 is the commitment's, not the OPF's)."""
    import pandapower as pp

    c = u.cost
    if c.is_pwl:
        pp.create_pwl_cost(net, u.index, kind, [[p0, p1, slope] for p0, p1, slope in c.pwl])
    else:
        pp.create_poly_cost(net, u.index, kind, cp1_eur_per_mw=c.c1_at(hours), cp2_eur_per_mw2=c.c2)


#: How far inside its limits the OPF keeps the network, so the plan's own AC power flow (``runpp`` with the
#: OPF's set points, which lands within the interior-point solver's tolerance of the OPF) passes them.
VM_MARGIN_PU = 1e-3
LOADING_MARGIN_PERCENT = 0.5


def _prepare_limits(net: Any) -> None:
    """Voltage and loading limits where the net lacks them (the OPF needs them stated), a margin inside."""
    lo, hi = DEFAULT_VM_PU
    for col, default, sign in (("min_vm_pu", lo, 1.0), ("max_vm_pu", hi, -1.0)):
        if col not in net.bus:
            net.bus[col] = default
        net.bus[col] = net.bus[col].astype(float).fillna(default) + sign * VM_MARGIN_PU
    for tab in ("line", "trafo"):
        if len(net[tab]):
            if "max_loading_percent" not in net[tab]:
                net[tab]["max_loading_percent"] = 100.0
            net[tab]["max_loading_percent"] = (net[tab]["max_loading_percent"].astype(float).fillna(100.0)
                                               - LOADING_MARGIN_PERCENT)
    if len(net.ext_grid):
        net.ext_grid["controllable"] = True  # the slack's import and voltage are the OPF's to choose
    for tab in ("gen", "ext_grid"):
        if not len(net[tab]):
            continue
        for col, default in (("min_q_mvar", -math.inf), ("max_q_mvar", math.inf)):
            if col not in net[tab]:
                net[tab][col] = default
            net[tab][col] = net[tab][col].astype(float).fillna(default)
