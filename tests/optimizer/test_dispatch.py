"""Dispatch: the QUBO against an independent brute force, native models, plans, power flow."""

from __future__ import annotations

import itertools
import json
import math
import re
from dataclasses import replace

import numpy as np
import pytest

from optimizer.errors import (
    GridNotFoundError,
    InfeasibleSolutionError,
    InvalidInputError,
    PlanValidationError,
)
from optimizer.inputs.grid import CostCurve, Grid, Unit
from optimizer.inputs.profiles import DayProfile
from optimizer.problems.dispatch.problem import QAOA_DEMO, Dispatch, slack_coefficients
from optimizer.solve import solve


@pytest.fixture(scope="module")
def case9() -> Grid:
    return Grid.load("case9")


@pytest.fixture(scope="module")
def demo() -> Dispatch:
    return Dispatch.from_grid(**QAOA_DEMO)


def _units(g: Grid) -> dict[str, Unit]:
    return {u.name: u for u in g.units()}


def _instances(g: Grid) -> dict[str, Dispatch]:
    """Small instances (<= 16 QUBO variables) exercising every kind of constraint."""
    u = _units(g)
    ext, g0, g1 = u["ext_grid 0"], u["gen 0"], u["gen 1"]
    out = {}
    # A: external grid balancing with binding import limits, on/off generators
    out["balancing"] = Dispatch(g, DayProfile.from_factors(g, [0.5, 0.9, 1.0]), [ext, g0, g1],
                                quantum_mw=60.0)
    # B: spill balancing, two levels per unit
    out["spill"] = Dispatch(g, DayProfile.from_factors(g, [0.6, 1.0]), [g0, g1], levels=2, quantum_mw=50.0,
                            balancing="spill", spill_max_mw=200.0)
    # C: storage with binding energy bounds, a generator already running
    bat = Unit("battery", "storage", 0, 4, -60.0, 60.0, e_min_mwh=0.0, e_max_mwh=720.0, e_init_mwh=360.0,
               cycle_cost_eur_per_mwh=5.0)
    out["storage"] = Dispatch(g, DayProfile.from_factors(g, [0.6, 1.0]), [ext, replace(g1, initial_on=True), bat],
                              quantum_mw=30.0)
    # D: ramps and minimum up/down times, a dear import that makes the generator run
    big = replace(ext, p_min_mw=-1000.0, p_max_mw=1000.0, cost=CostCurve(c1=140.0, c2=0.05))
    slow = replace(g0, ramp_mw_per_h=10.0, min_up_h=12.0, min_down_h=12.0)
    out["ramp_minup"] = Dispatch(g, DayProfile.from_factors(g, [0.4, 1.0, 0.3]), [big, slow], levels=2,
                                 quantum_mw=50.0)
    # E: minimum up/down with a unit on before the day (compact at-most-one weight > 1)
    out["minup_initial_on"] = Dispatch(g, DayProfile.from_factors(g, [0.3, 1.0, 0.3]),
                                       [big, replace(slow, ramp_mw_per_h=None, initial_on=True)], levels=2,
                                       quantum_mw=50.0)
    # F: line limits (DC, PTDF) that bind: line 5 rated at 40%, the copper-plate optimum overloads it
    out["network"] = network_case9(g)
    return out


#: ``Dispatch.from_grid`` arguments of :func:`network_case9`: 13 QUBO variables (8 level bits, 4 balance
#: and 1 line slack bit), 4 of the copper plate's 9 feasible level choices keep line 5 within its limit.
NETWORK_CASE9 = {"units": 3, "periods": 2, "levels": 2, "quantum_mw": 60.0, "seed": 1}


def lowered_case9(g: Grid, line: int = 5, share: float = 0.4) -> Grid:
    """case9 with one line's rating (``max_i_ka``) cut to ``share`` of itself."""
    net = g.copy_net()
    net.line.loc[line, "max_i_ka"] *= share
    return g.with_net(net)


def network_case9(g: Grid, *, network: bool = True) -> Dispatch:
    """Two generators and the external grid over two periods on case9 with line 5 at 40% of its rating."""
    return Dispatch.from_grid(lowered_case9(g), **NETWORK_CASE9, network=network)


@pytest.fixture(scope="module")
def instances(case9: Grid) -> dict[str, Dispatch]:
    return _instances(case9)


# ------------------------------------------------------------ independent models
def _brute_force(prob: Dispatch) -> tuple[float, list[np.ndarray]]:
    """The discrete optimum by enumerating level choices, checked in MW from the units alone."""
    T, dt = prob.periods, prob.dt_h
    net = prob.profile.net_load_mw
    best, argbest = math.inf, []
    ext = prob.ext_units
    caps = np.array([e.p_max_mw for e in ext])
    share = caps / caps.sum() if len(ext) else caps
    for choice in prob.enumerate_choices():
        p = np.zeros((T, len(prob.discrete)))
        for (t, i), k in np.ndenumerate(choice):
            if k >= 0:
                p[t, i] = prob.level_mw[i][k]
        ok, cost = True, 0.0
        for t in range(T):
            supply = p[t].sum()
            if ext:
                imp = net[t] - supply
                ok &= all(e.p_min_mw - 1e-9 <= w * imp <= e.p_max_mw + 1e-9 for e, w in zip(ext, share))
                cost += sum(e.period_cost_eur(w * imp, prob.profile.hours(t)) for e, w in zip(ext, share))
            else:
                ok &= supply >= net[t] - 1e-9
                if prob.spill_max_mw is not None:
                    ok &= supply - net[t] <= prob.spill_max_mw + 1e-9
        for i, u in enumerate(prob.discrete):
            on = choice[:, i] >= 0
            if u.is_storage:
                e = u.e_init_mwh - np.cumsum(p[:, i]) * dt
                ok &= bool(np.all(e >= u.e_min_mwh - 1e-9) and np.all(e <= u.e_max_mwh + 1e-9)
                           and e[-1] >= u.e_init_mwh - 1e-9)
                cost += sum(u.period_cost_eur(p[t, i], prob.profile.hours(t)) for t in range(T))
                continue
            if u.ramp_mw_per_h is not None:
                for t in range(1, T):
                    if on[t] and on[t - 1] and abs(p[t, i] - p[t - 1, i]) > u.ramp_mw_per_h * dt + 1e-9:
                        ok = False
            U = max(1, math.ceil((u.min_up_h or 0) / dt - 1e-9))
            D = max(1, math.ceil((u.min_down_h or 0) / dt - 1e-9))
            seq = [u.initial_on, *on.tolist()]
            for t in range(T):
                if seq[t + 1] and not seq[t] and not all(seq[1 + k] for k in range(t, min(t + U, T))):
                    ok = False
                if seq[t] and not seq[t + 1] and any(seq[1 + k] for k in range(t, min(t + D, T))):
                    ok = False
                if on[t]:
                    cost += u.period_cost_eur(p[t, i], prob.profile.hours(t))
                    if not seq[t]:
                        cost += u.startup_eur
        if prob.network:  # the DC flows the models plan with, in MW (rounded PTDF, tightened limits)
            base, g, limit, _ = prob.line_model
            ok &= bool(np.all(np.abs(base + p @ g.T) <= limit + 1e-6))
        if not ok:
            continue
        if cost < best - 1e-6:
            best, argbest = cost, [choice]
        elif abs(cost - best) <= 1e-6:
            argbest.append(choice)
    return best, argbest


def _expected_energy(prob: Dispatch, x: np.ndarray) -> float:
    """``C(x) + P V(x)`` evaluated term by term from the documented formulation (loops, no builder)."""
    T, q, P = prob.periods, prob.quantum_mw, prob.penalty
    lab = {v: j for j, v in enumerate(prob.variables)}
    net = prob.profile.net_load_mw

    def bit(*key) -> int:
        return int(x[lab[key]])

    def on(i: int, t: int) -> int:
        if t < 0:
            return int(prob.discrete[i].initial_on)
        return sum(bit("x", prob.discrete[i].name, t, k) for k in range(len(prob.level_quanta[i])))

    def supply(t: int) -> int:
        return sum(qk * bit("x", u.name, t, k) for i, u in enumerate(prob.discrete)
                   for k, qk in enumerate(prob.level_quanta[i]))

    C = V = 0.0
    U = [max(1, math.ceil((u.min_up_h or 0) / prob.dt_h - 1e-9)) if not u.is_storage else 1 for u in prob.discrete]
    D = [max(1, math.ceil((u.min_down_h or 0) / prob.dt_h - 1e-9)) if not u.is_storage else 1 for u in prob.discrete]
    w_amo = max([1, *U])
    for i, u in enumerate(prob.discrete):
        K = len(prob.level_quanta[i])
        for t in range(T):
            for k in range(K):
                C += bit("x", u.name, t, k) * u.period_cost_eur(prob.level_mw[i][k], prob.profile.hours(t))
            if not u.is_storage:
                C += u.startup_eur * on(i, t) * (1 - on(i, t - 1))
            ks = [bit("x", u.name, t, k) for k in range(K)]
            V += w_amo * sum(a * b for a, b in itertools.combinations(ks, 2))
    if prob.ext_units:
        for t in range(T):
            C += prob.import_cost_eur(t, float(net[t]) - q * supply(t))
    for t, w in enumerate(prob.balance_windows):
        if w.binding:
            z = sum(c * bit("zb", t, j) for j, c in enumerate(w.slack))
            V += (supply(t) - w.lo - z) ** 2
    for i, ws in prob.soc_windows.items():
        u = prob.discrete[i]
        for t, w in enumerate(ws):
            if w.binding:
                cum = sum(qk * bit("x", u.name, tau, k) for tau in range(t + 1)
                          for k, qk in enumerate(prob.level_quanta[i]))
                z = sum(c * bit("zs", u.name, t, j) for j, c in enumerate(w.slack))
                V += (cum - w.lo - z) ** 2
    for i, u in enumerate(prob.discrete):
        if u.ramp_mw_per_h is not None and not u.is_storage:
            mw = prob.level_mw[i]
            for t in range(1, T):
                for a, b in itertools.product(range(len(mw)), repeat=2):
                    if abs(mw[a] - mw[b]) > u.ramp_mw_per_h * prob.dt_h + 1e-9:
                        V += bit("x", u.name, t - 1, a) * bit("x", u.name, t, b)
        if U[i] > 1 or D[i] > 1:
            for t in range(T):
                y, s = bit("up", u.name, t), bit("down", u.name, t)
                V += (on(i, t) - on(i, t - 1) - y + s) ** 2 + y * s
                V += sum(y * (1 - on(i, tau)) for tau in range(t + 1, min(t + U[i], T)))
                V += sum(s * on(i, tau) for tau in range(t + 1, min(t + D[i], T)))
    for (r, t), w in prob.line_windows.items():  # the window's flow in its own (whole) flow quanta
        flow = sum(c * bit("x", u.name, t, k) for i, u in enumerate(prob.discrete)
                   for k, c in enumerate(prob.line_coef[(r, t)][i]))
        z = sum(c * bit("zl", prob.dc.label(r), t, j) for j, c in enumerate(w.slack))
        V += (flow - w.lo - z) ** 2
    return C + P * V


# ------------------------------------------------------------ the QUBO, exhaustively
@pytest.mark.parametrize("name", ["balancing", "spill", "storage", "ramp_minup", "minup_initial_on", "network"])
def test_qubo_matches_the_discrete_problem_everywhere(instances: dict[str, Dispatch], name: str) -> None:
    from solvers.qubo import index_bits

    prob = instances[name]
    qubo = prob.to_qubo()
    n = qubo.num_variables
    assert n <= 16, f"{name} has {n} variables"
    X = index_bits(np.arange(2**n), n)
    E = qubo.energies(X)
    # 1. every assignment: QUBO energy = cost + P * violations, from the formulation itself
    rng = np.random.default_rng(0)
    sample = np.arange(2**n) if 2**n <= 4096 else rng.choice(2**n, 4096, replace=False)
    for j in sample:
        assert E[j] == pytest.approx(_expected_energy(prob, X[j]), rel=1e-9, abs=1e-6)
    # 2. the QUBO minimum is the discrete optimum, found by an independent brute force
    opt, argopt = _brute_force(prob)
    assert math.isfinite(opt), f"{name}: no feasible plan"
    j = int(np.argmin(E))
    assert E[j] == pytest.approx(opt, rel=1e-9)
    assert prob.is_feasible(X[j]) and prob.objective(X[j]) == pytest.approx(opt, rel=1e-9)
    assert any(np.array_equal(prob.level_choice(X[j]), c) for c in argopt)
    # 3. every infeasible assignment costs more than the optimum; feasible plans with their
    #    slack set right cost exactly their objective
    feas = np.array([prob.is_feasible(x) for x in X])
    assert np.all(E[~feas] > opt + 1e-6)
    for c in argopt:
        b = prob.bits_for(c)
        assert qubo.energy(b) == pytest.approx(prob.cost_eur(c), rel=1e-9)
    # 4. penalty rule: infeasible energies clear the feasible upper bound
    ub, lb = prob._cost_parts
    assert prob.penalty > ub - lb
    assert np.min(E[~feas]) >= lb + prob.penalty - 1e-6


@pytest.mark.parametrize("name", ["balancing", "spill", "storage", "ramp_minup", "minup_initial_on", "network"])
def test_native_models_equal_exact(instances: dict[str, Dispatch], name: str) -> None:
    prob = instances[name]
    opt, _ = _brute_force(prob)
    for solver in ("cpsat", "milp", "exact"):
        sol = solve(prob, solver, seed=1)
        assert prob.is_feasible(sol.bits), solver
        assert prob.objective(sol.bits) == pytest.approx(opt, rel=1e-7), solver
        energy = sol.energy if solver == "exact" else prob.to_qubo().energy(sol.bits)  # native: no QUBO
        assert energy == pytest.approx(opt, rel=1e-7), solver
    cp = solve(prob, "cpsat", seed=1)
    assert cp.status.value == "OPTIMAL" and cp.best_bound == pytest.approx(opt, rel=1e-6)
    # the continuous-level MILP is a relaxation: a lower bound
    c = prob.solve_continuous()
    assert c.status == "OPTIMAL"
    assert c.bound_eur <= opt + 1e-6
    assert c.bound_eur <= c.objective_eur + 1e-6
    prob.plan_from_continuous(c).validate()


def test_slack_coefficients_cover_exactly() -> None:
    for r in range(0, 70):
        cs = slack_coefficients(r)
        sums = {sum(s) for k in range(len(cs) + 1) for s in itertools.combinations(cs, k)}
        assert sums == set(range(r + 1))
        assert len(cs) == (0 if r == 0 else r.bit_length())


# ------------------------------------------------------------ the QAOA-sized instance
def test_demo_instance_is_qaoa_sized(demo: Dispatch) -> None:
    q = demo.to_qubo()
    assert q.num_variables <= 20
    assert q.metadata["problem"] == "dispatch" and "onehot_penalty" not in q.metadata
    assert demo.instance["level_bits"] == 8 and demo.num_units == 3 and demo.periods == 4
    sol = solve(demo, "cpsat", seed=1)
    ex = solve(demo, "exact")
    assert demo.objective(sol.bits) == pytest.approx(ex.energy, rel=1e-9)
    for name in ("anneal",):
        s = solve(demo, name, seed=1)
        assert demo.is_feasible(s.bits)


@pytest.mark.slow
def test_qaoa_on_the_demo_instance(demo: Dispatch) -> None:
    sol = solve(demo, "qaoa", depth=2, seed=1)
    assert sol.resources["qubits"] == demo.to_qubo().num_variables
    if demo.is_feasible(sol.bits):
        demo.decode(sol).validate()


# ------------------------------------------------------------ plans
@pytest.fixture(scope="module")
def demo_plan(demo: Dispatch):
    return demo.decode(solve(demo, "cpsat", seed=1)).validate()


def _tamper(plan, period: int, unit: str, **cols):
    tab = plan.table.copy()
    row = tab.index[(tab.period == period) & (tab.unit == unit)][0]
    for k, v in cols.items():
        tab.loc[row, k] = v(tab.loc[row, k]) if callable(v) else v
    return replace(plan, table=tab)


def _running(plan) -> tuple[int, str]:
    tab = plan.table
    r = tab[(tab.kind == "gen") & tab.on].iloc[0]
    return int(r.period), str(r.unit)


def test_validate_rejects_a_plan_short_of_demand(demo_plan) -> None:
    t, u = _running(demo_plan)
    with pytest.raises(PlanValidationError, match="short of the net load"):
        _tamper(demo_plan, t, u, p_mw=lambda p: p - 20.0).validate()


def test_validate_rejects_a_unit_over_its_limit(demo_plan) -> None:
    t, u = _running(demo_plan)
    bad = _tamper(demo_plan, t, u, p_mw=lambda p: p + 100.0)
    bad = _tamper(bad, t, "ext_grid 0", p_mw=lambda p: p - 100.0)  # keep the balance
    with pytest.raises(PlanValidationError, match="outside its limits"):
        bad.validate()


def test_validate_rejects_a_tampered_cost(demo_plan) -> None:
    t, u = _running(demo_plan)
    with pytest.raises(PlanValidationError, match="cost_eur"):
        _tamper(demo_plan, t, u, cost_eur=lambda c: c - 1.0).validate()
    with pytest.raises(PlanValidationError, match="objective"):
        replace(demo_plan, objective=demo_plan.objective * 0.99).validate()


def test_validate_rejects_a_broken_ramp(case9: Grid) -> None:
    from optimizer.plans.dispatch import DispatchPlan

    u = _units(case9)
    slow = replace(u["gen 0"], ramp_mw_per_h=5.0)
    prob = Dispatch(case9, DayProfile.from_factors(case9, [0.6, 1.0]), [u["ext_grid 0"], slow], quantum_mw=10.0)
    net = prob.profile.net_load_mw
    good = np.array([[net[0] - 150.0, 150.0], [net[1] - 200.0, 200.0]])  # 50 MW in 12 h: fine
    on = np.ones_like(good, dtype=bool)
    DispatchPlan.from_outputs(prob, good, on).validate()
    bad = np.array([[net[0] - 100.0, 100.0], [net[1] - 200.0, 200.0]])  # 100 MW > 5 MW/h * 12 h
    with pytest.raises(PlanValidationError, match="ramp"):
        DispatchPlan.from_outputs(prob, bad, on).validate()


def test_validate_rejects_storage_out_of_energy(instances: dict[str, Dispatch]) -> None:
    from optimizer.plans.dispatch import DispatchPlan

    prob = instances["storage"]
    plan = prob.decode(solve(prob, "cpsat", seed=1)).validate()
    P = plan.table.pivot(index="period", columns="unit", values="p_mw")[[u.name for u in prob.units]].to_numpy()
    on = plan.table.pivot(index="period", columns="unit", values="on")[[u.name for u in prob.units]].to_numpy()
    j = [u.name for u in prob.units].index("battery")
    P[:, 0] += P[:, j] - 60.0  # battery discharges all day, the grid imports less
    P[:, j] = 60.0
    with pytest.raises(PlanValidationError, match="battery"):
        DispatchPlan.from_outputs(prob, P, on).validate()


def test_decode_refuses_infeasible_bits(demo: Dispatch) -> None:
    with pytest.raises(InfeasibleSolutionError):
        demo.decode(np.zeros(len(demo.variables), dtype=np.uint8) + 1)


# ------------------------------------------------------------ power flow
def test_power_flow_checks_and_flags_a_cut_line(demo_plan, tmp_path) -> None:
    pf = demo_plan.power_flow()
    assert pf["summary"]["converged"] and len(pf["periods"]) == 4
    first = pf["periods"][0]
    assert 0.5 < first["min_bus_vm_pu"] <= first["max_bus_vm_pu"] < 1.5
    assert not any(v["element"] == "line" and v["index"] == 0 for v in first["violations"])
    # cut the rating of line 0 (it carries the import from the external grid): flagged in every period
    net = demo_plan.grid.copy_net()
    net.line.loc[0, "max_i_ka"] = 0.01
    bad = demo_plan.power_flow(grid=demo_plan.grid.with_net(net))
    for p in bad["periods"]:
        hits = [v for v in p["violations"] if v["element"] == "line" and v["index"] == 0]
        assert hits and hits[0]["value"] > 100.0
    paths = demo_plan.write(tmp_path)
    assert {p.name for p in paths.values()} == {"dispatch.csv", "demand.csv", "powerflow.json"}
    head = (tmp_path / "dispatch.csv").read_text().splitlines()[0]
    assert head.startswith("period,hour_start,unit,kind,on,p_mw,cost_eur")
    assert (tmp_path / "demand.csv").read_text().startswith("period,hour_start,hours,load_mw,renewable_mw")
    assert json.loads((tmp_path / "powerflow.json").read_text())["summary"]["periods"] == 4


def test_power_flow_flags_an_overload_from_load(case9: Grid) -> None:
    plan = Dispatch.from_grid(case9, periods=2, quantum_mw=10.0).plan_from_continuous().validate()
    assert not any(v["element"] == "line" for p in plan.power_flow()["periods"] for v in p["violations"])
    # the same grid with every load scaled up 2.2 times: lines 0 and 6 overload at the peak
    hot = Dispatch.from_grid(case9, periods=2, quantum_mw=10.0, load_scale=2.2).plan_from_continuous().validate()
    peak = hot.power_flow()["periods"][1]
    assert {v["index"] for v in peak["violations"] if v["element"] == "line"} >= {0, 6}
    assert peak["max_line_loading_percent"] > 100.0


def test_plot_returns_a_figure(demo_plan) -> None:
    fig = demo_plan.plot()
    assert fig.axes and fig.axes[0].get_ylabel() == "MW"


# ------------------------------------------------------------ external check: DC OPF
@pytest.mark.parametrize("name", ["case9", "case30", "case118"])
def test_continuous_milp_matches_pandapower_dc_opf(name: str) -> None:
    import warnings

    import pandapower as pp

    g = Grid.load(name)
    prob = Dispatch(g, DayProfile.from_factors(g, [1.0]), g.units(initial_on=True))
    r = prob.solve_continuous(commitment="all_on")
    net = g.copy_net()
    net.line["max_loading_percent"] = 1e6
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pp.rundcopp(net)
    opf = net.res_cost * 24.0  # one period of 24 h
    assert abs(r.objective_eur - opf) / opf < 0.01
    assert abs(r.bound_eur - opf) / opf < 0.01
    assert r.bound_eur <= opf * (1 + 1e-9)  # the bound is a true lower bound


# ------------------------------------------------------------ end to end on bundled grids
@pytest.mark.parametrize(("grid", "kw"), [
    ("case30", {"units": 4, "periods": 4, "levels": 2}),
    ("cigre_mv_der", {"units": 4, "periods": 4, "levels": 1}),
    ("mv_oberrhein", {"periods": 4, "levels": 2}),
])
def test_bundled_grids_dispatch_end_to_end(grid: str, kw: dict, tmp_path) -> None:
    from optimizer.runs.runner import SolverRequest, run_problem

    prob = Dispatch.from_grid(grid, seed=2, **kw)
    recs = run_problem(prob, [SolverRequest("cpsat", time_limit_s=20), SolverRequest("milp", time_limit_s=20)],
                       out=tmp_path, seed=1)
    objs = [r.summary["objective"] for r in recs]
    assert all(r.summary["feasible"] for r in recs)
    assert objs[0] == pytest.approx(objs[1], rel=1e-4)
    assert prob.continuous_bound() <= min(objs) + 1e-6
    d = tmp_path / "dispatch" / prob.instance_name / "cpsat"
    assert {p.name for p in d.iterdir()} == {"summary.json", "dispatch.csv", "demand.csv", "powerflow.json"}
    pf = json.loads((d / "powerflow.json").read_text())
    assert pf["summary"]["periods"] == kw["periods"]


# ------------------------------------------------------------ bad input
def test_bad_input_names_the_field(case9: Grid) -> None:
    with pytest.raises(InvalidInputError, match="levels"):
        Dispatch.from_grid(case9, levels=0)
    with pytest.raises(InvalidInputError, match="periods"):
        Dispatch.from_grid(case9, periods=0)
    with pytest.raises(InvalidInputError, match="units"):
        Dispatch.from_grid(case9, units=0)
    with pytest.raises(InvalidInputError, match="quantum_mw"):
        Dispatch.from_grid(case9, quantum_mw=-1.0)
    with pytest.raises(GridNotFoundError):
        Dispatch.from_grid("atlantis")


def test_demand_above_all_capacity_is_an_infeasible_day(case9: Grid) -> None:
    with pytest.raises(InvalidInputError, match="infeasible day.*period"):
        Dispatch.from_grid(case9, periods=4, load_scale=3.0)
    with pytest.raises(InvalidInputError, match="infeasible day"):
        Dispatch.from_grid(case9, periods=4, balancing="spill", load_scale=3.0)


def test_spill_balancing_plan_with_the_external_grid_off_validates(case9: Grid) -> None:
    """Regression: with ``balancing='spill'`` the external grid is a discrete unit, and a plan that
    switched it off was refused by ``validate`` (its 0 MW "outside 10..250 MW") and priced as running."""
    prob = Dispatch.from_grid(case9, periods=4, seed=1, balancing="spill")
    sol = solve(prob, "milp", seed=1)
    choice = prob.level_choice(sol.bits)
    ext = [i for i, u in enumerate(prob.discrete) if u.kind == "ext_grid"]
    assert ext and np.any(choice[:, ext[0]] < 0), "the optimum switches the external grid off somewhere"
    plan = prob.decode(sol).validate()
    assert plan.objective == pytest.approx(prob.objective(sol.bits), rel=1e-12)
    rows = plan.table[plan.table.kind == "ext_grid"]
    assert (~rows.on & (rows.p_mw == 0) & (rows.cost_eur == 0)).any()
    off = set(rows.period[~rows.on])
    pf = plan.power_flow()
    assert not [v for p in pf["periods"] if p["period"] in off for v in p["violations"] if v["element"] == "ext_grid"]


def test_a_balance_window_in_a_gap_of_the_levels_says_why_and_the_fix(case9: Grid) -> None:
    """``levels=1`` (or 2) on case9: the units sum to 0, 250, 300, 550, ... MW, so a period whose net load
    (165 MW) with ``spill_max_mw=60`` needs 165..225 MW has no discrete plan.  Every discrete solver said
    "infeasible" without a reason; now the problem names the period, the nearest supplies and the fixes
    (``discrete_gap``, in milp's info and in every refusal of bits), and with a fix the day solves.  The
    continuous model, whose levels are free, has its plan all along (the PyPSA cross-check uses it)."""
    prob = Dispatch.from_grid(case9, periods=4, seed=1, balancing="spill", spill_max_mw=60.0, levels=1)
    assert re.search(r"period 0 .*no combination of levels.*nearest: 0 MW, 250 MW.*raise levels"
                     r".*spill_max_mw >= 193\.076", prob.discrete_gap)
    sol = solve(prob, "milp", seed=1)
    assert not sol.feasible and sol.info["infeasible_why"] == prob.discrete_gap
    with pytest.raises(InfeasibleSolutionError, match="no combination of levels"):
        prob.decode(sol)
    assert prob.plan_from_continuous().validate().objective > 0
    two = Dispatch.from_grid(case9, periods=4, seed=1, balancing="spill", spill_max_mw=60.0, levels=2)
    assert "spill_max_mw >= 85.432" in two.discrete_gap
    for kw in ({"levels": 1, "spill_max_mw": 193.076}, {"levels": 3, "spill_max_mw": 60.0}):
        prob = Dispatch.from_grid(case9, periods=4, seed=1, balancing="spill", **kw)
        assert prob.discrete_gap is None
        plan = prob.decode(solve(prob, "milp", seed=1)).validate()
        assert float(plan.demand.spill_mw.max()) <= kw["spill_max_mw"] + 1e-6


# ------------------------------------------------------------ the full day (slow)
@pytest.mark.slow
def test_full_day_on_case118() -> None:
    prob = Dispatch.from_grid("case118", periods=24, levels=3, seed=1)
    c = prob.solve_continuous(time_limit_s=120)
    assert c.status in ("OPTIMAL", "FEASIBLE") and c.bound_eur <= c.objective_eur + 1e-6
    sol = solve(prob, "cpsat", seed=1, time_limit_s=60)
    if prob.is_feasible(sol.bits):
        plan = prob.decode(sol).validate()
        assert plan.objective >= c.bound_eur - 1e-6


@pytest.mark.slow
def test_simbench_grid_dispatch(tmp_path) -> None:
    prob = Dispatch.from_grid("simbench_mv_rural", units=4, periods=4, seed=1)
    assert prob.profile.source == "simbench"
    plan = prob.decode(solve(prob, "cpsat", seed=1, time_limit_s=20)).validate()
    assert plan.objective >= prob.continuous_bound() - 1e-6
    assert plan.power_flow()["summary"]["converged"]
