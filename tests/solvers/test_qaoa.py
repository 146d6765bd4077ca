"""QAOA: the circuit against explicit matrix exponentials, qsim against cirq.Simulator,
the solver against brute force, resources, options and the registry."""

from __future__ import annotations

import functools
import subprocess
import sys
import warnings

import numpy as np
import pytest
import scipy.linalg

cirq = pytest.importorskip("cirq")
pytest.importorskip("qsimcirq")

import solvers  # noqa: E402
from solvers import QUBO, QUBOBuilder, Status  # noqa: E402
from solvers.errors import InvalidOptionError, ProblemTooLargeError  # noqa: E402
from solvers.qaoa import QAOAOptions, count_two_qubit_gates, qaoa_circuit, solve_qaoa  # noqa: E402
from solvers.qaoa.angles import linear_ramp  # noqa: E402
from solvers.qaoa.backends.qsim import QsimBackend  # noqa: E402
from solvers.qaoa.circuit import angle_resolver  # noqa: E402
from solvers.qaoa.cost import IsingCost  # noqa: E402
from solvers.qubo import index_bits  # noqa: E402

# ---------------------------------------------------------------- helpers

_I = np.eye(2)
_X = np.array([[0.0, 1.0], [1.0, 0.0]])
_Z = np.diag([1.0, -1.0])


def _on(op: np.ndarray, i: int, n: int) -> np.ndarray:
    """``op`` on qubit ``i`` of ``n`` (qubit 0 the leftmost Kronecker factor, as Cirq)."""
    return functools.reduce(np.kron, [op if k == i else _I for k in range(n)])


def explicit_state(h, J, gammas, betas) -> np.ndarray:
    """``prod_k expm(-i b_k B) expm(-i g_k C) |+>^n`` with dense matrices, no shortcuts."""
    n = len(h)
    C = sum(h[i] * _on(_Z, i, n) for i in range(n))
    C = C + sum(w * _on(_Z, i, n) @ _on(_Z, j, n) for (i, j), w in J.items())
    B = sum(_on(_X, i, n) for i in range(n))
    psi = np.full(2**n, 2.0 ** (-n / 2), dtype=complex)
    for g, b in zip(gammas, betas, strict=True):
        psi = scipy.linalg.expm(-1j * b * B) @ (scipy.linalg.expm(-1j * g * C) @ psi)
    return psi


def random_ising(n: int, seed: int):
    rng = np.random.default_rng(seed)
    h = rng.normal(size=n)
    J = {
        (i, j): float(rng.normal()) for i in range(n) for j in range(i + 1, n) if rng.random() < 0.8
    }
    return h, J


def random_qubo(n: int, seed: int) -> QUBO:
    rng = np.random.default_rng(seed)
    return QUBO.from_matrix(np.triu(rng.normal(size=(n, n))))


def onehot_qubo(seed: int = 0) -> QUBO:
    """3 groups of 2 (a tiny assignment problem) with a penalty large enough."""
    rng = np.random.default_rng(seed)
    b = QUBOBuilder()
    groups = [[f"t{t}r{r}" for r in range(2)] for t in range(3)]
    for g in groups:
        for v in g:
            b.add_linear(v, float(rng.uniform(0.0, 2.0)))
    for a in range(3):
        for c in range(a + 1, 3):
            for r in range(2):
                b.add_quadratic(groups[a][r], groups[c][r], float(rng.uniform(0.5, 1.5)))
    for g in groups:
        b.add_onehot(g, penalty=8.0)
    return b.build()


def all_bits(n: int) -> np.ndarray:
    return index_bits(np.arange(2**n), n, order="big")


# ------------------------------------------------------------ (a) circuit


@pytest.mark.parametrize("n", [1, 2, 3, 4])
@pytest.mark.parametrize("depth", [1, 2])
def test_circuit_state_equals_explicit_matrix_exponentials(n: int, depth: int) -> None:
    h, J = random_ising(n, seed=10 * n + depth)
    rng = np.random.default_rng(depth)
    gammas, betas = rng.uniform(-1.5, 1.5, depth), rng.uniform(-1.5, 1.5, depth)
    expected = explicit_state(h, J, gammas, betas)

    numeric = qaoa_circuit(h, J, depth, gammas=gammas, betas=betas)
    got = cirq.Simulator(dtype=np.complex128).simulate(numeric).final_state_vector
    # global_shift=-1/2 makes every gate the exact exponential: equal, phase included
    np.testing.assert_allclose(got, expected, atol=1e-9)

    symbolic = qaoa_circuit(h, J, depth)
    assert cirq.parameter_names(symbolic) == {f"gamma_{k}" for k in range(depth)} | {
        f"beta_{k}" for k in range(depth)
    }
    resolved = cirq.Simulator(dtype=np.complex128).simulate(
        symbolic, param_resolver=angle_resolver(gammas, betas)
    )
    np.testing.assert_allclose(resolved.final_state_vector, expected, atol=1e-9)


def test_circuit_unitary_equals_explicit() -> None:
    h, J = random_ising(3, seed=5)
    gammas, betas = [0.4, -0.9], [0.7, 0.2]
    n = 3
    C = sum(h[i] * _on(_Z, i, n) for i in range(n)) + sum(
        w * _on(_Z, i, n) @ _on(_Z, j, n) for (i, j), w in J.items()
    )
    B = sum(_on(_X, i, n) for i in range(n))
    Hn = functools.reduce(np.kron, [np.array([[1, 1], [1, -1]]) / np.sqrt(2)] * n)
    U = Hn
    for g, b in zip(gammas, betas, strict=True):
        U = scipy.linalg.expm(-1j * b * B) @ scipy.linalg.expm(-1j * g * C) @ U
    got = cirq.unitary(qaoa_circuit(h, J, 2, gammas=gammas, betas=betas))
    np.testing.assert_allclose(got, U, atol=1e-9)


def test_cost_diagonal_is_the_normalised_ising_cost_in_cirq_order() -> None:
    q = random_qubo(5, seed=3)
    cost = IsingCost.from_qubo(q)
    n = 5
    C = sum(cost.h[i] * _on(_Z, i, n) for i in range(n)) + sum(
        w * _on(_Z, i, n) @ _on(_Z, j, n) for (i, j), w in cost.J.items()
    )
    np.testing.assert_allclose(cost.diag, np.diag(C), atol=1e-12)
    np.testing.assert_allclose(
        cost.scale * cost.diag + cost.offset, q.energies(all_bits(n)), atol=1e-9
    )


def test_circuit_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="depth"):
        qaoa_circuit([0.0, 1.0], {}, 0)
    with pytest.raises(ValueError, match="gammas"):
        qaoa_circuit([0.0, 1.0], {}, 2, gammas=[0.1])
    with pytest.raises(ValueError, match=r"\(0, 2\)"):
        qaoa_circuit([0.0, 1.0], {(0, 2): 1.0}, 1)


def test_ramp_lowers_the_energy_below_the_uniform_average() -> None:
    """The sign convention of the ramp: it must head for the minimum, not the maximum."""
    q = random_qubo(8, seed=4)
    cost = IsingCost.from_qubo(q)
    backend = QsimBackend(cost, 3, threads=1)
    g, b = linear_ramp(3)
    assert backend.expectation(g, b) < cost.diag.mean() - 0.3 * (cost.diag.mean() - cost.diag.min())
    assert backend.expectation(g, -b) > cost.diag.mean()


# ------------------------------------------------------ (b) qsim vs cirq


def test_qsim_expectation_equals_cirq_simulator() -> None:
    n, depth = 7, 2
    q = random_qubo(n, seed=11)
    cost = IsingCost.from_qubo(q)
    backend = QsimBackend(cost, depth, threads=1)
    gammas, betas = [0.3, 0.8], [-0.6, -0.25]

    ref = (
        cirq.Simulator(dtype=np.complex128)
        .simulate(backend.circuit, param_resolver=angle_resolver(gammas, betas))
        .final_state_vector
    )
    qsim_state = backend.state(gammas, betas)
    assert cirq.linalg.allclose_up_to_global_phase(qsim_state, ref, atol=1e-5)

    # independent of the cost diagonal: QUBO energies of every bitstring
    expected = float(np.abs(ref) ** 2 @ q.energies(all_bits(n)))
    got = cost.to_energy(backend.expectation(gammas, betas))
    assert got == pytest.approx(expected, abs=1e-4)


def test_qsim_samples_follow_the_state() -> None:
    q = random_qubo(4, seed=1)
    backend = QsimBackend(IsingCost.from_qubo(q), 2, threads=1)
    g, b = [0.3, 0.6], [-0.5, -0.2]
    probs = backend.probabilities(g, b)
    samples = backend.sample(g, b, 20000, seed=7)
    assert samples.shape == (20000, 4) and samples.dtype == np.uint8
    freq = np.bincount(samples @ (1 << np.arange(3, -1, -1)), minlength=16) / 20000
    np.testing.assert_allclose(freq, probs, atol=0.015)
    np.testing.assert_array_equal(
        backend.sample(g, b, 50, seed=3), backend.sample(g, b, 50, seed=3)
    )


# ------------------------------------------------- (c) vs brute force


@pytest.mark.parametrize("n", [4, 5, 6, 8])
@pytest.mark.parametrize("seed", [0, 1])
def test_qaoa_finds_brute_force_optimum(n: int, seed: int) -> None:
    q = random_qubo(n, seed)
    E = q.all_energies(order="big")
    sol = solve_qaoa(q, seed=seed, depth=2, shots=256)
    np.testing.assert_array_equal(sol.bits, all_bits(n)[np.argmin(E)])
    assert sol.energy == pytest.approx(E.min(), abs=1e-9)
    assert sol.feasible and sol.status is Status.FEASIBLE
    # QAOA did something: below the uniform average, optimum amplified
    assert sol.info["initial_expectation"] < E.mean()
    assert sol.resources["expectation"] <= sol.info["initial_expectation"] + 1e-9
    assert sol.resources["p_best"] > 4.0 / 2**n


def test_qaoa_onehot_problem() -> None:
    q = onehot_qubo(seed=2)
    E = q.all_energies(order="big")
    X = all_bits(q.num_variables)
    best = np.argmin(E)
    assert q.is_feasible(X[best])  # the penalty is large enough
    sol = solve_qaoa(q, seed=5, depth=2, shots=512, mixer="x")
    np.testing.assert_array_equal(sol.bits, X[best])
    assert sol.feasible and sol.status is Status.FEASIBLE
    assert 0.0 < sol.resources["feasible_fraction"] < 1.0
    assert sol.resources["feasible_fraction"] > 2 * (2**3 / 2**6)  # beats uniform (1/8)


@pytest.mark.parametrize("mixer", ["xy-ring", "xy-complete"])
def test_qaoa_onehot_problem_xy_mixer_keeps_every_sample_feasible(mixer: str) -> None:
    q = onehot_qubo(seed=2)
    best = all_bits(q.num_variables)[np.argmin(q.all_energies(order="big"))]
    sol = solve_qaoa(q, seed=5, depth=2, shots=512, mixer=mixer)
    np.testing.assert_array_equal(sol.bits, best)
    assert sol.resources["mixer"] == mixer
    assert sol.resources["feasible_fraction"] == 1.0  # checked on the samples themselves


@pytest.mark.parametrize("optimizer", ["COBYLA", "nelder-mead", "L-BFGS-B"])
def test_each_optimizer_improves_on_the_ramp(optimizer: str) -> None:
    q = random_qubo(5, seed=2)
    sol = solve_qaoa(q, seed=0, depth=2, optimizer=optimizer, maxiter=60, shots=64)
    assert sol.resources["optimizer"] in ("COBYLA", "Nelder-Mead", "L-BFGS-B")
    assert sol.resources["evaluations"] <= 60
    assert sol.resources["expectation"] < sol.info["initial_expectation"] - 0.1


def test_sampling_is_seeded() -> None:
    q = random_qubo(6, seed=9)
    a = solve_qaoa(q, seed=4, depth=1, shots=100, maxiter=20)
    b = solve_qaoa(q, seed=4, depth=1, shots=100, maxiter=20)
    np.testing.assert_array_equal(a.bits, b.bits)
    assert a.resources["p_best"] == b.resources["p_best"]
    assert a.resources["parameters"] == b.resources["parameters"]


def test_best_feasible_sample_wins_over_a_better_infeasible_one(monkeypatch) -> None:
    b = QUBOBuilder()
    b.add_onehot(["a", "b"], penalty=0.0)  # groups recorded, no penalty: 00 is cheapest
    b.add_linear("a", 1.0)
    b.add_linear("b", 2.0)
    q = b.build()
    fixed = np.array([[0, 0]] * 5 + [[0, 1]] * 2 + [[1, 0]] * 1 + [[1, 1]] * 2, dtype=np.uint8)
    monkeypatch.setattr(QsimBackend, "sample", lambda self, g, be, shots, seed=None: fixed)
    sol = solve_qaoa(q, seed=0, shots=10, maxiter=5)
    assert sol.bits.tolist() == [1, 0] and sol.energy == 1.0
    assert sol.feasible and sol.status is Status.FEASIBLE
    assert sol.resources["p_best"] == pytest.approx(0.1)
    assert sol.resources["feasible_fraction"] == pytest.approx(0.3)

    infeasible = np.array([[0, 0]] * 3 + [[1, 1]] * 7, dtype=np.uint8)
    monkeypatch.setattr(QsimBackend, "sample", lambda self, g, be, shots, seed=None: infeasible)
    sol = solve_qaoa(q, seed=0, shots=10, maxiter=5)
    assert sol.bits.tolist() == [0, 0] and sol.energy == 0.0
    assert not sol.feasible and sol.status is Status.INFEASIBLE
    assert sol.resources["feasible_fraction"] == 0.0


def test_time_limit_stops_the_optimiser_and_keeps_an_answer() -> None:
    q = random_qubo(8, seed=3)
    sol = solve_qaoa(q, seed=1, time_limit_s=1e-6, depth=3, maxiter=300, shots=64)
    assert sol.info["stopped_by"] == "time_limit"
    assert sol.resources["evaluations"] == 1
    assert sol.bits.shape == (8,)
    assert sol.energy == pytest.approx(q.energy(sol.bits))


@pytest.mark.parametrize(
    ("optimizer", "maxiter"), [("L-BFGS-B", 7), ("COBYLA", 2), ("Nelder-Mead", 3)]
)
def test_maxiter_bounds_evaluations(optimizer: str, maxiter: int) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # e.g. COBYLA's "MAXFUN too small"
        sol = solve_qaoa(
            random_qubo(6, seed=3), seed=1, depth=2, maxiter=maxiter, optimizer=optimizer
        )
    assert sol.resources["evaluations"] == maxiter
    assert sol.info["stopped_by"] == "maxiter"


# -------------------------------------------------------- (d) resources


def test_resources() -> None:
    n, depth = 6, 2
    q = random_qubo(n, seed=8)
    _, J, _ = q.to_ising()
    sol = solve_qaoa(q, seed=2, depth=depth, shots=300, maxiter=50)
    r = sol.resources
    nonzero = sum(1 for w in J.values() if w != 0.0)
    assert r["qubits"] == n
    assert r["depth"] == depth
    assert r["two_qubit_gates"] == depth * nonzero
    cost = IsingCost.from_qubo(q)
    assert r["circuit_moments"] == len(qaoa_circuit(cost.h, cost.J, depth))
    assert r["shots"] == 300 and r["backend"] == "qsim" and r["optimizer"] == "COBYLA"
    assert 1 <= r["evaluations"] <= 50
    assert 0.0 < r["p_best"] <= 1.0 and r["feasible_fraction"] == 1.0
    p = r["parameters"]
    assert len(p["gammas"]) == len(p["betas"]) == len(p["gammas_normalised"]) == depth
    np.testing.assert_allclose(np.array(p["gammas"]) * p["cost_scale"], p["gammas_normalised"])
    assert sol.options == {
        "depth": 2,
        "backend": "qsim",
        "shots": 300,
        "optimizer": "COBYLA",
        "maxiter": 50,
        "init": "ramp",
        "mixer": "auto",
        "objective": "expectation",
        "cvar_alpha": 0.2,
        "restarts": 1,
        "shots_per_eval": 1000,
        "backend_options": None,
        "device_optimise": "noiseless",
        "device_refine": 0,
        "max_qubits": 26,
        "threads": None,
        "warm_start": False,
        "warm_relaxation": "box",
        "warm_epsilon": 0.25,
        "recursive": 0,
    }
    assert r["mixer"] == "x"  # no one-hot groups: auto is the X mixer

    # the reported angles are in the original QUBO's units: rebuild from the raw Ising form
    h, J, offset = q.to_ising()
    state = (
        cirq.Simulator(dtype=np.complex128)
        .simulate(qaoa_circuit(h, J, depth, gammas=p["gammas"], betas=p["betas"]))
        .final_state_vector
    )
    expectation = float(np.abs(state) ** 2 @ q.energies(all_bits(n)))
    assert r["expectation"] == pytest.approx(expectation, abs=1e-4)


def test_count_two_qubit_gates_ignores_measurements() -> None:
    c = qaoa_circuit([0.1, 0.2, 0.0], {(0, 1): 1.0, (1, 2): 0.0, (0, 2): -0.5}, 3)
    assert count_two_qubit_gates(c) == 6
    c.append(cirq.measure(*cirq.LineQubit.range(2), key="x"))
    assert count_two_qubit_gates(c) == 6


# ---------------------------------------------------------- (e) options


@pytest.mark.parametrize(
    ("options", "name"),
    [
        ({"depth": 0}, "depth"),
        ({"depth": 21}, "depth"),
        ({"depth": 1.5}, "depth"),
        ({"shots": -5}, "shots"),
        ({"maxiter": 0}, "maxiter"),
        ({"backend": "nope"}, "backend"),
        ({"optimizer": "adam"}, "optimizer"),
        ({"init": "random"}, "init"),
        ({"mixer": "xz"}, "mixer"),
        ({"objective": "variance"}, "objective"),
        ({"cvar_alpha": 0.0}, "cvar_alpha"),
        ({"cvar_alpha": 1.5}, "cvar_alpha"),
        ({"restarts": 0}, "restarts"),
        ({"max_qubits": 31}, "max_qubits"),
        ({"threads": 0}, "threads"),
        ({"not_an_option": 1}, "not_an_option"),
    ],
)
def test_bad_options_raise_naming_the_field(options: dict, name: str) -> None:
    with pytest.raises(InvalidOptionError, match=name) as info:
        solve_qaoa(random_qubo(3, seed=0), **options)
    assert isinstance(info.value, ValueError)


def test_bad_backend_message_lists_valid_backends() -> None:
    with pytest.raises(InvalidOptionError, match="qsim"):
        QAOAOptions(backend="nope")


def test_options_are_frozen_and_canonical() -> None:
    opts = QAOAOptions(optimizer="cobyla")
    assert opts.optimizer == "COBYLA"
    with pytest.raises(AttributeError):
        opts.depth = 3  # type: ignore[misc]


def test_too_many_qubits() -> None:
    with pytest.raises(ProblemTooLargeError, match="max_qubits=4"):
        solve_qaoa(random_qubo(5, seed=0), max_qubits=4)
    with pytest.raises(ValueError):
        solvers.solve_qubo(random_qubo(5, seed=0), "qaoa", max_qubits=4)


# --------------------------------------------------------- (f) registry


def test_solve_through_registry() -> None:
    q = random_qubo(5, seed=6)
    sol = solvers.solve_qubo(q, "qaoa", seed=1, depth=1)
    assert sol.solver == "qaoa"
    assert sol.bits.shape == (5,)
    assert sol.energy == pytest.approx(q.energy(sol.bits))
    assert sol.wall_time_s > 0
    assert sol.resources["depth"] == 1 and sol.resources["shots"] == 4096
    assert sol.to_dict()["resources"]["qubits"] == 5


def test_import_solvers_qaoa_stays_light() -> None:
    code = (
        "import sys, solvers, solvers.qaoa; "
        "heavy = [m for m in ('cirq', 'qsimcirq', 'sympy', 'scipy') if m in sys.modules]; "
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
