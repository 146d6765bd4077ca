r"""Unit commitment and economic dispatch on a pandapower grid, over one day.

Units (:class:`optimizer.grid.Unit`) are generators, dispatchable sgens, storage
and the external grid.  In each of ``T`` periods (:mod:`optimizer.profiles`)
every *discrete* unit is off or at one of its output levels; the objective is
the day's cost in euros: running costs (``poly_cost`` / ``pwl_cost`` or the
defaults of :mod:`optimizer.grid`) times the period length, start-up costs,
storage wear, and the external grid's import cost.

The discrete model
------------------
* **Power quantum** ``q`` (``quantum_mw``, default: a round number near a quarter
  of the smallest level step).  Every level is a whole number of quanta, so the
  balance is an integer equation.  A generator's ``L`` levels are
  ``p_lo + (p_max - p_lo) k / L`` for ``k = 1..L`` (``p_lo`` = its ``p_min``),
  rounded to the quantum inside ``[p_min, p_max]`` (duplicates merged).  A
  battery has ``L`` discharge and ``L`` charge levels ``+-p_max k / L``.
* **Balancing** (``balancing``).  ``"ext_grid"`` (the default when the grid has an
  external grid and some other unit): the external grid is the slack bus and
  imports exactly what the discrete units leave, ``import_t = net_load_t - q S_t``
  (``S_t`` the discrete units' output in quanta, net load = load - renewables),
  within its limits ``[import_min, import_max]``, at its cost curve; its import
  is continuous, so demand is met exactly.  Several external grids share the
  import in proportion to their capacity.  ``"spill"``: every unit (external
  grids included) is discrete and the supply must cover the net load, at most
  ``spill_max_mw`` above it (the surplus is curtailed renewables or goes to the
  slack bus).  Either way the balance is a *window* ``lo_t <= S_t <= hi_t``.
* **Ramps**: ``|p_t - p_{t-1}| <= ramp_mw_per_h * dt`` when a unit runs in both
  periods (starts and stops are free to jump).  **Minimum up/down** times where
  a unit has them.  **Storage**: the state of charge ``E_t = E_0 - dt sum p``
  (lossless; wear is priced per MWh discharged), ``E_min <= E_t <= E_max`` and
  ``E_T >= E_0``; energies are rounded to the energy quantum ``q dt`` (``E_min``
  up, ``E_max`` down, ``E_0`` to the nearest) so the continuous model below uses
  the very same numbers.  Start-ups cost ``startup_eur`` (units that are not
  ``initial_on`` start in period 0 if they run).

The QUBO
--------
Encoding: one bit ``x[u, t, k]`` per unit, period and level; "off" is all bits
zero, so a 1-level unit is one bit per period (3 units x 4 periods on/off = 12
qubits).  An explicit "off" bit would make each group one-hot (and let the XY
mixer keep it feasible) but costs a qubit per unit-period, which is what a
20-qubit budget cannot spare; so the QUBO has no one-hot groups and sets no
``onehot_penalty``.  ``E(x) = C(x) + P V(x)`` where ``C`` is the cost (equal to
the objective on feasible plans) and ``V`` counts violations, each term an
integer that is 0 exactly when its constraint holds:

* at most one level per unit-period: ``w sum_{k<l} x_k x_l`` (``w`` = the
  largest minimum-up time in periods, 1 without);
* each binding window: ``(S_t - lo_t - z_t)^2`` with a slack ``z_t`` in
  ``0..hi_t-lo_t`` as bounded-coefficient bits (1, 2, 4, ..., remainder), none
  where the window cannot bind, and the same for each storage's cumulative
  discharge;
* ramps: ``x[u,t-1,k] x[u,t,l]`` for every level pair too far apart;
* minimum up/down: start and stop bits ``y_t, s_t`` with
  ``(on_t - on_{t-1} - y_t + s_t)^2 + y_t s_t``, then ``y_t (1 - on_tau)`` and
  ``s_t on_tau`` for the periods ``tau`` the unit must stay on / off.

**The penalty** ``P = ceil(UB - LB) + 1``: ``UB`` bounds the cost of any feasible
plan (each unit-period at its dearest level, every start-up paid, the import at
its dearest end), ``LB`` bounds ``C`` from below over *all* assignments (each
term of ``C`` bounded separately: negative level costs summed, start-up products
at their worst, the convex import cost at its minimum over every reachable
``S``).  ``V`` is an integer, 0 on feasible plans with their slack set right and
>= 1 on every other assignment (the only negative terms, ``y_t (1 - on_tau)``
with ``on_tau >= 2``, are outweighed by ``w`` times the at-most-one term on that
same unit-period).  So an infeasible ``x`` has ``E(x) >= LB + P > UB >= OPT``
and the QUBO minimum is the discrete optimum; the tests check it assignment by
assignment on small instances.

Native models (OR-Tools)
------------------------
* :meth:`native_cpsat`: CP-SAT on the discrete model, its bits the QUBO's
  variables (costs in milli-euros; the import cost as an element table).
* the ``milp`` solver (:meth:`native_solvers`): the same discrete model as a
  MathOpt MILP on HiGHS (the convex import cost exact at whole quanta by secants).
* :meth:`solve_continuous` / :meth:`continuous_bound`: the MILP with continuous
  levels (on/off binaries, output anywhere in ``[p_min, p_max]``, the same ramps,
  minimum times, storage and balance): a relaxation of the discrete model, with
  quadratic costs under-estimated by tangents, so its dual bound is a true lower
  bound on the discrete optimum.

Examples
--------
>>> from optimizer.problems.dispatch import Dispatch, QAOA_DEMO
>>> prob = Dispatch.from_grid(**QAOA_DEMO)
>>> prob.to_qubo().num_variables <= 20
True
>>> from optimizer import solve
>>> sol = solve(prob, "cpsat", seed=1)
>>> plan = prob.decode(sol).validate()
>>> prob.continuous_bound() <= plan.objective + 1e-6
True
"""

from __future__ import annotations

import itertools
import logging
import math
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np

from optimizer.errors import InfeasibleSolutionError, InvalidInputError

# the class is split by concern into private mixins; their public names are re-exported here
from optimizer.problems._dispatch_build import (
    _EPS,
    _DispatchBuild,
    nice_quantum,
    slack_coefficients,
)
from optimizer.problems._dispatch_build import Window as Window
from optimizer.problems._dispatch_continuous import TANGENTS as TANGENTS
from optimizer.problems._dispatch_continuous import ContinuousResult, _DispatchContinuous
from optimizer.problems._dispatch_models import CPSAT_SCALE as CPSAT_SCALE
from optimizer.problems._dispatch_models import _DispatchModels
from optimizer.problems._dispatch_qubo import _DispatchQubo
from optimizer.problems.base import Problem

if TYPE_CHECKING:  # pragma: no cover
    from optimizer.dispatch_plan import DispatchPlan
    from optimizer.grid import Grid, Unit
    from optimizer.profiles import DayProfile
    from solvers.solution import Solution

__all__ = ["QAOA_DEMO", "ContinuousResult", "Dispatch", "nice_quantum", "slack_coefficients"]

log = logging.getLogger(__name__)

#: The QAOA-sized demo instance: case9's two generators on/off in four six-hour
#: periods, the external grid balancing (8 level bits + 8 slack bits = 16 qubits).
QAOA_DEMO: dict[str, Any] = {"grid": "case9", "units": 3, "periods": 4, "levels": 1, "quantum_mw": 60.0,
                             "seed": 1}


class Dispatch(_DispatchBuild, _DispatchQubo, _DispatchModels, _DispatchContinuous, Problem):
    """Unit commitment and economic dispatch over one day, in euros.

    Parameters
    ----------
    grid : Grid
    profile : DayProfile
        Loads and renewable output per period.
    units : sequence of Unit, optional
        The units to dispatch (default: every unit of ``grid``).
    levels : int
        Output levels per unit besides off, ``L >= 1``.
    quantum_mw : float, optional
        Power quantum (see the module docstring); default from the data.
    balancing : {"auto", "ext_grid", "spill"}
    spill_max_mw : float, optional
        ``"spill"`` balancing: the most the supply may exceed the net load
        (default: no limit).
    seed : int, optional
        The profile's seed (for the instance name).

    Use :meth:`from_grid` to build one from a grid name.
    """

    kind = "dispatch"
    objective_units = "EUR"

    def __init__(self, grid: Grid, profile: DayProfile, units: Sequence[Unit] | None = None, *,
                 levels: int = 1, quantum_mw: float | None = None, balancing: str = "auto",
                 spill_max_mw: float | None = None, seed: int | None = None) -> None:
        if isinstance(levels, bool) or not isinstance(levels, (int, np.integer)) or levels < 1:
            msg = f"levels must be an integer >= 1 (output levels per unit besides off), got {levels!r}"
            raise InvalidInputError(msg)
        if balancing not in ("auto", "ext_grid", "spill"):
            msg = f"balancing must be 'auto', 'ext_grid' or 'spill', got {balancing!r}"
            raise InvalidInputError(msg)
        if spill_max_mw is not None and not (spill_max_mw >= 0 and math.isfinite(spill_max_mw)):
            msg = f"spill_max_mw must be a finite number >= 0, got {spill_max_mw!r}"
            raise InvalidInputError(msg)
        if quantum_mw is not None and not (isinstance(quantum_mw, (int, float)) and quantum_mw > 0
                                           and math.isfinite(quantum_mw)):
            msg = f"quantum_mw must be a positive number of MW, got {quantum_mw!r}"
            raise InvalidInputError(msg)
        self.grid = grid
        self.profile = profile
        self.levels = int(levels)
        self.seed = seed
        self.periods = profile.periods
        self.dt_h = profile.dt_h
        all_units = tuple(grid.units() if units is None else units)
        if not all_units:
            msg = f"no controllable unit to dispatch on grid {grid.name!r}"
            raise InvalidInputError(msg)
        names = [u.name for u in all_units]
        if len(set(names)) != len(names):
            msg = f"unit names must be unique, got {names}"
            raise InvalidInputError(msg)
        for u in all_units:
            self._check_unit(u)
        has_ext = any(u.kind == "ext_grid" for u in all_units)
        others = any(u.kind != "ext_grid" for u in all_units)
        if balancing == "auto":
            balancing = "ext_grid" if has_ext and others else "spill"
        if balancing == "ext_grid" and not has_ext:
            msg = "balancing='ext_grid' needs an external grid among the units; use balancing='spill'"
            raise InvalidInputError(msg)
        if balancing == "ext_grid" and not others:
            msg = "balancing='ext_grid' leaves nothing to decide (only external grids); use balancing='spill'"
            raise InvalidInputError(msg)
        self.balancing = balancing
        self.spill_max_mw = None if spill_max_mw is None else float(spill_max_mw)
        self.ext_units: tuple[Unit, ...] = tuple(u for u in all_units if u.kind == "ext_grid") \
            if balancing == "ext_grid" else ()
        discrete = [u for u in all_units if u not in self.ext_units]
        self.quantum_given = quantum_mw is not None
        self.quantum_mw = float(quantum_mw) if quantum_mw is not None else self._default_quantum(discrete)
        # storage energies on the energy quantum, used by every model
        eq = self.quantum_mw * self.dt_h
        snapped = []
        for u in discrete:
            if u.is_storage:
                e_lo, e_hi = math.ceil(u.e_min_mwh / eq - _EPS), math.floor(u.e_max_mwh / eq + _EPS)
                if e_hi < e_lo:
                    msg = (f"storage {u.name!r}: energy range {u.e_min_mwh:g}..{u.e_max_mwh:g} MWh holds no whole "
                           f"energy quantum of {eq:g} MWh; choose a smaller quantum_mw")
                    raise InvalidInputError(msg)
                e0 = min(max(round(u.e_init_mwh / eq), e_lo), e_hi)
                u = replace(u, e_min_mwh=e_lo * eq, e_max_mwh=e_hi * eq, e_init_mwh=e0 * eq)
            snapped.append(u)
        self.discrete: tuple[Unit, ...] = tuple(snapped)
        self.units: tuple[Unit, ...] = self.ext_units + self.discrete
        self._build_levels()
        self._build_windows()
        self._build_variables()

    # ------------------------------------------------------------ construction
    @classmethod
    def from_grid(cls, grid: Grid | str, *, units: int | None = None, periods: int = 24, levels: int = 1,
                  seed: int | None = 1, day: int | None = None, quantum_mw: float | None = None,
                  balancing: str = "auto", spill_max_mw: float | None = None, initial_on: bool = False,
                  load_scale: float = 1.0) -> Dispatch:
        """A dispatch of ``grid`` over one day of its profile.

        Parameters
        ----------
        grid : Grid or str
            A grid or anything :meth:`optimizer.grid.Grid.load` takes.
        units : int, optional
            Keep this many units: the external grid(s) first, then the largest by
            capacity (default: all).
        periods : int
            Periods in the day (divides 96).
        levels : int
            Output levels per unit besides off.
        seed : int, optional
            Seed of the day's variation (:func:`optimizer.profiles.day_profile`).
        day : int, optional
            SimBench day of the year.
        quantum_mw, balancing, spill_max_mw
            See :class:`Dispatch`.
        initial_on : bool
            Generators run before the first period (no start-up then).
        load_scale : float
            Scale every load (stress tests).
        """
        from optimizer.grid import Grid
        from optimizer.profiles import day_profile

        g = grid if isinstance(grid, Grid) else Grid.load(grid)
        profile = day_profile(g, periods, seed=seed, day=day)
        if load_scale != 1.0:
            if not (load_scale >= 0 and math.isfinite(load_scale)):
                msg = f"load_scale must be a finite number >= 0, got {load_scale!r}"
                raise InvalidInputError(msg)
            profile = profile.scaled(load=load_scale)
        us = list(g.units(initial_on=initial_on))
        if units is not None:
            if isinstance(units, bool) or not isinstance(units, (int, np.integer)) or units < 1:
                msg = f"units must be an integer >= 1 (units to dispatch), got {units!r}"
                raise InvalidInputError(msg)
            order = sorted(range(len(us)), key=lambda i: (us[i].kind != "ext_grid", -us[i].p_max_mw, i))
            keep = sorted(order[:units])
            us = [us[i] for i in keep]
        return cls(g, profile, us, levels=levels, quantum_mw=quantum_mw, balancing=balancing,
                   spill_max_mw=spill_max_mw, seed=seed)

    def import_coefficients(self, t: int) -> tuple[float, float, float]:
        """``(a0, a1, a2)`` with the import cost of period ``t`` = ``a0 + a1 m + a2 m**2`` (``m`` MW, EUR)."""
        dt = self.dt_h
        hours = self.profile.hours(t)
        a0 = sum(u.cost.c0 for u in self.ext_units) * dt
        a1 = sum(u.cost.c1_at(hours) * w for u, w in zip(self.ext_units, self.ext_share)) * dt
        a2 = sum(u.cost.c2 * w * w for u, w in zip(self.ext_units, self.ext_share)) * dt
        return float(a0), float(a1), float(a2)

    def import_cost_eur(self, t: int, import_mw: float) -> float:
        a0, a1, a2 = self.import_coefficients(t)
        return a0 + a1 * import_mw + a2 * import_mw * import_mw

    # ---------------------------------------------------------------- identity
    @property
    def num_units(self) -> int:
        return len(self.units)

    @property
    def instance_name(self) -> str:
        slug = "".join(c if c.isalnum() else "-" for c in self.grid.name.lower()).strip("-") or "grid"
        name = f"{slug}-u{self.num_units}-p{self.periods}-l{self.levels}-s{self.seed}"
        if self.quantum_given:
            name += f"-q{self.quantum_mw:g}"
        if self.spill_max_mw is not None:
            name += f"-sp{self.spill_max_mw:g}"
        return name

    @property
    def instance(self) -> dict[str, Any]:
        return {
            "name": self.instance_name,
            "grid": self.grid.name,
            "grid_source": self.grid.source,
            "units": self.num_units,
            "unit_names": [u.name for u in self.units],
            "periods": self.periods,
            "period_hours": self.dt_h,
            "levels": self.levels,
            "seed": self.seed,
            "profile": self.profile.source,
            "day": self.profile.day,
            "quantum_mw": self.quantum_mw,
            "balancing": self.balancing,
            "spill_max_mw": self.spill_max_mw,
            "variables": len(self.variables),
            "level_bits": len(self.level_var),
            "slack_bits": sum(len(v) for v in self.balance_slack.values()) + sum(len(v) for v in self.soc_slack.values()),
            "aux_bits": len(self.start_var) + len(self.stop_var),
            "load_mwh": float(self.profile.load_mw.sum() * self.dt_h),
            "renewable_mwh": float(self.profile.renewable_mw.sum() * self.dt_h),
        }

    def __repr__(self) -> str:
        return (f"Dispatch({self.instance_name!r}, units={self.num_units}, periods={self.periods}, "
                f"variables={len(self.variables)}, balancing={self.balancing!r})")

    # ------------------------------------------------------------------ levels
    def level_choice(self, bits: np.ndarray) -> np.ndarray:
        """Level index of each discrete unit and period, ``-1`` for off; shape (periods, units).

        Raises InfeasibleSolutionError when a unit has two levels in one period.
        """
        bits = np.asarray(bits).reshape(-1)
        if bits.shape[0] != len(self.variables):
            msg = f"assignment has {bits.shape[0]} bits, the problem has {len(self.variables)} variables"
            raise InvalidInputError(msg)
        out = np.full((self.periods, len(self.discrete)), -1, dtype=np.int64)
        for t in range(self.periods):
            for i, u in enumerate(self.discrete):
                on = [k for k in range(len(self.level_quanta[i])) if bits[self.level_var[(i, t, k)]]]
                if len(on) > 1:
                    msg = f"unit {u.name!r} has {len(on)} levels on in period {t}; at most one"
                    raise InfeasibleSolutionError(msg)
                if on:
                    out[t, i] = on[0]
        return out

    def bits_for(self, choice: np.ndarray) -> np.ndarray:
        """An assignment for a level choice (periods x discrete units, ``-1`` off), slack and aux bits set right."""
        choice = np.asarray(choice, dtype=np.int64)
        bits = np.zeros(len(self.variables), dtype=np.uint8)
        for t in range(self.periods):
            for i in range(len(self.discrete)):
                k = int(choice[t, i])
                if k >= 0:
                    bits[self.level_var[(i, t, k)]] = 1
        for t, w in enumerate(self.balance_windows):
            if w.slack:
                _set_slack(bits, self.balance_slack[t], w.slack, self._supply_q(choice, t) - w.lo)
        for (i, t), idx in self.soc_slack.items():
            w = self.soc_windows[i][t]
            if w.slack:
                _set_slack(bits, idx, w.slack, self._cum_discharge_q(choice, i, t) - w.lo)
        for (i, t), v in self.start_var.items():
            on_t = choice[t, i] >= 0
            prev = choice[t - 1, i] >= 0 if t else self.discrete[i].initial_on
            bits[v] = int(on_t and not prev)
            bits[self.stop_var[(i, t)]] = int(prev and not on_t)
        return bits

    def _supply_q(self, choice: np.ndarray, t: int) -> int:
        return int(sum(self.level_quanta[i][k] for i, k in enumerate(choice[t]) if k >= 0))

    def _cum_discharge_q(self, choice: np.ndarray, i: int, t: int) -> int:
        return int(sum(self.level_quanta[i][choice[tau, i]] for tau in range(t + 1) if choice[tau, i] >= 0))

    def output_mw(self, choice: np.ndarray) -> np.ndarray:
        """Output (MW) of each discrete unit per period for a level choice."""
        out = np.zeros(choice.shape)
        for (t, i), k in np.ndenumerate(choice):
            if k >= 0:
                out[t, i] = self.level_mw[i][k]
        return out

    def import_mw(self, choice: np.ndarray) -> np.ndarray:
        """External grid import per period (``balancing='ext_grid'``; zeros otherwise)."""
        if not self.ext_units:
            return np.zeros(self.periods)
        return self.profile.net_load_mw - self.quantum_mw * np.array(
            [self._supply_q(choice, t) for t in range(self.periods)], dtype=np.float64)

    def violations(self, choice: np.ndarray) -> list[str]:
        """Every constraint a level choice breaks (empty when feasible)."""
        out = []
        for t, w in enumerate(self.balance_windows):
            s = self._supply_q(choice, t)
            if not w.lo <= s <= w.hi:
                out.append(f"period {t}: discrete supply {s * self.quantum_mw:.6g} MW outside the balance window "
                           f"{w.lo * self.quantum_mw:.6g}..{w.hi * self.quantum_mw:.6g} MW")
        for i, ws in self.soc_windows.items():
            for t, w in enumerate(ws):
                c = self._cum_discharge_q(choice, i, t)
                if not w.lo <= c <= w.hi:
                    out.append(f"storage {self.discrete[i].name!r} period {t}: state of charge out of bounds")
        for i, pairs in self.ramp_pairs.items():
            ps = set(pairs)
            for t in range(1, self.periods):
                a, b = choice[t - 1, i], choice[t, i]
                if a >= 0 and b >= 0 and (a, b) in ps:
                    out.append(f"unit {self.discrete[i].name!r}: ramp limit broken from period {t - 1} to {t}")
        for i, u in enumerate(self.discrete):
            U, D = self.min_up[i], self.min_down[i]
            if U <= 1 and D <= 1:
                continue
            on = [bool(u.initial_on)] + [bool(choice[t, i] >= 0) for t in range(self.periods)]
            for t in range(self.periods):
                if on[t + 1] and not on[t]:
                    if not all(on[tau + 1] for tau in range(t + 1, min(t + U, self.periods))):
                        out.append(f"unit {u.name!r}: started in period {t} but not on for {U} periods")
                if on[t] and not on[t + 1]:
                    if any(on[tau + 1] for tau in range(t + 1, min(t + D, self.periods))):
                        out.append(f"unit {u.name!r}: stopped in period {t} but not off for {D} periods")
        return out

    def cost_eur(self, choice: np.ndarray) -> float:
        """The objective of a level choice: running, start-up, wear and import costs (EUR)."""
        total = 0.0
        for t in range(self.periods):
            for i, u in enumerate(self.discrete):
                k = choice[t, i]
                if k >= 0:
                    total += float(self.level_cost[i][t, k])
                    prev = choice[t - 1, i] >= 0 if t else u.initial_on
                    if not prev and not u.is_storage:
                        total += u.startup_eur
        if self.ext_units:
            imp = self.import_mw(choice)
            total += sum(self.import_cost_eur(t, float(imp[t])) for t in range(self.periods))
        return float(total)

    # ------------------------------------------------------------------ scoring
    def is_feasible(self, bits: np.ndarray) -> bool:
        try:
            choice = self.level_choice(bits)
        except InfeasibleSolutionError:
            return False
        return not self.violations(choice)

    def objective(self, bits: np.ndarray) -> float:
        choice = self.level_choice(bits)
        bad = self.violations(choice)
        if bad:
            raise InfeasibleSolutionError("infeasible dispatch: " + "; ".join(bad[:3]))
        return self.cost_eur(choice)

    # ------------------------------------------------------------------ decode
    def decode(self, solution: Solution | np.ndarray) -> DispatchPlan:
        """The dispatch plan of a feasible solution (slack and auxiliary bits are ignored)."""
        from optimizer.dispatch_plan import DispatchPlan

        bits = np.asarray(getattr(solution, "bits", solution))
        choice = self.level_choice(bits)
        bad = self.violations(choice)
        if bad:
            raise InfeasibleSolutionError("infeasible dispatch: " + "; ".join(bad[:3]))
        T, ne = self.periods, len(self.ext_units)
        p = np.zeros((T, len(self.units)))
        on = np.zeros((T, len(self.units)), dtype=bool)
        imp = self.import_mw(choice)
        for t in range(T):
            for e in range(ne):
                p[t, e], on[t, e] = imp[t] * self.ext_share[e], True
        p[:, ne:] = self.output_mw(choice)
        on[:, ne:] = choice >= 0
        solver = getattr(solution, "solver", None)
        return DispatchPlan.from_outputs(self, p, on, source=solver or "bits",
                                         objective=self.cost_eur(choice))

    # ---------------------------------------------------------------- helpers
    def enumerate_choices(self) -> Any:
        """Every level choice (periods x discrete units), for brute force on tiny instances."""
        opts = [range(-1, len(self.level_quanta[i])) for i in range(len(self.discrete))]
        cells = [opts[i] for _ in range(self.periods) for i in range(len(self.discrete))]
        for combo in itertools.product(*cells):
            yield np.array(combo, dtype=np.int64).reshape(self.periods, len(self.discrete))


def _set_slack(bits: np.ndarray, idx: list[int], coefs: tuple[int, ...], value: int) -> None:
    """Set slack bits to encode ``value`` (greedy from the largest coefficient)."""
    rest = int(value)
    for j in sorted(range(len(coefs)), key=lambda j: -coefs[j]):
        if coefs[j] <= rest:
            bits[idx[j]] = 1
            rest -= coefs[j]
    if rest != 0:
        msg = f"slack value {value} is outside 0..{sum(coefs)}"
        raise InfeasibleSolutionError(msg)


