"""Quantum-kernel ridge regression: a Cirq feature map, its fidelity kernel on qsim, scikit-learn's KernelRidge.

The feature map is the IQP / ``ZZFeatureMap`` circuit of Havlicek et al.,
*Supervised learning with quantum-enhanced feature spaces*, Nature 567, 209
(2019), on one qubit per feature.  For a feature vector ``x`` (already scaled,
e.g. standardised principal components) and a bandwidth ``b`` it prepares

    |phi(x)> = (U(b x) H^n)^reps |0^n>,
    U(z) = prod_i exp(-i z_i Z_i) prod_{(i, j) in E} exp(-i z_i z_j Z_i Z_j)

with ``E`` the entangling pairs: ``"linear"`` ``(0,1), (1,2), ...`` or ``"ring"``
(the linear pairs and ``(n-1, 0)``).  In Cirq each layer is ``cirq.H`` on every
qubit, ``cirq.rz(2 z_i)`` (that is ``exp(-i z_i Z)``) and
``cirq.ZZPowGate(exponent=2 z_i z_j / pi, global_shift=-1/2)`` (that is
``exp(-i z_i z_j Z Z)``), so the circuit's unitary is the formula exactly.  The
bandwidth ``b`` scales the features before the circuit (Shaydulin and Wild,
*Importance of kernel bandwidth in quantum machine learning*, PRA 106, 042407
(2022)): large angles make every pair of distinct points nearly orthogonal and
the Gram matrix nearly the identity, which cannot generalise.

The kernel is the state fidelity

    k(x, y) = |<phi(x)|phi(y)>|^2.

It is computed *exactly* from state vectors: each point's state is simulated
once on qsim (``qsimcirq.QSimSimulator.simulate_sweep`` over the points, the
circuit's angles as symbols), the states are renormalised in double precision,
and a Gram block is ``|S_x^* S_y^T|^2`` entrywise, so an ``N x M`` kernel costs
``N + M`` simulations, not ``N M`` overlap circuits.  It is symmetric, has ones
on its diagonal and is positive semi-definite (the entrywise product of the
Gram matrix of the states and its conjugate, a Schur product of two PSD
matrices).

:class:`QuantumKernelRidge` is a scikit-learn regressor (``fit``/``predict``,
parameters in ``__init__``, fitted attributes ending in ``_``): it centres the
targets (kernel ridge has no intercept), fits
``sklearn.kernel_ridge.KernelRidge(kernel="precomputed")`` on the training
Gram matrix and predicts from the test-by-train kernel.  Targets may be a
matrix (several outputs share one Gram matrix).  Keep the qubits few (the
default limit is :data:`MAX_QUBITS`) and the training rows a few hundred: the
Gram matrix is ``N x N``.

Cirq and qsim are imported inside the functions, so importing this module stays cheap.

Examples
--------
One qubit, one layer: ``|phi(x)> = (e^{-ibx}|0> + e^{ibx}|1>)/sqrt(2)``, so
``k(x, y) = cos^2(b (x - y))``.

>>> import numpy as np
>>> K = fidelity_kernel(np.array([[0.3]]), np.array([[-0.4]]), reps=1)
>>> bool(np.isclose(K[0, 0], np.cos(0.7) ** 2))
True
>>> rng = np.random.default_rng(0)
>>> X = rng.uniform(-1, 1, size=(40, 2)); y = np.sin(2 * X[:, 0]) + X[:, 1]
>>> model = QuantumKernelRidge(alpha=1e-4, bandwidth=0.5).fit(X[:30], y[:30])
>>> bool(np.abs(model.predict(X[30:]) - y[30:]).mean() < 0.1)
True
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from solvers.errors import InvalidInputError, ProblemTooLargeError

if TYPE_CHECKING:  # pragma: no cover
    import cirq

__all__ = [
    "ENTANGLEMENTS",
    "MAX_QUBITS",
    "QuantumKernelRidge",
    "entangling_pairs",
    "feature_map_circuit",
    "feature_map_states",
    "fidelity_kernel",
    "kernel_from_states",
]

#: The entangling patterns of the feature map.
ENTANGLEMENTS = ("linear", "ring")

#: The most qubits (features) the kernel takes: state vectors of ``2**n`` complex
#: numbers are held for every point.
MAX_QUBITS = 12


def entangling_pairs(n_qubits: int, entanglement: str = "linear") -> list[tuple[int, int]]:
    """The qubit pairs ``E`` of the ZZ layer.

    >>> entangling_pairs(4), entangling_pairs(4, "ring"), entangling_pairs(1)
    ([(0, 1), (1, 2), (2, 3)], [(0, 1), (1, 2), (2, 3), (3, 0)], [])
    """
    _check_map(n_qubits, 1, 1.0, entanglement)
    pairs = [(i, i + 1) for i in range(n_qubits - 1)]
    if entanglement == "ring" and n_qubits > 2:
        pairs.append((n_qubits - 1, 0))
    return pairs


def _check_map(n_qubits: Any, reps: Any, bandwidth: Any, entanglement: Any) -> None:
    if not isinstance(n_qubits, (int, np.integer)) or n_qubits < 1:
        msg = f"the feature map needs at least one feature (qubit), got {n_qubits!r}"
        raise InvalidInputError(msg)
    if n_qubits > MAX_QUBITS:
        msg = (f"the quantum kernel takes at most {MAX_QUBITS} features (one qubit each), got {n_qubits}; "
               f"reduce the features first (e.g. PCA to 4-6 components)")
        raise ProblemTooLargeError(msg)
    if not isinstance(reps, (int, np.integer)) or isinstance(reps, bool) or reps < 1:
        msg = f"reps: the feature map's layer count must be a positive integer, got {reps!r}"
        raise InvalidInputError(msg)
    if not isinstance(bandwidth, (int, float, np.number)) or not math.isfinite(bandwidth) or bandwidth <= 0:
        msg = f"bandwidth: must be a finite number > 0, got {bandwidth!r}"
        raise InvalidInputError(msg)
    if entanglement not in ENTANGLEMENTS:
        msg = f"entanglement: {entanglement!r} is not one of {', '.join(ENTANGLEMENTS)}"
        raise InvalidInputError(msg)


def _symbolic_circuit(n_qubits: int, reps: int, entanglement: str) -> tuple[cirq.Circuit, list[cirq.Qid]]:
    """The feature map with symbols ``z0..z{n-1}`` (single-qubit angles) and ``w0..`` (pair angles)."""
    import cirq
    import sympy

    qubits = cirq.LineQubit.range(n_qubits)
    pairs = entangling_pairs(n_qubits, entanglement)
    z = sympy.symbols(f"z0:{n_qubits}")
    w = sympy.symbols(f"w0:{len(pairs)}") if pairs else ()
    circuit = cirq.Circuit()
    for _ in range(reps):
        circuit.append(cirq.H.on_each(*qubits), strategy=cirq.InsertStrategy.NEW_THEN_INLINE)
        circuit.append(cirq.rz(2 * z[i]).on(q) for i, q in enumerate(qubits))
        for k, (i, j) in enumerate(pairs):
            circuit.append(cirq.ZZPowGate(exponent=w[k], global_shift=-0.5).on(qubits[i], qubits[j]))
    return circuit, qubits


def _resolver(x: np.ndarray, pairs: list[tuple[int, int]]) -> dict[str, float]:
    """Symbol values for one scaled point ``x``: ``z_i = x_i``, ``w_k = 2 x_i x_j / pi``."""
    values = {f"z{i}": float(v) for i, v in enumerate(x)}
    values.update({f"w{k}": 2.0 * float(x[i]) * float(x[j]) / math.pi for k, (i, j) in enumerate(pairs)})
    return values


def feature_map_circuit(
    x: Any, *, reps: int = 2, bandwidth: float = 1.0, entanglement: str = "linear"
) -> cirq.Circuit:
    """The resolved feature-map circuit of one point ``x`` (angles from ``bandwidth * x``).

    >>> c = feature_map_circuit([0.1, 0.2, 0.3], reps=2)
    >>> len(c.all_qubits()), sum(1 for op in c.all_operations() if len(op.qubits) == 2)
    (3, 4)
    """
    import cirq

    x = np.asarray(x, dtype=float).ravel()
    _check_map(x.size, reps, bandwidth, entanglement)
    circuit, _ = _symbolic_circuit(x.size, reps, entanglement)
    resolver = _resolver(bandwidth * x, entangling_pairs(x.size, entanglement))
    return cirq.resolve_parameters(circuit, resolver)


def _check_points(X: Any, name: str) -> np.ndarray:
    X = np.asarray(X, dtype=float)
    if X.ndim != 2 or X.shape[0] == 0:
        msg = f"{name}: expected a non-empty 2-D array of points (rows) by features, got shape {X.shape}"
        raise InvalidInputError(msg)
    if not np.isfinite(X).all():
        msg = f"{name}: holds NaN or infinite values; impute or drop them before the quantum kernel"
        raise InvalidInputError(msg)
    return X


def feature_map_states(
    X: Any, *, reps: int = 2, bandwidth: float = 1.0, entanglement: str = "linear", threads: int = 1
) -> np.ndarray:
    """The feature-map states of the rows of ``X`` from qsim: an ``N x 2**n`` complex128 array.

    One qsim simulation per row (a parameter sweep of one symbolic circuit); each
    state is renormalised in double precision (qsim works in single precision).

    >>> S = feature_map_states([[0.0, 0.0]], reps=1)       # H|0>H|0> = |++>
    >>> bool(np.allclose(S, 0.5))
    True
    """
    import qsimcirq

    X = _check_points(X, "X")
    _check_map(X.shape[1], reps, bandwidth, entanglement)
    circuit, qubits = _symbolic_circuit(X.shape[1], reps, entanglement)
    pairs = entangling_pairs(X.shape[1], entanglement)
    simulator = qsimcirq.QSimSimulator(qsimcirq.QSimOptions(cpu_threads=max(1, int(threads))))
    params = [_resolver(bandwidth * row, pairs) for row in X]
    results = simulator.simulate_sweep(circuit, params=params, qubit_order=qubits)
    states = np.array([r.final_state_vector for r in results], dtype=np.complex128)
    states /= np.linalg.norm(states, axis=1, keepdims=True)
    return states


def kernel_from_states(A: np.ndarray, B: np.ndarray | None = None) -> np.ndarray:
    """``K[i, j] = |<a_i|b_j>|^2`` from two stacks of state vectors (rows); ``B`` defaults to ``A``."""
    B = A if B is None else B
    K = np.abs(A.conj() @ B.T) ** 2
    if B is A:
        K = (K + K.T) / 2
        np.fill_diagonal(K, 1.0)  # renormalised states: exact up to rounding
    return K


def fidelity_kernel(
    X: Any,
    Y: Any = None,
    *,
    reps: int = 2,
    bandwidth: float = 1.0,
    entanglement: str = "linear",
    threads: int = 1,
) -> np.ndarray:
    """The fidelity kernel ``|<phi(x)|phi(y)>|^2`` between the rows of ``X`` and of ``Y`` (``X`` if None).

    Each row is simulated once on qsim (:func:`feature_map_states`), then the
    kernel is the entrywise squared modulus of the states' inner products.

    >>> K = fidelity_kernel([[0.1, 0.5], [0.4, -0.2], [1.0, 0.3]])
    >>> bool(np.allclose(K, K.T)), bool(np.allclose(np.diag(K), 1.0))
    (True, True)
    """
    kw = dict(reps=reps, bandwidth=bandwidth, entanglement=entanglement, threads=threads)
    A = feature_map_states(X, **kw)
    if Y is None:
        return kernel_from_states(A)
    B = feature_map_states(Y, **kw)
    if B.shape[1] != A.shape[1]:
        msg = f"Y: has {int(np.log2(B.shape[1]))} features, X has {int(np.log2(A.shape[1]))}; use the same features"
        raise InvalidInputError(msg)
    return kernel_from_states(A, B)


class QuantumKernelRidge(RegressorMixin, BaseEstimator):
    """Kernel ridge regression on the quantum fidelity kernel (a scikit-learn regressor).

    Parameters
    ----------
    alpha : float
        Ridge regularisation of ``KernelRidge`` (> 0).
    reps : int
        Layers of the feature map (``H`` then the ``Z``/``ZZ`` phases), at least 1.
    bandwidth : float
        Features are multiplied by it before the circuit (> 0); smaller is smoother.
    entanglement : {"linear", "ring"}
        The ZZ pairs.
    threads : int
        qsim's CPU threads.

    Attributes
    ----------
    n_features_in_ : int
        Features (qubits) seen in ``fit``.
    y_mean_ : ndarray
        The targets' mean, added back to the ridge's predictions.
    train_states_ : ndarray
        The training points' feature-map states (``N x 2**n``).
    ridge_ : sklearn.kernel_ridge.KernelRidge
        The fitted ridge on the precomputed kernel.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.linspace(-1, 1, 12).reshape(-1, 1); y = X.ravel() ** 2
    >>> m = QuantumKernelRidge(alpha=1e-4, reps=1, bandwidth=0.5).fit(X, y)
    >>> bool(np.allclose(m.predict(X), y, atol=0.02)), m.n_features_in_
    (True, 1)
    """

    def __init__(
        self,
        alpha: float = 1.0,
        *,
        reps: int = 2,
        bandwidth: float = 1.0,
        entanglement: str = "linear",
        threads: int = 1,
    ) -> None:
        self.alpha = alpha
        self.reps = reps
        self.bandwidth = bandwidth
        self.entanglement = entanglement
        self.threads = threads

    def _map_kwargs(self) -> dict[str, Any]:
        return dict(reps=self.reps, bandwidth=self.bandwidth, entanglement=self.entanglement, threads=self.threads)

    def fit(self, X: Any, y: Any) -> QuantumKernelRidge:
        """Simulate each training point once, build the Gram matrix, fit the ridge on centred targets."""
        from sklearn.kernel_ridge import KernelRidge

        if not isinstance(self.alpha, (int, float, np.number)) or not math.isfinite(self.alpha) or self.alpha <= 0:
            msg = f"alpha: must be a finite number > 0, got {self.alpha!r}"
            raise InvalidInputError(msg)
        X, y = validate_data(self, X, y, multi_output=True, y_numeric=True, dtype=np.float64)
        _check_map(X.shape[1], self.reps, self.bandwidth, self.entanglement)
        self.train_states_ = feature_map_states(X, **self._map_kwargs())
        self.y_mean_ = np.mean(y, axis=0)
        K = kernel_from_states(self.train_states_)
        self.ridge_ = KernelRidge(alpha=self.alpha, kernel="precomputed").fit(K, y - self.y_mean_)
        return self

    def kernel(self, X: Any) -> np.ndarray:
        """The kernel between the rows of ``X`` and the training points (``len(X) x N``)."""
        check_is_fitted(self, "ridge_")
        X = validate_data(self, X, reset=False, dtype=np.float64)
        return kernel_from_states(feature_map_states(X, **self._map_kwargs()), self.train_states_)

    def predict(self, X: Any) -> np.ndarray:
        """Predictions for the rows of ``X``: the ridge on the test-by-train kernel, plus the targets' mean."""
        return self.ridge_.predict(self.kernel(X)) + self.y_mean_
