"""Dispatch within the grid's lines: pandapower's PTDF against its own DC power flow, and line limits in the MILPs."""

from __future__ import annotations

import numpy as np
import pytest

from optimizer.errors import GridError
from optimizer.inputs.grid import Grid
from optimizer.inputs.network import dc_network
from optimizer.problems.dispatch.problem import Dispatch
from optimizer.solve import solve


@pytest.mark.parametrize("name", ["case9", "case30", "case118"])
def test_ptdf_flows_equal_pandapowers_dc_power_flow(name):
    import pandapower as pp

    grid = Grid.load(name)
    dc = dc_network(grid)
    rng = np.random.default_rng(3)
    net = grid.copy_net()
    # other injections than the case's own: every generator at a random share of its capacity
    if len(net.gen):
        net.gen["p_mw"] = rng.uniform(0.2, 1.0, len(net.gen)) * net.gen["max_p_mw"].clip(upper=500)
    pp.rundcpp(net)
    injections = {b: -float(net.res_bus.p_mw.at[b]) for b in dc.buses}  # res_bus: consumption positive
    flows = dc.flows(injections)
    want = np.array([net.res_line.p_from_mw.at[i] if k == "line" else net.res_trafo.p_hv_mw.at[i]
                     for k, i in dc.branches])
    np.testing.assert_allclose(flows, want, atol=1e-6 * max(1.0, np.abs(want).max()))
    assert np.all(dc.column(dc.reference_bus) == 0)


def test_a_branch_without_a_rating_is_refused():
    grid = Grid.load("case9")
    net = grid.copy_net()
    net.line.loc[3, "max_i_ka"] = 0.0
    with pytest.raises(GridError, match="line 3.*max_i_ka"):
        dc_network(grid.with_net(net))


@pytest.fixture(scope="module")
def case30():
    return {net: Dispatch.from_grid("case30", periods=24, levels=2, seed=1, network=net) for net in (False, True)}


def test_the_copper_plate_plan_overloads_case30_and_the_network_plan_does_not(case30):
    cu, net = case30[False], case30[True]
    a = solve(cu, "milp", seed=1, time_limit_s=60)
    b = solve(net, "milp", seed=1, time_limit_s=60)
    assert a.status.value == b.status.value == "OPTIMAL"
    over = net.line_violations(cu.output_mw(cu.level_choice(a.bits)))
    assert over  # the copper plate breaks lines the DC flow sees
    assert net.violations(cu.level_choice(a.bits))  # and the network-constrained problem refuses that plan
    assert net.is_feasible(b.bits) and not net.line_violations(net.output_mw(net.level_choice(b.bits)))
    # respecting the network costs something, never less
    assert net.objective(b.bits) >= cu.objective(a.bits) - 1e-6
    flows = net.branch_flows_mw(net.output_mw(net.level_choice(b.bits)))
    limit = net.line_model_exact[2]
    assert np.all(np.abs(flows) <= limit + 1e-6)


def test_the_continuous_bound_respects_the_lines_too(case30):
    net = case30[True]
    res = net.solve_continuous(time_limit_s=60)
    p = res.p_mw[:, len(net.ext_units):]
    assert not net.line_violations(p, tol_mw=1e-5)
    b = solve(net, "milp", seed=1, time_limit_s=60)
    assert res.bound_eur <= net.objective(b.bits) + 1e-6
    assert net.summary_extras()["network_constrained"] is True


def test_instance_names_tell_the_network_apart(case30):
    assert case30[True].instance_name == case30[False].instance_name + "-net"


def test_a_grid_with_an_island_is_one_clear_error_at_the_cli(tmp_path, capsys):
    import pandapower as pp

    from optimizer.cli import main

    net = Grid.load("case9").copy_net()
    net.line.loc[(net.line.to_bus == 4) | (net.line.from_bus == 4), "in_service"] = False
    path = tmp_path / "islanded.json"
    pp.to_json(net, str(path))
    out = tmp_path / "out"
    rc = main(["run", "--problem", "dispatch", "--grid", str(path), "--periods", "2", "--network",
               "--solver", "milp", "--out", str(out)])
    err = capsys.readouterr().err
    assert rc == 2 and "has an island: bus 4 (load 90 MW)" in err and "connect it" in err
    assert len(err.strip().splitlines()) == 1
    assert not out.exists()


# ---------------------------------------------------------------- line limits in the QUBO and CP-SAT
@pytest.fixture(scope="module")
def lowered():
    from tests.optimizer.test_dispatch import network_case9

    g = Grid.load("case9")
    return {net: network_case9(g, network=net) for net in (False, True)}


def test_the_qubo_minimum_is_the_network_optimum_and_refuses_the_copper_plate(lowered):
    """case9 with line 5 at 40% of its rating, 2 units x 2 periods, 2 levels: every one of the 2**13
    assignments scored; the minimum is the constrained optimum (= milp's, = brute force over level
    choices, on the rounded PTDF and on pandapower's own), the copper-plate optimum is refused."""
    from solvers.qubo import index_bits

    cu, net = lowered[False], lowered[True]
    q = net.to_qubo()
    n = q.num_variables
    # two binding (branch, period) windows, one slack bit between them
    assert len(net.line_windows) == 2 and n == len(cu.variables) + 1 <= 20
    X = index_bits(np.arange(2**n), n)
    E = q.energies(X)
    j = int(np.argmin(E))
    best = net.level_choice(X[j])
    # brute force over level choices: in the model, and on the unrounded PTDF with the untightened limits
    feasible = [c for c in cu.enumerate_choices() if not cu.violations(c)]
    in_model = [c for c in feasible if not net.violations(c)]
    exact = [c for c in feasible if not net.line_violations(net.output_mw(c))]
    assert 0 < len(in_model) < len(feasible)
    assert all(not net.line_violations(net.output_mw(c)) for c in in_model)  # the rounding is safe
    opt = min(net.cost_eur(c) for c in in_model)
    assert min(net.cost_eur(c) for c in exact) == pytest.approx(opt, rel=1e-12)  # and costs nothing here
    assert E[j] == pytest.approx(opt, rel=1e-9) and net.is_feasible(X[j]) and net.cost_eur(best) == pytest.approx(opt)
    m = solve(net, "milp", seed=1)
    assert m.status.value == "OPTIMAL" and net.objective(m.bits) == pytest.approx(opt, rel=1e-9)
    # the copper plate's optimum overloads line 5 and every assignment with its levels is penalised
    cp = solve(cu, "milp", seed=1)
    copper = cu.level_choice(cp.bits)
    assert cu.objective(cp.bits) < opt - 1.0
    assert net.line_violations(net.output_mw(copper)) and net.violations(copper)
    levels = np.array([net.level_choice(x).tobytes() == copper.tobytes() if _one_level(net, x) else False
                       for x in X])
    ub, lb = net._cost_parts
    assert levels.any() and E[levels].min() >= lb + net.penalty - 1e-6 > ub >= opt


def _one_level(prob, x) -> bool:
    from optimizer.errors import InfeasibleSolutionError

    try:
        prob.level_choice(x)
    except InfeasibleSolutionError:
        return False
    return True


def test_every_solvers_network_plan_validates_and_keeps_the_lines(lowered):
    net = lowered[True]
    plans = [net.decode(solve(net, s, seed=1)) for s in ("milp", "cpsat", "exact")]
    plans.append(net.plan_from_continuous())
    objectives = set()
    for plan in plans:
        plan.validate()
        p = plan.table.pivot(index="period", columns="unit", values="p_mw")[[u.name for u in net.discrete]]
        assert not net.line_violations(p.to_numpy(), tol_mw=1e-5), plan.source
        objectives.add(round(plan.objective, 6))
    assert len(objectives) == 2  # the three discrete solvers agree; the continuous plan is its own


def test_cpsat_equals_milp_on_case30_with_lines():
    prob = Dispatch.from_grid("case30", periods=4, levels=2, seed=1, network=True)
    assert prob.line_windows  # the lines bind
    a, b = solve(prob, "milp", seed=1, time_limit_s=60), solve(prob, "cpsat", seed=1, time_limit_s=60)
    assert a.status.value == b.status.value == "OPTIMAL"
    assert prob.objective(a.bits) == pytest.approx(prob.objective(b.bits), rel=1e-6)
    assert not prob.line_violations(prob.output_mw(prob.level_choice(b.bits)))


def test_a_day_no_commitment_keeps_within_the_lines_is_refused_naming_the_branch():
    from optimizer.errors import InvalidInputError
    from tests.optimizer.test_dispatch import NETWORK_CASE9, lowered_case9

    g = lowered_case9(Grid.load("case9"), line=0, share=0.2)  # the external grid's own line at 20%
    with pytest.raises(InvalidInputError, match=r"infeasible day: in period \d.*line 0.*raise line_margin"):
        Dispatch.from_grid(g, **NETWORK_CASE9, network=True)
    Dispatch.from_grid(g, **NETWORK_CASE9)  # the copper plate has plans


def test_without_listing_combinations_each_branch_gets_its_reach_window(lowered, monkeypatch):
    """Above MAX_LINE_COMBOS (case118's 54 units) a window covers every flow its branch's units
    reach, with bounded-coefficient slack: more qubits, the same optimum."""
    import optimizer.problems.dispatch.problem as mod
    from solvers.qubo import index_bits
    from tests.optimizer.test_dispatch import network_case9

    monkeypatch.setattr(mod, "MAX_LINE_COMBOS", 1)
    wide = network_case9(Grid.load("case9"))
    assert len(wide.variables) > len(lowered[True].variables)
    assert all(w.slack == mod.slack_coefficients(w.hi - w.lo) for w in wide.line_windows.values())
    opt = lowered[True].objective(solve(lowered[True], "milp", seed=1).bits)
    for s in ("milp", "cpsat"):
        assert wide.objective(solve(wide, s, seed=1).bits) == pytest.approx(opt, rel=1e-9), s
    n = len(wide.variables)
    if n <= 20:
        E = wide.to_qubo().energies(index_bits(np.arange(2**n), n))
        assert float(E.min()) == pytest.approx(opt, rel=1e-9)
