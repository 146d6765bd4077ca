"""QAOA mixers: the Mixer spec, the Cirq gates of the XY mixers and W states against
explicit matrix exponentials, Hamming-weight conservation, and bad input."""

from __future__ import annotations

import functools
import re

import numpy as np
import pytest
import scipy.linalg

cirq = pytest.importorskip("cirq")

from solvers.errors import InvalidOptionError  # noqa: E402
from solvers.qaoa.circuit import count_two_qubit_gates, qaoa_circuit  # noqa: E402
from solvers.qaoa.mixers import make_mixer  # noqa: E402
from solvers.qubo import index_bits  # noqa: E402

_I = np.eye(2)
_X = np.array([[0.0, 1.0], [1.0, 0.0]])
_Y = np.array([[0.0, -1j], [1j, 0.0]])
_Z = np.diag([1.0, -1.0])


def _on(ops: dict[int, np.ndarray], n: int) -> np.ndarray:
    """Kronecker product with ``ops[q]`` on qubit ``q`` (qubit 0 leftmost, as Cirq)."""
    return functools.reduce(np.kron, [ops.get(k, _I) for k in range(n)])


def xy_generator(a: int, b: int, n: int) -> np.ndarray:
    return (_on({a: _X, b: _X}, n) + _on({a: _Y, b: _Y}, n)) / 2


def explicit_state(h, J, gammas, betas, n, edges, free, psi0) -> np.ndarray:
    """``prod_k [prod_e expm(-i b XY_e)] expm(-i b sum_free X) expm(-i g C) psi0``, dense."""
    C = sum(h[i] * _on({i: _Z}, n) for i in range(n))
    C = C + sum(w * _on({i: _Z, j: _Z}, n) for (i, j), w in J.items())
    B_free = sum((_on({q: _X}, n) for q in free), np.zeros((2**n, 2**n)))
    psi = psi0.astype(complex)
    for g, b in zip(gammas, betas, strict=True):
        psi = scipy.linalg.expm(-1j * g * C) @ psi
        for a, c in edges:  # the documented order, written out by the caller
            psi = scipy.linalg.expm(-1j * b * xy_generator(a, c, n)) @ psi
        psi = scipy.linalg.expm(-1j * b * B_free) @ psi
    return psi


def product_state(n: int, factors: dict[tuple[int, ...], np.ndarray]) -> np.ndarray:
    """Amplitudes of a product state given per-qubit-set amplitude functions."""
    bits = index_bits(np.arange(2**n), n)
    psi = np.ones(2**n, dtype=complex)
    for qs, table in factors.items():
        psi *= table[tuple(bits[:, q] for q in qs)]
    return psi


def w_table(k: int) -> np.ndarray:
    t = np.zeros((2,) * k)
    for i in range(k):
        t[tuple(int(j == i) for j in range(k))] = 1 / np.sqrt(k)
    return t


PLUS = np.array([1.0, 1.0]) / np.sqrt(2)


def random_ising(n: int, seed: int):
    rng = np.random.default_rng(seed)
    h = rng.normal(size=n)
    J = {
        (i, j): float(rng.normal()) for i in range(n) for j in range(i + 1, n) if rng.random() < 0.7
    }
    return h, J


# ------------------------------------------------------------ the spec


@pytest.mark.parametrize(
    ("group", "ring", "complete"),
    [
        ((4,), [], []),
        ((2, 0), [(2, 0)], [(2, 0)]),
        ((3, 0, 2), [(3, 0), (0, 2), (2, 3)], [(3, 0), (3, 2), (0, 2)]),
        (
            (0, 1, 2, 3),
            [(0, 1), (1, 2), (2, 3), (3, 0)],
            [(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3)],
        ),
    ],
)
def test_edges_in_the_documented_order(group, ring, complete) -> None:
    assert list(make_mixer("xy-ring", 5, groups=[group]).edges) == ring
    assert list(make_mixer("xy-complete", 5, groups=[group]).edges) == complete


def test_mixer_spec_parts() -> None:
    m = make_mixer("xy-ring", 6, groups=[(1, 3), (4, 0, 5)])
    assert m.edges == ((1, 3), (4, 0), (0, 5), (5, 4))
    assert m.group_edges == (((1, 3),), ((4, 0), (0, 5), (5, 4)))
    assert m.free_qubits == (2,)
    assert m.init_state == "w" and m.plus_qubits == (2,)
    x = make_mixer("x", 3)
    assert x.edges == () and x.free_qubits == (0, 1, 2) and x.init_state == "plus"
    assert make_mixer("xy-complete", 3, groups=[(0, 1)], init_state="basis").init_state == "basis"
    # the X mixer from a feasible state: the group starts prepared, every qubit still mixes with X
    xw = make_mixer("x", 3, groups=[(0, 1)], init_state="w")
    assert xw.free_qubits == (0, 1, 2) and xw.plus_qubits == (2,)


def test_x_mixer_from_plus_ignores_overlapping_groups() -> None:
    """Row and column one-hot groups overlap (assignment problems); the X mixer from |+> does not use them."""
    m = make_mixer("x", 4, groups=[(0, 1), (2, 3), (0, 2), (1, 3)])
    assert m.init_state == "plus" and m.free_qubits == (0, 1, 2, 3)


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"name": "xy-ring"}, ["mixer", "groups"]),
        ({"name": "xy-complete", "groups": []}, ["mixer", "groups"]),
        ({"name": "xz"}, ["mixer", "xy-ring"]),
        ({"name": "x", "init_state": "ghz"}, ["init_state"]),
        ({"name": "x", "init_state": "w"}, ["init_state", "groups"]),
        ({"name": "xy-ring", "groups": [(0, 1)], "init_state": "plus"}, ["init_state", "plus"]),
        ({"name": "xy-ring", "groups": [(0, 1), (1, 2)]}, ["disjoint", "qubit 1"]),
        ({"name": "x", "groups": [(0, 1), (1, 2)], "init_state": "basis"}, ["disjoint"]),
        ({"name": "xy-ring", "groups": [(0, 5)]}, ["outside", r"\[5\]"]),
        ({"name": "xy-ring", "groups": [(0, -1)]}, ["outside"]),
        ({"name": "xy-ring", "groups": [()]}, ["empty"]),
        ({"name": "xy-ring", "groups": [(0, 0, 1)]}, ["repeats"]),
        ({"name": "x", "groups": [(0, 7)]}, ["outside"]),
        ({"name": "xy-ring", "groups": ["ab"]}, ["qubit indices"]),
    ],
)
def test_bad_mixer_options_raise(kwargs: dict, words: list[str]) -> None:
    kwargs = dict(kwargs)
    name = kwargs.pop("name")
    with pytest.raises(InvalidOptionError) as info:
        make_mixer(name, 4, **kwargs)
    for w in words:
        assert re.search(w, str(info.value)), (w, str(info.value))
    assert isinstance(info.value, ValueError)


def test_circuit_checks_the_mixer() -> None:
    with pytest.raises(InvalidOptionError, match="mixer"):
        qaoa_circuit(np.zeros(3), {}, 1, mixer="xy-ring")


# ------------------------------------------------------- gates vs expm


@pytest.mark.parametrize("beta", [0.0, 0.37, -1.2, 2.9])
def test_xy_gate_is_the_exponential_phase_included(beta: float) -> None:
    a, b = cirq.LineQubit.range(2)
    c = qaoa_circuit(np.zeros(2), {}, 1, mixer="xy-ring", groups=[(0, 1)], init_state="basis")
    (xy_op,) = [op for op in c.all_operations() if isinstance(op.gate, cirq.ISwapPowGate)]
    resolved = cirq.resolve_parameters(xy_op, {"beta_0": beta, "gamma_0": 0.0})
    expected = scipy.linalg.expm(-1j * beta * (np.kron(_X, _X) + np.kron(_Y, _Y)) / 2)
    np.testing.assert_allclose(cirq.unitary(resolved), expected, atol=1e-12)
    # XX and YY commute: the product of the two exponentials is the same unitary
    split = scipy.linalg.expm(-1j * beta * np.kron(_X, _X) / 2) @ scipy.linalg.expm(
        -1j * beta * np.kron(_Y, _Y) / 2
    )
    np.testing.assert_allclose(expected, split, atol=1e-12)


CASES = [
    # n, mixer, groups, edges of one layer written out by hand, free qubits
    (4, "xy-ring", [(0, 1, 2, 3)], [(0, 1), (1, 2), (2, 3), (3, 0)], []),
    (4, "xy-complete", [(3, 0, 2)], [(3, 0), (3, 2), (0, 2)], [1]),
    (5, "xy-ring", [(4, 1, 2), (0, 3)], [(4, 1), (1, 2), (2, 4), (0, 3)], []),
    (5, "xy-complete", [(1, 3), (0, 4, 2)], [(1, 3), (0, 4), (0, 2), (4, 2)], []),
]


@pytest.mark.parametrize(("n", "mixer", "groups", "edges", "free"), CASES)
@pytest.mark.parametrize("init_state", ["w", "basis"])
def test_xy_circuit_equals_explicit_exponentials(n, mixer, groups, edges, free, init_state) -> None:
    h, J = random_ising(n, seed=n)
    rng = np.random.default_rng(7)
    gammas, betas = rng.uniform(-1.2, 1.2, 2), rng.uniform(-1.2, 1.2, 2)
    factors = {(q,): PLUS for q in free}
    for g in groups:
        if init_state == "w":
            factors[tuple(g)] = w_table(len(g))
        else:
            t = np.zeros((2,) * len(g))
            t[(1,) + (0,) * (len(g) - 1)] = 1.0
            factors[tuple(g)] = t
    psi0 = product_state(n, factors)
    expected = explicit_state(h, J, gammas, betas, n, edges, free, psi0)
    circuit = qaoa_circuit(
        h, J, 2, mixer=mixer, groups=groups, init_state=init_state, gammas=gammas, betas=betas
    )
    got = cirq.Simulator(dtype=np.complex128).simulate(circuit).final_state_vector
    np.testing.assert_allclose(got, expected, atol=1e-10)  # equal, global phase included


def test_edge_order_matters() -> None:
    """The check above can fail: a ring applied in another order gives another state."""
    n = 4
    h, J = random_ising(n, seed=1)
    psi0 = product_state(n, {(0, 1, 2, 3): w_table(4)})
    a = explicit_state(h, J, [0.7], [0.9], n, [(0, 1), (1, 2), (2, 3), (3, 0)], [], psi0)
    b = explicit_state(h, J, [0.7], [0.9], n, [(1, 2), (0, 1), (2, 3), (3, 0)], [], psi0)
    assert np.abs(a - b).max() > 1e-2


@pytest.mark.parametrize("k", [1, 2, 3, 4, 5, 7])
def test_w_state_circuit(k: int) -> None:
    n = k + 2
    group = tuple(range(1, k + 1))[::-1]  # reversed, not starting at 0
    c = qaoa_circuit(np.zeros(n), {}, 1, mixer="xy-ring", groups=[group], gammas=[0.0], betas=[0.0])
    psi = cirq.Simulator(dtype=np.complex128).simulate(c).final_state_vector
    expected = product_state(n, {(0,): PLUS, (n - 1,): PLUS, group: w_table(k)})
    np.testing.assert_allclose(psi, expected, atol=1e-12)
    bits = index_bits(np.arange(2**n), n)
    onehot = bits[:, list(group)].sum(axis=1) == 1
    assert np.all(psi[~onehot] == 0)
    np.testing.assert_allclose(np.abs(psi[onehot]) ** 2, 1 / (4 * k))  # times |+>|+>
    prep = [op for op in c.all_operations() if isinstance(op.gate, cirq.PhasedISwapPowGate)]
    assert len(prep) == k - 1  # the Givens cascade: k - 1 two-qubit gates


def test_basis_state_circuit() -> None:
    c = qaoa_circuit(
        np.zeros(4),
        {},
        1,
        mixer="xy-complete",
        groups=[(2, 0), (1, 3)],
        init_state="basis",
        gammas=[0.0],
        betas=[0.0],
    )
    psi = cirq.Simulator(dtype=np.complex128).simulate(c).final_state_vector
    # the first qubit of (2, 0) is 2, of (1, 3) is 1: x = (x0, x1, x2, x3) = (0, 1, 1, 0)
    expected = np.zeros(16)
    expected[0b0110] = 1.0
    np.testing.assert_allclose(psi, expected, atol=1e-12)


@pytest.mark.parametrize("mixer", ["xy-ring", "xy-complete"])
def test_xy_mixers_keep_the_one_hot_subspace(mixer: str) -> None:
    n, groups = 7, [(0, 3, 5), (6, 1), (2, 4)]
    h, J = random_ising(n, seed=3)
    rng = np.random.default_rng(5)
    c = qaoa_circuit(
        h,
        J,
        3,
        mixer=mixer,
        groups=groups,
        gammas=rng.uniform(-2, 2, 3),
        betas=rng.uniform(-2, 2, 3),
    )
    psi = cirq.Simulator(dtype=np.complex128).simulate(c).final_state_vector
    bits = index_bits(np.arange(2**n), n)
    feasible = np.all([bits[:, list(g)].sum(axis=1) == 1 for g in groups], axis=0)
    assert np.abs(psi[~feasible]).max() < 1e-12
    assert np.abs(psi[feasible]).min() > 1e-4  # the mixer does mix inside the subspace
    # ... while the X mixer from the same W states leaves it
    c = qaoa_circuit(h, J, 1, groups=groups, init_state="w", gammas=[0.5], betas=[0.4])
    psi = cirq.Simulator(dtype=np.complex128).simulate(c).final_state_vector
    assert np.abs(psi[~feasible]).max() > 1e-2


def test_two_qubit_gate_counts() -> None:
    groups = [(0, 1, 2), (3, 4), (5,)]
    J = {(0, 3): 1.0, (1, 4): -0.5, (2, 5): 0.0}
    ring = qaoa_circuit(np.ones(6), J, 2, mixer="xy-ring", groups=groups)
    # Givens: 2 + 1 + 0; per layer 2 ZZ + ring edges 3 + 1 + 0
    assert count_two_qubit_gates(ring) == 3 + 2 * (2 + 4)
    complete = qaoa_circuit(
        np.ones(6), J, 2, mixer="xy-complete", groups=groups, init_state="basis"
    )
    assert count_two_qubit_gates(complete) == 0 + 2 * (2 + 3 + 1)
