r"""Unit commitment and economic dispatch on a pandapower grid, over one day.

Units (:class:`optimizer.inputs.grid.Unit`) are generators, dispatchable sgens, storage
and the external grid.  In each of ``T`` periods (:mod:`optimizer.inputs.profiles`)
every *discrete* unit is off or at one of its output levels; the objective is
the day's cost in euros: running costs (``poly_cost`` / ``pwl_cost`` or the
defaults of :mod:`optimizer.inputs.grid`) times the period length, start-up costs,
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
``onehot_penalty``.  (``encoding="onehot"`` makes a different trade: a bit per
period and *commitment* the balance admits, one-hot per period, which keeps
the balance in the variables; :mod:`optimizer.problems.dispatch.onehot`.)
``E(x) = C(x) + P V(x)`` where ``C`` is the cost (equal to
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
  ``s_t on_tau`` for the periods ``tau`` the unit must stay on / off;
* with ``network``, each line window (below): ``(F_rt - lo_rt - z_rt)^2``.

**The penalty** ``P = ceil(UB - LB) + 1``: ``UB`` bounds the cost of any feasible
plan (each unit-period at its dearest level, every start-up paid, the import at
its dearest end), ``LB`` bounds ``C`` from below over *all* assignments (each
term of ``C`` bounded separately: negative level costs summed, start-up products
at their worst, the convex import cost at its minimum over every reachable
``S``).  ``V`` is an integer, 0 on feasible plans with their slack set right and
>= 1 on every other assignment (the only negative terms, ``y_t (1 - on_tau)``
with ``on_tau >= 2``, are outweighed by ``w`` times the at-most-one term on that
same unit-period; a line window exact only on the combinations its period's
balance admits leaves the others to the balance term, which is >= 1 there).
So an infeasible ``x`` has ``E(x) >= LB + P > UB >= OPT``
and the QUBO minimum is the discrete optimum; the tests check it assignment by
assignment on small instances.

Line limits (``network``)
-------------------------
Every branch's DC flow (pandapower's PTDF, :mod:`optimizer.inputs.network`) is
``base_t + sum_i g_i p_i`` and stays within ``line_margin`` of its rating.  A
branch the units cannot push to its limit is not *watched*.  On a watched branch
``r`` the PTDF is rounded to a step ``s_r`` (the coarsest of 1, 0.5, 0.25, 0.2,
0.1, ... whose worst case ``sum_i |g_i - round(g_i)| max|p_i|`` is at most
``line_rounding``, 1%, of the limit) and the limit is tightened by that worst
case: a plan within the rounded limit is within the true one (the line check,
:meth:`Dispatch.line_violations`, uses the unrounded PTDF).  Each unit level's
flow is then a whole number of *flow quanta*, and the flow ``F_rt`` an integer
sum over the level bits, like the balance.

Where one period's level combinations are few enough to list (at most 4096),
the windows are built per period over the combinations its balance window
admits (the others pay the balance penalty already): a branch gets a window in
period ``t`` only where it cuts an admitted combination that no branch kept
before it cuts; its coefficients are coarsened (divided by the largest power of
two that leaves its verdict on every admitted combination unchanged) and its
slack is the fewest coefficients (at most three) whose subset sums are exactly
the flows within the limit, else ``slack_coefficients(hi - lo)``.  Otherwise
each binding (branch, period) gets the window of every flow its units can reach.
The window is the same linear constraint in CP-SAT and the ``milp`` model (the
slack bits linked, so every model's bits are the QUBO's); a day where some
period has no commitment within the lines is refused when the problem is built.

How the line terms scale: the qubits added are the slack bits, one set per
*binding* (branch, period), ``~log2`` of the window's width in flow quanta,
and none for a branch that never binds or whose cut another branch already
makes.  The penalty weight ``P`` is unchanged (the line terms are more
integer violations ``V``, see below).  Measured (24 periods, seed 1, DC limits
at 95%): case9 with 2 levels, 8 of 9 branches watched, 15 binding windows, 14
slack bits (186 -> 200 qubits); case30, 23 of 41 watched, 88 windows, 271 bits
with 1 level (216 -> 487) and 111 windows, 563 bits with 2 (360 -> 923);
case118: no branch the units can overload (1398 qubits either way).  The QAOA
demo (:data:`QAOA_DEMO`) gains no qubit with ``line_margin=1`` (16: its
branches never cut a combination its balance admits); at the default 95% its
period 3 has no feasible commitment (the external grid's line would carry 249.8
MW, and the one level of the other generator leaves less than the grid's 10 MW
minimum import), and the problem says so.  With flexible devices that ``milp``
schedules, its line limits hold the flows in MW with the devices' draw (below),
and the windows' slack bits stay 0.

Flexible devices
----------------
``devices`` (:mod:`optimizer.inputs.devices`: EV charging sessions, home and
community batteries, demand-response loads at the grid's buses) draw power in
every period.  Their *uncontrolled* schedule (EVs at full rate on arrival,
batteries idle, demand response at its baseline) is part of :attr:`net_load_mw`,
so the QUBO, CP-SAT and every bit-aligned solver balance it as fixed load (their
bits stay the QUBO's; ``device_policy`` ``uncontrolled``).  The ``milp`` model and
the continuous-level model schedule the devices as continuous variables
(:mod:`optimizer.problems.dispatch.flexible`; ``device_policy`` ``optimised``): the
balance then holds in MW with the devices' draw, their net power enters the DC
line flows at their buses (PTDF columns, :attr:`Dispatch.device_ptdf`), no
period's loads and devices draw more than the day's uncontrolled peak, and the
objective adds the demand-response discomfort.  The uncontrolled schedule is a
feasible point of those models, so the optimised plan costs no more.

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
>>> from optimizer.problems.dispatch.problem import Dispatch, QAOA_DEMO
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
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np

from optimizer.errors import InfeasibleSolutionError, InvalidInputError
from optimizer.problems.base import Problem
from optimizer.problems.dispatch.continuous import ContinuousResult, mathopt_solve, solve_continuous
from optimizer.problems.dispatch.onehot import (
    ENCODINGS,
    OneHotLayout,
    add_square,
    auto_layout,
    bits_of,
    build_layout,
    choice_of,
)

if TYPE_CHECKING:  # pragma: no cover
    from optimizer.inputs.devices import Devices
    from optimizer.inputs.grid import Grid, Unit
    from optimizer.inputs.network import DCNetwork
    from optimizer.inputs.profiles import DayProfile
    from optimizer.plans.dispatch import DispatchPlan
    from optimizer.problems.dispatch.ac import ACDispatch
    from optimizer.problems.dispatch.flexible import DeviceVariables
    from solvers.cpsat import CpSatModel
    from solvers.qubo import QUBO
    from solvers.solution import Solution

__all__ = ["QAOA_DEMO", "ContinuousResult", "Dispatch", "nice_quantum", "slack_coefficients"]

log = logging.getLogger(__name__)

#: The QAOA-sized demo instance: case9's two generators on/off in four six-hour
#: periods, the external grid balancing (the level encoding: 8 level bits + 8 slack
#: bits = 16 qubits; ``encoding="onehot"``: 4 qubits, the balance admits one
#: commitment per period; with ``levels=2``, 11 qubits).
QAOA_DEMO: dict[str, Any] = {"grid": "case9", "units": 3, "periods": 4, "levels": 1, "quantum_mw": 60.0,
                             "seed": 1}


#: The most power quanta the largest unit may hold: integer models (balance slack, storage
#: energy) grow with it, and a quantum_mw of 1e-9 MW made them run without end.
MAX_QUANTA = 100_000
_EPS = 1e-9
#: How far (MW) a locked period's devices at one bus may draw from what the AC probe gave them.
_LOCK_TOL_MW = 1e-6


def nice_quantum(x: float) -> float:
    """The largest of ``{1, 2, 2.5, 5} x 10**k`` not above ``x``.

    Examples
    --------
    >>> nice_quantum(8.3), nice_quantum(0.034), nice_quantum(60.0)
    (5.0, 0.025, 50.0)
    """
    if not x > 0 or not math.isfinite(x):
        msg = f"quantum must be a positive number, got {x!r}"
        raise InvalidInputError(msg)
    e = math.floor(math.log10(x))
    best = 10.0**e
    for m in (1.0, 2.0, 2.5, 5.0, 10.0):
        if m * 10.0**e <= x * (1 + 1e-12):
            best = m * 10.0**e
    return float(f"{best:.12g}")


def slack_coefficients(r: int) -> tuple[int, ...]:
    """Bounded-coefficient binary encoding of an integer in ``0..r``: sums cover exactly ``0..r``.

    Examples
    --------
    >>> slack_coefficients(0), slack_coefficients(3), slack_coefficients(5), slack_coefficients(8)
    ((), (1, 2), (1, 2, 2), (1, 2, 4, 1))
    """
    out: list[int] = []
    total, c = 0, 1
    while total + c <= r:
        out.append(c)
        total += c
        c *= 2
    if r - total > 0:
        out.append(r - total)
    return tuple(out)


@dataclass(frozen=True)
class Window:
    """``lo <= expr <= hi`` over an integer expression, with its slack bits (empty when it never binds)."""

    lo: int
    hi: int
    slack: tuple[int, ...]  # coefficients
    binding: bool


#: Integer scale of CP-SAT's objective (milli-euros).
CPSAT_SCALE = 1000.0


class Dispatch(Problem):
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
    network : bool
        Keep every line and transformer within ``line_margin`` of its rating in
        the DC power flow (PTDF, :mod:`optimizer.inputs.network`): in the QUBO,
        CP-SAT, the ``milp`` model, the continuous-level MILP and every
        feasibility check (the module docstring, "Line limits").
    line_margin : float
        The share of each rating planned with (default 0.95: the DC model has no
        losses and no reactive flow, which the AC check of the plan then sees).
    line_rounding : float
        The most of each limit the rounding of the PTDF to whole flow quanta may
        take (default 0.01): coarser steps, fewer slack qubits, tighter limits.
    ac : bool
        The physical dispatch (:mod:`optimizer.problems.dispatch.ac`): whatever
        solver commits the units, :meth:`decode` re-dispatches each period with
        pandapower's AC OPF (voltages, loadings, losses) and emits that; ``milp``
        also runs the commitment <-> AC loop, cutting commitments with no AC
        dispatch and solving again.
    devices : Devices, optional
        Flexible devices at the grid's buses (:mod:`optimizer.inputs.devices`).
        Their uncontrolled schedule is part of :attr:`net_load_mw`, which the
        discrete model, the QUBO and CP-SAT balance: the bit-aligned solvers run
        the devices uncontrolled.  The ``milp`` model and the continuous-level
        model schedule them as continuous variables
        (:mod:`optimizer.problems.dispatch.flexible`) when ``optimise_devices``.
    optimise_devices : bool
        Let ``milp`` and the continuous model schedule the devices (default);
        False keeps them at their uncontrolled schedule everywhere.
    encoding : {"levels", "onehot", "auto"}
        The QUBO's variables.  ``"levels"`` (default): a bit per unit, period and
        level, the balance met through slack bits (the module docstring).
        ``"onehot"``: a bit per period and commitment its balance (and line)
        windows admit, one-hot per period, so QAOA's XY mixer keeps every sample
        balanced (:mod:`optimizer.problems.dispatch.onehot`).  ``"auto"``:
        ``"onehot"`` where it needs no more variables than ``"levels"``, else
        ``"levels"`` (:attr:`encoding` holds the one taken).  Every solver takes
        either; the plans and objectives are the same.

    Use :meth:`from_grid` to build one from a grid name.
    """

    kind = "dispatch"
    objective_units = "EUR"

    def __init__(self, grid: Grid, profile: DayProfile, units: Sequence[Unit] | None = None, *,
                 levels: int = 1, quantum_mw: float | None = None, balancing: str = "auto",
                 spill_max_mw: float | None = None, seed: int | None = None, network: bool = False,
                 line_margin: float = 0.95, line_rounding: float = 0.01, ac: bool = False,
                 devices: Devices | None = None, optimise_devices: bool = True, encoding: str = "levels") -> None:
        if encoding not in ("auto", *ENCODINGS):
            msg = (f"encoding must be 'auto', 'levels' or 'onehot' (the QUBO's variables: a bit per unit, period "
                   f"and level, or one-hot per period over its admitted commitments), got {encoding!r}")
            raise InvalidInputError(msg)
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
        if not (isinstance(line_margin, (int, float)) and 0 < line_margin <= 1):
            msg = f"line_margin must be in (0, 1] (the share of each branch rating to plan with), got {line_margin!r}"
            raise InvalidInputError(msg)
        self.grid = grid
        self.profile = profile
        self.network = bool(network)
        self.ac = bool(ac)
        self.line_margin = float(line_margin)
        if not (isinstance(line_rounding, (int, float)) and 0 < line_rounding < 1):
            msg = (f"line_rounding must be in (0, 1) (the share of each branch limit its PTDF rounding may take), "
                   f"got {line_rounding!r}")
            raise InvalidInputError(msg)
        self.line_rounding = float(line_rounding)
        self.levels = int(levels)
        self.seed = seed
        self.periods = profile.periods
        self.dt_h = profile.dt_h
        self.devices: Devices | None = devices if devices is not None and len(devices) else None
        self.optimise_devices = bool(optimise_devices) and self.devices is not None
        self.device_base_mw: np.ndarray = (self.devices.uncontrolled_mw(self.periods) if self.devices is not None
                                           else np.zeros((self.periods, 0)))
        #: What the units must cover per period: the profile's net load plus the devices' uncontrolled draw.
        self.net_load_mw: np.ndarray = profile.net_load_mw + self.device_base_mw.sum(axis=1)
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
        self._build_line_windows()
        self._build_variables()
        #: The level encoding's variables, which the native models (CP-SAT, MILP) are built on.
        self.level_variables: tuple[tuple[Any, ...], ...] = self.variables
        #: The one-hot layout (``encoding="onehot"``), else None.
        self.onehot: OneHotLayout | None = auto_layout(self) if encoding == "auto" else (
            build_layout(self) if encoding == "onehot" else None)
        #: The encoding taken (``"auto"`` resolved).
        self.encoding = "levels" if self.onehot is None else "onehot"
        if self.onehot is not None:
            self.variables = self.onehot.labels

    # ------------------------------------------------------------ construction
    @classmethod
    def from_grid(cls, grid: Grid | str, *, units: int | None = None, periods: int = 24, levels: int = 1,
                  seed: int | None = 1, day: int | None = None, quantum_mw: float | None = None,
                  balancing: str = "auto", spill_max_mw: float | None = None, initial_on: bool = False,
                  load_scale: float = 1.0, network: bool = False, line_margin: float = 0.95,
                  line_rounding: float = 0.01, ac: bool = False, devices: Devices | None = None,
                  optimise_devices: bool = True, encoding: str = "levels") -> Dispatch:
        """A dispatch of ``grid`` over one day of its profile.

        Parameters
        ----------
        grid : Grid or str
            A grid or anything :meth:`optimizer.inputs.grid.Grid.load` takes.
        units : int, optional
            Keep this many units: the external grid(s) first, then the largest by
            capacity (default: all).
        periods : int
            Periods in the day (divides 96).
        levels : int
            Output levels per unit besides off.
        seed : int, optional
            Seed of the day's variation (:func:`optimizer.inputs.profiles.day_profile`).
        day : int, optional
            SimBench day of the year.
        quantum_mw, balancing, spill_max_mw
            See :class:`Dispatch`.
        initial_on : bool
            Generators run before the first period (no start-up then).
        load_scale : float
            Scale every load (stress tests).
        network : bool
            Line and transformer limits in the DC power flow (see :class:`Dispatch`).
        line_margin, line_rounding : float
            See :class:`Dispatch`.
        devices, optimise_devices
            Flexible devices on the grid's buses (see :class:`Dispatch`).
        encoding : {"levels", "onehot", "auto"}
            The QUBO's variables (see :class:`Dispatch`).
        """
        from optimizer.inputs.grid import Grid
        from optimizer.inputs.profiles import day_profile

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
            if units > len(us):
                msg = (f"units={units} but grid {g.name!r} has {len(us)} controllable units (external grids, "
                       f"generators, storage); use units <= {len(us)}, or leave it out for all")
                raise InvalidInputError(msg)
            order = sorted(range(len(us)), key=lambda i: (us[i].kind != "ext_grid", -us[i].p_max_mw, i))
            keep = sorted(order[:units])
            us = [us[i] for i in keep]
        return cls(g, profile, us, levels=levels, quantum_mw=quantum_mw, balancing=balancing,
                   spill_max_mw=spill_max_mw, seed=seed, network=network, line_margin=line_margin,
                   line_rounding=line_rounding, ac=ac, devices=devices, optimise_devices=optimise_devices,
                   encoding=encoding)

    def uncontrolled(self) -> Dispatch:
        """The same dispatch with its devices held at their uncontrolled schedule (every model)."""
        return self._rebuild(optimise_devices=False)

    def with_encoding(self, encoding: str) -> Dispatch:
        """The same dispatch with its QUBO in ``encoding`` (``"levels"`` or ``"onehot"``, see :class:`Dispatch`).

        Examples
        --------
        >>> prob = Dispatch.from_grid(**QAOA_DEMO)
        >>> prob.to_qubo().num_variables, prob.with_encoding("onehot").to_qubo().num_variables
        (16, 4)
        """
        return self._rebuild(encoding=encoding)

    def _rebuild(self, **changes: Any) -> Dispatch:
        kw: dict[str, Any] = {
            "levels": self.levels, "quantum_mw": self.quantum_mw if self.quantum_given else None,
            "balancing": self.balancing, "spill_max_mw": self.spill_max_mw, "seed": self.seed,
            "network": self.network, "line_margin": self.line_margin, "line_rounding": self.line_rounding,
            "ac": self.ac, "devices": self.devices, "optimise_devices": self.optimise_devices,
            "encoding": self.encoding}
        return Dispatch(self.grid, self.profile, self.units, **{**kw, **changes})

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
        if self.network:
            name += "-net" + (f"{self.line_margin:g}" if self.line_margin != 0.95 else "")
            name += f"-r{self.line_rounding:g}" if self.line_rounding != 0.01 else ""
        if self.ac:
            name += "-ac"
        if self.devices is not None:
            d = self.devices
            name += f"-dev{d.count('ev')}e{d.count('battery')}b{d.count('dr')}d"
            if not self.optimise_devices:
                name += "-uncontrolled"
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
            "encoding": self.encoding,
            "variables": len(self.variables),
            "level_bits": len(self.level_var) if self.onehot is None else 0,
            "slack_bits": (sum(len(v) for v in self.balance_slack.values()) + sum(len(v) for v in self.line_slack.values())
                           if self.onehot is None else 0) + sum(len(v) for v in self.soc_slack.values()),
            "line_slack_bits": sum(len(v) for v in self.line_slack.values()) if self.onehot is None else 0,
            **({"commitment_bits": sum(len(c) for c in self.onehot.combos)} if self.onehot is not None else {}),
            "line_windows": len(self.line_windows),
            "aux_bits": len(self.start_var) + len(self.stop_var),
            "load_mwh": float(self.profile.load_mw.sum() * self.dt_h),
            "renewable_mwh": float(self.profile.renewable_mw.sum() * self.dt_h),
            **({"devices": {**self.devices.summary(), "optimised": self.optimise_devices}}
               if self.devices is not None else {}),
        }

    def __repr__(self) -> str:
        return (f"Dispatch({self.instance_name!r}, units={self.num_units}, periods={self.periods}, "
                f"variables={len(self.variables)}, balancing={self.balancing!r})")

    # ------------------------------------------------------------------ levels
    def level_choice(self, bits: np.ndarray) -> np.ndarray:
        """Level index of each discrete unit and period, ``-1`` for off; shape (periods, units).

        Raises InfeasibleSolutionError when a unit has two levels in one period (with
        ``encoding="onehot"``: when a period has not exactly one commitment).
        """
        bits = np.asarray(bits).reshape(-1)
        if bits.shape[0] != len(self.variables):
            msg = f"assignment has {bits.shape[0]} bits, the problem has {len(self.variables)} variables"
            raise InvalidInputError(msg)
        if self.onehot is not None:
            return choice_of(self, self.onehot, bits)
        return self._level_layout_choice(bits)

    def _level_layout_choice(self, bits: np.ndarray) -> np.ndarray:
        """:meth:`level_choice` of bits in the level encoding's layout (:attr:`level_variables`)."""
        bits = np.asarray(bits).reshape(-1)
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
        """An assignment for a level choice (periods x discrete units, ``-1`` off), slack and aux bits set right.

        With ``encoding="onehot"`` a period whose commitment breaks its balance or
        line window has no bit: InfeasibleSolutionError.
        """
        choice = np.asarray(choice, dtype=np.int64)
        if self.onehot is not None:
            for t in range(self.periods):
                self.onehot.index(t, choice[t])  # raises for a commitment the period does not admit
        bits = self._level_layout_bits(choice)
        return bits if self.onehot is None else bits_of(self, self.onehot, choice, bits)

    def _level_layout_bits(self, choice: np.ndarray) -> np.ndarray:
        """:meth:`bits_for` in the level encoding's layout (:attr:`level_variables`)."""
        bits = np.zeros(len(self.level_variables), dtype=np.uint8)
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
        for (r, t), idx in self.line_slack.items():
            w = self.line_windows[(r, t)]
            if w.slack:
                _set_slack(bits, idx, w.slack, self._line_flow_q(choice, r, t) - w.lo)
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

    def import_mw(self, choice: np.ndarray, device_mw: np.ndarray | None = None) -> np.ndarray:
        """External grid import per period (``balancing='ext_grid'``; zeros otherwise), with the devices at
        ``device_mw`` (periods x devices; default their uncontrolled schedule)."""
        if not self.ext_units:
            return np.zeros(self.periods)
        return self.net_load_mw + self.device_delta_mw(device_mw) - self.quantum_mw * np.array(
            [self._supply_q(choice, t) for t in range(self.periods)], dtype=np.float64)

    def device_delta_mw(self, device_mw: np.ndarray | None) -> np.ndarray:
        """What the devices draw beyond their uncontrolled schedule, per period (zeros for ``None``)."""
        if device_mw is None or self.devices is None:
            return np.zeros(self.periods)
        return np.asarray(device_mw, dtype=np.float64).sum(axis=1) - self.device_base_mw.sum(axis=1)

    def violations(self, choice: np.ndarray, device_mw: np.ndarray | None = None) -> list[str]:
        """Every constraint a level choice breaks (empty when feasible), the devices at ``device_mw``
        (periods x devices, MW drawn; default: their uncontrolled schedule)."""
        out = []
        if device_mw is None or self.devices is None:
            for t, w in enumerate(self.balance_windows):
                s = self._supply_q(choice, t)
                if not w.lo <= s <= w.hi:
                    if not out and getattr(self, "discrete_gap", None):  # why no choice can hold it
                        out.append(self.discrete_gap)
                    out.append(f"period {t}: discrete supply {s * self.quantum_mw:.6g} MW outside the balance "
                               f"window {w.lo * self.quantum_mw:.6g}..{w.hi * self.quantum_mw:.6g} MW")
        else:
            out.extend(self.devices.check_schedule(device_mw, self.periods))
            need = self.net_load_mw + self.device_delta_mw(device_mw)
            for t in range(self.periods):
                s = self._supply_q(choice, t) * self.quantum_mw
                tol = 1e-6 + 1e-9 * abs(need[t])
                if self.balancing == "ext_grid":
                    imp = need[t] - s
                    if not self.import_min_mw - tol <= imp <= self.import_max_mw + tol:
                        out.append(f"period {t}: import {imp:.6g} MW outside the external grid's limits "
                                   f"{self.import_min_mw:.6g}..{self.import_max_mw:.6g} MW")
                elif s < need[t] - tol or (self.spill_max_mw is not None and s > need[t] + self.spill_max_mw + tol):
                    out.append(f"period {t}: supply {s:.6g} MW does not cover the demand {need[t]:.6g} MW "
                               "within the spill allowance")
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
        if device_mw is not None and self.devices is not None and self.optimise_devices:
            out.extend(self.line_violations(self.output_mw(choice), device_mw))  # devices moved: the exact flows
        else:  # the windows in flow quanta every discrete model plans with (devices uncontrolled)
            for (r, t), w in self.line_windows.items():
                f = self._line_flow_q(choice, r, t)
                if not w.lo <= f <= w.hi:
                    base, g, _, _ = self.line_model
                    flow = float(base[t, r] + g[r] @ self.output_mw(choice)[t])
                    out.append(f"period {t}: {self.dc.label(r)} carries {abs(flow):.4g} MW in the DC flow, over its "
                               f"limit {self.line_model[2][r]:.4g} MW ({100 * self.line_margin:g}% of its rating, "
                               "less the PTDF rounding)")
        return out

    # ------------------------------------------------------------- the network
    @cached_property
    def dc(self) -> DCNetwork | None:
        """The grid's DC model (PTDF and ratings) when ``network``, else None."""
        if not self.network:
            return None
        from optimizer.inputs.network import dc_network

        return dc_network(self.grid)

    @cached_property
    def line_model_exact(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(base, g, limit)`` of the DC model as pandapower gives it: the true branch flows are
        ``base[t] + g @ p[t]`` (MW) for the discrete units' outputs ``p[t]``; ``limit`` is each rating times
        ``line_margin``.  The continuous-level MILP and the line check use these; the discrete models
        plan with :attr:`line_model`, which implies them.

        The loads and renewables of the day's profile inject at their buses; in
        ``ext_grid`` balancing the external grids take the rest (net load minus
        the units' output) at theirs, in proportion to their capacity.
        """
        dc = self.dc
        if dc is None:
            msg = "line_model needs network=True"
            raise InvalidInputError(msg)
        net = self.grid.net
        T = self.periods
        col = {b: j for j, b in enumerate(dc.buses)}
        fixed = np.zeros((T, len(dc.buses)))
        prof = self.profile
        for k, li in enumerate(prof.load_index):
            fixed[:, col[int(net.load.bus.at[li])]] -= prof.load_p_mw[:, k]
        for k, si in enumerate(prof.sgen_index):
            fixed[:, col[int(net.sgen.bus.at[si])]] += prof.sgen_p_mw[:, k]
        if self.devices is not None:  # the devices' uncontrolled draw, a load at their buses
            for j, b in enumerate(self.devices.buses):
                fixed[:, col[b]] -= self.device_base_mw[:, j]
        base = fixed @ dc.ptdf.T
        ext_col = self._ext_column()
        if self.ext_units:
            base = base + np.outer(self.net_load_mw, ext_col)
        g = np.stack([dc.column(u.bus) - ext_col for u in self.discrete], axis=1) if self.discrete else \
            np.zeros((len(dc.branches), 0))
        g[np.abs(g) < PTDF_ZERO] = 0.0  # round-off, not sensitivity: it only trips the MILP solver (HiGHS)
        return base, g, dc.rating_mw * self.line_margin

    @cached_property
    def _unit_mw_bound(self) -> np.ndarray:
        """``m_i``: the largest ``|p|`` (MW) unit ``i`` can give, discrete levels or continuous."""
        return np.array([max(abs(u.p_min_mw), abs(u.p_max_mw)) for u in self.discrete])

    @cached_property
    def line_model(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``(base, g, limit, watched)``: the DC line model the discrete models plan with (MW).

        Branch flows are ``base[t] + g @ p[t]`` for the discrete units' outputs
        ``p[t]``, each kept within ``+-limit``.  ``watched`` marks the branches
        whose true flow can reach its limit at all (the others need no
        constraint; their row is the exact one).  On a watched branch ``r`` the
        sensitivities are pandapower's rounded to a step ``s_r``
        (``g = s_r round(g_true / s_r)``, so every level's flow is a whole
        number of flow quanta ``q s_r``) and the limit is tightened by the
        rounding's worst case, ``limit = line_margin * rating - sum_i |g_true - g| m_i``
        (``m_i`` the unit's largest ``|p|``): a flow within this limit is within
        the true one for every output (see the module docstring).  ``s_r`` is
        the coarsest of ``1, 0.5, 0.25, 0.2, 0.1, ...`` whose tightening is at
        most ``line_rounding`` of the limit.
        """
        base, g, limit, watched, _ = self._line_rounded
        return base, g, limit, watched

    @cached_property
    def _line_rounded(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """:attr:`line_model` and the PTDF step ``s_r`` of each branch (0 where not watched)."""
        base, g_true, limit_true = self.line_model_exact
        m = self._unit_mw_bound
        reach = np.abs(base).max(axis=0) + np.abs(g_true) @ m
        if self.devices is not None and self.optimise_devices:  # devices may move their draw by their rate
            rates = np.array([d.max_rate_mw for d in self.devices.items])
            reach = reach + np.abs(self.device_ptdf) @ rates
        watched = reach > limit_true * (1 - 1e-9)
        g, limit = g_true.copy(), limit_true.copy()
        steps = np.zeros(len(limit))
        for r in np.flatnonzero(watched):
            steps[r], g[r], err = _ptdf_step(g_true[r], m, self.line_rounding * limit_true[r])
            limit[r] = limit_true[r] - err
        return base, g, limit, watched, steps

    def _build_line_windows(self) -> None:
        """Integer flow coefficients and windows of the watched branches (module docstring, "Line limits")."""
        self.line_coef: dict[tuple[int, int], tuple[tuple[int, ...], ...]] = {}
        self.line_windows: dict[tuple[int, int], Window] = {}
        if not self.network:
            return
        base, g, limit, watched, steps = self._line_rounded
        q = self.quantum_mw
        coefs: dict[int, list[list[int]]] = {}
        delta: dict[int, float] = {}
        for r in np.flatnonzero(watched):
            r = int(r)
            n = [round(float(g[r, i]) / steps[r]) for i in range(len(self.discrete))]
            coef = [[n[i] * qk for qk in self.level_quanta[i]] for i in range(len(self.discrete))]
            div = math.gcd(*(c for cs in coef for c in cs)) or 1
            coefs[r] = [[c // div for c in cs] for cs in coef]
            delta[r] = q * steps[r] * div

        def bounds(r: int, t: int) -> tuple[int, int]:  # the limit in flow quanta, relative to the base flow
            return (math.ceil((-limit[r] - base[t, r]) / delta[r] - 1e-9),
                    math.floor((limit[r] - base[t, r]) / delta[r] + 1e-9))

        def infeasible(r: int, t: int, which: str = "that balances the period ") -> InvalidInputError:
            return InvalidInputError(
                f"infeasible day: in period {t} no commitment {which}keeps "
                f"{self.dc.label(r)} within {limit[r]:.4g} MW in the DC flow (its flow without the units is "
                f"{base[t, r]:.4g} MW); lower the demand (load_scale), raise line_margin or add units")

        combos = self._period_combos()
        if combos is None:  # too many level combinations: each branch on its own, over every reachable flow
            for r, coef in coefs.items():
                reach = _reachable_sums(coef)
                for t in range(self.periods):
                    lo, hi = bounds(r, t)
                    if isinstance(reach, tuple):
                        blo, bhi = max(lo, reach[0]), min(hi, reach[1])
                        binding = blo > reach[0] or bhi < reach[1]
                    else:
                        ok = reach[(reach >= lo) & (reach <= hi)]
                        if ok.size == 0:
                            raise infeasible(r, t, "")
                        blo, bhi, binding = int(ok[0]), int(ok[-1]), bool(ok.size < reach.size)
                    if blo > bhi:
                        raise infeasible(r, t, "")
                    if binding:
                        self.line_windows[(r, t)] = Window(int(blo), int(bhi), slack_coefficients(int(bhi - blo)),
                                                           True)
                        self.line_coef[(r, t)] = tuple(tuple(cs) for cs in coef)
        else:  # per period, over the level combinations its balance window admits (module docstring)
            table = {r: [np.array([0, *cs], dtype=np.int64) for cs in coef] for r, coef in coefs.items()}
            sup = [np.array([0, *qs], dtype=np.int64) for qs in self.level_quanta]
            idx = combos + 1
            S = sum(sup[i][idx[:, i]] for i in range(idx.shape[1]))
            for t, w in enumerate(self.balance_windows):
                admitted = (S >= w.lo) & (S <= w.hi)
                if not admitted.any():
                    continue  # the balance window alone is infeasible: construction already refused it
                flows, cuts = {}, {}
                for r in coefs:
                    f = sum(table[r][i][idx[admitted, i]] for i in range(idx.shape[1]))
                    lo, hi = bounds(r, t)
                    bad = (f < lo) | (f > hi)
                    if bad.all():
                        raise infeasible(r, t)
                    if bad.any():
                        flows[r], cuts[r] = (f, lo, hi), bad
                cut = np.zeros(int(admitted.sum()), dtype=bool)
                for r in sorted(cuts, key=lambda r: (-int(cuts[r].sum()), r)):
                    if (cuts[r] & ~cut).any():  # cuts a combination no kept branch cuts
                        cut |= cuts[r]
                        f, lo, hi = flows[r]
                        coef, f, lo, hi = _coarsen(coefs[r], combos[admitted], f, lo, hi)
                        self.line_windows[(r, t)] = _compact_window(np.unique(f), lo, hi)
                        self.line_coef[(r, t)] = coef
                if cut.all():
                    msg = (f"infeasible day: in period {t} every commitment that balances the period overloads "
                           f"a branch in the DC flow ({', '.join(self.dc.label(r) for r, tt in self.line_windows if tt == t)}); "
                           "lower the demand (load_scale), raise line_margin or add units")
                    raise InvalidInputError(msg)

    def _period_combos(self) -> np.ndarray | None:
        """Every level combination of one period (rows, ``-1`` off), or None above :data:`MAX_LINE_COMBOS`."""
        sizes = [len(ks) + 1 for ks in self.level_quanta]
        if math.prod(sizes) > MAX_LINE_COMBOS:
            return None
        grids = np.meshgrid(*[np.arange(-1, n - 1) for n in sizes], indexing="ij")
        return np.stack([gr.reshape(-1) for gr in grids], axis=1) if grids else np.zeros((1, 0), dtype=np.int64)

    def _line_flow_q(self, choice: np.ndarray, r: int, t: int) -> int:
        """Branch ``r``'s flow in period ``t`` minus its base, in flow quanta (watched branches)."""
        return int(sum(self.line_coef[(r, t)][i][k] for i, k in enumerate(choice[t]) if k >= 0))

    def _line_terms(self, r: int, t: int) -> list[tuple[int, float]]:
        return [(self.level_var[(i, t, k)], float(c)) for i, cs in enumerate(self.line_coef[(r, t)])
                for k, c in enumerate(cs) if c]

    def _ext_column(self) -> np.ndarray:
        """The PTDF column of the external grids' shared import (zeros without ``ext_grid`` balancing)."""
        dc = self.dc
        ext_col = np.zeros(len(dc.branches))
        for share, u in zip(self.ext_share, self.ext_units):
            ext_col = ext_col + share * dc.column(u.bus)
        return ext_col

    @cached_property
    def device_ptdf(self) -> np.ndarray:
        """``(branches, devices)``: MW of flow per MW a device draws (at its bus; the external grids, in
        ``ext_grid`` balancing, supply it), so flows are ``base + g p + device_ptdf (d - uncontrolled)``."""
        if self.dc is None or self.devices is None:
            msg = "device_ptdf needs network=True and devices"
            raise InvalidInputError(msg)
        ext_col = self._ext_column()
        gd = np.stack([ext_col - self.dc.column(b) for b in self.devices.buses], axis=1)
        gd[np.abs(gd) < PTDF_ZERO] = 0.0
        return gd

    def branch_flows_mw(self, p_mw: np.ndarray, device_mw: np.ndarray | None = None) -> np.ndarray:
        """DC flows ``(periods, branches)`` for the discrete units' outputs ``p_mw`` ``(periods, units)`` and
        the devices' draw ``device_mw`` ``(periods, devices)`` (default: uncontrolled), on pandapower's PTDF
        unrounded (:attr:`line_model_exact`)."""
        base, g, _ = self.line_model_exact
        flows = base + np.asarray(p_mw, dtype=np.float64) @ g.T
        if device_mw is not None and self.devices is not None:
            flows = flows + (np.asarray(device_mw, dtype=np.float64) - self.device_base_mw) @ self.device_ptdf.T
        return flows

    def line_violations(self, p_mw: np.ndarray, device_mw: np.ndarray | None = None, *,
                        tol_mw: float = 1e-6) -> list[str]:
        """Branches over ``line_margin`` of their rating in the DC flow of ``p_mw`` (empty without ``network``).

        The check of any plan, whatever model made it: pandapower's PTDF as it
        is, the limits untightened (:attr:`line_model_exact`).
        """
        if self.dc is None:
            return []
        flows = self.branch_flows_mw(p_mw, device_mw)
        _, _, limit = self.line_model_exact
        out = []
        for t, r in zip(*np.nonzero(np.abs(flows) > limit + tol_mw)):
            out.append(f"period {t}: {self.dc.label(int(r))} carries {abs(flows[t, r]):.4g} MW in the DC flow, "
                       f"over its limit {limit[r]:.4g} MW ({100 * self.line_margin:g}% of its rating)")
        return out

    def cost_eur(self, choice: np.ndarray, device_mw: np.ndarray | None = None) -> float:
        """The objective of a level choice: running, start-up, wear and import costs (EUR), and with the
        devices at ``device_mw`` (default uncontrolled) their import and demand-response discomfort."""
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
            imp = self.import_mw(choice, device_mw)
            total += sum(self.import_cost_eur(t, float(imp[t])) for t in range(self.periods))
        if device_mw is not None and self.devices is not None:
            total += self.devices.discomfort_eur(device_mw, self.periods)
        return float(total)

    # ------------------------------------------------------------------ scoring
    #: The runner scores a dispatch from the whole solution: a ``milp`` solution carries its devices' schedule.
    scores_solutions = True

    def device_schedule(self, solution: Any) -> np.ndarray | None:
        """The devices' schedule a solution carries (``info['device_mw']``; None: uncontrolled)."""
        dev = (getattr(solution, "info", None) or {}).get("device_mw")
        return None if dev is None or self.devices is None else np.asarray(dev, dtype=np.float64)

    def is_feasible(self, bits: np.ndarray | Solution) -> bool:
        """Whether bits (or a solution, with its devices' schedule) keep every constraint."""
        dev = self.device_schedule(bits)
        try:
            choice = self.level_choice(np.asarray(getattr(bits, "bits", bits)))
        except InfeasibleSolutionError:
            return False
        return not self.violations(choice, dev)

    def objective(self, bits: np.ndarray | Solution) -> float:
        """The day's cost (EUR) of bits (or a solution, with its devices' schedule)."""
        dev = self.device_schedule(bits)
        choice = self.level_choice(np.asarray(getattr(bits, "bits", bits)))
        bad = self.violations(choice, dev)
        if bad:
            raise InfeasibleSolutionError("infeasible dispatch: " + "; ".join(bad[:3]))
        return self.cost_eur(choice, dev)

    # ------------------------------------------------------------------ decode
    def decode(self, solution: Solution | np.ndarray) -> DispatchPlan:
        """The dispatch plan of a feasible solution (slack and auxiliary bits are ignored).

        A ``milp`` solution with ``ac`` is emitted as its AC dispatch: each period's
        outputs and voltage set points from the OPF, the losses supplied.  A
        period the OPF could not dispatch (the summary says why) keeps the
        commitment's own lossless outputs, and ``powerflow.json`` lists what
        they break there.
        """
        from optimizer.plans.dispatch import DispatchPlan

        bits = np.asarray(getattr(solution, "bits", solution))
        dev = self.device_schedule(solution)
        choice = self.level_choice(bits)
        bad = self.violations(choice, dev)
        if bad:
            raise InfeasibleSolutionError("infeasible dispatch: " + "; ".join(bad[:3]))
        dev_out = self.device_base_mw if dev is None else dev
        p, on = self._lossless_outputs(choice, dev)
        info = getattr(solution, "info", None)
        acr = (info or {}).get("ac_dispatch")
        if acr is None and self.ac:  # any solver's commitment, re-dispatched in AC (milp brings its own)
            acr = self.ac_dispatch(choice, dev_out if self.devices is not None else None)
            if isinstance(info, dict):
                info["ac_dispatch"] = acr
        if acr is not None:
            ok = acr.converged
            p[ok], on[ok] = acr.p_mw[ok], acr.on[ok]
            vm = np.where(ok[:, None], acr.vm_pu, np.nan)
            failed = acr.failed_periods
            who = getattr(solution, "solver", None) or "bits"
            src = f"{who} + AC OPF" + (f" ({len(failed)} periods without)" if failed else "")
            return DispatchPlan.from_outputs(self, p, on, source=src, objective=self.evaluate_mw(p, on, dev_out),
                                             losses_mw=np.where(ok, acr.losses_mw, 0.0), vm_pu=vm,
                                             device_mw=dev_out)
        solver = getattr(solution, "solver", None)
        return DispatchPlan.from_outputs(self, p, on, source=solver or "bits",
                                         objective=self.cost_eur(choice, dev), device_mw=dev_out)

    def _lossless_outputs(self, choice: np.ndarray, device_mw: np.ndarray | None = None
                          ) -> tuple[np.ndarray, np.ndarray]:
        """Outputs and on/off (periods x :attr:`units`) of a level choice, the import balancing the rest."""
        T, ne = self.periods, len(self.ext_units)
        p = np.zeros((T, len(self.units)))
        on = np.zeros((T, len(self.units)), dtype=bool)
        imp = self.import_mw(choice, device_mw)
        for t in range(T):
            for e in range(ne):
                p[t, e], on[t, e] = imp[t] * self.ext_share[e], True
        p[:, ne:] = self.output_mw(choice)
        on[:, ne:] = choice >= 0
        return p, on

    # ---------------------------------------------------------------- helpers
    def enumerate_choices(self) -> Any:
        """Every level choice (periods x discrete units), for brute force on tiny instances."""
        opts = [range(-1, len(self.level_quanta[i])) for i in range(len(self.discrete))]
        cells = [opts[i] for _ in range(self.periods) for i in range(len(self.discrete))]
        for combo in itertools.product(*cells):
            yield np.array(combo, dtype=np.int64).reshape(self.periods, len(self.discrete))

    # ================================================= construction (levels, windows, variables)

    @staticmethod
    def _check_unit(u: Unit) -> None:
        vals = {"p_min_mw": u.p_min_mw, "p_max_mw": u.p_max_mw, "startup_eur": u.startup_eur}
        for k, v in vals.items():
            if not math.isfinite(v):
                msg = f"unit {u.name!r}: {k} must be finite, got {v!r}"
                raise InvalidInputError(msg)
        if u.p_max_mw < u.p_min_mw:
            msg = f"unit {u.name!r}: p_max_mw {u.p_max_mw:g} is below p_min_mw {u.p_min_mw:g}"
            raise InvalidInputError(msg)
        if u.startup_eur < 0:
            msg = f"unit {u.name!r}: startup_eur must be >= 0, got {u.startup_eur:g}"
            raise InvalidInputError(msg)
        if u.kind != "ext_grid" and u.p_max_mw <= 0:
            msg = f"unit {u.name!r}: p_max_mw must be > 0, got {u.p_max_mw:g}"
            raise InvalidInputError(msg)
        if u.ramp_mw_per_h is not None and u.ramp_mw_per_h < 0:
            msg = f"unit {u.name!r}: ramp_mw_per_h must be >= 0, got {u.ramp_mw_per_h:g}"
            raise InvalidInputError(msg)
        if u.cost.pwl and not u.cost.pwl_convex():
            log.warning("unit %s has a non-convex pwl_cost: the continuous bound will refuse it", u.name)

    def _default_quantum(self, discrete: Sequence[Unit]) -> float:
        steps = []
        for u in discrete:
            lo = 0.0 if u.is_storage else max(0.0, u.p_min_mw)
            span = u.p_max_mw - lo if lo > 0 else u.p_max_mw
            steps.append(span / self.levels if span > 0 else u.p_max_mw)
        return nice_quantum(min(steps) / 4.0)

    def _build_levels(self) -> None:
        q, L = self.quantum_mw, self.levels
        big = max(self.discrete, key=lambda u: u.p_max_mw, default=None)
        if big is not None and big.p_max_mw / q > MAX_QUANTA:
            msg = (f"quantum_mw={q:g} cuts unit {big.name!r} ({big.p_max_mw:g} MW) into {big.p_max_mw / q:,.0f} "
                   f"quanta, more than {MAX_QUANTA:,} (the balance and storage models count in quanta); "
                   f"use quantum_mw >= {big.p_max_mw / MAX_QUANTA:.3g}, or leave it out for the default")
            raise InvalidInputError(msg)
        level_q: list[tuple[int, ...]] = []
        for u in self.discrete:
            if u.is_storage:
                top = math.floor(u.p_max_mw / q + _EPS)
                if top < 1:
                    msg = (f"storage {u.name!r} (p_max {u.p_max_mw:g} MW) is below one quantum_mw={q:g}; "
                           "choose a smaller quantum_mw")
                    raise InvalidInputError(msg)
                ks = sorted({min(max(round(u.p_max_mw * k / L / q), 1), top) for k in range(1, L + 1)})
                level_q.append(tuple(ks) + tuple(-k for k in ks))
                continue
            lo_mw = max(0.0, u.p_min_mw)
            lo, hi = max(1, math.ceil(lo_mw / q - _EPS)), math.floor(u.p_max_mw / q + _EPS)
            if hi < lo:
                msg = (f"unit {u.name!r} ({u.p_min_mw:g}..{u.p_max_mw:g} MW) has no output level on the "
                       f"quantum_mw={q:g} grid; choose a smaller quantum_mw")
                raise InvalidInputError(msg)
            ks = sorted({min(max(round((lo_mw + (u.p_max_mw - lo_mw) * k / L) / q), lo), hi) for k in range(1, L + 1)})
            level_q.append(tuple(ks))
        self.level_quanta: tuple[tuple[int, ...], ...] = tuple(level_q)
        self.level_mw: tuple[tuple[float, ...], ...] = tuple(tuple(k * q for k in ks) for ks in level_q)
        T = self.periods
        # cost of each unit, period and level (EUR for the period), start-ups apart
        self.level_cost: tuple[np.ndarray, ...] = tuple(
            np.array([[u.period_cost_eur(p, self.profile.hours(t)) for p in self.level_mw[i]] for t in range(T)])
            for i, u in enumerate(self.discrete))
        # ext grid shares and limits
        if self.ext_units:
            caps = np.array([max(u.p_max_mw, 0.0) for u in self.ext_units])
            if caps.sum() <= 0:
                msg = "the external grid(s) have no import capacity (max_p_mw <= 0); use balancing='spill'"
                raise InvalidInputError(msg)
            self.ext_share = caps / caps.sum()
            with np.errstate(divide="ignore"):
                lows = [u.p_min_mw / w if w > 0 else -math.inf for u, w in zip(self.ext_units, self.ext_share)]
                highs = [u.p_max_mw / w if w > 0 else math.inf for u, w in zip(self.ext_units, self.ext_share)]
            self.import_min_mw, self.import_max_mw = float(max(lows)), float(min(highs))
            for u in self.ext_units:
                if u.cost.pwl:
                    msg = (f"external grid {u.name!r} has a pwl_cost; the balancing import needs a polynomial "
                           "cost: use balancing='spill' to dispatch it in levels")
                    raise InvalidInputError(msg)
                if u.cost.c2 < 0:
                    msg = f"external grid {u.name!r} has a negative quadratic cost; it must be convex"
                    raise InvalidInputError(msg)
        else:
            self.ext_share = np.zeros(0)
            self.import_min_mw = self.import_max_mw = 0.0

    def _window(self, lo: float, hi: float, reach_lo: int, reach_hi: int, what: str) -> Window:
        ilo = -math.inf if lo == -math.inf else math.ceil(lo - _EPS)
        ihi = math.inf if hi == math.inf else math.floor(hi + _EPS)
        blo, bhi = max(ilo, reach_lo), min(ihi, reach_hi)
        if blo > bhi:
            raise InvalidInputError(what)
        binding = blo > reach_lo or bhi < reach_hi
        return Window(int(blo), int(bhi), slack_coefficients(int(bhi - blo)) if binding else (), binding)

    def _build_windows(self) -> None:
        q, T = self.quantum_mw, self.periods
        net = self.net_load_mw
        reach_lo = sum(min(0, min(ks)) for ks in self.level_quanta)
        reach_hi = sum(max(0, max(ks)) for ks in self.level_quanta)
        self.supply_range_q = (reach_lo, reach_hi)
        wins = []
        for t in range(T):
            d = float(net[t])
            if self.balancing == "ext_grid":
                lo, hi = (d - self.import_max_mw) / q, (d - self.import_min_mw) / q
                what = (f"infeasible day: in period {t} the net load {d:.6g} MW is outside what the units "
                        f"({reach_lo * q:.6g}..{reach_hi * q:.6g} MW) and the external grid's import limits "
                        f"({self.import_min_mw:.6g}..{self.import_max_mw:.6g} MW) can balance; lower the demand "
                        "(load_scale) or add units")
            else:
                lo = d / q
                hi = math.inf if self.spill_max_mw is None else (d + self.spill_max_mw) / q
                what = (f"infeasible day: in period {t} the net load {d:.6g} MW needs a supply the units cannot give "
                        f"(they reach {reach_lo * q:.6g}..{reach_hi * q:.6g} MW in steps of {q:g} MW"
                        + ("" if self.spill_max_mw is None else f", at most {self.spill_max_mw:g} MW above demand")
                        + "); lower the demand (load_scale), add units, or raise spill_max_mw / levels")
            wins.append(self._window(lo, hi, reach_lo, reach_hi, what))
        self.balance_windows: tuple[Window, ...] = tuple(wins)
        self._check_balance_reachable()
        # storage: cumulative net discharge C_t in energy quanta
        eq = q * self.dt_h
        soc = {}
        for i, u in enumerate(self.discrete):
            if not u.is_storage:
                continue
            qmax = max(self.level_quanta[i])
            e0 = round(u.e_init_mwh / eq)
            e_lo, e_hi = round(u.e_min_mwh / eq), round(u.e_max_mwh / eq)
            ws = []
            for t in range(T):
                lo = e0 - e_hi
                hi = min(e0 - e_lo, 0) if t == T - 1 else e0 - e_lo
                what = f"storage {u.name!r} cannot end the day at or above its initial energy"
                ws.append(self._window(lo, hi, -(t + 1) * qmax, (t + 1) * qmax, what))
            soc[i] = tuple(ws)
        self.soc_windows: dict[int, tuple[Window, ...]] = soc
        # minimum up/down (periods) and ramps (MW per period)
        self.min_up = tuple(max(1, math.ceil((u.min_up_h or 0) / self.dt_h - _EPS)) if not u.is_storage else 1
                            for u in self.discrete)
        self.min_down = tuple(max(1, math.ceil((u.min_down_h or 0) / self.dt_h - _EPS)) if not u.is_storage else 1
                              for u in self.discrete)

    def _check_balance_reachable(self) -> None:
        """Why the discrete model has no plan when some period's balance window holds no supply the levels
        can sum to (:attr:`discrete_gap`, None when every window holds one).

        The windows above are checked against the range the units reach; with few
        levels that range has gaps (case9 with ``levels=1``: each unit off or at
        full output, so 0, 250, 300, 550, ... MW and nothing between), and a window
        inside a gap (a net load of 165 MW with ``spill_max_mw=60``) left a model
        that every solver reported infeasible with no word on why.  The continuous
        model (levels anywhere in ``[p_min, p_max]``) may well have a plan, so the
        problem is built; the discrete solvers say this reason.  Ramps, minimum
        times and storage energy are not considered here (a necessary condition).
        Devices that ``milp`` schedules can move the load into reach, so the check
        is left to the solvers there.
        """
        self.discrete_gap: str | None = None
        if self.optimise_devices:
            return
        reach = _reachable_sums(self.level_quanta)
        if not isinstance(reach, np.ndarray):  # too wide to list: the range check stands
            return
        q = self.quantum_mw
        bad = [t for t, w in enumerate(self.balance_windows)
               if not np.any((reach >= w.lo) & (reach <= w.hi))]
        if not bad:
            return
        t = bad[0]
        w = self.balance_windows[t]
        below, above = reach[reach < w.lo], reach[reach > w.hi]
        near = ", ".join(f"{s * q:g} MW" for s in (below[-1:].tolist() + above[:1].tolist()))
        d = float(self.net_load_mw[t])
        fix = f"raise levels (now {self.levels})"
        if self.balancing == "spill":
            need = max(float(reach[reach >= math.ceil(d / q - _EPS)][0]) * q - d
                       for d in map(float, self.net_load_mw) if np.any(reach >= math.ceil(d / q - _EPS)))
            fix += f", allow spill_max_mw >= {math.ceil(need * 1000) / 1000:g}"
        fix += ", or choose a smaller quantum_mw"
        self.discrete_gap = (f"no discrete plan: in period {t} (and {len(bad) - 1} more) the net load {d:.6g} MW "
                             f"needs a supply of {w.lo * q:g}..{w.hi * q:g} MW from the units' levels, and no "
                             f"combination of levels sums to that in steps of {q:g} MW (the nearest: {near}); {fix}")
        log.warning("%s", self.discrete_gap)

    def _build_variables(self) -> None:
        T = self.periods
        labels: list[tuple[Any, ...]] = []
        self.level_var: dict[tuple[int, int, int], int] = {}
        for t in range(T):
            for i, u in enumerate(self.discrete):
                for k in range(len(self.level_quanta[i])):
                    self.level_var[(i, t, k)] = len(labels)
                    labels.append(("x", u.name, t, k))
        self.balance_slack: dict[int, list[int]] = {}
        for t, w in enumerate(self.balance_windows):
            self.balance_slack[t] = []
            for j in range(len(w.slack)):
                self.balance_slack[t].append(len(labels))
                labels.append(("zb", t, j))
        self.soc_slack: dict[tuple[int, int], list[int]] = {}
        for i, ws in self.soc_windows.items():
            for t, w in enumerate(ws):
                self.soc_slack[(i, t)] = []
                for j in range(len(w.slack)):
                    self.soc_slack[(i, t)].append(len(labels))
                    labels.append(("zs", self.discrete[i].name, t, j))
        self.line_slack: dict[tuple[int, int], list[int]] = {}
        for (r, t), w in self.line_windows.items():
            self.line_slack[(r, t)] = []
            for j in range(len(w.slack)):
                self.line_slack[(r, t)].append(len(labels))
                labels.append(("zl", self.dc.label(r), t, j))
        self.start_var: dict[tuple[int, int], int] = {}
        self.stop_var: dict[tuple[int, int], int] = {}
        for i, u in enumerate(self.discrete):
            if self.min_up[i] > 1 or self.min_down[i] > 1:
                for t in range(T):
                    self.start_var[(i, t)] = len(labels)
                    labels.append(("up", u.name, t))
                    self.stop_var[(i, t)] = len(labels)
                    labels.append(("down", u.name, t))
        self.variables: tuple[tuple[Any, ...], ...] = tuple(labels)
        self.ramp_pairs: dict[int, tuple[tuple[int, int], ...]] = {}
        for i, u in enumerate(self.discrete):
            if u.ramp_mw_per_h is None or u.is_storage:
                continue
            r = u.ramp_mw_per_h * self.dt_h
            mw = self.level_mw[i]
            pairs = tuple((a, b) for a in range(len(mw)) for b in range(len(mw)) if abs(mw[a] - mw[b]) > r + 1e-9)
            if pairs:
                self.ramp_pairs[i] = pairs

    # =================================================================== QUBO

    # ------------------------------------------------------------------- QUBO
    def _on_terms(self, i: int, t: int) -> list[tuple[int, float]]:
        """``on[i, t]`` as ``[(var, 1.0), ...]`` over the unit's level bits."""
        return [(self.level_var[(i, t, k)], 1.0) for k in range(len(self.level_quanta[i]))]

    def _supply_terms(self, t: int) -> list[tuple[int, float]]:
        return [(self.level_var[(i, t, k)], float(qk)) for i in range(len(self.discrete))
                for k, qk in enumerate(self.level_quanta[i])]

    @cached_property
    def _cost_parts(self) -> tuple[float, float]:
        """``(UB, LB)`` of the penalty rule (see the module docstring; :mod:`.onehot` for ``encoding="onehot"``)."""
        if self.onehot is not None:
            from optimizer.problems.dispatch.onehot import cost_bounds

            return cost_bounds(self, self.onehot)
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
            net = self.net_load_mw
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
        if self.onehot is not None:
            from optimizer.problems.dispatch.onehot import onehot_qubo

            return onehot_qubo(self, self.onehot, self.penalty)
        from solvers.qubo import QUBOBuilder

        b = QUBOBuilder(self.variables)
        lab = self.variables
        P, T, q = self.penalty, self.periods, self.quantum_mw

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
            net = self.net_load_mw
            for t in range(T):
                a0, a1, a2 = self.import_coefficients(t)
                d = float(net[t])
                # a0 + a1 (d - q S) + a2 (d - q S)^2
                terms = self._supply_terms(t)
                b.add_offset(a0 + a1 * d)
                for v, c in terms:
                    b.add_linear(lab[v], -a1 * q * c)
                if a2:
                    add_square(b, [(v, -q * c) for v, c in terms], d, a2)
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
                add_square(b, terms, -float(w.lo), P)
        for i, ws in self.soc_windows.items():
            for t, w in enumerate(ws):
                if w.binding:
                    terms = [(self.level_var[(i, tau, k)], float(qk)) for tau in range(t + 1)
                             for k, qk in enumerate(self.level_quanta[i])]
                    terms += [(v, -float(c)) for v, c in zip(self.soc_slack[(i, t)], w.slack)]
                    add_square(b, terms, -float(w.lo), P)
        for (r, t), w in self.line_windows.items():
            terms = self._line_terms(r, t) + [(v, -float(c)) for v, c in zip(self.line_slack[(r, t)], w.slack)]
            add_square(b, terms, -float(w.lo), P)
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
            add_square(b, terms, const, P)
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
            "encoding": "levels: L bits per unit-period (storage 2L), off = all zero, at most one",
            "feasible_below": lb + P,
            "quantum_mw": self.quantum_mw, "balancing": self.balancing,
            "line_windows": len(self.line_windows),
            "line_slack_bits": sum(len(v) for v in self.line_slack.values())})

    def to_qubo(self) -> QUBO:
        return self._qubo

    # ========================================================== native models

    # ---------------------------------------------------------- CP-SAT model
    def native_cpsat(self) -> CpSatModel:
        """CP-SAT on the discrete model; ``bits`` are the QUBO's variables in order (slack bits linked).

        The model is built on the level encoding's bits; with ``encoding="onehot"``
        each period's commitment bits are linked to them (one per period, each
        level bit the sum of the commitments that hold it).
        """
        from ortools.sat.python import cp_model

        from solvers.cpsat import CpSatModel

        m = cp_model.CpModel()
        x = [m.new_bool_var(f"v{j}") for j in range(len(self.level_variables))]
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
                d = float(self.net_load_mw[t])
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
        for (r, t), w in self.line_windows.items():  # DC line limits in flow quanta (module docstring)
            flow = sum(int(c) * x[v] for v, c in self._line_terms(r, t))
            m.add(flow == w.lo + sum(int(c) * x[v] for v, c in zip(self.line_slack[(r, t)], w.slack)))
        for i, pairs in self.ramp_pairs.items():
            for t in range(1, T):
                for a, c in pairs:
                    m.add_bool_or([x[self.level_var[(i, t - 1, a)]].Not(), x[self.level_var[(i, t, c)]].Not()])
        for con in _min_up_down_constraints(self, x, on, int):
            m.add(con)
        m.minimize(sum(obj) + offset if obj else offset)
        out = x
        if self.onehot is not None:
            lay = self.onehot
            out = [m.new_bool_var(f"c{j}") for j in range(len(lay.labels))]
            for t in range(T):
                g = [out[j] for j in lay.group(t)]
                m.add_exactly_one(g)
                for i in range(len(self.discrete)):
                    for k in range(len(self.level_quanta[i])):
                        m.add(x[self.level_var[(i, t, k)]] == sum(
                            v for v, row in zip(g, lay.combos[t]) if row[i] == k))
            for v, j in lay.carried.items():
                m.add(out[j] == x[v])
        return CpSatModel(m, out, objective_scale=sc, info={"model": "dispatch-native"})

    # ----------------------------------------------------------- MathOpt MILPs
    def native_solvers(self) -> dict[str, Any]:
        return {"milp": self._solve_milp}

    def _solve_milp(self, *, seed: int | None = None, time_limit_s: float | None = None,
                    max_ac_iterations: int = 10, **options: Any) -> Solution:
        """The discrete model as a MathOpt MILP on HiGHS (bits aligned with the QUBO).

        With ``ac`` (the problem's): the commitment <-> AC loop (:mod:`optimizer.problems.dispatch.ac`).
        Each period of the commitment is re-dispatched by pandapower's AC OPF, the
        devices at the MILP's schedule.  A period ``t`` with no AC-feasible dispatch
        is repaired by probing the OPF (:meth:`_ac_repair`): every unit running at
        the devices' scheduled draw, else at their uncontrolled draw; then the
        fewest of the units that were off (a binary search over an order: most
        reactive power first) that make it dispatch.  A unit more gives the OPF more
        active and reactive range (the premise, stated not proved: a unit's
        ``p_min`` can break it; every round checks).  Then:

        * the added units run in the AC stage, the MILP's commitment otherwise
          kept, where they have no minimum up/down times (each period of their own;
          the plan pays their running and start-up costs), and the devices keep
          their schedule: the next round re-dispatches, and nothing is solved again;
        * where the devices must draw otherwise (their uncontrolled draw in ``t``)
          or an added unit has minimum times, the MILP is solved again with the
          repaired periods *locked*: at each bus the devices draw what the probe
          gave them, the units with minimum times run.

        At most ``max_ac_iterations`` rounds.  A period that fails with every
        unit on at either device draw has no AC dispatch: the summary names it and
        why.  The OPF runs once per distinct period input (commitment, storage,
        device draws; the previous outputs where ramps bind), so a round re-runs it
        only where something changed.  The last AC dispatch rides in
        ``info['ac_dispatch']`` and :meth:`decode` emits it; ``info`` also says
        which units the AC stage added (``ac_added_units``), how many OPFs ran
        (``ac_opf_runs``) and MILPs were solved (``ac_milp_solves``).
        """
        from solvers.solution import Solution, Status

        t0 = time.perf_counter()
        ac = self.ac
        locks: dict[int, tuple[tuple[bool, ...], np.ndarray | None]] = {}  # the MILP's
        extra: dict[int, tuple[bool, ...]] = {}  # units the AC stage runs beyond the MILP's commitment
        hopeless: dict[int, str] = {}
        cache: dict[Any, Any] = {}
        check_dispatch_options({"max_ac_iterations": max_ac_iterations})
        acr = None
        res, x, dv = self._milp_solve([], seed=seed, time_limit_s=time_limit_s)
        iteration, stuck, milp_solves = 1, "", 1
        free = [self.min_up[i] <= 1 and self.min_down[i] <= 1 for i in range(len(self.discrete))]
        while ac and res.has_primal_feasible_solution():
            vals = res.variable_values()
            choice = self._level_layout_choice(np.array([1 if vals[v] > 0.5 else 0 for v in x], dtype=np.uint8))
            dev = dv.values(vals) if dv is not None else (self.device_base_mw if self.devices is not None else None)
            acr = self.ac_dispatch(choice, dev, cache=cache, extra_on=extra)
            todo = [t for t in acr.failed_periods if t not in hopeless]
            if not todo:
                break
            if iteration >= max_ac_iterations:
                stuck = f"the commitment <-> AC loop stopped after {iteration} rounds (--max-ac-iterations)"
                break
            resolve = False
            for t in todo:
                running = [bool(choice[t, i] >= 0) or u.is_storage or (t in extra and extra[t][i])
                           for i, u in enumerate(self.discrete)]
                lock, why = self._ac_repair(choice, dev, t, cache, running=running, optimised=dv is not None)
                if lock is None:
                    hopeless[t] = why
                    continue
                must, dev_t = lock
                extra[t] = must
                locks[t] = lock
                added = [i for i in range(len(must)) if must[i] and not running[i]]
                # the MILP solves again where the AC stage alone cannot carry the fix: the devices must draw
                # otherwise, or an added unit has minimum up/down times the period alone cannot keep
                if (dev is not None and dev_t is not None and not np.allclose(dev_t, dev[t], atol=1e-9)) or \
                        any(not free[i] for i in added):
                    resolve = True
            if all(t in hopeless for t in todo):
                break
            iteration += 1
            if not resolve:  # the same commitment, the added units run in the AC stage: re-dispatch only
                log.info("AC OPF: periods %s dispatch with more units running (%d)", todo, iteration - 1)
                continue
            log.info("AC OPF: periods %s need the devices moved; lock and solve again (%d)", todo, iteration - 1)
            nxt = self._milp_solve([], seed=seed, time_limit_s=time_limit_s,
                                   locks={t: (tuple(m and not free[i] for i, m in enumerate(must)), d)
                                          for t, (must, d) in locks.items()})
            milp_solves += 1
            if not nxt[0].has_primal_feasible_solution():
                stuck = (f"with {len(locks)} periods locked to an AC-feasible commitment the commitment model has "
                         f"no solution ({nxt[0].termination.reason.name})")
                iteration -= 1
                break
            res, x, dv = nxt
        if hopeless:
            t = min(hopeless)
            stuck = "; ".join(filter(None, [stuck, f"periods {sorted(hopeless)} have no AC-feasible dispatch even "
                                                   f"with every unit running ({hopeless[t]})"]))
        opf_runs = len(cache)
        reason = res.termination.reason.name
        has = res.has_primal_feasible_solution()
        levels = None
        if has:
            vals = res.variable_values()
            bits = np.array([1 if vals[v] > 0.5 else 0 for v in x], dtype=np.uint8)
            levels = self._level_layout_choice(bits)
            if self.onehot is not None:
                bits = bits_of(self, self.onehot, levels, bits)
            bound = float(res.termination.objective_bounds.dual_bound)
            if dv is not None:  # the batteries' throughput tie-break is no cost of the plan
                bound -= dv.tiebreak_max_eur
            status = Status.OPTIMAL if reason == "OPTIMAL" else Status.FEASIBLE
        else:
            bits, bound = np.zeros(len(self.variables), dtype=np.uint8), None
            status = Status.INFEASIBLE if reason == "INFEASIBLE" else Status.TIMEOUT
        info: dict[str, Any] = {"termination": reason, "objective": float(res.objective_value()) if has else None}
        if not has and getattr(self, "discrete_gap", None):
            info["infeasible_why"] = self.discrete_gap
        if self.devices is not None:
            info["device_policy"] = "optimised" if dv is not None else "uncontrolled"
            if dv is not None and has:
                info["device_mw"] = dv.values(res.variable_values())
        if ac:
            info.update(opf_iterations=iteration, ac_failed_periods=acr.failed_periods if acr else None,
                        ac_cuts=len(locks), ac_locked_periods=sorted(locks), ac_opf_runs=opf_runs,
                        ac_milp_solves=milp_solves,
                        ac_added_units={int(t): [self.discrete[i].name for i in range(len(m))
                                                 if m[i] and not (levels is not None and levels[t, i] >= 0)]
                                        for t, m in extra.items()},
                        ac_failures=acr.failures if acr else [], ac_stopped=stuck or None)
            if locks and status is Status.OPTIMAL:
                bound = None  # the cuts' premise is a heuristic: the optimum is the cut model's, not a bound
            if acr is not None:
                info["ac_dispatch"] = acr
        return Solution(bits, float("nan"), status, "milp", bool(has), time.perf_counter() - t0, bound, "native",
                        {"solver": "HiGHS (MathOpt)"},
                        info=info, decision=levels)

    def _milp_once(self, cuts: Sequence[tuple[int, tuple[bool, ...]]], *, seed: int | None,
                   time_limit_s: float | None) -> tuple[Any, list[Any]]:
        """Build and solve the discrete MILP once, with cover ``cuts`` ``(period, on per unit)``: the result
        and the bits' variables (:meth:`_milp_solve` adds the devices' variables)."""
        res, x, _ = self._milp_solve(cuts, seed=seed, time_limit_s=time_limit_s)
        return res, x

    def _milp_solve(self, cuts: Sequence[tuple[int, tuple[bool, ...]]], *, seed: int | None,
                    time_limit_s: float | None,
                    locks: Mapping[int, tuple[tuple[bool, ...], np.ndarray | None]] | None = None,
                    dv_locks: bool = True) -> tuple[Any, list[Any], DeviceVariables | None]:
        """Build and solve the discrete MILP once, with cover ``cuts`` ``(period, on per unit)`` and the AC
        loop's ``locks`` ``{period: (units that must run, device draws (devices,) or None)}``.

        With ``optimise_devices`` the devices are continuous variables
        (:mod:`~optimizer.problems.dispatch.flexible`); each period's balance then
        holds in MW (the import within its limits, or the supply covering the
        demand) instead of the QUBO's integer window, and the import cost is the
        secant interpolation of its convex curve at whole quanta of the
        *effective* supply ``S - delta / q`` (``delta`` what the devices draw
        beyond their uncontrolled schedule), exact where ``delta = 0``.
        """
        from ortools.math_opt.python import mathopt

        from optimizer.problems.dispatch.flexible import add_devices, delta_range, device_flow

        mdl = mathopt.Model(name="dispatch-discrete")
        x = [mdl.add_binary_variable(name=f"v{j}") for j in range(len(self.level_variables))]
        T, q = self.periods, self.quantum_mw
        obj: list[Any] = []
        dv = add_devices(mdl, self) if self.optimise_devices else None
        if dv is not None:
            obj.extend(dv.objective)
            d_lo, d_hi = delta_range(self)

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
            if dv is not None:
                self._device_balance(mdl, t, supply, dv.delta[t], float(d_lo[t]), float(d_hi[t]), obj)
                for v in self.balance_slack[t]:  # the QUBO's slack has no role here
                    mdl.add_linear_constraint(x[v] == 0)
                continue
            if w.binding:
                mdl.add_linear_constraint(supply == w.lo + mathopt.fast_sum(
                    float(c) * x[v] for v, c in zip(self.balance_slack[t], w.slack)))
            if self.ext_units:
                d = float(self.net_load_mw[t])
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
        if dv is not None and self.dc is not None:  # devices move: the flows in MW, continuous device draws
            base, g, limit, watched = self.line_model
            for t in range(T):
                p_t = [mathopt.fast_sum(float(q * qk) * x[self.level_var[(i, t, k)]]
                                        for k, qk in enumerate(self.level_quanta[i])) for i in range(len(self.discrete))]
                for r in np.flatnonzero(watched):
                    flow = float(base[t, r]) + mathopt.fast_sum(float(g[r, i]) * p_t[i]
                                                                 for i in range(len(p_t)) if g[r, i] != 0.0)
                    flow = flow + device_flow(self, dv, t, r)
                    mdl.add_linear_constraint(flow <= float(limit[r]))
                    mdl.add_linear_constraint(flow >= -float(limit[r]))
            for vs in self.line_slack.values():  # the QUBO's line windows (uncontrolled devices) do not apply
                for v in vs:
                    mdl.add_linear_constraint(x[v] == 0)
        else:
            for (r, t), w in self.line_windows.items():  # DC line limits in flow quanta, as CP-SAT and the QUBO
                flow = mathopt.fast_sum(float(c) * x[v] for v, c in self._line_terms(r, t))
                mdl.add_linear_constraint(flow == w.lo + mathopt.fast_sum(
                    float(c) * x[v] for v, c in zip(self.line_slack[(r, t)], w.slack)))
        for t, pattern in cuts:  # cover cuts: a unit that was off in period t runs
            mdl.add_linear_constraint(mathopt.fast_sum(on(i, t) for i, was in enumerate(pattern) if not was) >= 1)
        for t, (must, dev_t) in (locks or {}).items():  # the AC loop's locks: an AC-feasible period stays so
            for i, run in enumerate(must):
                if run and not self.discrete[i].is_storage:
                    mdl.add_linear_constraint(on(i, t) >= 1)
            if dev_t is not None and dv is not None and dv_locks:  # each bus's devices draw what the OPF saw
                at: dict[int, list[int]] = {}
                for j, b in enumerate(self.devices.buses):
                    at.setdefault(int(b), []).append(j)
                for js in at.values():
                    want = float(sum(dev_t[j] for j in js))
                    expr = mathopt.fast_sum(dv.draw[t][j] for j in js)
                    mdl.add_linear_constraint(expr <= want + _LOCK_TOL_MW)
                    mdl.add_linear_constraint(expr >= want - _LOCK_TOL_MW)
        mdl.minimize(mathopt.fast_sum(obj) + const)
        res = mathopt_solve(mdl, time_limit_s=time_limit_s, seed=seed)
        return res, x, dv

    def _ac_repair(self, choice: np.ndarray, device_mw: np.ndarray | None, t: int, cache: dict[Any, Any], *,
                   running: Sequence[bool] | None = None, optimised: bool = True) -> tuple[tuple[tuple[bool, ...], np.ndarray | None] | None, str]:
        """A lock for period ``t``, whose commitment in ``choice`` has no AC dispatch: ``((units that must
        run, the devices' draw in t), "")``, or ``(None, why)`` when the OPF finds none even with every
        unit running.

        The probes (single-period OPFs): every unit running at the devices' scheduled draw ``device_mw[t]``,
        else at their uncontrolled draw (a point the device model always admits); then, at the first that
        dispatches, a binary search for the fewest of the units that were off (ordered by the reactive power
        each gives in that all-running dispatch, then by their cost at their lowest level plus start-up)
        that, added to the commitment, dispatch.
        """
        from optimizer.problems.dispatch.ac import ac_dispatch

        T, ne, n = self.periods, len(self.ext_units), len(self.discrete)
        pattern = tuple(bool(choice[t, i] >= 0) or self.discrete[i].is_storage for i in range(n)) \
            if running is None else tuple(bool(r) for r in running)
        p = np.zeros((T, len(self.units)))
        p[:, ne:] = self.output_mw(choice)

        q_all = np.zeros(len(self.units))

        def dispatches(run: Sequence[bool], dev: np.ndarray | None) -> tuple[bool, str]:
            on = np.ones((T, len(self.units)), dtype=bool)
            on[t, ne:] = run
            r = ac_dispatch(self, on, p, periods=[t], device_mw=dev, cache=cache)
            if r.q_mvar is not None and all(run):
                q_all[:] = r.q_mvar[t]
            return bool(r.converged[t]), (r.failures[0] if r.failures else "")

        rows = [device_mw]
        if self.devices is not None and optimised and device_mw is not None:
            base = np.array(device_mw, dtype=np.float64)
            base[t] = self.device_base_mw[t]
            if not np.allclose(base[t], device_mw[t], atol=1e-9):
                rows.append(base)
        dev, why = None, ""
        for cand in rows:
            ok, why = dispatches((True,) * n, cand)
            if ok:
                dev = cand
                break
        else:
            return None, why
        off = [i for i in range(n) if not pattern[i]]
        # first the units that, all running, give the most reactive power (what a failed period lacks, mostly:
        # case118's low voltages), then the cheapest to run
        off.sort(key=lambda i: (-round(abs(float(q_all[ne + i])), 3),
                                float(self.level_cost[i][t, 0]) + self.discrete[i].startup_eur, i))
        lo, hi = (0 if dev is device_mw else -1), len(off)  # pattern + off[:lo] fails (-1: unknown); off[:hi] runs
        while hi - lo > 1:
            mid = (lo + hi) // 2
            run = list(pattern)
            for i in off[:mid]:
                run[i] = True
            if dispatches(run, dev)[0]:
                hi = mid
            else:
                lo = mid
        must = list(pattern)
        for i in off[:hi]:
            must[i] = True
        return (tuple(must), None if dev is None else np.array(dev[t], dtype=np.float64)), ""

    def _device_balance(self, mdl: Any, t: int, supply: Any, delta: Any, d_lo: float, d_hi: float,
                        obj: list[Any]) -> None:
        """Period ``t``'s balance in MW with the devices drawing ``delta`` beyond their uncontrolled schedule."""
        q = self.quantum_mw
        d = float(self.net_load_mw[t])
        if not self.ext_units:
            mdl.add_linear_constraint(q * supply >= d + delta)
            if self.spill_max_mw is not None:
                mdl.add_linear_constraint(q * supply <= d + delta + self.spill_max_mw)
            return
        m = d + delta - q * supply  # the import
        if math.isfinite(self.import_min_mw):
            mdl.add_linear_constraint(m >= self.import_min_mw)
        if math.isfinite(self.import_max_mw):
            mdl.add_linear_constraint(m <= self.import_max_mw)
        a0, a1, a2 = self.import_coefficients(t)
        if a2 == 0:
            obj.append(a0 + a1 * m)
            return
        # the effective supply s' = (d - m) / q = S - delta / q, over every value it can reach
        r_lo, r_hi = self.supply_range_q
        lo = r_lo - d_hi / q
        hi = r_hi - d_lo / q
        if math.isfinite(self.import_max_mw):
            lo = max(lo, (d - self.import_max_mw) / q)
        if math.isfinite(self.import_min_mw):
            hi = min(hi, (d - self.import_min_mw) / q)
        s_lo, s_hi = math.floor(lo - _EPS), math.ceil(hi + _EPS)
        stride = max(1, math.ceil((s_hi - s_lo) / MAX_SECANTS))
        pts = list(range(s_lo, s_hi + 1, stride))
        if pts[-1] != s_hi:
            pts.append(s_hi)
        if len(pts) < 2:
            pts = [s_lo, s_lo + 1]
        cv = mdl.add_variable(lb=-math.inf, name=f"import_cost[{t}]")
        eff = supply - (1.0 / q) * delta
        for s0, s1 in zip(pts, pts[1:]):
            f0, f1 = self.import_cost_eur(t, d - q * s0), self.import_cost_eur(t, d - q * s1)
            mdl.add_linear_constraint(cv >= f0 + (f1 - f0) / (s1 - s0) * (eff - s0))
        obj.append(cv)

    def ac_dispatch(self, choice: np.ndarray, device_mw: np.ndarray | None = None, *,
                    cache: dict[Any, Any] | None = None,
                    extra_on: Mapping[int, Sequence[bool]] | None = None) -> ACDispatch:
        """Each period of a level choice re-dispatched by pandapower's AC OPF (commitment kept), the devices
        drawing ``device_mw`` (periods x devices; default their uncontrolled schedule) at their buses
        (``cache``: see :func:`~optimizer.problems.dispatch.ac.ac_dispatch`)."""
        from optimizer.problems.dispatch.ac import ac_dispatch

        ne = len(self.ext_units)
        T = self.periods
        on = np.ones((T, len(self.units)), dtype=bool)
        p = np.zeros((T, len(self.units)))
        on[:, ne:] = choice >= 0
        for t, run in (extra_on or {}).items():  # units the AC loop runs beyond the commitment (free in the OPF)
            on[t, ne:] |= np.asarray(run, dtype=bool)
        p[:, ne:] = self.output_mw(choice)
        if self.devices is not None and device_mw is None:
            device_mw = self.device_base_mw
        return ac_dispatch(self, on, p, device_mw=device_mw, cache=cache)

    # ==================================================== continuous levels
    def solve_continuous(self, *, commitment: str = "free", time_limit_s: float | None = None,
                         tangents: int | None = None) -> ContinuousResult:
        """The continuous-level MILP (:func:`~optimizer.problems.dispatch.continuous.solve_continuous`)."""
        kw = {} if tangents is None else {"tangents": tangents}
        return solve_continuous(self, commitment=commitment, time_limit_s=time_limit_s, **kw)


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
        out: dict[str, Any] = {"continuous_bound_eur": bound, "network_constrained": self.network,
                               "ac_dispatch": self.ac}
        if self.dc is not None:
            _, _, _, watched = self.line_model
            out["network"] = {"model": "DC power flow (pandapower PTDF)", "branches": len(self.dc.branches),
                              "branches_watched": int(watched.sum()), "line_margin": self.line_margin,
                              "line_rounding": self.line_rounding, "line_windows": len(self.line_windows),
                              "line_slack_bits": sum(len(w.slack) for w in self.line_windows.values())}
        return out

    def _continuous(self, time_limit_s: float | None = None) -> ContinuousResult:
        cache = self.__dict__.setdefault("_continuous_cache", {})
        if time_limit_s not in cache:
            cache[time_limit_s] = solve_continuous(self, time_limit_s=time_limit_s)
        return cache[time_limit_s]

    def evaluate_mw(self, p_mw: np.ndarray, on: np.ndarray, device_mw: np.ndarray | None = None) -> float:
        """The exact cost of outputs ``p_mw`` (periods x :attr:`units`, storage discharge positive), plus the
        devices' discomfort at ``device_mw`` (periods x devices) where given."""
        total = 0.0
        if device_mw is not None and self.devices is not None:
            total += self.devices.discomfort_eur(device_mw, self.periods)
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
        from optimizer.plans.dispatch import DispatchPlan

        r = result or self._continuous()
        if not np.isfinite(r.objective_eur):
            msg = f"the continuous model found no dispatch ({r.status})"
            raise InfeasibleSolutionError(msg)
        dev = r.device_mw if r.device_mw is not None else (self.device_base_mw if self.devices is not None else None)
        return DispatchPlan.from_outputs(self, r.p_mw, r.on, source="milp-continuous", objective=r.objective_eur,
                                         device_mw=dev)


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

def _set_slack(bits: np.ndarray, idx: list[int], coefs: tuple[int, ...], value: int) -> None:
    """Set slack bits to encode ``value`` (greedy from the largest coefficient; a line window's few
    coefficients, which need not be the bounded-coefficient ones, by trying their subsets)."""
    rest = int(value)
    for j in sorted(range(len(coefs)), key=lambda j: -coefs[j]):
        if coefs[j] <= rest:
            bits[idx[j]] = 1
            rest -= coefs[j]
    if rest == 0:
        return
    for j in idx:
        bits[j] = 0
    if len(coefs) <= 12:
        for pick in itertools.product((0, 1), repeat=len(coefs)):
            if sum(c * b for c, b in zip(coefs, pick)) == value:
                for j, b in zip(idx, pick):
                    bits[j] = b
                return
    msg = f"slack value {value} is not a sum of the slack coefficients {coefs}"
    raise InfeasibleSolutionError(msg)


#: The most level combinations of one period whose line flows are enumerated (else each branch's window
#: covers every flow its units can reach, with bounded-coefficient slack).
MAX_LINE_COMBOS = 4096


def _coarsen(coef: Sequence[Sequence[int]], combos: np.ndarray, flows: np.ndarray, lo: int,
             hi: int) -> tuple[tuple[tuple[int, ...], ...], np.ndarray, int, int]:
    """Coarser flow quanta for one (branch, period) that keep its verdict on every admitted combination.

    ``coef`` holds each unit's flow per level in flow quanta, ``combos`` the admitted level
    combinations (rows, ``-1`` off) and ``flows`` their flows; ``lo..hi`` is the limit.  Returns
    ``(coef', flows', lo', hi')`` with ``coef' = round(coef / k)`` for the largest power of two ``k``
    such that the combinations within ``lo'..hi'`` (the least and greatest coarse flow of those
    within the limit) are exactly those within ``lo..hi``: a narrower window, so fewer slack bits,
    for the same feasible set.

    Examples
    --------
    Flows 0, 3, 101 and 104 quanta, the limit 100: 101 and 104 are out.  In steps of 64 the flows
    are 0, 0, 2 and 2 quanta, and the window 0..0 keeps exactly the first two:

    >>> coef, f, lo, hi = _coarsen([[3], [101]], np.array([[-1, -1], [0, -1], [-1, 0], [0, 0]]),
    ...                            np.array([0, 3, 101, 104]), -100, 100)
    >>> coef, f.tolist(), lo, hi
    (((0,), (2,)), [0, 0, 2, 2], 0, 0)
    """
    ok = (flows >= lo) & (flows <= hi)
    top = max((abs(c) for cs in coef for c in cs), default=0)
    k = 1 << max(top.bit_length() - 1, 0)
    while k > 1:
        cs = tuple(tuple(int(round(c / k)) for c in row) for row in coef)
        table = [np.array([0, *row], dtype=np.int64) for row in cs]
        f = sum(table[i][combos[:, i] + 1] for i in range(combos.shape[1]))
        clo, chi = int(f[ok].min()), int(f[ok].max())
        if not ((f >= clo) & (f <= chi) & ~ok).any():
            return cs, f, clo, chi
        k //= 2
    return tuple(tuple(int(c) for c in row) for row in coef), flows, lo, hi


def _compact_window(flows: np.ndarray, lo: int, hi: int) -> Window:
    """The window ``lo <= f <= hi`` over the flows ``f`` (sorted, distinct) a period's admitted level
    combinations give, with the fewest slack coefficients ``c`` found such that ``f - blo`` is a subset
    sum of ``c`` exactly for the ``f`` inside (``blo`` the least of them): the penalty
    ``(f - blo - z)**2`` is then 0 for some slack ``z`` exactly when ``f`` is within the limit.

    Tried: every set of at most three coefficients drawn from the distances between flows inside,
    then the bounded-coefficient encoding of ``0..bhi-blo``, which always works.

    Examples
    --------
    Two units with flows -30 and -41 quanta on a branch whose limit admits -41..0: both on (-71) is
    out; the flows inside, 0, -30 and -41, are -41 + {41, 11, 0}:

    >>> _compact_window(np.array([-71, -41, -30, 0]), -41, 50)
    Window(lo=-41, hi=0, slack=(11, 30), binding=True)
    >>> slack_coefficients(41)
    (1, 2, 4, 8, 16, 10)
    """
    inside = flows[(flows >= lo) & (flows <= hi)]
    blo, bhi = int(inside[0]), int(inside[-1])
    need = {int(f) - blo for f in inside}
    avoid = {int(f) - blo for f in flows if not lo <= f <= hi}
    full = slack_coefficients(bhi - blo)
    cands = sorted({abs(a - b) for a in need for b in need if a != b})[:48]
    for k in range(min(3, len(full))):
        for cs in itertools.combinations(cands, k):
            sums = {0}
            for c in cs:
                sums |= {z + c for z in sums}
            if need <= sums and not (avoid & sums):
                return Window(blo, bhi, tuple(cs), True)
    return Window(blo, bhi, full, True)


#: The most secants of one period's import cost in the ``milp`` model with devices (a coarser stride beyond).
MAX_SECANTS = 400


#: PTDF entries below this (MW per MW) are the factorisation's round-off (pandapower's PTDF reproduces its own
#: DC power flow to 1e-12); kept, they make HiGHS fail with an internal error on case118.
PTDF_ZERO = 1e-9


def check_dispatch_options(options: Any) -> None:
    """Check ``milp``'s options (InvalidOptionError naming the option).

    >>> check_dispatch_options({"max_ac_iterations": 0})
    Traceback (most recent call last):
    ...
    solvers.errors.InvalidOptionError: option 'max_ac_iterations' of solver 'milp' must be in [1, 100], got 0
    """
    from solvers.options import check_range

    check_range("milp", "max_ac_iterations", options.get("max_ac_iterations", 5), low=1, high=100, integer=True)



def _ptdf_step(g: np.ndarray, m: np.ndarray, tol_mw: float) -> tuple[float, np.ndarray, float]:
    """``(step, rounded, err)``: the coarsest step in ``1, 0.5, 0.25, 0.2, 0.1, ...`` whose rounding of ``g``
    moves the flow by at most ``tol_mw`` for outputs ``|p_i| <= m_i`` (``err = sum |g - rounded| m``).

    Examples
    --------
    >>> s, r, e = _ptdf_step(np.array([-1.0, 0.0]), np.array([300.0, 240.0]), 1.0)
    >>> float(s), r.tolist(), float(e)
    (1.0, [-1.0, 0.0], 0.0)
    >>> s, r, e = _ptdf_step(np.array([0.3612, -0.6153]), np.array([100.0, 100.0]), 1.0)
    >>> float(s), [round(x, 6) for x in r.tolist()], round(float(e), 6)
    (0.02, [0.36, -0.62], 0.59)
    """
    for e in range(0, 13):
        for mant in (1.0, 0.5, 0.25, 0.2):
            step = float(f"{mant * 10.0**-e:.12g}")
            rounded = step * np.round(g / step)
            err = float(np.abs(g - rounded) @ m)
            if err <= tol_mw:
                return step, rounded, err
    return step, rounded, err  # 1e-13: below any rating's tolerance


#: The widest integer flow range whose reachable values are enumerated (else the reach's interval is used).
_MAX_REACH = 1 << 20


def _reachable_sums(coef: Sequence[Sequence[int]]) -> np.ndarray | tuple[int, int]:
    """The sorted sums of one coefficient (or none, "off") per group; ``(min, max)`` when too wide to list.

    Examples
    --------
    >>> _reachable_sums([[-5], [-4]]).tolist()
    [-9, -5, -4, 0]
    """
    lo = sum(min(0, *cs) for cs in coef)
    hi = sum(max(0, *cs) for cs in coef)
    if hi - lo > _MAX_REACH:
        return lo, hi
    have = np.zeros(1, dtype=bool)
    have[0] = True
    a = 0  # the value of have[0]
    for cs in coef:
        vals = sorted({0, *cs})
        na = a + vals[0]
        new = np.zeros(len(have) + vals[-1] - vals[0], dtype=bool)
        for v in vals:
            off = a + v - na
            new[off:off + len(have)] |= have
        have, a = new, na
    return np.flatnonzero(have) + a
