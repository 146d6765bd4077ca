"""The ``decompose`` solver: exact optimum on small QUBOs, never worse than its start."""

from __future__ import annotations

import numpy as np
import pytest

from solvers import QUBO, solve_qubo
from solvers.decompose import sub_qubo
from solvers.errors import InvalidOptionError, ProblemTooLargeError


def _random_qubo(n: int, seed: int) -> QUBO:
    return QUBO.from_matrix(np.random.default_rng(seed).normal(size=(n, n)))


def _onehot_qubo(groups: int, k: int, seed: int) -> QUBO:
    """Random couplings over ``groups`` one-hot groups of ``k`` (penalty 10)."""
    from solvers.qubo import QUBOBuilder

    rng = np.random.default_rng(seed)
    labels = [(g, r) for g in range(groups) for r in range(k)]
    b = QUBOBuilder(labels)
    for a, u in enumerate(labels):
        b.add_linear(u, rng.uniform(0, 2))
        for v in labels[a + 1:]:
            if u[0] != v[0] and rng.random() < 0.5:
                b.add_quadratic(u, v, rng.uniform(-1, 2))
    for g in range(groups):
        b.add_onehot([(g, r) for r in range(k)], penalty=10.0)
    return b.build(metadata={"onehot_penalty": 10.0})


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
def test_reaches_exact_optimum_random(seed: int) -> None:
    q = _random_qubo(16, seed)
    best = solve_qubo(q, "exact").energy
    sol = solve_qubo(q, "decompose", inner="exact", sub_size=10, max_perturbations=10,
                     max_rounds=40, seed=seed)
    assert sol.energy == pytest.approx(best, abs=1e-9)
    assert max(sol.info["sub_sizes"]) <= 10


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_reaches_exact_optimum_onehot(seed: int) -> None:
    q = _onehot_qubo(6, 3, seed)  # 18 variables
    best = solve_qubo(q, "exact")
    sol = solve_qubo(q, "decompose", inner="exact", sub_size=9, max_perturbations=10,
                     max_rounds=40, seed=seed)
    assert sol.feasible
    assert sol.energy == pytest.approx(best.energy, abs=1e-9)
    assert all(s % 3 == 0 for s in sol.info["sub_sizes"])  # whole groups only


@pytest.mark.parametrize("start", ["greedy", "random", "zeros", "given"])
@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_never_worse_than_start(start: str, seed: int) -> None:
    q = _random_qubo(40, seed)
    init = np.random.default_rng(seed + 100).integers(0, 2, 40).tolist()
    kw = {"initial": init} if start == "given" else {}
    sol = solve_qubo(q, "decompose", inner="anneal", inner_options={"sweeps": 20, "reads": 2},
                     sub_size=8, max_rounds=2, start=start, seed=seed, **kw)
    assert sol.energy <= sol.info["energy_before_inner"] + 1e-9
    assert sol.energy == pytest.approx(q.energy(sol.bits))
    if start == "given":
        assert sol.info["energy_before_inner"] == pytest.approx(q.energy(init))
    assert sol.info["start_is_classical"] == (start in ("greedy", "given"))


def test_sub_qubo_energy_equals_full_energy() -> None:
    q = _random_qubo(12, 5)
    rng = np.random.default_rng(0)
    x = rng.integers(0, 2, 12)
    idx = np.array([1, 4, 5, 9])
    sub = sub_qubo(q, idx, x)
    for y in rng.integers(0, 2, (10, 4)):
        full = x.copy()
        full[idx] = y
        assert sub.energy(y) == pytest.approx(q.energy(full))


def test_qaoa_inner_fast_backend() -> None:
    q = _onehot_qubo(5, 3, 7)  # 15 variables
    best = solve_qubo(q, "exact").energy
    sol = solve_qubo(q, "decompose", inner="qaoa", sub_size=9, start="random", max_rounds=2,
                     max_perturbations=0, seed=3)
    assert sol.info["qaoa_calls"] == sol.info["inner_calls"] > 0
    assert sol.energy <= sol.info["energy_before_inner"] + 1e-9
    assert sol.feasible and sol.energy >= best - 1e-9
    assert sol.options["inner_options"]["backend"] == "fast"


def test_bad_options() -> None:
    q = _onehot_qubo(2, 5, 0)
    with pytest.raises(ProblemTooLargeError, match="sub_size"):
        solve_qubo(q, "decompose", inner="exact", sub_size=4)
    with pytest.raises(InvalidOptionError, match="inner"):
        solve_qubo(q, "decompose", inner="decompose")
    with pytest.raises(InvalidOptionError, match="initial"):
        solve_qubo(q, "decompose", start="given")
    with pytest.raises(InvalidOptionError, match="initial"):
        solve_qubo(q, "decompose", inner="exact", start="given", initial=[0, 1])
    with pytest.raises(InvalidOptionError, match="unknown option 'subsize'"):
        solve_qubo(q, "decompose", subsize=3)


def test_inner_solves_log_at_debug_and_the_decomposition_one_line(caplog):
    import logging

    q = _random_qubo(24, 2)
    with caplog.at_level(logging.INFO):
        solve_qubo(q, "decompose", inner="qaoa", sub_size=8, seed=1, max_inner_calls=3)
    infos = [r for r in caplog.records if r.levelno >= logging.INFO]
    assert [r.name for r in infos] == ["solvers.decompose"]
    assert "3 inner qaoa solves" in infos[0].getMessage()
    caplog.clear()
    with caplog.at_level(logging.DEBUG):
        solve_qubo(q, "decompose", inner="qaoa", sub_size=8, seed=1, max_inner_calls=3)
    assert any(r.name == "solvers.qaoa.solver" and r.levelno == logging.DEBUG for r in caplog.records)
    caplog.clear()
    with caplog.at_level(logging.INFO):  # a QAOA solve of its own still says what it does
        solve_qubo(_random_qubo(6, 1), "qaoa", depth=1, seed=1, maxiter=5)
    assert any(r.name == "solvers.qaoa.solver" and r.levelno == logging.INFO for r in caplog.records)
