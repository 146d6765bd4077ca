"""The dispatch MILP against PyPSA (linopy + HiGHS) on the same data: optimizer/problems/dispatch/crosscheck.py.

The two optima agree within 0.1% on small instances, and a data transfer that
drops a term (start-up costs, the cost curve's resolution, minimum up times)
makes them disagree, so the agreement is not an accident of the instance.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from optimizer.errors import InvalidInputError
from optimizer.inputs.grid import CostCurve, Grid
from optimizer.problems.dispatch.crosscheck import TOLERANCE, crosscheck, pypsa_network
from optimizer.problems.dispatch.problem import Dispatch


@pytest.fixture(scope="module")
def case9() -> Dispatch:
    return Dispatch.from_grid("case9", periods=4)


@pytest.fixture(scope="module")
def case9_result(case9: Dispatch) -> dict:
    return crosscheck(case9, time_limit_s=60)


def test_case9_objectives_agree(case9_result: dict) -> None:
    r = case9_result
    assert r["cityopt"]["status"] == "OPTIMAL" and r["pypsa"]["status"] == "optimal"
    assert r["agree"] and r["rel_diff"] <= TOLERANCE
    # the same model, so the optima agree far tighter than the 0.1% asked
    assert r["rel_diff"] < 1e-6
    assert r["exact_rel_diff"] < TOLERANCE
    assert r["pypsa"]["plan_valid"], r["pypsa"].get("plan_error")
    assert len(r["commitment_diff"]) == 4
    assert r["cityopt"]["objective_eur"] > 0 and r["pypsa"]["wall_time_s"] > 0


def test_case9_network_holds_the_data(case9: Dispatch) -> None:
    n = pypsa_network(case9)
    net = case9.grid.net
    gens = list(case9.discrete)
    assert sorted(n.links.index) == sorted(u.name for u in gens)
    for u in gens:
        link = n.links.loc[u.name]
        assert link.committable and link.p_nom == u.p_max_mw
        assert link.start_up_cost == u.startup_eur
        assert math.isclose(link.p_min_pu * link.p_nom, max(0.0, u.p_min_mw))
        assert link.bus1 == f"bus {u.bus}"
    loads = n.loads_t.p_set.sum(axis=1).to_numpy()
    assert np.allclose(loads, case9.profile.load_mw)
    assert len(n.lines) == int(net.line.in_service.sum())
    assert np.isinf(n.lines.s_nom).all()
    rated = pypsa_network(case9, line_limits=True)
    want = math.sqrt(3) * net.bus.vn_kv.loc[net.line.from_bus].to_numpy() * net.line.max_i_ka.to_numpy()
    assert np.allclose(rated.lines.s_nom.to_numpy(), want)
    assert (n.snapshot_weightings.objective == case9.dt_h).all()


def test_a_wrong_transfer_disagrees(case9: Dispatch, case9_result: dict) -> None:
    """Leaving out the start-up costs, or pricing with two tangents, breaks the agreement."""
    n = pypsa_network(case9)
    n.links["start_up_cost"] = 0.0
    r = crosscheck(case9, network=n, time_limit_s=60)
    assert not r["agree"] and r["pypsa"]["objective_eur"] < case9_result["cityopt"]["objective_eur"]
    r = crosscheck(case9, network=pypsa_network(case9, tangents=2), time_limit_s=60)
    assert not r["agree"]


@pytest.mark.slow  # two PyPSA and two cityopt solves on 5 units x 8 periods: ~6 s
def test_minimum_up_times_are_stated() -> None:
    """case30 in 3-hour periods, units with a stand-by cost (so they stop at night) and 18-hour minimum
    up / 9-hour minimum down times: the optima agree; without the minimum times in PyPSA they do not."""
    g = Grid.load("case30")
    p0 = Dispatch.from_grid(g, periods=8)
    units = [u if u.kind == "ext_grid" else replace(u, startup_eur=20.0, cost=replace(u.cost, c0=50.0),
                                                       min_up_h=18.0, min_down_h=9.0) for u in p0.units]
    prob = Dispatch(g, p0.profile, units)
    assert max(prob.min_up) == 6 and max(prob.min_down) == 3
    r = crosscheck(prob, time_limit_s=60)
    assert r["agree"] and r["pypsa"]["plan_valid"], r
    n = pypsa_network(prob)
    assert (n.links.min_up_time == 6).all() and (n.links.min_down_time == 3).all()
    n.links["min_up_time"] = 0
    n.links["min_down_time"] = 0
    loose = crosscheck(prob, network=n, time_limit_s=60)
    assert not loose["agree"] and loose["pypsa"]["objective_eur"] < r["cityopt"]["objective_eur"]


def test_line_limits_bound_from_below(case9: Dispatch, case9_result: dict) -> None:
    """With the net's ratings PyPSA's optimum is at least the copper plate's, and no line is over."""
    n = pypsa_network(case9, line_limits=True)
    r = crosscheck(case9, network=n, time_limit_s=60)
    assert r["line_limits"] and r["pypsa"]["status"] == "optimal"
    assert r["pypsa"]["objective_eur"] >= case9_result["pypsa"]["objective_eur"] * (1 - 1e-9)
    flows = n.lines_t.p0.abs().to_numpy()
    assert (flows <= n.lines.s_nom.to_numpy()[None, :] * (1 + 1e-6)).all()


def test_unstated_units_are_refused(case9: Dispatch) -> None:
    ramped = [replace(u, ramp_mw_per_h=50.0) if u.kind == "gen" else u for u in case9.units]
    prob = Dispatch(case9.grid, case9.profile, ramped)
    with pytest.raises(InvalidInputError, match=r"unit 'gen 0' has ramp_mw_per_h"):
        pypsa_network(prob)


def test_pwl_costs_and_spill_balancing(case9: Dispatch) -> None:
    """Piecewise-linear costs (one PyPSA generator per segment) and spill balancing (the external grid a
    committable unit like the others, a sink for the surplus) agree as well."""
    pwl = CostCurve(pwl=((0.0, 100.0, 20.0), (100.0, 200.0, 30.0), (200.0, 300.0, 45.0)))
    units = [replace(u, cost=pwl) if u.kind == "gen" else u for u in case9.units]
    prob = Dispatch(case9.grid, case9.profile, units, balancing="spill", spill_max_mw=50.0)
    assert prob.ext_units == () and len(prob.discrete) == 3
    r = crosscheck(prob, time_limit_s=60)
    assert r["agree"] and r["pypsa"]["plan_valid"], r


def test_case118_with_its_transformers_agrees() -> None:
    """case118 has 13 transformers: without line limits they stay rated (x is per unit on s_nom), and the
    optima agree; before, an infinite s_nom made PyPSA's angle recovery fail (SVD did not converge)."""
    prob = Dispatch.from_grid("case118", periods=2, seed=1)
    assert len(prob.grid.net.trafo) == 13
    n = pypsa_network(prob)
    assert np.isfinite(n.transformers.s_nom).all()
    r = crosscheck(prob, time_limit_s=120)
    assert r["agree"], r


def test_binding_line_limits_agree_with_cityopts_network_model() -> None:
    """case9 with every line at half its rating: the limits bind (the optimum rises over the copper plate's),
    and PyPSA's DC flow with ratings agrees with cityopt's PTDF-constrained continuous MILP."""
    grid = Grid.load("case9")
    net = grid.copy_net()
    net.line["max_i_ka"] *= 0.5
    copper = Dispatch.from_grid(grid.with_net(net), periods=24, seed=1, levels=3)  # the discrete model can keep
    lines = Dispatch(copper.grid, copper.profile, copper.units, network=True, line_margin=1.0, levels=3)  # the lines
    r = crosscheck(lines, time_limit_s=60, line_limits=True)
    assert r["line_limits"] and r["agree"] and r["pypsa"]["plan_valid"], r
    assert r["cityopt"]["objective_eur"] > copper.solve_continuous(time_limit_s=60).bound_eur * (1 + 1e-4)
