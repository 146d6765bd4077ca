"""The quantum fidelity kernel and its ridge regressor: the kernel's properties, values by hand and by Cirq."""

from __future__ import annotations

import itertools
import math

import cirq
import numpy as np
import pytest
from sklearn.base import clone

from solvers.errors import InvalidInputError, ProblemTooLargeError
from solvers.qkernel import (
    QuantumKernelRidge,
    entangling_pairs,
    feature_map_circuit,
    feature_map_states,
    fidelity_kernel,
)


@pytest.fixture(scope="module")
def points() -> np.ndarray:
    return np.random.default_rng(7).normal(size=(25, 4))


@pytest.mark.parametrize("entanglement", ["linear", "ring"])
def test_the_gram_matrix_is_symmetric_with_ones_on_its_diagonal_and_psd(points, entanglement):
    K = fidelity_kernel(points, reps=2, bandwidth=0.8, entanglement=entanglement)
    assert K.shape == (25, 25)
    assert np.array_equal(K, K.T)
    assert np.allclose(np.diag(K), 1.0, atol=1e-12)
    assert np.linalg.eigvalsh(K).min() >= -1e-9
    assert ((K >= 0) & (K <= 1 + 1e-12)).all()
    off = K[~np.eye(25, dtype=bool)]
    assert off.max() < 0.999  # distinct points, distinct states: not a trivial kernel
    # the cross kernel of the same points is the Gram matrix
    assert np.allclose(fidelity_kernel(points[:5], points, reps=2, bandwidth=0.8, entanglement=entanglement),
                       K[:5], atol=1e-6)


def test_one_qubit_by_hand():
    """One layer on one qubit: (e^{-ibx}|0> + e^{ibx}|1>)/sqrt 2, so k = cos^2(b (x - y))."""
    x, y, b = 0.3, -0.4, 1.3
    K = fidelity_kernel([[x]], [[y]], reps=1, bandwidth=b)
    assert K[0, 0] == pytest.approx(math.cos(b * (x - y)) ** 2, abs=1e-6)


def test_two_qubits_one_layer_by_the_diagonal_phase_formula():
    """|phi(x)> = (1/2) sum_s exp(-i f(x, s)) |s>, f = x0 s0 + x1 s1 + x0 x1 s0 s1 with spins s = +-1."""
    x, y = np.array([0.7, -0.2]), np.array([-0.5, 0.9])

    def f(v, s):
        return v[0] * s[0] + v[1] * s[1] + v[0] * v[1] * s[0] * s[1]

    spins = list(itertools.product([1, -1], repeat=2))
    overlap = sum(np.exp(1j * (f(x, s) - f(y, s))) for s in spins) / 4
    K = fidelity_kernel([x], [y], reps=1)
    assert K[0, 0] == pytest.approx(abs(overlap) ** 2, abs=1e-6)


def test_qsim_states_equal_cirqs_own_simulator():
    """Cirq's reference simulator (double precision) on the resolved circuits is the independent check of qsim."""
    X = np.random.default_rng(3).uniform(-1.5, 1.5, size=(4, 3))
    S = feature_map_states(X, reps=2, bandwidth=0.9, entanglement="ring")
    sim = cirq.Simulator(dtype=np.complex128)
    ref = []
    for row in X:
        c = feature_map_circuit(row, reps=2, bandwidth=0.9, entanglement="ring")
        ref.append(sim.simulate(c, qubit_order=cirq.LineQubit.range(3)).final_state_vector)
    ref = np.array(ref)
    assert np.allclose(np.abs(np.einsum("ij,ij->i", ref.conj(), S)), 1.0, atol=1e-6)  # same state, up to phase
    K_ref = np.abs(ref.conj() @ ref.T) ** 2
    assert np.allclose(fidelity_kernel(X, reps=2, bandwidth=0.9, entanglement="ring"), K_ref, atol=1e-6)
    assert K_ref[0, 1] < 0.99  # the entry compared is not trivially 1


def test_the_circuits_gates_are_the_documented_exponentials():
    """exp(-i z Z) is rz(2z); exp(-i z_i z_j ZZ) is ZZPowGate(2 z_i z_j / pi, global_shift=-1/2)."""
    x = np.array([0.4, -1.1])
    U = cirq.unitary(feature_map_circuit(x, reps=1))
    H = np.array([[1, 1], [1, -1]]) / np.sqrt(2)
    Z = np.diag([1.0, -1.0])
    I2 = np.eye(2)
    gen = x[0] * np.kron(Z, I2) + x[1] * np.kron(I2, Z) + x[0] * x[1] * np.kron(Z, Z)
    expected = np.diag(np.exp(-1j * np.diag(gen))) @ np.kron(H, H)
    assert np.allclose(U, expected, atol=1e-7)


def test_ridge_fits_and_generalises_better_than_the_mean():
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, size=(80, 2))
    y = np.sin(2 * X[:, 0]) + 0.5 * X[:, 1]
    m = QuantumKernelRidge(alpha=1e-3, reps=2, bandwidth=0.5).fit(X[:60], y[:60])
    err = np.abs(m.predict(X[60:]) - y[60:]).mean()
    base = np.abs(y[60:] - y[:60].mean()).mean()
    assert err < 0.25 * base
    # sklearn conventions: clone keeps the parameters, predicts the same after refitting
    m2 = clone(m).fit(X[:60], y[:60])
    assert np.allclose(m2.predict(X[60:]), m.predict(X[60:]))
    # several outputs share one Gram matrix
    Y = np.column_stack([y, 2 * y + 1])
    mm = QuantumKernelRidge(alpha=1e-3, bandwidth=0.5).fit(X[:60], Y[:60])
    P = mm.predict(X[60:])
    assert P.shape == (20, 2) and np.allclose(P[:, 1], 2 * P[:, 0] + 1, atol=1e-6)


def test_bad_input_is_one_clear_error():
    with pytest.raises(ProblemTooLargeError, match="at most 12 features"):
        fidelity_kernel(np.zeros((2, 13)))
    with pytest.raises(InvalidInputError, match="NaN"):
        fidelity_kernel([[0.0, np.nan]])
    with pytest.raises(InvalidInputError, match="bandwidth"):
        fidelity_kernel([[0.0]], bandwidth=0)
    with pytest.raises(InvalidInputError, match="entanglement"):
        entangling_pairs(3, "full")
    with pytest.raises(InvalidInputError, match="alpha"):
        QuantumKernelRidge(alpha=-1).fit([[0.0], [1.0]], [0.0, 1.0])
    m = QuantumKernelRidge().fit([[0.0, 1.0], [1.0, 0.0]], [0.0, 1.0])
    with pytest.raises(ValueError, match="features"):
        m.predict([[0.0, 1.0, 2.0]])
