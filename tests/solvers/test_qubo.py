"""The QUBO value type: energies, Ising form, conversions, validation."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from solvers import QUBO, InvalidInputError, ProblemTooLargeError, QUBOBuilder
from solvers.qubo import index_bits


def random_qubo(n: int, seed: int, *, density: float = 0.6, decimals: int | None = None) -> QUBO:
    rng = np.random.default_rng(seed)
    Q = np.triu(rng.normal(size=(n, n)))
    Q[np.triu(rng.random((n, n)) > density, 1)] = 0.0
    if decimals is not None:
        Q = np.round(Q, decimals)
    return QUBO.from_matrix(Q, float(rng.normal()))


def brute_energies(q: QUBO) -> np.ndarray:
    """Independent energy of every assignment, variable 0 most significant, by plain loops."""
    Q = q.dense()
    out = []
    for bits in itertools.product([0, 1], repeat=q.num_variables):
        x = np.array(bits, dtype=float)
        out.append(q.offset + sum(Q[i, j] * x[i] * x[j] for i in range(len(x)) for j in range(len(x))))
    return np.array(out)


@pytest.mark.parametrize("n,seed", [(1, 0), (3, 1), (6, 2), (9, 3)])
def test_all_energies_match_plain_loops(n, seed):
    q = random_qubo(n, seed)
    ref = brute_energies(q)
    np.testing.assert_allclose(q.all_energies(), ref, atol=1e-10)
    np.testing.assert_allclose(q.energies(index_bits(np.arange(2**n), n)), ref, atol=1e-10)
    little = q.all_energies(order="little")
    np.testing.assert_allclose(little, q.energies(index_bits(np.arange(2**n), n, order="little")), atol=1e-10)
    np.testing.assert_allclose(q.all_energies(dtype=np.float32), ref, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("seed", range(4))
def test_ising_energies_agree(seed):
    q = random_qubo(7, seed)
    h, J, c = q.to_ising()
    X = index_bits(np.arange(2**7), 7)
    S = 1.0 - 2.0 * X
    ising = c + S @ h + sum(w * S[:, i] * S[:, j] for (i, j), w in J.items())
    np.testing.assert_allclose(ising, q.energies(X), atol=1e-10)
    assert QUBO.from_ising(h, J, c).is_almost_equal(q)


def test_round_trips():
    q = QUBO.from_terms({"a": 1.0, "b": -2.0, "c": 0.5}, {("a", "b"): 3.0, ("c", "a"): -1.0}, 2.0,
                        onehot=[["a", "b"]])
    assert q.onehot == ((0, 1),)
    assert QUBO.from_dict(q.to_dict()).is_equal(q)
    assert QUBO.from_bqm(q.to_bqm()).is_almost_equal(QUBO.from_terms(
        {"a": 1.0, "b": -2.0, "c": 0.5}, {("a", "b"): 3.0, ("c", "a"): -1.0}, 2.0))
    bqm = q.to_bqm()
    for bits in itertools.product([0, 1], repeat=3):
        assert bqm.energy(dict(zip(q.labels, bits))) == pytest.approx(q.energy(bits))


def test_builder_sums_and_folds():
    b = QUBOBuilder()
    b.add_quadratic("x", "y", 1.0)
    b.add_quadratic("y", "x", 2.0)
    b.add_quadratic("x", "x", 5.0)  # x*x == x
    q = b.build()
    assert q.num_interactions == 1 and q.quad_w[0] == 3.0
    assert q.linear.tolist() == [5.0, 0.0]


def test_onehot_penalty_and_feasibility():
    b = QUBOBuilder()
    b.add_onehot(["a", "b", "c"], penalty=4.0)
    q = b.build()
    for bits in itertools.product([0, 1], repeat=3):
        assert q.energy(bits) == pytest.approx(4.0 * (1 - sum(bits)) ** 2)
        assert q.is_feasible(bits) == (sum(bits) == 1)


def test_bad_input_is_named():
    with pytest.raises(InvalidInputError, match="indices"):
        QUBO(np.zeros(2), [1], [0], [1.0])
    with pytest.raises(InvalidInputError, match="finite"):
        QUBO(np.array([np.nan]), [], [], [])
    with pytest.raises(InvalidInputError, match="labels"):
        QUBO(np.zeros(2), [], [], [], labels=("a", "a"))
    with pytest.raises(InvalidInputError, match="one-hot"):
        QUBO(np.zeros(3), [], [], [], onehot=((0, 1), (1, 2)))
    with pytest.raises(InvalidInputError, match="3 bits"):
        random_qubo(4, 0).energy([0, 1, 1])
    with pytest.raises(ProblemTooLargeError, match="n=31"):
        QUBO(np.zeros(31), [], [], []).all_energies()
    q = random_qubo(3, 0)
    with pytest.raises(InvalidInputError, match="schema"):
        QUBO.from_dict({**q.to_dict(), "schema_version": 99})


def test_immutable():
    q = random_qubo(3, 0)
    with pytest.raises(ValueError):
        q.linear[0] = 5.0
    assert q.scaled(2.0).energy([1, 1, 1]) == pytest.approx(2.0 * q.energy([1, 1, 1]))
