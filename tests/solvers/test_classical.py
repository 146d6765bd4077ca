"""exact and anneal against independent enumeration; CP-SAT against exact."""

from __future__ import annotations

import numpy as np
import pytest

from solvers import QUBO, InvalidOptionError, ProblemTooLargeError, QUBOBuilder, Status, solve_qubo
from tests.solvers.test_qubo import brute_energies, random_qubo


@pytest.mark.parametrize("n,seed", [(1, 0), (2, 1), (5, 2), (8, 3), (11, 4)])
def test_exact_is_the_minimum(n, seed):
    q = random_qubo(n, seed)
    sol = solve_qubo(q, "exact")
    E = brute_energies(q)
    assert sol.energy == pytest.approx(E.min(), abs=1e-9)
    assert q.energy(sol.bits) == pytest.approx(sol.energy)
    assert sol.status is Status.OPTIMAL and sol.best_bound == pytest.approx(sol.energy)


def test_exact_chunks_agree():
    q = random_qubo(14, 7)
    full = solve_qubo(q, "exact")
    chunked = solve_qubo(q, "exact", chunk_bits=4)
    assert chunked.energy == pytest.approx(full.energy)
    assert chunked.bits.tolist() == full.bits.tolist()


def test_exact_refuses_too_large():
    with pytest.raises(ProblemTooLargeError, match="max_variables=26"):
        solve_qubo(QUBO(np.zeros(27), [], [], []), "exact")


@pytest.mark.parametrize("seed", range(5))
def test_anneal_finds_small_optima(seed):
    q = random_qubo(10, seed)
    assert solve_qubo(q, "anneal", seed=seed).energy == pytest.approx(brute_energies(q).min(), abs=1e-9)


def test_anneal_group_moves_stay_feasible_and_optimal():
    rng = np.random.default_rng(3)
    b = QUBOBuilder()
    groups = [[f"g{g}_{r}" for r in range(3)] for g in range(4)]
    for g in groups:
        b.add_onehot(g, penalty=50.0)
        for v in g:
            b.add_linear(v, float(rng.normal()))
    flat = [v for g in groups for v in g]
    for _ in range(15):
        u, v = rng.choice(len(flat), 2, replace=False)
        b.add_quadratic(flat[u], flat[v], float(rng.normal()))
    q = b.build()
    sol = solve_qubo(q, "anneal", seed=1, reads=8, sweeps=300)
    assert sol.feasible and sol.status is Status.FEASIBLE
    assert sol.energy == pytest.approx(solve_qubo(q, "exact").energy)


def test_anneal_is_seeded():
    q = random_qubo(30, 1)
    a = solve_qubo(q, "anneal", seed=5, sweeps=50)
    b = solve_qubo(q, "anneal", seed=5, sweeps=50)
    assert a.bits.tolist() == b.bits.tolist()


@pytest.mark.parametrize("seed", range(6))
def test_cpsat_on_qubo_equals_exact(seed):
    q = random_qubo(9, seed, decimals=3)
    c = solve_qubo(q, "cpsat", seed=0)
    e = solve_qubo(q, "exact")
    assert c.status is Status.OPTIMAL
    assert c.energy == pytest.approx(e.energy, abs=1e-9)
    assert c.best_bound == pytest.approx(e.energy, abs=1e-6)
    assert c.info["exact_scale"]


def test_cpsat_deterministic_time_gives_the_same_answer_with_any_workers():
    # a QUBO CP-SAT cannot close in the budget: the deterministic limit, not the clock, ends the search
    q = random_qubo(120, 3, decimals=2)
    runs = [solve_qubo(q, "cpsat", seed=4, workers=w, deterministic_time=0.2) for w in (1, 1, 2, 2)]
    assert runs[0].bits.tolist() == runs[1].bits.tolist()
    assert runs[2].bits.tolist() == runs[3].bits.tolist()
    for r in runs:
        assert r.info["stopped_by"] in ("work", "optimal")
        assert r.info["deterministic_time"] > 0
    # a generous wall limit does not change it (the guard is not reached)
    guarded = solve_qubo(q, "cpsat", seed=4, workers=1, deterministic_time=0.2, time_limit_s=600)
    assert guarded.bits.tolist() == runs[0].bits.tolist()
    # without the option the wall clock is what stops an unfinished search
    assert solve_qubo(q, "cpsat", seed=4, workers=1, time_limit_s=0.05).info["stopped_by"] in ("time_limit", "optimal")


def test_anneal_says_which_limit_ended_it():
    q = random_qubo(30, 1)
    assert solve_qubo(q, "anneal", seed=5, sweeps=50).info["stopped_by"] == "work"


def test_cpsat_inexact_scale_is_flagged():
    q = random_qubo(6, 11)  # full-precision floats
    c = solve_qubo(q, "cpsat", seed=0)
    assert not c.info["exact_scale"]
    assert c.energy == pytest.approx(solve_qubo(q, "exact").energy, abs=1e-4)


@pytest.mark.parametrize(
    "solver,opts,field",
    [("anneal", {"sweeps": 0}, "sweeps"), ("anneal", {"reads": -1}, "reads"),
     ("anneal", {"temperature": 3}, "temperature"), ("exact", {"max_variables": 0}, "max_variables"),
     ("cpsat", {"workers": 0}, "workers"), ("cpsat", {"deterministic_time": 0}, "deterministic_time"),
     ("cpsat", {"deterministic_time": float("nan")}, "deterministic_time")],
)
def test_bad_options_name_the_field(solver, opts, field):
    with pytest.raises(InvalidOptionError, match=field):
        solve_qubo(random_qubo(3, 0), solver, **opts)


def test_unknown_solver_and_bad_seed():
    from solvers import UnknownSolverError

    with pytest.raises(UnknownSolverError, match="choose one of"):
        solve_qubo(random_qubo(3, 0), "magic")
    with pytest.raises(InvalidOptionError, match="seed"):
        solve_qubo(random_qubo(3, 0), "anneal", seed=-1)
    with pytest.raises(InvalidOptionError, match="time_limit_s"):
        solve_qubo(random_qubo(3, 0), "anneal", time_limit_s=0)
