"""Native solvers carry their own decision and never build the QUBO (issue: a 100-customer CVRP
spent 140 s building a 34-million-term QUBO under a 2 s time limit)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from optimizer import City, problems, solve


def _built(prob) -> bool:
    return "_qubo" in prob.__dict__


@pytest.fixture(scope="module")
def city():
    return City.load("helsinki")


def test_routing_on_a_large_cvrp_never_builds_the_qubo() -> None:
    rng = np.random.default_rng(7)
    xy = rng.uniform(0, 100, size=(101, 2))
    cost = np.floor(np.sqrt(((xy[:, None] - xy[None]) ** 2).sum(-1)) + 0.5)
    prob = problems.Fleet(cost, vehicles=8, capacity=80, demands=rng.integers(1, 10, 100).tolist(),
                          name="random-n101-k8")
    sol = solve(prob, "routing", time_limit_s=1.0, seed=1)
    assert not _built(prob), "routing built the QUBO"
    assert sol.feasible and math.isnan(sol.energy)
    assert sorted(s for r in sol.decision for s in r) == list(range(1, 101))
    assert prob.routes(sol.bits) == [list(r) for r in sol.decision]
    assert sol.wall_time_s < 30  # the solve honours its limit; building the QUBO took minutes


def test_native_traffic_and_dispatch_solvers_carry_their_decision(city) -> None:
    t = problems.Traffic.from_city(city, trips=5, routes=2, seed=1)
    for name in ("shortest", "cpsat"):
        sol = solve(t, name, seed=1)
        assert not _built(t), f"{name} built the QUBO"
        if name == "shortest":
            assert sol.decision == [0] * 5
    # the QUBO, once built, is the surrogate on the native plan (penalties vanish)
    assert t.to_qubo().energy(sol.bits) == pytest.approx(t.surrogate(sol.bits))
    d = problems.Dispatch.from_grid("case9", units=3, periods=2, levels=1, seed=1)
    sol = solve(d, "milp", seed=1)
    assert not _built(d) and sol.feasible
    assert np.array_equal(sol.decision, d.level_choice(sol.bits))
