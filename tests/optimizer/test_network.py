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
