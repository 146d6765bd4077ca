r"""Cross-check of the dispatch MILP with an independent tool: the same unit commitment in PyPSA.

:func:`pypsa_network` states a :class:`~optimizer.problems.dispatch.problem.Dispatch`
as a PyPSA network (PyPSA builds its own linopy model and solves it with HiGHS),
and :func:`crosscheck` solves both and compares them.

Which cityopt model is the like-for-like one
--------------------------------------------
PyPSA's committable components are on/off with an output anywhere in
``[p_min, p_max]`` while on: that is cityopt's *continuous-level* MILP
(:func:`~optimizer.problems.dispatch.continuous.solve_continuous`), not the
``milp`` solver, which decides the *discrete* model (each unit off or at one of
``levels`` output levels, ``levels=1`` meaning full output) and so has a higher
optimum.  The cross-check compares PyPSA with ``solve_continuous``.

The same data, term by term
---------------------------
* **Loads**: every in-service load of the profile at its own bus, per period
  (``DayProfile.load_p_mw``); renewable sgens as generators fixed at the
  profile's output (must-take, as in cityopt's net load).
* **Periods**: one snapshot per period, weighted by its length in hours, so
  marginal costs (EUR/MWh) and stand-by costs (EUR/h) are paid per period as
  cityopt pays them; start-up costs once per start.
* **Units** (``prob.discrete``): each a committable PyPSA ``Link`` of
  ``p_nom = p_max`` and ``p_min_pu = p_min / p_max`` from a private cost bus to
  the unit's bus, with its ``start_up_cost``, minimum up/down times (in
  periods, as cityopt rounds them) and the state before the day
  (``initial_on``: up before, so no start-up in period 0).  Generators on the
  cost bus price the output: its running cost is the *same convex
  piecewise-linear function* cityopt's MILP minimises, not an approximation of
  it.  A quadratic cost ``c0 + c1 p + c2 p**2`` is, in cityopt, the upper
  envelope of ``tangents`` tangents at evenly spaced points ``z_k`` of
  ``[p_lo, p_max]``; here it is a chain of cost-bus generators, the ``k``-th
  covering ``[m_{k-1}, m_k]`` (``m_k`` the midpoint of ``z_k, z_{k+1}``, where
  the tangents meet) at the tangent's slope ``c1 + 2 c2 z_k``, and the
  committable link's stand-by cost ``c0 - c2 z_1**2`` (EUR/h while on) adds
  the first tangent's intercept.  Convex slopes fill in order, so the cost of
  output ``p`` is the envelope at ``p``.  A pwl cost becomes one generator per
  segment, a linear cost one generator.  (PyPSA's ``marginal_cost_quadratic``
  would need an MIQP, which HiGHS does not solve.)
* **External grid** (``balancing="ext_grid"``): a chain of generators at the
  external grid's bus, the import ``m`` within ``[import_min, import_max]``,
  priced by the same envelope of ``2 * tangents`` tangents cityopt uses for the
  import cost ``a0 + a1 m + a2 m**2``; the constant terms (``a0`` and the first
  tangent's intercept, paid every period) are the network's
  ``meta["objective_constant_eur"]``.  ``balancing="spill"``: the external
  grids are units like the others and a zero-cost sink at the first unit's bus
  takes at most ``spill_max_mw`` of surplus.
* **Network**: the net's in-service buses, lines (``x`` in ohm) and two-winding
  transformers (``x`` per unit on ``sn_mva``), built here from the pandapower
  tables: pypsa 1.2.4's ``Network.import_from_pandapower_net`` refuses case118
  ("Names for Load must be unique": its loads have no names), ignores
  ``in_service`` and rates lines at ``vn_kv * max_i_ka`` without the
  ``sqrt(3)``.  ``line_limits=False`` (the default) leaves every branch
  unlimited, so a connected net is a copper plate, like cityopt's MILP without
  ``network``.  ``line_limits=True`` rates each line at ``sqrt(3) vn_kv max_i_ka
  parallel df`` MVA and each transformer at ``sn_mva parallel``: PyPSA's DC
  power flow with limits, which is what cityopt's continuous MILP states for a
  ``Dispatch(network=True, line_margin=1.0)`` (pandapower's PTDF, the same
  ratings): the two optima then agree too.  Against a copper-plate problem,
  PyPSA's optimum with limits is only bounded below by cityopt's.

Not stated (refused, naming the unit): storage (PyPSA's ``StorageUnit`` has no
minimum state of charge nor "end at or above the initial energy"), ramp limits
(PyPSA 1.2.4's committable ramp-down rule binds at shut-down, cityopt lets a
stopping unit jump), and several external grids with line limits (cityopt
splits the import in proportion to capacity, which PyPSA cannot state).

PyPSA is imported inside the functions (the optional ``crosscheck`` extra).

Examples
--------
>>> from optimizer.problems.dispatch.problem import Dispatch
>>> from optimizer.problems.dispatch.crosscheck import crosscheck, pypsa_network
>>> prob = Dispatch.from_grid("case9", periods=4)
>>> n = pypsa_network(prob)
>>> sorted(n.links.index), len(n.lines), len(n.generators)   # 32 tangents per generator, 64 for the import
(['gen 0', 'gen 1'], 9, 128)

``crosscheck(prob, time_limit_s=60)`` then solves both and returns the figures
(``rel_diff``, ``agree``, ...; see :func:`crosscheck`).
"""

from __future__ import annotations

import logging
import math
import time
import warnings
from typing import TYPE_CHECKING, Any

import numpy as np

from optimizer.errors import InvalidInputError
from optimizer.problems.dispatch.continuous import TANGENTS, solve_continuous

if TYPE_CHECKING:  # pragma: no cover
    import pypsa

    from optimizer.inputs.grid import Unit
    from optimizer.problems.dispatch.problem import Dispatch

__all__ = ["TOLERANCE", "crosscheck", "pypsa_network", "solve_network"]

log = logging.getLogger(__name__)

#: The agreement asked of the two optima (relative).
TOLERANCE = 1e-3
#: HiGHS's MIP gaps for both models (those of cityopt's ``mathopt_solve``).
REL_GAP, ABS_GAP = 1e-7, 1e-6


def _bus(idx: int) -> str:
    return f"bus {int(idx)}"


def _segments(lo: float, hi: float, c1: np.ndarray, c2: float, points: int) -> tuple[list, float]:
    """The tangent envelope of ``c1 p + c2 p**2`` on ``[lo, hi]`` as ``[(start, end, slopes), ...]``.

    ``slopes`` has one value per period (``c1`` may vary by period); returns the
    segments and the first tangent's intercept ``-c2 z_1**2``.  The first
    segment starts at ``lo`` and the others continue it, so their lengths add up
    to ``hi - lo``.  Zero-length pieces are dropped.

    Tangents of ``p + 0.5 p**2`` at 2, 6 and 10 meet at 4 and 8:

    >>> segs, b = _segments(2.0, 10.0, np.array([1.0]), 0.5, 3)
    >>> [(s, e, float(k[0])) for s, e, k in segs], b
    ([(2.0, 4.0, 3.0), (4.0, 8.0, 7.0), (8.0, 10.0, 11.0)], -2.0)
    """
    if c2 == 0 or hi <= lo:
        return [(lo, hi, c1)], 0.0
    z = np.linspace(lo, hi, max(2, points))
    cuts = [lo, *((z[:-1] + z[1:]) / 2).tolist(), hi]
    segs = [(float(cuts[k]), float(cuts[k + 1]), c1 + 2 * c2 * z[k]) for k in range(len(z))
            if cuts[k + 1] - cuts[k] > 1e-12]
    return segs, -c2 * float(z[0]) ** 2


def _add_chain(rows: dict[str, list], name: str, bus: str, segs: list, carrier: str) -> None:
    """Generator rows pricing ``[start, end]`` pieces at ``bus``; the first may start below zero."""
    for k, (s, e, slopes) in enumerate(segs):
        lo, hi = (s, e) if k == 0 else (0.0, e - s)
        p_nom = max(abs(lo), abs(hi), 1e-9)
        for key, v in (("name", f"{name} cost {k}"), ("bus", bus), ("carrier", carrier), ("p_nom", p_nom),
                       ("p_min_pu", lo / p_nom), ("p_max_pu", hi / p_nom), ("marginal_cost", slopes)):
            rows[key].append(v)


def _refuse(u: Unit) -> None:
    if u.is_storage:
        msg = (f"unit {u.name!r} is storage, which the PyPSA cross-check does not state (no minimum state "
               "of charge or end-of-day energy in PyPSA's StorageUnit); cross-check a grid without storage")
        raise InvalidInputError(msg)
    if u.ramp_mw_per_h is not None:
        msg = (f"unit {u.name!r} has ramp_mw_per_h, which the PyPSA cross-check does not state (PyPSA's "
               "committable ramp rule differs at shut-down); drop the ramp column to cross-check")
        raise InvalidInputError(msg)


#: A branch without a limit: flows up to this many times its rating (PyPSA bounds every flow by s_nom * s_max_pu).
UNRATED_S_MAX_PU = 1e6


def pypsa_network(prob: Dispatch, *, line_limits: bool = False, tangents: int = TANGENTS) -> pypsa.Network:
    """``prob``'s unit commitment as a PyPSA network (see the module docstring for the mapping).

    Parameters
    ----------
    prob : Dispatch
    line_limits : bool
        Rate lines and transformers (``s_nom`` from the net's ratings); off, they
        are unlimited (a copper plate on a connected net, like cityopt's MILP).
    tangents : int
        Tangent points of the quadratic costs: the same as cityopt's continuous MILP.

    Returns
    -------
    pypsa.Network
        With ``meta`` holding ``objective_constant_eur`` (add it to ``n.objective``),
        ``units`` (the link of each of ``prob.units``, ``None`` for the import),
        ``import_generators`` and ``line_limits``.

    Raises
    ------
    InvalidInputError
        Storage, ramp limits, or several external grids with line limits (see above).
    """
    import pandas as pd
    import pypsa

    for u in prob.discrete:
        _refuse(u)
    if getattr(prob, "devices", None) is not None:
        msg = ("the PyPSA cross-check states the units and the day's profile, not flexible devices; "
               "cross-check the dispatch without devices")
        raise InvalidInputError(msg)
    if line_limits and len(prob.ext_units) > 1:
        msg = (f"{len(prob.ext_units)} external grids: with line_limits the cross-check states one (cityopt "
               "splits the import in proportion to capacity, which PyPSA cannot); use line_limits=False")
        raise InvalidInputError(msg)
    net = prob.grid.net
    prof = prob.profile
    T, dt = prob.periods, prob.dt_h
    n = pypsa.Network(name=f"cityopt {prob.instance_name}")
    n.set_snapshots(pd.RangeIndex(T, name="snapshot"))
    n.snapshot_weightings.loc[:, :] = dt
    n.add("Carrier", ["AC", "cost curve", "load", "renewable", "import", "spill"])
    buses = net.bus[net.bus.in_service.astype(bool)]
    n.add("Bus", [_bus(i) for i in buses.index], v_nom=buses.vn_kv.to_numpy(dtype=float), carrier="AC")
    inf = math.inf
    ln = net.line[net.line.in_service.astype(bool) & net.line.from_bus.isin(buses.index)
                  & net.line.to_bus.isin(buses.index)]
    if len(ln):
        par = ln.parallel.to_numpy(dtype=float)
        df = ln.df.to_numpy(dtype=float) if "df" in ln else np.ones(len(ln))
        rating = math.sqrt(3) * buses.vn_kv.loc[ln.from_bus].to_numpy(dtype=float) * ln.max_i_ka.to_numpy(dtype=float) \
            * par * df
        if line_limits and not np.all(np.isfinite(rating) & (rating > 0)):
            j = int(np.flatnonzero(~(np.isfinite(rating) & (rating > 0)))[0])
            msg = (f"line {int(ln.index[j])} has no usable rating (max_i_ka {ln.max_i_ka.iloc[j]!r}); give it "
                   "max_i_ka > 0, or cross-check with line_limits=False")
            raise InvalidInputError(msg)
        length = ln.length_km.to_numpy(dtype=float)
        n.add("Line", [f"line {i}" for i in ln.index], bus0=[_bus(b) for b in ln.from_bus],
              bus1=[_bus(b) for b in ln.to_bus], x=ln.x_ohm_per_km.to_numpy(dtype=float) * length / par,
              r=ln.r_ohm_per_km.to_numpy(dtype=float) * length / par, s_nom=rating if line_limits else inf)
    tr = net.trafo[net.trafo.in_service.astype(bool) & net.trafo.hv_bus.isin(buses.index)
                   & net.trafo.lv_bus.isin(buses.index)] if "trafo" in net else None
    if tr is not None and len(tr):
        vk, vkr = tr.vk_percent.to_numpy(dtype=float) / 100, tr.vkr_percent.to_numpy(dtype=float) / 100
        par = tr.parallel.to_numpy(dtype=float) if "parallel" in tr else np.ones(len(tr))
        sn = tr.sn_mva.to_numpy(dtype=float) * par
        n.add("Transformer", [f"trafo {i}" for i in tr.index], bus0=[_bus(b) for b in tr.hv_bus],
              bus1=[_bus(b) for b in tr.lv_bus], x=np.sqrt(np.maximum(vk**2 - vkr**2, 0.0)), r=vkr,
              # a transformer's x and r are per unit on s_nom: s_nom stays its rating (an infinite one makes
              # the susceptance infinite and PyPSA's angle recovery fails); unrated is s_max_pu, not s_nom
              s_nom=sn, s_max_pu=1.0 if line_limits else UNRATED_S_MAX_PU)
    # loads and must-take renewables, per period
    lbus = net.load.bus
    for j, idx in enumerate(prof.load_index):
        n.add("Load", f"load {idx}", bus=_bus(lbus.at[idx]), carrier="load",
              p_set=pd.Series(prof.load_p_mw[:, j], index=n.snapshots))
    for j, idx in enumerate(prof.sgen_index):
        out = prof.sgen_p_mw[:, j]
        top = float(out.max())
        if top <= 0:
            continue
        pu = pd.Series(out / top, index=n.snapshots)
        n.add("Generator", f"renewable sgen {idx}", bus=_bus(net.sgen.bus.at[idx]), carrier="renewable",
              p_nom=top, p_min_pu=pu, p_max_pu=pu)
    # units: committable links from a private cost bus
    const = 0.0
    rows: dict[str, list] = {k: [] for k in ("name", "bus", "carrier", "p_nom", "p_min_pu", "p_max_pu",
                                             "marginal_cost")}
    links: dict[str, list] = {k: [] for k in ("name", "bus0", "bus1", "p_nom", "p_min_pu", "start_up_cost",
                                              "stand_by_cost", "min_up_time", "min_down_time",
                                              "up_time_before", "down_time_before")}
    for i, u in enumerate(prob.discrete):
        lo = max(0.0, u.p_min_mw)
        c1 = np.array([u.cost.c1_at(prof.hours(t)) for t in range(T)])
        if u.cost.pwl:
            segs = []
            start = u.cost.pwl[0][0]
            if start > 0:
                segs.append((0.0, start, np.zeros(T)))
            for k, (p0, p1, s) in enumerate(u.cost.pwl):
                end = u.p_max_mw if k == len(u.cost.pwl) - 1 else p1
                segs.append((p0, max(p0, end), np.full(T, s)))
            segs = [(s, e, k) for s, e, k in segs if e - s > 1e-12]
            standby = 0.0
        else:
            segs, b = _segments(0.0 if u.cost.c2 == 0 else lo, u.p_max_mw, c1, u.cost.c2, tangents)
            if u.cost.c2:  # the envelope starts at lo; below it the first tangent continues
                s0, e0, k0 = segs[0]
                segs[0] = (0.0, e0, k0)
            standby = u.cost.c0 + b
        cost_bus = f"{u.name} cost curve"
        _add_chain(rows, u.name, cost_bus, segs, "cost curve")
        up, down = prob.min_up[i], prob.min_down[i]
        for key, v in (("name", u.name), ("bus0", cost_bus), ("bus1", _bus(u.bus)), ("p_nom", u.p_max_mw),
                       ("p_min_pu", lo / u.p_max_mw), ("start_up_cost", u.startup_eur),
                       ("stand_by_cost", standby), ("min_up_time", up if up > 1 else 0),
                       ("min_down_time", down if down > 1 else 0),
                       ("up_time_before", max(up, 1) if u.initial_on else 0),
                       ("down_time_before", 0 if u.initial_on else max(down, 1))):
            links[key].append(v)
    n.add("Bus", links["bus0"], carrier="cost curve")
    n.add("Link", links.pop("name"), efficiency=1.0, committable=True, **links)
    imports: list[str] = []
    if prob.ext_units:
        share = prob.ext_share
        c1 = np.array([sum(e.cost.c1_at(prof.hours(t)) * w for e, w in zip(prob.ext_units, share))
                       for t in range(T)])
        c2 = float(sum(e.cost.c2 * w * w for e, w in zip(prob.ext_units, share)))
        c0 = float(sum(e.cost.c0 for e in prob.ext_units))
        segs, b = _segments(prob.import_min_mw, prob.import_max_mw, c1, c2, 2 * tangents)
        start = len(rows["name"])
        _add_chain(rows, "import", _bus(prob.ext_units[0].bus), segs, "import")
        imports = rows["name"][start:]
        const += (c0 + b) * dt * T
    elif prob.spill_max_mw != 0:
        cap = prob.spill_max_mw if prob.spill_max_mw is not None else sum(u.p_max_mw for u in prob.discrete)
        n.add("Generator", "spill", bus=_bus(prob.discrete[0].bus), carrier="spill", p_nom=max(cap, 1e-9),
              p_min_pu=-1.0, p_max_pu=0.0, marginal_cost=0.0)
    cost = pd.DataFrame(np.column_stack([np.broadcast_to(np.asarray(v, dtype=float), (T,))
                                         for v in rows.pop("marginal_cost")]),
                        index=n.snapshots, columns=rows["name"])
    n.add("Generator", rows.pop("name"), marginal_cost=cost, **rows)
    n.meta = {"objective_constant_eur": const, "import_generators": imports, "line_limits": bool(line_limits),
              "tangents": int(tangents), "units": [None if u in prob.ext_units else u.name for u in prob.units]}
    return n


def solve_network(n: pypsa.Network, *, time_limit_s: float | None = None) -> dict[str, Any]:
    """Optimise ``n`` with HiGHS (``n.optimize(solver_name="highs")``) to cityopt's MIP gaps.

    Returns ``status``, ``condition``, ``objective_eur`` (with the network's
    constant), ``wall_time_s``, and ``on`` / ``p_mw`` (periods x committable links)
    and ``import_mw`` (per period) when a solution was found.
    """
    opts: dict[str, Any] = {"mip_rel_gap": REL_GAP, "mip_abs_gap": ABS_GAP, "random_seed": 0,
                            "output_flag": False}
    if time_limit_s is not None:
        opts["time_limit"] = float(time_limit_s)
    quiet = [logging.getLogger(name) for name in ("pypsa", "linopy")]
    levels = [lg.level for lg in quiet]
    t0 = time.perf_counter()
    try:
        for lg in quiet:  # PyPSA logs every model it builds; its warnings (zero r) do not bear on a DC flow
            lg.setLevel(logging.ERROR)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            warnings.filterwarnings("ignore", message=".*absent slots.*")
            status, condition = n.optimize(solver_name="highs", solver_options=opts, log_to_console=False,
                                           progress=False, include_objective_constant=False)
    finally:
        for lg, lv in zip(quiet, levels):
            lg.setLevel(lv)
    wall = time.perf_counter() - t0
    out: dict[str, Any] = {"status": str(status), "condition": str(condition), "wall_time_s": wall,
                           "objective_eur": math.nan}
    if status == "ok" or (n.objective is not None and math.isfinite(float(n.objective))):
        out["objective_eur"] = float(n.objective) + float(n.meta.get("objective_constant_eur", 0.0))
        com = n.links.index[n.links.committable.astype(bool)]
        out["on"] = n.links_t.status[com].to_numpy() > 0.5
        out["p_mw"] = -n.links_t.p1[com].to_numpy()
        imp = n.meta.get("import_generators") or []
        out["import_mw"] = n.generators_t.p[imp].sum(axis=1).to_numpy() if imp else np.zeros(len(n.snapshots))
    return out


def crosscheck(prob: Dispatch, *, time_limit_s: float | None = None, line_limits: bool = False,
               tangents: int = TANGENTS, network: pypsa.Network | None = None) -> dict[str, Any]:
    """Solve ``prob``'s unit commitment with cityopt's continuous MILP and with PyPSA; compare.

    Parameters
    ----------
    prob : Dispatch
    time_limit_s : float, optional
        For each solver.
    line_limits : bool
        See :func:`pypsa_network`: agreement needs ``prob`` with ``network=True``
        and ``line_margin=1.0``; else ``True`` only bounds PyPSA's optimum from below.
    tangents : int
        Of the quadratic costs, in both models.
    network : pypsa.Network, optional
        A network to solve instead of ``pypsa_network(prob, ...)`` (e.g. one changed on purpose).

    Returns
    -------
    dict
        ``cityopt`` and ``pypsa``: each ``objective_eur`` (the model's optimum:
        cityopt's proven bound at a 1e-7 gap, PyPSA's objective plus constant),
        ``exact_cost_eur`` (its dispatch at the exact quadratic costs,
        ``Dispatch.evaluate_mw``), ``status`` and ``wall_time_s``; PyPSA also
        ``build_s`` and ``plan_valid`` (its dispatch passes cityopt's
        ``DispatchPlan.validate``).  ``rel_diff`` (of the model optima, relative to
        cityopt's), ``exact_rel_diff``, ``agree`` (``rel_diff <= TOLERANCE``),
        ``commitment_diff`` (units committed differently, per period) and the instance.
    """
    from optimizer.plans.dispatch import DispatchPlan

    t0 = time.perf_counter()
    n = network if network is not None else pypsa_network(prob, line_limits=line_limits, tangents=tangents)
    build = time.perf_counter() - t0
    ps = solve_network(n, time_limit_s=time_limit_s)
    cr = solve_continuous(prob, time_limit_s=time_limit_s, tangents=tangents)
    ne = len(prob.ext_units)
    names = n.meta["units"]
    res: dict[str, Any] = {
        "instance": prob.instance_name, "units": len(prob.discrete), "periods": prob.periods,
        "line_limits": bool(n.meta.get("line_limits")), "tangents": tangents, "tolerance": TOLERANCE,
        "cityopt": {"model": "solve_continuous (MathOpt, HiGHS)", "status": cr.status,
                    "objective_eur": float(cr.bound_eur), "exact_cost_eur": float(cr.objective_eur),
                    "wall_time_s": cr.wall_time_s},
        "pypsa": {"model": "PyPSA n.optimize (linopy, HiGHS)", "status": ps["condition"],
                  "objective_eur": ps["objective_eur"], "wall_time_s": ps["wall_time_s"], "build_s": build,
                  "exact_cost_eur": math.nan, "plan_valid": False},
    }
    if "on" in ps:
        com = list(n.links.index[n.links.committable.astype(bool)])
        cols = [com.index(nm) for nm in names[ne:]]
        p = np.zeros((prob.periods, len(prob.units)))
        on = np.zeros((prob.periods, len(prob.units)), dtype=bool)
        for e in range(ne):
            p[:, e], on[:, e] = ps["import_mw"] * prob.ext_share[e], True
        on[:, ne:] = ps["on"][:, cols]
        p[:, ne:] = np.where(on[:, ne:], ps["p_mw"][:, cols], 0.0)
        res["pypsa"]["exact_cost_eur"] = prob.evaluate_mw(p, on)
        try:
            DispatchPlan.from_outputs(prob, p, on, source="pypsa").validate()
            res["pypsa"]["plan_valid"] = True
        except Exception as e:  # noqa: BLE001 - reported, not raised: the comparison is the point
            res["pypsa"]["plan_error"] = str(e)[:500]
        diff = (on[:, ne:] != cr.on[:, ne:]).sum(axis=1)
        res["commitment_diff"] = [int(d) for d in diff]
        res["periods_with_commitment_diff"] = int((diff > 0).sum())
    a, b = res["pypsa"]["objective_eur"], res["cityopt"]["objective_eur"]
    res["rel_diff"] = abs(a - b) / max(abs(b), 1e-9) if math.isfinite(a) and math.isfinite(b) else math.inf
    a, b = res["pypsa"]["exact_cost_eur"], res["cityopt"]["exact_cost_eur"]
    res["exact_rel_diff"] = abs(a - b) / max(abs(b), 1e-9) if math.isfinite(a) and math.isfinite(b) else math.inf
    res["agree"] = bool(res["rel_diff"] <= TOLERANCE)
    return res
