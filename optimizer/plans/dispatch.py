"""The dispatch plan: which unit runs at what output in each period, checked by power flow.

A :class:`DispatchPlan` is a table with one row per period and unit
(``period, hour_start, unit, kind, on, p_mw, cost_eur, startup_eur, soc_mwh, vm_pu``;
storage ``p_mw`` is positive when discharging, the external grid's is its
import) and a demand table per period.  :meth:`DispatchPlan.validate` trusts
nothing a solver said: it recomputes the balance from the day's profile, every
limit, ramp and minimum time, the storage energy and every cost from the units'
cost curves.  :meth:`DispatchPlan.power_flow` writes the plan into a copy of the
pandapower net period by period and runs an AC power flow (``pandapower.runpp``):
convergence, the highest line and transformer loading, the bus voltage range and
every limit broken.  :meth:`DispatchPlan.write` puts ``dispatch.csv``,
``demand.csv`` and ``powerflow.json`` in a folder, each atomically, and
``device_schedule.csv`` when the plan schedules flexible devices
(:mod:`optimizer.inputs.devices`: ``period, device, kind, bus, p_mw, soc_mwh``,
``p_mw`` drawn from the grid, ``soc_mwh`` a battery's state of charge or an EV's
energy delivered so far in its session).  The devices' draw is part of the
demand every check balances (``devices_mw`` in ``demand.csv``) and a load at
their buses in the power flow.

Limits the power-flow check applies: a line's ``max_loading_percent`` (100 where
the net has none), a transformer's likewise, a bus's ``min_vm_pu`` /
``max_vm_pu`` (0.9 / 1.1 pu where the net has none), and each external grid's
import limits.  A surplus the plan spills is curtailed from the renewable sgens
first; the slack bus takes the rest and the losses.
"""

from __future__ import annotations

import logging
import math
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from optimizer.errors import PlanValidationError
from optimizer.io import atomic_write_json, atomic_write_text

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd
    from matplotlib.figure import Figure

    from optimizer.inputs.devices import Devices
    from optimizer.inputs.grid import Grid, Unit
    from optimizer.inputs.profiles import DayProfile

__all__ = ["POWERFLOW_SCHEMA_VERSION", "DispatchPlan", "DispatchSource"]

log = logging.getLogger(__name__)

POWERFLOW_SCHEMA_VERSION = 1
#: Bus voltage band where the net gives none (EN 50160: +-10 %).
DEFAULT_VM_PU = (0.9, 1.1)
#: ``device_schedule.csv``'s columns (:data:`optimizer.inputs.devices.SCHEDULE_COLUMNS`).
SCHEDULE_COLUMNS = ("period", "device", "kind", "bus", "p_mw", "soc_mwh")
TABLE_COLUMNS = ("period", "hour_start", "unit", "kind", "on", "p_mw", "cost_eur", "startup_eur", "soc_mwh", "vm_pu")


def _tol(x: float, rel: float = 1e-9, abs_: float = 1e-6) -> float:
    return abs_ + rel * abs(x)


class DispatchSource(Protocol):
    """What a dispatch plan is built from: the units, the day, the grid and its balancing rules."""

    units: Sequence[Unit]
    profile: DayProfile
    grid: Grid
    balancing: str
    spill_max_mw: float | None


@dataclass(frozen=True, eq=False)
class DispatchPlan:
    """A day's dispatch on a grid.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per period and unit: ``period, hour_start, unit, kind, on, p_mw,
        cost_eur`` (running cost of the period plus its start-up),
        ``startup_eur``, ``soc_mwh`` (storage energy at the period's end),
        ``vm_pu`` (the voltage set point an AC dispatch gives a generator or an
        external grid; empty where the net's own holds).
    demand : pandas.DataFrame
        One row per period: ``period, hour_start, hours, load_mw, renewable_mw,
        net_load_mw, supply_mw`` (units other than the external grid),
        ``import_mw``, ``spill_mw``.
    units : tuple of Unit
        The dispatched units (their limits and costs, as the problem used them).
    profile : DayProfile
    grid : Grid
    balancing : {"ext_grid", "spill"}
    spill_max_mw : float or None
    objective : float
        The day's cost (EUR) as reported by the solver side (the units' costs
        plus the demand-response discomfort of the devices' schedule).
    source : str
        Which solver or model made the plan.
    devices : Devices or None
        The flexible devices the plan schedules.
    device_schedule : pandas.DataFrame or None
        ``device_schedule.csv``: one row per period and device, ``period,
        device, kind, bus, p_mw, soc_mwh``.
    """

    table: pd.DataFrame
    demand: pd.DataFrame
    units: tuple[Unit, ...]
    profile: DayProfile
    grid: Grid
    balancing: str
    spill_max_mw: float | None
    objective: float
    source: str = ""
    objective_units: str = "EUR"
    devices: Devices | None = None
    device_schedule: pd.DataFrame | None = None

    # ---------------------------------------------------------------- build
    @classmethod
    def from_outputs(cls, problem: DispatchSource, p_mw: np.ndarray, on: np.ndarray, *, source: str = "",
                     objective: float | None = None, losses_mw: np.ndarray | None = None,
                     vm_pu: np.ndarray | None = None, device_mw: np.ndarray | None = None) -> DispatchPlan:
        """A plan from outputs (periods x ``problem.units``; storage discharge positive).

        ``losses_mw`` (per period) is what an AC dispatch supplies beyond the net
        load (the network's losses, from its OPF); default none (a lossless model).
        ``vm_pu`` (periods x units) are the voltage set points an AC dispatch
        gives its generators and external grids; NaN (the default) keeps the net's.

        ``device_mw`` (periods x ``problem.devices``) is what the flexible devices
        draw (default: their uncontrolled schedule, where the problem has devices).

        ``problem`` is anything with the :class:`DispatchSource` attributes (a
        :class:`~optimizer.problems.dispatch.problem.Dispatch` has them); the
        plan keeps those, not the problem, and re-checks itself from them.
        """
        import pandas as pd

        prof = problem.profile
        T, dt = prof.periods, prof.dt_h
        rows = []
        soc = {j: u.e_init_mwh for j, u in enumerate(problem.units) if u.is_storage}
        for t in range(T):
            hours = prof.hours(t)
            for j, u in enumerate(problem.units):
                p = float(p_mw[t, j])
                # the external grid balancing is always on; with spill balancing it is a discrete unit
                is_on = (abs(p) > 1e-12 if u.is_storage
                         else True if u.kind == "ext_grid" and problem.balancing == "ext_grid" else bool(on[t, j]))
                cost = u.period_cost_eur(p, hours) if (is_on or u.is_storage) else 0.0
                startup = 0.0
                if is_on and u.kind not in ("ext_grid", "storage"):
                    prev = bool(on[t - 1, j]) if t else u.initial_on
                    startup = 0.0 if prev else u.startup_eur
                e = math.nan
                if u.is_storage:
                    soc[j] -= p * dt
                    e = soc[j]
                rows.append({"period": t, "hour_start": hours[0], "unit": u.name, "kind": u.kind, "on": is_on,
                             "p_mw": p if is_on or u.is_storage else 0.0, "cost_eur": cost + startup,
                             "startup_eur": startup, "soc_mwh": e,
                             "vm_pu": math.nan if vm_pu is None else float(vm_pu[t, j])})
        table = pd.DataFrame(rows, columns=list(TABLE_COLUMNS))
        ext = table[table.kind == "ext_grid"].groupby("period").p_mw.sum().reindex(range(T), fill_value=0.0)
        sup = table[table.kind != "ext_grid"].groupby("period").p_mw.sum().reindex(range(T), fill_value=0.0)
        devices = getattr(problem, "devices", None)
        schedule = None
        dev_total = np.zeros(T)
        if devices is not None:
            dev = devices.uncontrolled_mw(T) if device_mw is None else np.asarray(device_mw, dtype=float)
            schedule = devices.schedule_table(dev, T)
            dev_total = dev.sum(axis=1)
        demand = prof.table()
        demand["devices_mw"] = dev_total
        demand["supply_mw"] = sup.to_numpy()
        demand["import_mw"] = ext.to_numpy()
        demand["losses_mw"] = np.zeros(T) if losses_mw is None else np.asarray(losses_mw, dtype=float)
        demand["spill_mw"] = (demand.supply_mw + demand.import_mw - demand.net_load_mw - demand.devices_mw
                              - demand.losses_mw)
        if objective is None:
            obj = float(table.cost_eur.sum()) + (devices.discomfort_eur(dev, T) if devices is not None else 0.0)
        else:
            obj = float(objective)
        return cls(table, demand, tuple(problem.units), prof, problem.grid, problem.balancing,
                   problem.spill_max_mw, obj, source, devices=devices, device_schedule=schedule)

    def device_mw(self) -> np.ndarray:
        """The devices' draw (periods x devices, MW) read back from :attr:`device_schedule` (zeros wide 0
        without devices).  Raises PlanValidationError when the schedule is not one row per period and device."""
        T = self.profile.periods
        if self.devices is None:
            return np.zeros((T, 0))
        tab = self.device_schedule
        names = list(self.devices.names)
        if tab is None or set(SCHEDULE_COLUMNS) - set(tab.columns):
            raise PlanValidationError(f"dispatch plan is invalid: the device schedule needs columns {SCHEDULE_COLUMNS}")
        counts = tab.groupby(["period", "device"]).size()
        if len(tab) != T * len(names) or any(int(counts.get((t, n), 0)) != 1 for t in range(T) for n in names):
            raise PlanValidationError("dispatch plan is invalid: the device schedule needs exactly one row per "
                                      f"period (0..{T - 1}) and device ({len(names)} devices)")
        return tab.pivot(index="period", columns="device", values="p_mw").reindex(
            index=range(T), columns=names).to_numpy(dtype=float)

    # ------------------------------------------------------------ validation
    def validate(self) -> DispatchPlan:
        """Re-check the plan from scratch; raise :class:`PlanValidationError` listing every fault.

        Checks: one row per period and unit; the demand table matches the
        day's profile; supply meets the net load in every period (exactly with
        the external grid balancing, else at least, and at most ``spill_max_mw``
        above it); every unit within its limits (off units at zero); ramps and
        minimum up/down times; storage energy within its bounds and back to its
        initial value by the end of the day, ``soc_mwh`` as recomputed; every
        row's cost recomputed from the unit's cost curve and start-up cost; the
        objective equal to the sum; voltage set points, where given, within the
        bus's limits.  With devices, from the device schedule alone: every EV
        delivers its energy by departure and draws nothing while away, every
        battery's state of charge stays within its bounds, every demand-response
        load consumes its energy within its window, each row's ``bus``, ``kind``
        and ``soc_mwh`` as recomputed; the balance includes the devices' draw and
        the objective their discomfort.  Returns the plan so calls chain.
        """
        problems: list[str] = []
        tab = self.table
        T = self.profile.periods
        dt = self.profile.dt_h
        missing = set(TABLE_COLUMNS) - set(tab.columns)
        if missing:
            raise PlanValidationError(f"dispatch plan is invalid: table lacks columns {sorted(missing)}")
        by_unit = {u.name: u for u in self.units}
        vm = tab.vm_pu.to_numpy(dtype=float)
        set_vm = np.isfinite(vm)
        if np.any(set_vm & ~tab.kind.isin(["gen", "ext_grid"]).to_numpy()) or np.any(~((vm[set_vm] > 0.5) & (vm[set_vm] < 1.5))):
            problems.append("vm_pu: voltage set points belong to generators and external grids, within 0.5..1.5 pu")
        counts = tab.groupby(["period", "unit"]).size()
        for t in range(T):
            for u in self.units:
                c = int(counts.get((t, u.name), 0))
                if c != 1:
                    problems.append(f"unit {u.name!r} has {c} rows in period {t}, needs exactly 1")
        extra = set(tab.unit) - set(by_unit)
        if extra:
            problems.append(f"rows for unknown units {sorted(extra)[:5]}")
        if set(tab.period) - set(range(T)):
            problems.append(f"rows for periods outside 0..{T - 1}")
        if not np.all(np.isfinite(tab.p_mw.to_numpy(dtype=float))) or not np.all(
                np.isfinite(tab.cost_eur.to_numpy(dtype=float))):
            problems.append("p_mw and cost_eur must be finite")
        if problems:
            raise PlanValidationError("dispatch plan is invalid: " + "; ".join(problems))
        dev = self.device_mw()
        if self.devices is not None:
            problems.extend(self.devices.check_schedule(dev, T))
            want = self.devices.schedule_table(dev, T)
            have = self.device_schedule.sort_values(["period", "device"]).reset_index(drop=True)
            want = want.sort_values(["period", "device"]).reset_index(drop=True)
            if not (have.kind.astype(str).tolist() == want.kind.tolist()
                    and have.bus.astype(int).tolist() == want.bus.tolist()):
                problems.append("device schedule: kind or bus does not match the devices")
            a, b = have.soc_mwh.to_numpy(dtype=float), want.soc_mwh.to_numpy(dtype=float)
            if not np.array_equal(np.isnan(a), np.isnan(b)) or not np.allclose(
                    np.nan_to_num(a), np.nan_to_num(b), rtol=1e-9, atol=1e-6):
                problems.append("device schedule: soc_mwh does not match the state of charge (energy delivered) "
                                "recomputed from p_mw")
        dev_total = dev.sum(axis=1)
        P = tab.pivot(index="period", columns="unit", values="p_mw").reindex(columns=list(by_unit))
        ON = tab.pivot(index="period", columns="unit", values="on").reindex(columns=list(by_unit)).astype(bool)
        # demand table against the profile
        load, ren, net = self.profile.load_mw, self.profile.renewable_mw, self.profile.net_load_mw
        for col, want in (("load_mw", load), ("renewable_mw", ren)):
            have = self.demand[col].to_numpy(dtype=float)
            if have.shape != want.shape or not np.allclose(have, want, rtol=1e-9, atol=1e-6):
                problems.append(f"demand.{col} does not match the day's profile")
        # balance (an AC dispatch also supplies the network's losses)
        losses = self.demand["losses_mw"].to_numpy(dtype=float) if "losses_mw" in self.demand else np.zeros(T)
        if losses.shape != (T,) or not np.all(np.isfinite(losses)) or np.any(losses < -1e-9):
            problems.append("demand.losses_mw must be one finite, non-negative value per period")
            losses = np.zeros(T)
        for t in range(T):
            supply = float(P.loc[t].sum())
            d = float(net[t]) + float(losses[t]) + float(dev_total[t])
            if supply < d - _tol(d):
                problems.append(f"period {t}: supply {supply:.6g} MW is short of the net load {d:.6g} MW "
                                f"by {d - supply:.6g} MW")
            elif self.balancing == "ext_grid" and supply > d + _tol(d):
                problems.append(f"period {t}: supply {supply:.6g} MW exceeds the net load {d:.6g} MW with the "
                                "external grid balancing")
            elif self.spill_max_mw is not None and supply - d > self.spill_max_mw + _tol(d):
                problems.append(f"period {t}: surplus {supply - d:.6g} MW above spill_max_mw {self.spill_max_mw:g}")
        # limits, ramps, minimum times, storage, costs
        recomputed = 0.0
        for u in self.units:
            p = P[u.name].to_numpy(dtype=float)
            on = ON[u.name].to_numpy(dtype=bool)
            for t in range(T):
                if u.kind == "ext_grid" and (self.balancing == "ext_grid" or on[t]):
                    if not (u.p_min_mw - _tol(u.p_min_mw) <= p[t] <= u.p_max_mw + _tol(u.p_max_mw)):
                        problems.append(f"{u.name!r} period {t}: import {p[t]:.6g} MW outside "
                                        f"{u.p_min_mw:g}..{u.p_max_mw:g} MW")
                elif u.is_storage:
                    if abs(p[t]) > u.p_max_mw + _tol(u.p_max_mw):
                        problems.append(f"{u.name!r} period {t}: |p| {abs(p[t]):.6g} MW over its limit {u.p_max_mw:g} MW")
                elif on[t]:
                    lo = max(0.0, u.p_min_mw)
                    if not (lo - _tol(lo) <= p[t] <= u.p_max_mw + _tol(u.p_max_mw)):
                        problems.append(f"{u.name!r} period {t}: output {p[t]:.6g} MW outside its limits "
                                        f"{lo:g}..{u.p_max_mw:g} MW")
                elif abs(p[t]) > 1e-9:
                    problems.append(f"{u.name!r} period {t}: off but p_mw = {p[t]:.6g}")
            if u.kind in ("gen", "sgen"):
                if u.ramp_mw_per_h is not None:
                    r = u.ramp_mw_per_h * dt
                    for t in range(1, T):
                        if on[t] and on[t - 1] and abs(p[t] - p[t - 1]) > r + _tol(r):
                            problems.append(f"{u.name!r}: ramp {abs(p[t] - p[t - 1]):.6g} MW from period {t - 1} "
                                            f"to {t} exceeds {r:.6g} MW ({u.ramp_mw_per_h:g} MW/h)")
                U = max(1, math.ceil((u.min_up_h or 0) / dt - 1e-9))
                D = max(1, math.ceil((u.min_down_h or 0) / dt - 1e-9))
                seq = [bool(u.initial_on), *on.tolist()]
                for t in range(T):
                    if seq[t + 1] and not seq[t] and not all(seq[k + 1] for k in range(t, min(t + U, T))):
                        problems.append(f"{u.name!r}: started in period {t}, on for less than {U} periods")
                    if seq[t] and not seq[t + 1] and any(seq[k + 1] for k in range(t, min(t + D, T))):
                        problems.append(f"{u.name!r}: stopped in period {t}, off for less than {D} periods")
            if u.is_storage:
                e = u.e_init_mwh - np.cumsum(p) * dt
                soc_col = tab[tab.unit == u.name].sort_values("period").soc_mwh.to_numpy(dtype=float)
                if not np.allclose(soc_col, e, rtol=1e-9, atol=1e-6):
                    problems.append(f"{u.name!r}: soc_mwh does not match the energy recomputed from p_mw")
                for t in range(T):
                    if not (u.e_min_mwh - _tol(u.e_min_mwh) <= e[t] <= u.e_max_mwh + _tol(u.e_max_mwh)):
                        problems.append(f"{u.name!r} period {t}: energy {e[t]:.6g} MWh outside "
                                        f"{u.e_min_mwh:g}..{u.e_max_mwh:g} MWh")
                if e[-1] < u.e_init_mwh - _tol(u.e_init_mwh):
                    problems.append(f"{u.name!r}: ends the day at {e[-1]:.6g} MWh, below its initial {u.e_init_mwh:g} MWh")
            rows = tab[tab.unit == u.name].sort_values("period")
            for t, row in enumerate(rows.itertuples(index=False)):
                hours = self.profile.hours(t)
                running = (u.kind == "ext_grid" and self.balancing == "ext_grid") or u.is_storage or on[t]
                cost = u.period_cost_eur(p[t], hours) if running else 0.0
                if u.kind in ("gen", "sgen") and on[t] and not (on[t - 1] if t else u.initial_on):
                    cost += u.startup_eur
                recomputed += cost
                if abs(cost - float(row.cost_eur)) > _tol(cost, 1e-9, 1e-6):
                    problems.append(f"{u.name!r} period {t}: cost_eur {float(row.cost_eur):.6f} != {cost:.6f} recomputed")
        if self.devices is not None:
            recomputed += self.devices.discomfort_eur(dev, T)
        if abs(recomputed - self.objective) > _tol(recomputed, 1e-9, 1e-5):
            problems.append(f"objective {self.objective:.6f} EUR != {recomputed:.6f} EUR recomputed from the units"
                            + (" and the devices' discomfort" if self.devices is not None else ""))
        if problems:
            raise PlanValidationError("dispatch plan is invalid: " + "; ".join(problems[:12])
                                      + (f"; ... {len(problems) - 12} more" if len(problems) > 12 else ""))
        return self

    # ------------------------------------------------------------ power flow
    def power_flow(self, *, grid: Grid | None = None) -> dict[str, Any]:
        """Run an AC power flow per period with the plan written into a copy of the net.

        Returns the ``powerflow.json`` content: per period ``converged``,
        ``max_line_loading_percent``, ``max_trafo_loading_percent``,
        ``min_bus_vm_pu``, ``max_bus_vm_pu``, ``slack_p_mw``, ``planned_import_mw``,
        ``losses_mw``, ``violations`` (each ``{element, index, name, quantity,
        value, limit}``) and ``wall_time_s``; and a ``summary``.
        """
        import pandapower as pp

        g = grid or self.grid
        net = plan_net(g, self.units)
        dev_loads = device_loads(net, self.devices, self.device_mw() if self.devices is not None else None)
        prof = self.profile
        lidx, sidx = list(prof.load_index), list(prof.sgen_index)
        P = self.table.pivot(index="period", columns="unit", values="p_mw")
        ON = self.table.pivot(index="period", columns="unit", values="on").astype(bool)
        VM = self.table.pivot(index="period", columns="unit", values="vm_pu") if "vm_pu" in self.table else None
        line_lim = _limit(net.line, "max_loading_percent", 100.0)
        trafo_lim = _limit(net.trafo, "max_loading_percent", 100.0) if len(net.trafo) else None
        vmin = _limit(net.bus, "min_vm_pu", DEFAULT_VM_PU[0])
        vmax = _limit(net.bus, "max_vm_pu", DEFAULT_VM_PU[1])
        ext_units = [u for u in self.units if u.kind == "ext_grid"]
        periods = []
        t_all = time.perf_counter()
        for t in range(prof.periods):
            t0 = time.perf_counter()
            if lidx:
                net.load.loc[lidx, "p_mw"] = prof.load_p_mw[t]
                net.load.loc[lidx, "q_mvar"] = prof.load_q_mvar[t]
            spill = max(0.0, float(self.demand.spill_mw.iloc[t]))
            ren = float(prof.renewable_mw[t])
            keep = 1.0 - (min(spill, ren) / ren if ren > 0 else 0.0)
            if sidx:
                net.sgen.loc[sidx, "p_mw"] = prof.sgen_p_mw[t] * keep
            for li, series in dev_loads:
                net.load.at[li, "p_mw"] = float(series[t])
            for u in self.units:
                p, on = float(P.at[t, u.name]), bool(ON.at[t, u.name])
                vm = float(VM.at[t, u.name]) if VM is not None else math.nan
                if u.kind in ("gen", "ext_grid") and math.isfinite(vm):  # the AC dispatch's voltage set point
                    net[u.kind].loc[u.index, "vm_pu"] = vm
                if u.kind in ("gen", "sgen"):
                    net[u.kind].loc[u.index, "p_mw"] = p
                    net[u.kind].loc[u.index, "in_service"] = on
                elif u.kind == "storage":
                    net.storage.loc[u.index, "p_mw"] = -p
            rec: dict[str, Any] = {"period": t, "converged": False, "planned_import_mw":
                                   float(self.demand.import_mw.iloc[t]), "curtailed_mw": ren * (1.0 - keep)}
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    pp.runpp(net, numba=False)
                ok = bool(net.converged)
            except Exception as e:  # pandapower raises LoadflowNotConverged and friends
                log.info("power flow of period %d did not converge: %s", t, e)
                ok = False
            viol: list[dict[str, Any]] = []
            if ok:
                rl = net.res_line.loading_percent.where(net.line.in_service)
                rb = net.res_bus.vm_pu.where(net.bus.in_service)
                rec.update(converged=True, max_line_loading_percent=_max(rl), min_bus_vm_pu=_min(rb),
                           max_bus_vm_pu=_max(rb), slack_p_mw=float(net.res_ext_grid.p_mw.sum()),
                           losses_mw=float(net.res_line.pl_mw.sum() + (net.res_trafo.pl_mw.sum() if len(net.trafo) else 0.0)))
                for i in rl.index[(rl > line_lim + 1e-9).fillna(False)]:
                    viol.append(_v("line", i, net.line, "loading_percent", rl[i], line_lim[i]))
                if trafo_lim is not None:
                    rt = net.res_trafo.loading_percent.where(net.trafo.in_service)
                    rec["max_trafo_loading_percent"] = _max(rt)
                    for i in rt.index[(rt > trafo_lim + 1e-9).fillna(False)]:
                        viol.append(_v("trafo", i, net.trafo, "loading_percent", rt[i], trafo_lim[i]))
                for i in rb.index[(rb < vmin - 1e-9).fillna(False)]:
                    viol.append(_v("bus", i, net.bus, "vm_pu", rb[i], vmin[i], below=True))
                for i in rb.index[(rb > vmax + 1e-9).fillna(False)]:
                    viol.append(_v("bus", i, net.bus, "vm_pu", rb[i], vmax[i]))
                for u in ext_units:
                    a = float(net.res_ext_grid.p_mw.at[u.index])
                    if a > u.p_max_mw + 1e-6:
                        viol.append(_v("ext_grid", u.index, net.ext_grid, "p_mw", a, u.p_max_mw))
                    elif a < u.p_min_mw - 1e-6 and (self.balancing == "ext_grid" or bool(ON.at[t, u.name])):
                        # (an external grid the spill plan switched off takes the slack's losses and spill)
                        viol.append(_v("ext_grid", u.index, net.ext_grid, "p_mw", a, u.p_min_mw, below=True))
            else:
                viol.append({"element": "network", "index": None, "name": None, "quantity": "converged",
                             "value": False, "limit": True})
            rec["violations"] = viol
            rec["wall_time_s"] = time.perf_counter() - t0
            periods.append(rec)
        conv = [p for p in periods if p["converged"]]
        summary = {
            "periods": len(periods),
            "converged": len(conv) == len(periods),
            "periods_converged": len(conv),
            "periods_with_violations": sum(1 for p in periods if p["violations"]),
            "violations": sum(len(p["violations"]) for p in periods),
            "max_line_loading_percent": max((p["max_line_loading_percent"] for p in conv), default=None),
            "min_bus_vm_pu": min((p["min_bus_vm_pu"] for p in conv), default=None),
            "max_bus_vm_pu": max((p["max_bus_vm_pu"] for p in conv), default=None),
            "wall_time_s": time.perf_counter() - t_all,
        }
        return {"schema_version": POWERFLOW_SCHEMA_VERSION, "grid": g.name, "algorithm": "pandapower.runpp (AC)",
                "limits": {"line_loading_percent": "max_loading_percent or 100",
                           "bus_vm_pu": f"min_vm_pu/max_vm_pu or {DEFAULT_VM_PU}"},
                "periods": periods, "summary": summary}

    # ---------------------------------------------------------------- outputs
    def write(self, out_dir: str | Path, *, power_flow: dict[str, Any] | None = None) -> dict[str, Path]:
        """Write ``dispatch.csv``, ``demand.csv``, ``powerflow.json`` and, with devices,
        ``device_schedule.csv`` atomically (the power flow runs here)."""
        out = Path(out_dir)
        pf = power_flow if power_flow is not None else self.power_flow()
        files = {
            "dispatch": atomic_write_text(out / "dispatch.csv", self.table.to_csv(index=False)),
            "demand": atomic_write_text(out / "demand.csv", self.demand.to_csv(index=False)),
            "powerflow": atomic_write_json(out / "powerflow.json", pf),
        }
        if self.device_schedule is not None:
            files["device_schedule"] = atomic_write_text(out / "device_schedule.csv",
                                                         self.device_schedule.to_csv(index=False))
        return files

    def plot(self) -> Figure:
        """A stacked-area chart of the outputs per period (renewables at the bottom), load on top."""
        try:
            from matplotlib.figure import Figure
        except ImportError as e:  # pragma: no cover - matplotlib is a dependency
            msg = "DispatchPlan.plot needs matplotlib: pip install matplotlib"
            raise ImportError(msg) from e
        P = self.table.pivot(index="period", columns="unit", values="p_mw")
        x = self.demand.hour_start.to_numpy(dtype=float)
        fig = Figure(figsize=(9, 4.5))
        ax = fig.subplots()
        series = [self.profile.renewable_mw] + [np.clip(P[u.name].to_numpy(dtype=float), 0, None) for u in self.units]
        labels = ["renewables"] + [u.name for u in self.units]
        ax.stackplot(x, *series, labels=labels, step="post", alpha=0.85)
        ax.step(x, self.profile.load_mw, where="post", color="black", lw=2, label="load")
        ax.set_xlabel("hour of day")
        ax.set_ylabel("MW")
        ax.set_title(f"{self.grid.name}: dispatch ({self.source}), {self.objective:,.0f} EUR")
        ax.legend(loc="upper left", fontsize="small", ncol=2)
        return fig

    def __repr__(self) -> str:
        return (f"DispatchPlan(grid={self.grid.name!r}, periods={self.profile.periods}, units={len(self.units)}, "
                f"objective={self.objective:.6g} EUR, source={self.source!r})")


def _limit(df: Any, col: str, default: float) -> Any:
    import pandas as pd

    if col in df:
        return pd.to_numeric(df[col], errors="coerce").fillna(default)
    return pd.Series(default, index=df.index, dtype=float)


def _max(s: Any) -> float | None:
    v = s.max()
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else float(v)


def _min(s: Any) -> float | None:
    v = s.min()
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else float(v)


def _v(element: str, i: Any, df: Any, quantity: str, value: float, limit: float, *, below: bool = False) -> dict[str, Any]:
    name = df.name.at[i] if "name" in df and isinstance(df.name.at[i], str) else None
    return {"element": element, "index": int(i), "name": name, "quantity": quantity, "value": float(value),
            "limit": float(limit), "side": "min" if below else "max"}


def device_loads(net: Any, devices: Devices | None, device_mw: np.ndarray | None) -> list[tuple[int, np.ndarray]]:
    """One load per device bus in ``net`` (named ``devices@BUS``, unity power factor, not controllable), and
    for each its load index and its draw per period (MW; negative where batteries discharge more than the
    rest draws).  Empty without devices."""
    import pandapower as pp

    if devices is None or device_mw is None:
        return []
    out = []
    for bus, series in devices.by_bus_mw(device_mw).items():
        li = pp.create_load(net, bus, p_mw=0.0, q_mvar=0.0, name=f"devices@{bus}")
        if "controllable" in net.load:
            net.load.at[li, "controllable"] = False
        if "scaling" in net.load:
            net.load.at[li, "scaling"] = 1.0
        out.append((int(li), np.asarray(series, dtype=float)))
    return out


def plan_net(grid: Grid, units: Sequence[Unit]) -> Any:
    """A copy of the grid's net as a plan drives it: every scaling 1 (the profile gives the MW), and the units
    the plan leaves out not running (generators out of service, storage idle); the external grids stay."""
    net = grid.copy_net()
    for tab in ("load", "sgen", "gen", "storage"):
        if len(net[tab]) and "scaling" in net[tab]:
            net[tab]["scaling"] = 1.0
    planned = {(u.kind, u.index) for u in units}
    for u in grid.units():
        if (u.kind, u.index) in planned or u.kind == "ext_grid":
            continue
        if u.kind in ("gen", "sgen"):
            net[u.kind].loc[u.index, "in_service"] = False
        elif u.kind == "storage":
            net.storage.loc[u.index, "p_mw"] = 0.0
    return net
