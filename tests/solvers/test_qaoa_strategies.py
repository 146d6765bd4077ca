"""QAOA parameter strategies and objectives: INTERP, table transfer, multistart, CVaR, XY cost."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest

from solvers import QUBOBuilder, solve_qubo
from solvers.qaoa import angles
from solvers.qaoa.optimise import cvar_from_distribution
from solvers.qaoa.solver import cost_qubo_for, resolve_mixer
from solvers.qubo import index_bits


def onehot_qubo(groups: int = 3, size: int = 3, seed: int = 0, penalty: float = 6.0):
    rng = np.random.default_rng(seed)
    b = QUBOBuilder()
    names = [[f"t{g}r{r}" for r in range(size)] for g in range(groups)]
    for g in names:
        for v in g:
            b.add_linear(v, float(rng.uniform(0, 2)))
    flat = [v for g in names for v in g]
    for u, v in itertools.combinations(flat, 2):
        if rng.random() < 0.4:
            b.add_quadratic(u, v, float(rng.uniform(0, 1.5)))
    for g in names:
        b.add_onehot(g, penalty=penalty)
    return b.build(metadata={"problem": "test", "onehot_penalty": penalty})


def test_cvar_matches_sorted_samples():
    rng = np.random.default_rng(1)
    vals = rng.normal(size=1000)
    for alpha in (0.01, 0.1, 0.5, 1.0):
        k = int(round(alpha * vals.size))
        want = np.sort(vals)[:k].mean()
        got = cvar_from_distribution(vals, np.full(vals.size, 1 / vals.size), alpha)
        assert got == pytest.approx(want, rel=1e-9)
    assert cvar_from_distribution(vals, np.full(vals.size, 1e-3), 1.0) == pytest.approx(vals.mean())


def test_interp_follows_zhou_formula():
    g, b = angles.interp(np.array([0.1, 0.3, 0.5]), np.array([-0.5, -0.3, -0.1]))
    # i=1..4: x_i = (i-1)/3 x_{i-1} + (3-i+1)/3 x_i
    assert g.tolist() == pytest.approx([0.1, 1 / 3 * 0.1 + 2 / 3 * 0.3, 2 / 3 * 0.3 + 1 / 3 * 0.5, 0.5])
    assert b.tolist() == pytest.approx([-0.5, 1 / 3 * -0.5 + 2 / 3 * -0.3, 2 / 3 * -0.3 + 1 / 3 * -0.1, -0.1])


def test_xy_cost_drops_the_penalty_but_keeps_feasible_energies():
    q = onehot_qubo()
    c, dropped = cost_qubo_for(q, "xy-ring")
    assert dropped
    X = index_bits(np.arange(2**q.num_variables), q.num_variables)
    feas = q.onehot_violations(X) == 0
    np.testing.assert_allclose(c.energies(X[feas]), q.energies(X[feas]), atol=1e-9)
    assert not np.allclose(c.energies(X[~feas]), q.energies(X[~feas]))
    assert c.num_interactions < q.num_interactions  # fewer ZZ gates in the cost layer
    assert cost_qubo_for(q, "x") == (q, False)


def test_mixer_resolution():
    q = onehot_qubo()
    assert resolve_mixer("auto", q) == "xy-ring"
    plain = QUBOBuilder(["a", "b"]).build()
    assert resolve_mixer("auto", plain) == "x"
    from solvers import InvalidOptionError

    with pytest.raises(InvalidOptionError, match="one-hot"):
        resolve_mixer("xy-complete", plain)


def test_interp_runs_each_depth_and_improves():
    q = onehot_qubo(seed=2)
    sol = solve_qubo(q, "qaoa", seed=3, depth=3, init="interp", maxiter=90, shots=256, mixer="x")
    runs = sol.info["runs"]
    assert [r["depth"] for r in runs] == [1, 2, 3]
    assert sol.resources["evaluations"] <= 90
    assert sol.resources["expectation"] < sol.info["initial_expectation"]


def test_multistart_keeps_the_best_run():
    q = onehot_qubo(seed=4)
    one = solve_qubo(q, "qaoa", seed=5, depth=2, maxiter=40, shots=128, mixer="x")
    many = solve_qubo(q, "qaoa", seed=5, depth=2, maxiter=120, shots=128, restarts=3, mixer="x")
    assert len(many.info["runs"]) == 3
    assert many.resources["evaluations"] <= 120
    assert many.resources["expectation"] <= one.resources["expectation"] + 1e-6


def test_cvar_objective_lowers_the_tail():
    q = onehot_qubo(seed=6)
    sol = solve_qubo(q, "qaoa", seed=1, depth=2, maxiter=60, shots=256, objective="cvar", cvar_alpha=0.1,
                     mixer="x")
    trace = sol.info["objective_trace"]
    assert min(trace) < trace[0]
    assert sol.resources["objective"] == "cvar-0.1"


def test_table_transfer(tmp_path, monkeypatch):
    table = {"schema_version": 1, "made_by": "test", "entries": {
        "test/x/p2": {"gammas": [0.11, 0.22], "betas": [-0.33, -0.44]}}}
    path = tmp_path / "angle_table.json"
    path.write_text(json.dumps(table))
    monkeypatch.setattr(angles, "ANGLE_TABLE_PATH", path)
    angles.angle_table.cache_clear()
    try:
        g, b = angles.table_angles("test", "x", 2)
        assert g.tolist() == [0.11, 0.22] and b.tolist() == [-0.33, -0.44]
        assert angles.table_angles("test", "x", 3) is None
        q = onehot_qubo()
        sol = solve_qubo(q, "qaoa", seed=1, depth=2, init="table", maxiter=1, shots=64, mixer="x")
        assert sol.info["init"]["table"] == "test/x/p2"
        assert sol.resources["parameters"]["gammas_normalised"] == pytest.approx([0.11, 0.22])
        sol = solve_qubo(q, "qaoa", seed=1, depth=3, init="table", maxiter=1, shots=64, mixer="x")
        assert "ramp" in sol.info["init"]["table"]
        path.write_text(json.dumps({**table, "schema_version": 9}))
        angles.angle_table.cache_clear()
        from solvers import InvalidInputError

        with pytest.raises(InvalidInputError, match="schema_version"):
            angles.table_angles("test", "x", 2)
    finally:
        angles.angle_table.cache_clear()
