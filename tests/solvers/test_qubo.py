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


# ------------------------------------------------------- building from arrays


def _random_terms(seed: int, n: int, m: int):
    """Linear and quadratic terms with repeats, both orders, diagonal pairs and pairs cancelling to zero."""
    rng = np.random.default_rng(seed)
    lin_idx = rng.integers(0, n, m // 3)
    lin_w = np.round(rng.normal(size=lin_idx.size), 3)
    rows, cols = rng.integers(0, n, m), rng.integers(0, n, m)
    w = np.round(rng.normal(size=m), 2)
    other = (np.minimum(rows, cols) != 0) | (np.maximum(rows, cols) != 1)
    rows, cols, w = rows[other], cols[other], w[other]
    # the pair (0, 1) only here: added, then taken away in the other order, summing to exactly zero
    rows = np.concatenate([rows, [0, 1]])
    cols = np.concatenate([cols, [1, 0]])
    w = np.concatenate([w, [0.75, -0.75]])
    return lin_idx, lin_w, rows, cols, w


def _identical(a: QUBO, b: QUBO) -> bool:
    """Every array equal to the last bit, and the same labels, groups and offset."""
    return (
        all(x.dtype == y.dtype and x.tobytes() == y.tobytes() for x, y in (
            (a.linear, b.linear), (a.quad_i, b.quad_i), (a.quad_j, b.quad_j), (a.quad_w, b.quad_w)))
        and a.offset == b.offset and a.labels == b.labels and a.onehot == b.onehot
    )


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("drop_zeros", [True, False])
def test_array_terms_build_the_same_qubo_as_scalar_terms(seed, drop_zeros):
    n = 3 + 5 * seed
    lin_idx, lin_w, rows, cols, w = _random_terms(seed, n, 40 * n)
    labels = [f"x{i}" for i in range(n)]

    scalar = QUBOBuilder(labels)
    for i, v in zip(lin_idx, lin_w):
        scalar.add_linear(labels[i], v)
    for i, j, v in zip(rows, cols, w):
        scalar.add_quadratic(labels[i], labels[j], v)
    scalar.add_offset(1.5)

    arrays = QUBOBuilder(labels)
    arrays.add_linear_array(lin_idx, lin_w)
    arrays.add_quadratic_array(rows, cols, w)
    arrays.add_offset(1.5)

    # the same terms in pieces, array and scalar calls interleaved
    mixed = QUBOBuilder(labels)
    mixed.add_linear_array(lin_idx[:5], lin_w[:5])
    for i, v in zip(lin_idx[5:], lin_w[5:]):
        mixed.add_linear(labels[i], v)
    half = rows.size // 2
    for i, j, v in zip(rows[:half], cols[:half], w[:half]):
        mixed.add_quadratic(labels[i], labels[j], v)
    mixed.add_quadratic_array(rows[half:], cols[half:], w[half:])
    mixed.add_offset(1.5)

    want = scalar.build(drop_zeros=drop_zeros)
    assert _identical(arrays.build(drop_zeros=drop_zeros), want)
    assert _identical(mixed.build(drop_zeros=drop_zeros), want)
    dense_lin = np.zeros(n)
    np.add.at(dense_lin, lin_idx, lin_w)
    assert _identical(
        QUBO.from_coo(n, dense_lin, rows, cols, w, 1.5, labels=labels, drop_zeros=drop_zeros),
        _from_dense_linear(labels, dense_lin, rows, cols, w, drop_zeros),
    )

    # canonical form: i < j, each pair once, sorted; the cancelled pair (0, 1) kept only on request
    pairs = list(zip(want.quad_i.tolist(), want.quad_j.tolist()))
    assert all(i < j for i, j in pairs) and pairs == sorted(set(pairs))
    assert ((0, 1) in pairs) == (not drop_zeros)
    # energies against the terms summed independently
    X = np.random.default_rng(seed).integers(0, 2, (64, n))
    ref = 1.5 + X[:, lin_idx] @ lin_w + (X[:, rows] * X[:, cols]) @ w
    np.testing.assert_allclose(want.energies(X), ref, atol=1e-9)


def _from_dense_linear(labels, dense_lin, rows, cols, w, drop_zeros):
    b = QUBOBuilder(labels)
    for lab, v in zip(labels, dense_lin):
        b.add_linear(lab, v)
    for i, j, v in zip(rows, cols, w):
        b.add_quadratic(labels[i], labels[j], v)
    b.add_offset(1.5)
    return b.build(drop_zeros=drop_zeros)


def test_from_coo_groups_labels_and_errors():
    q = QUBO.from_coo(3, None, [0, 2], [1, 1], [1.0, 2.0], labels=["a", "b", "c"], onehot=[[0, 1, 2]],
                      metadata={"kind": "test"})
    assert q.labels == ("a", "b", "c") and q.onehot == ((0, 1, 2),) and q.metadata == {"kind": "test"}
    assert q.quad_i.tolist() == [0, 1] and q.quad_j.tolist() == [1, 2]
    assert QUBO.from_coo(2).num_interactions == 0
    with pytest.raises(InvalidInputError, match="indices"):
        QUBO.from_coo(2, None, [0, 2], [1, 1], [1.0, 1.0])
    with pytest.raises(InvalidInputError, match="indices"):
        QUBO.from_coo(2, None, [-1], [1], [1.0])
    with pytest.raises(InvalidInputError, match="same length"):
        QUBO.from_coo(2, None, [0, 1], [1], [1.0, 1.0])
    with pytest.raises(InvalidInputError, match="weights"):
        QUBO.from_coo(2, None, [0], [1], [1.0, 1.0])
    with pytest.raises(InvalidInputError, match="weights"):
        QUBO.from_coo(2, [1.0], [0], [1], [1.0])
    with pytest.raises(InvalidInputError, match="variable indices"):
        QUBO.from_coo(2, None, [0.0], [1.0], [1.0])
    with pytest.raises(InvalidInputError, match="one-hot"):
        QUBO.from_coo(2, onehot=[[0, -1]])
    with pytest.raises(InvalidInputError, match="unique"):
        QUBO.from_coo(2, labels=["a", "a"])


def test_a_million_quadratic_terms_in_one_call():
    n, m = 3000, 1_000_000
    rng = np.random.default_rng(7)
    rows, cols = rng.integers(0, n, m), rng.integers(0, n, m)
    w = rng.normal(size=m)
    b = QUBOBuilder(range(n))
    b.add_quadratic_array(rows, cols, w)
    q = b.build()
    off = rows != cols
    lo, hi = np.minimum(rows, cols)[off], np.maximum(rows, cols)[off]
    assert q.num_interactions == np.unique(lo * n + hi).size
    assert q.num_variables == n
    X = rng.integers(0, 2, (4, n))
    ref = (X[:, rows] * X[:, cols]) @ w
    np.testing.assert_allclose(q.energies(X), ref, rtol=1e-9, atol=1e-6)
    assert QUBO.from_coo(n, None, rows, cols, w).is_equal(q)
