"""The physical dispatch: each period's AC OPF for the MILP's commitment, the cuts, and the plan's own runpp."""

from __future__ import annotations

import json

import numpy as np
import pytest

from optimizer.cli import main
from optimizer.problems.dispatch.ac import ac_dispatch
from optimizer.problems.dispatch.problem import Dispatch
from optimizer.solve import solve


@pytest.fixture(scope="module")
def case118():
    return Dispatch.from_grid("case118", periods=4, levels=3, seed=1, network=True)


@pytest.fixture(scope="module")
def case118_ac():
    return Dispatch.from_grid("case118", periods=4, levels=3, seed=1, network=True, ac=True)


@pytest.fixture(scope="module")
def plans(case118, case118_ac):
    dc = solve(case118, "milp", seed=1, time_limit_s=60)
    ac = solve(case118_ac, "milp", seed=1, time_limit_s=60)
    return dc, ac


def test_the_dc_commitment_breaks_case118_voltages_and_its_ac_dispatch_does_not(case118, case118_ac, plans):
    dc, ac = plans
    assert case118_ac.instance_name == case118.instance_name + "-ac"
    before = case118.decode(dc).validate().power_flow()
    assert before["summary"]["violations"] > 0
    assert {v["quantity"] for p in before["periods"] for v in p["violations"]} >= {"vm_pu"}
    plan = case118_ac.decode(ac).validate()
    assert plan.source == "milp + AC OPF"
    assert ac.info["opf_iterations"] >= 1 and not ac.info["ac_failed_periods"]
    after = plan.power_flow()  # runpp from scratch on a copy of the net with the plan's outputs and set points
    assert after["summary"]["converged"] and after["summary"]["violations"] == 0
    # the same commitment: the AC OPF moves outputs, never who runs
    on_dc = case118.decode(dc).table.pivot(index="period", columns="unit", values="on")
    on_ac = plan.table.pivot(index="period", columns="unit", values="on")
    gens = [u.name for u in case118.units if u.kind == "gen"]
    assert (on_dc[gens] == on_ac[gens]).all().all()
    # supply covers the load plus the network's losses, which runpp agrees with to 1%
    d = plan.demand
    assert np.all(d.losses_mw > 0)
    np.testing.assert_allclose(d.supply_mw + d.import_mw, d.net_load_mw + d.losses_mw, rtol=1e-9, atol=1e-6)
    np.testing.assert_allclose(d.losses_mw, [p["losses_mw"] for p in after["periods"]], rtol=0.02)
    # losses cost money: the AC plan costs more than the lossless commitment model said
    assert plan.objective > case118.decode(dc).objective


def test_ac_dispatch_reports_a_period_with_no_feasible_dispatch():
    prob = Dispatch.from_grid("case9", periods=4, seed=1)
    assert prob.profile.net_load_mw[1] > prob.units[0].p_max_mw  # period 1's load exceeds the import alone
    on = np.ones((4, len(prob.units)), dtype=bool)
    ok = ac_dispatch(prob, on)
    assert ok.converged.all() and not ok.failures
    on[1, 1:] = False  # every generator off in period 1: the import alone cannot carry the load
    res = ac_dispatch(prob, on)
    assert res.failed_periods == [1] and "period 1" in res.failures[0]
    assert res.converged[[0, 2, 3]].all()


def test_a_cut_forbids_its_commitment_in_its_period(case118):
    res, x = case118._milp_once([], seed=1, time_limit_s=60)
    bits = np.array([1 if res.variable_values()[v] > 0.5 else 0 for v in x], dtype=np.uint8)
    choice = case118.level_choice(bits)
    pattern = tuple(bool(choice[0, i] >= 0) for i in range(len(case118.discrete)))
    res2, x2 = case118._milp_once([(0, pattern)], seed=1, time_limit_s=60)
    bits2 = np.array([1 if res2.variable_values()[v] > 0.5 else 0 for v in x2], dtype=np.uint8)
    choice2 = case118.level_choice(bits2)
    assert tuple(bool(choice2[0, i] >= 0) for i in range(len(case118.discrete))) != pattern
    assert res2.objective_value() >= res.objective_value() - 1e-6  # a cut never makes the optimum cheaper


def test_the_cli_writes_a_violation_free_ac_plan_and_says_so(tmp_path):
    out = tmp_path / "out"
    rc = main(["run", "--problem", "dispatch", "--grid", "case118", "--periods", "2", "--levels", "3",
               "--network", "--ac", "--solver", "milp", "--time-limit", "60", "--out", str(out)])
    assert rc == 0
    (d,) = list(out.glob("dispatch/*/milp"))
    s = json.loads((d / "summary.json").read_text())
    pf = json.loads((d / "powerflow.json").read_text())
    assert s["violations"] == 0 == pf["summary"]["violations"]
    assert all(not p["violations"] for p in pf["periods"])
    assert s["opf_iterations"] >= 1 and s["plan_source"] == "milp + AC OPF"
    assert s["ac_opf_runs"] >= 2 and s["ac_milp_solves"] >= 1  # two periods, each through the OPF
    assert s["network_constrained"] is True and s["ac_dispatch"] is True
    csv = (d / "dispatch.csv").read_text().splitlines()
    assert csv[0].endswith(",vm_pu")


def test_a_qubo_solvers_commitment_is_re_dispatched_in_ac_too(tmp_path):
    """One AC pass over anneal's commitment (no loop: only milp cuts and solves again)."""
    out = tmp_path / "out"
    rc = main(["run", "--problem", "dispatch", "--grid", "case9", "--periods", "4", "--levels", "3", "--ac",
               "--solver", "anneal", "--out", str(out)])
    assert rc == 0
    (a,) = list(out.glob("dispatch/*-ac/anneal"))
    s = json.loads((a / "summary.json").read_text())
    assert s["plan_source"].startswith("anneal + AC OPF") and s["opf_iterations"] == 1
    pf = json.loads((a / "powerflow.json").read_text())
    assert s["violations"] == pf["summary"]["violations"]
    assert s["violations"] == 0 or s["violations_why"]


@pytest.mark.parametrize("flags, field", [(["--max-ac-iterations", "0"], "max_ac_iterations")])
def test_bad_ac_options_are_one_error(tmp_path, capsys, flags, field):
    rc = main(["run", "--problem", "dispatch", "--grid", "case9", "--periods", "2", "--solver", "milp", "--ac",
               *flags, "--out", str(tmp_path / "o")])
    assert rc == 2
    assert field in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_the_city_grid_dispatches_in_ac_through_its_phase_shifting_transformers():
    """Helsinki's own MV/LV grid (Dyn5 transformers, 150 degrees): every period has an AC dispatch."""
    prob = Dispatch.from_grid("city:helsinki", periods=3, levels=3, seed=1, network=True, ac=True)
    assert (prob.grid.copy_net().trafo.shift_degree % 360 != 0).any()
    sol = solve(prob, "milp", seed=1, time_limit_s=60)
    assert not sol.info["ac_failed_periods"]
    plan = prob.decode(sol).validate()
    assert plan.source == "milp + AC OPF"
    pf = plan.power_flow()
    assert pf["summary"]["violations"] == 0 and pf["summary"]["converged"]


def test_a_failed_period_is_repaired_with_the_fewest_units_the_probes_find(case118):
    """The AC loop's repair: a commitment with only the cheapest unit running has no AC dispatch on case118;
    the probes (every unit running, then a binary search over the units that were off) return a commitment
    that contains the failed one and does dispatch, and the OPF cache answers a repeated period at once."""
    T, n, ne = case118.periods, len(case118.discrete), len(case118.ext_units)
    choice = np.full((T, n), -1)
    choice[:, 0] = 0
    cache: dict = {}
    first = case118.ac_dispatch(choice, cache=cache)
    assert 0 in first.failed_periods
    runs = len(cache)
    again = case118.ac_dispatch(choice, cache=cache)
    assert len(cache) == runs and again.failed_periods == first.failed_periods  # nothing re-run
    (must, dev), why = case118._ac_repair(choice, None, 0, cache)
    assert why == "" and dev is None and must[0] and 1 < sum(must) < n
    fixed = case118.ac_dispatch(choice, extra_on={0: must})
    assert fixed.converged[0] and fixed.on[0, ne:].tolist() == list(must)
    assert np.all(fixed.q_mvar[0, ne:][~np.asarray(must)] == 0.0)


@pytest.mark.slow
def test_case118_with_devices_has_zero_violations_after_the_loop():
    """Issue 13: case118 with EVs and batteries under ``--ac`` (one level per unit, so the MILP's commitment
    runs few, large units and has no AC dispatch): the loop repairs every period, the emitted plan validates
    (energy by departure, state of charge, balance with the devices) and runpp from scratch finds nothing."""
    from optimizer.runs.scenarios import dispatch

    prob = dispatch(grid="case118", periods=2, seed=1, network=True, ac=True, evs=20, batteries=2)
    sol = solve(prob, "milp", seed=1, time_limit_s=60, max_ac_iterations=3)
    info = sol.info
    assert info["device_policy"] == "optimised" and info["ac_locked_periods"] and info["opf_iterations"] >= 2
    assert not info["ac_failed_periods"] and not info["ac_stopped"] and info["ac_added_units"]
    plan = prob.decode(sol).validate()
    assert plan.source == "milp + AC OPF"
    pf = plan.power_flow()
    assert pf["summary"]["converged"] and pf["summary"]["violations"] == 0
    added = plan.table[plan.table.unit.isin(info["ac_added_units"][1]) & (plan.table.period == 1)]
    assert len(added) == len(info["ac_added_units"][1]) and added.on.all()  # the AC stage's units run (validate
    # re-prices them: their running and start-up costs are in the objective)
