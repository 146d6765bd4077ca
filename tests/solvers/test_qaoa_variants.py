"""Warm-start QAOA and recursive QAOA: the ansatz against explicit matrices and qsim, the
relaxation, the exact RQAOA reduction, and agreement with ``exact`` on small instances."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import scipy.linalg

from solvers import QUBO, QUBOBuilder, solve_qubo
from solvers.errors import InvalidOptionError
from solvers.qaoa.cost import IsingCost
from solvers.qaoa.recursive import correlations, fix_variable, lift, strongest, tie_variables
from solvers.qaoa.solver import solve_qaoa
from solvers.qaoa.warm import (
    WarmFastBackend,
    WarmQsimBackend,
    make_warm_backend,
    prepare_warm_start,
    relax_qubo,
)
from solvers.qubo import index_bits


def random_qubo(n: int, seed: int) -> QUBO:
    rng = np.random.default_rng(seed)
    return QUBO.from_matrix(np.triu(rng.normal(size=(n, n))), float(rng.normal()))


def onehot_qubo(groups: int = 2, size: int = 3, seed: int = 0, penalty: float = 6.0) -> QUBO:
    rng = np.random.default_rng(seed)
    b = QUBOBuilder()
    names = [[f"t{g}r{r}" for r in range(size)] for g in range(groups)]
    flat = [v for g in names for v in g]
    for v in flat:
        b.add_linear(v, float(rng.uniform(0, 2)))
    for u, v in itertools.combinations(flat, 2):
        if rng.random() < 0.5:
            b.add_quadratic(u, v, float(rng.uniform(0, 1.5)))
    for g in names:
        b.add_onehot(g, penalty=penalty)
    return b.build(metadata={"problem": "test", "onehot_penalty": penalty})


def all_bits(n: int) -> np.ndarray:
    return index_bits(np.arange(2**n, dtype=np.int64), n)


def reference_warm_state(cost: IsingCost, thetas: np.ndarray, gammas, betas) -> np.ndarray:
    """The warm-start state from explicit matrix exponentials (independent of both backends)."""
    X = np.array([[0, 1], [1, 0]], dtype=complex)
    Z = np.diag([1.0, -1.0]).astype(complex)
    psi = np.ones(1, dtype=complex)
    for t in thetas:
        psi = np.kron(psi, [np.cos(t / 2), np.sin(t / 2)])
    for g, b in zip(gammas, betas):
        psi = np.exp(-1j * g * cost.diag) * psi
        mix = np.ones((1, 1), dtype=complex)
        for t in thetas:
            mix = np.kron(mix, scipy.linalg.expm(-1j * b * (np.cos(t) * Z + np.sin(t) * X)))
        psi = mix @ psi
    return psi


# ------------------------------------------------------------------ warm start: the ansatz
@pytest.mark.parametrize("seed", [0, 1])
def test_warm_fast_and_qsim_match_explicit_matrices_amplitude_by_amplitude(seed):
    q = random_qubo(5, seed)
    cost = IsingCost.from_qubo(q)
    thetas = prepare_warm_start(q).thetas
    rng = np.random.default_rng(seed)
    g, b = rng.uniform(-1, 1, 2), rng.uniform(-1, 1, 2)
    want = reference_warm_state(cost, thetas, g, b)
    fast = WarmFastBackend(cost, 2, thetas=thetas).state(g, b)
    qsim = WarmQsimBackend(cost, 2, thetas=thetas).state(g, b)
    np.testing.assert_allclose(fast, want, atol=1e-12)  # global phase included
    np.testing.assert_allclose(qsim, want, atol=2e-6)  # qsim runs in single precision
    assert WarmFastBackend(cost, 2, thetas=thetas).resources() == WarmQsimBackend(cost, 2, thetas=thetas).resources()


def test_warm_start_at_one_half_is_plain_qaoa():
    from solvers.qaoa.backends.fast import FastBackend

    q = random_qubo(6, 3)
    cost = IsingCost.from_qubo(q)
    g, b = [0.4, -0.2], [-0.6, 0.3]
    plain = FastBackend(cost, 2, precision="complex128").state(g, b)
    warm = WarmFastBackend(cost, 2, thetas=np.full(6, np.pi / 2)).state(g, b)
    np.testing.assert_allclose(warm, plain, atol=1e-12)


def test_warm_state_at_zero_angles_is_the_relaxed_distribution():
    q = random_qubo(4, 2)
    ws = prepare_warm_start(q, epsilon=0.1)
    probs = WarmFastBackend(IsingCost.from_qubo(q), 1, thetas=ws.thetas).probabilities([0.0], [0.7])
    c = np.array(ws.c)
    X = all_bits(4)
    want = np.prod(np.where(X == 1, c, 1 - c), axis=1)
    np.testing.assert_allclose(probs, want, atol=1e-12)


def test_warm_adjoint_gradient_matches_finite_differences():
    q = random_qubo(6, 4)
    be = WarmFastBackend(IsingCost.from_qubo(q), 3, thetas=prepare_warm_start(q).thetas)
    x = np.array([0.3, -0.5, 0.8, -0.4, 0.2, -0.9])
    _, grad = be.expectation_and_gradient(x[:3], x[3:])
    h = 1e-6
    num = [(be.expectation(*np.split(x + h * e, 2)) - be.expectation(*np.split(x - h * e, 2))) / (2 * h)
           for e in np.eye(6)]
    np.testing.assert_allclose(grad, num, atol=1e-6)


def test_convex_relaxation_is_a_lower_bound_and_clipped_into_epsilon():
    for seed in range(3):
        q = random_qubo(7, seed)
        c, lam = relax_qubo(q, "convex")
        W = q.symmetric_couplings()
        assert np.linalg.eigvalsh(W + 2 * lam * np.eye(7))[0] >= -1e-7  # convex
        f_lam = q.offset + q.linear @ c + 0.5 * c @ W @ c + lam * (c @ c - c.sum())
        assert f_lam <= solve_qubo(q, "exact").energy + 1e-7
        ws = prepare_warm_start(q, epsilon=0.2)
        assert min(ws.c) >= 0.2 - 1e-12 and max(ws.c) <= 0.8 + 1e-12
        np.testing.assert_allclose(np.sin(ws.thetas / 2) ** 2, ws.c, atol=1e-12)


def test_box_relaxation_is_no_worse_than_the_convex_ones_point():
    q = random_qubo(8, 5)
    W = q.symmetric_couplings()

    def f(x):
        return q.offset + q.linear @ x + 0.5 * x @ W @ x

    c_box, _ = relax_qubo(q, "box", seed=1)
    c_cvx, _ = relax_qubo(q, "convex")
    assert f(c_box) <= f(c_cvx) + 1e-9


# ------------------------------------------------------------------ recursive: the reduction
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_rqaoa_reduction_is_exact_by_enumeration(seed):
    q = random_qubo(6, seed)
    reduced_all = all_bits(5)
    cases = [("fix", k, v) for k in range(6) for v in (0, 1)]
    cases += [("tie", i, j, s) for i in range(6) for j in range(6) if i != j for s in (1, -1)]
    for case in cases:
        if case[0] == "fix":
            _, k, v = case
            r = fix_variable(q, k, v)
            steps = [("fix", q.labels[k], None, v)]
        else:
            _, keep, gone, s = case
            r = tie_variables(q, keep, gone, s)
            steps = [("tie", q.labels[gone], q.labels[keep], s)]
        lifted = np.array([lift(y, r.labels, steps, q.labels) for y in reduced_all])
        np.testing.assert_allclose(r.energies(reduced_all), q.energies(lifted), atol=1e-9, err_msg=str(case))
        # the lifted assignments are exactly those obeying the substitution
        if case[0] == "fix":
            assert np.all(lifted[:, case[1]] == case[2])
        else:
            keep, gone, s = case[1], case[2], case[3]
            assert np.all(lifted[:, gone] == (lifted[:, keep] if s > 0 else 1 - lifted[:, keep]))


def test_rqaoa_reduction_keeps_intact_one_hot_groups_only():
    q = onehot_qubo(groups=2, size=3)
    r = fix_variable(q, 1, 0)  # group (0, 1, 2) loses a variable
    assert r.onehot == ((2, 3, 4),)
    assert r.labels == tuple(q.labels[v] for v in (0, 2, 3, 4, 5))


def test_correlations_and_the_strongest_elimination():
    rng = np.random.default_rng(0)
    p = rng.random(8)
    p /= p.sum()
    z, zz = correlations(p, 3)
    spins = 1 - 2 * all_bits(3).astype(float)
    np.testing.assert_allclose(z, p @ spins, atol=1e-12)
    np.testing.assert_allclose(zz, np.einsum("s,si,sj->ij", p, spins, spins), atol=1e-12)
    assert strongest(np.array([0.1, -0.9, 0.2]), np.eye(3) * 1 + 0.5) == ("fix", 1, 1, -0.9)
    zz = np.eye(3)
    zz[0, 2] = zz[2, 0] = -0.95
    assert strongest(np.array([0.1, -0.9, 0.2]), zz) == ("tie", 0, 2, -0.95)


# ------------------------------------------------------------------ agreement with exact
def _traffic_qubo(city, trips, routes):
    from optimizer.problems.traffic import Traffic

    return Traffic.from_city(city, trips=trips, routes=routes, seed=1).to_qubo()


def _dispatch_qubo():
    from optimizer.problems.dispatch.problem import Dispatch

    return Dispatch.from_grid("case9", units=3, periods=2, levels=1, seed=1).to_qubo()


@pytest.fixture(scope="module")
def instances(helsinki):
    return {
        "random6": random_qubo(6, 7),
        "random8": random_qubo(8, 8),
        "onehot": onehot_qubo(groups=3, size=3, seed=2),
        "traffic-t3-k2": _traffic_qubo(helsinki, 3, 2),
        "traffic-t4-k3": _traffic_qubo(helsinki, 4, 3),
        "dispatch-case9-u3-p2": _dispatch_qubo(),
    }


@pytest.mark.parametrize("name", ["random6", "random8", "onehot", "traffic-t3-k2", "traffic-t4-k3",
                                  "dispatch-case9-u3-p2"])
@pytest.mark.parametrize("variant", [{"warm_start": True}, {"recursive": 3}])
def test_warm_start_and_recursive_agree_with_exact(instances, name, variant):
    q = instances[name]
    best = solve_qubo(q, "exact")
    sol = solve_qaoa(q, seed=1, backend="fast", depth=1, **variant)
    assert sol.energy == pytest.approx(best.energy, abs=1e-9), (name, variant)
    assert sol.feasible
    assert sol.resources["evaluations"] >= 1
    if "recursive" in variant:
        assert sol.resources["rounds"] == q.num_variables - 3
        assert sum(r["evaluations"] for r in sol.info["rounds"]) == sol.resources["evaluations"]
        assert sol.resources["answer_gap"] == pytest.approx(0.0, abs=1e-9)
    else:
        assert sol.resources["mixer"] == "warm-start" and sol.info["warm_start"]["relaxation"] == "box"
        # the answer is one of its own samples: the QUBO's energy of the reported bits
        assert q.energy(sol.bits) == sol.energy and sol.resources["p_best"] > 0


def test_warm_start_on_qsim_and_recursive_with_warm_start():
    q = onehot_qubo(groups=2, size=3, seed=4)
    best = solve_qubo(q, "exact").energy
    sol = solve_qaoa(q, seed=2, backend="qsim", depth=1, warm_start=True, shots=512, maxiter=40)
    assert sol.energy == pytest.approx(best) and sol.resources["backend"] == "qsim"
    sol = solve_qaoa(q, seed=2, backend="fast", depth=1, warm_start=True, recursive=2, warm_relaxation="convex")
    assert sol.energy == pytest.approx(best) and "warm_start" in sol.info


# ------------------------------------------------------------------ clear errors
@pytest.mark.parametrize(("options", "needle"), [
    ({"warm_start": True, "backend": "qvm:rainbow"}, "'warm_start' of solver 'qaoa' runs on the backends fast, qsim"),
    ({"recursive": 2, "backend": "engine:rainbow"}, "'recursive' of solver 'qaoa' runs on the backends fast, qsim"),
    ({"warm_start": True, "mixer": "xy-ring"}, "must be 'auto' or 'x'"),
    ({"warm_start": "yes"}, "'warm_start' of solver 'qaoa' must be true or false"),
    ({"warm_epsilon": 0.7}, "warm_epsilon"),
    ({"warm_relaxation": "sdp"}, "'warm_relaxation' of solver 'qaoa' must be one of: box, convex"),
    ({"recursive": 21}, "'recursive'"),
    ({"recursive": 6}, "not below the QUBO's 6 variables"),
    ({"warm_start": True, "backend_options": {"kernels": "blas"}}, "'kernels' does not apply with warm_start"),
])
def test_variant_options_fail_clearly(options, needle):
    with pytest.raises(InvalidOptionError, match=None) as err:
        solve_qaoa(random_qubo(6, 0), seed=1, **{"backend": "fast", **options})
    assert needle in str(err.value)


def test_make_warm_backend_refuses_device_backends():
    cost = IsingCost.from_qubo(random_qubo(3, 0))
    with pytest.raises(InvalidOptionError, match="warm_start"):
        make_warm_backend("qvm:rainbow", cost, 1, [1.0, 1.0, 1.0])
