"""Dispatch's one-hot encoding: the QUBO against an independent brute force, every solver on it,
XY-mixer samples inside the groups, and seeded QAOA runs on case9 that return the optimal plan."""

from __future__ import annotations

import math

import numpy as np
import pytest

from optimizer.errors import InfeasibleSolutionError, InvalidInputError
from optimizer.inputs.grid import Grid
from optimizer.problems.dispatch.problem import QAOA_DEMO, Dispatch
from optimizer.solve import solve
from tests.optimizer.test_dispatch import _brute_force, _instances

NAMES = ["balancing", "spill", "storage", "ramp_minup", "minup_initial_on", "network"]


@pytest.fixture(scope="module")
def onehot() -> dict[str, Dispatch]:
    return {k: p.with_encoding("onehot") for k, p in _instances(Grid.load("case9")).items()}


@pytest.mark.parametrize("name", NAMES)
def test_onehot_qubo_minimum_is_the_optimum_by_enumeration(onehot: dict[str, Dispatch], name: str) -> None:
    from solvers.qubo import index_bits

    prob = onehot[name]
    qubo = prob.to_qubo()
    n = qubo.num_variables
    assert n <= 18, f"{name} has {n} variables"
    assert qubo.onehot and len(qubo.onehot) == prob.periods
    X = index_bits(np.arange(2**n), n)
    E = qubo.energies(X)
    opt, argopt = _brute_force(prob)  # enumerates level choices, checks them in MW: no QUBO involved
    assert math.isfinite(opt)
    j = int(np.argmin(E))
    assert E[j] == pytest.approx(opt, rel=1e-9)
    assert prob.is_feasible(X[j]) and prob.objective(X[j]) == pytest.approx(opt, rel=1e-9)
    assert any(np.array_equal(prob.level_choice(X[j]), c) for c in argopt)
    # the proven bound: below `feasible_below` lie exactly the feasible plans (with aux bits right)
    feas = np.array([prob.is_feasible(x) for x in X])
    below = E < qubo.metadata["feasible_below"]
    assert not (below & ~feas).any()
    ub, lb = prob._cost_parts
    assert prob.penalty > ub - lb and E[~feas].min() >= lb + prob.penalty - 1e-6 > ub >= opt - 1e-6
    # every feasible plan, encoded, costs exactly its objective and lies below the bound
    for c in prob.enumerate_choices():
        if not prob.violations(c):
            b = prob.bits_for(c)
            assert qubo.energy(b) == pytest.approx(prob.cost_eur(c), rel=1e-9)
            assert qubo.energy(b) < qubo.metadata["feasible_below"]
            assert np.array_equal(prob.level_choice(b), c)


@pytest.mark.parametrize("name", NAMES)
def test_every_solver_agrees_on_the_onehot_encoding(onehot: dict[str, Dispatch], name: str) -> None:
    prob = onehot[name]
    levels = prob.with_encoding("levels")
    opt = levels.objective(solve(levels, "milp", seed=1).bits)
    groups = prob.to_qubo().onehot
    for solver in ("milp", "cpsat", "exact", "anneal", "decompose"):
        sol = solve(prob, solver, seed=1)
        assert len(sol.bits) == len(prob.variables)
        assert all(int(sol.bits[list(g)].sum()) == 1 for g in groups), solver
        assert prob.objective(sol.bits) == pytest.approx(opt, rel=1e-9), solver


def test_xy_mixer_samples_are_one_hot_in_every_group() -> None:
    from solvers.qaoa.backends import make_backend
    from solvers.qaoa.cost import IsingCost
    from solvers.qaoa.solver import cost_qubo_for, resolve_mixer

    prob = Dispatch.from_grid(**{**QAOA_DEMO, "levels": 3, "periods": 2, "encoding": "onehot"})
    qubo = prob.to_qubo()
    assert max(len(g) for g in qubo.onehot) >= 3
    mixer = resolve_mixer("auto", qubo)
    assert mixer == "xy-ring"
    cost_qubo, dropped = cost_qubo_for(qubo, mixer)
    assert dropped
    cost = IsingCost.from_qubo(cost_qubo)
    for name in ("fast", "qsim"):
        backend = make_backend(name, cost, 2, mixer=mixer, groups=qubo.onehot)
        X = backend.sample([0.7, 1.3], [0.4, 0.9], 2000, seed=3)
        assert len(np.unique(X, axis=0)) > 5  # the mixer does move the state
        assert (qubo.onehot_violations(X) == 0).all(), name
        assert all(prob.is_feasible(x) for x in np.unique(X, axis=0)), name


@pytest.mark.parametrize("levels", [1, 2])
def test_seeded_qaoa_on_case9_returns_the_optimal_plan(levels: int) -> None:
    prob = Dispatch.from_grid(**{**QAOA_DEMO, "levels": levels, "encoding": "onehot"})
    opt = prob.objective(solve(prob, "milp").bits)
    sol = solve(prob, "qaoa", seed=1, depth=2, shots=2048, backend="fast")
    r = sol.resources
    assert r["mixer"] == "xy-ring" and r["qubits"] == len(prob.variables) <= 16
    assert prob.is_feasible(sol.bits)
    assert prob.objective(sol.bits) == pytest.approx(opt, rel=1e-9)
    assert r["p_feasible"] == 1.0 and r["p_optimum"] > 0.05


def test_p_feasible_counts_penalised_samples_as_infeasible() -> None:
    """The level encoding has no one-hot groups: every sample passes the one-hot check, but only those
    below its proven ``feasible_below`` energy meet every constraint (``p_feasible``)."""
    prob = Dispatch.from_grid(**QAOA_DEMO)
    sol = solve(prob, "qaoa", seed=1, depth=1, shots=512, backend="fast", maxiter=20)
    r = sol.resources
    assert r["feasible_fraction"] == 1.0
    assert 0.0 <= r["p_feasible"] < 0.5
    assert r["p_optimum"] <= r["p_feasible"]
    if sol.energy < prob.to_qubo().metadata["feasible_below"]:
        assert r["p_feasible"] > 0 and prob.is_feasible(sol.bits)


def test_onehot_bad_input() -> None:
    with pytest.raises(InvalidInputError, match="encoding must be .auto., .levels. or .onehot.*got .one-hot."):
        Dispatch.from_grid(**{**QAOA_DEMO, "encoding": "one-hot"})
    with pytest.raises(InvalidInputError, match="encoding='levels'"):
        Dispatch.from_grid("case30", periods=2, levels=5, encoding="onehot")
    prob = Dispatch.from_grid(**{**QAOA_DEMO, "encoding": "onehot"})
    with pytest.raises(InfeasibleSolutionError, match="exactly one"):
        prob.level_choice(np.zeros(len(prob.variables), dtype=np.uint8))
    with pytest.raises(InfeasibleSolutionError, match="no bit for it"):
        prob.bits_for(np.zeros((prob.periods, len(prob.discrete)), dtype=np.int64))  # every unit on: unbalanced
    assert prob.is_feasible(np.ones(len(prob.variables), dtype=np.uint8))  # one commitment per period: the plan
    two = Dispatch.from_grid(**{**QAOA_DEMO, "levels": 2, "encoding": "onehot"})
    assert not two.is_feasible(np.ones(len(two.variables), dtype=np.uint8))  # several commitments per period


def test_auto_takes_onehot_where_it_has_fewer_variables() -> None:
    demo = Dispatch.from_grid(**{**QAOA_DEMO, "encoding": "auto"})
    assert demo.encoding == "onehot" and demo.instance["encoding"] == "onehot"
    assert demo.instance_name == demo.with_encoding("levels").instance_name  # the same instance, another QUBO
    assert len(demo.variables) < len(demo.with_encoding("levels").variables)
    big = Dispatch.from_grid("case30", periods=2, levels=2, encoding="auto")  # 3**5 commitments to choose among
    assert big.encoding == "levels" and len(big.with_encoding("onehot").variables) > len(big.variables)
