"""Warm-start QAOA (Egger, Mareček and Woerner, "Warm-starting quantum optimization",
Quantum 5, 479, 2021): the initial state and the mixer from a continuous relaxation.

The recipe, option ``warm_start=True`` of the ``qaoa`` solver:

1. **Relax.**  Minimise the QUBO's energy ``f(x) = offset + a.x + x^T U x`` over the
   box ``[0, 1]^n`` instead of ``{0, 1}^n`` (:func:`relax_qubo`).  Our QUBOs are not
   convex (one-hot penalties and congestion terms give the Hessian ``W = U + U^T``
   negative eigenvalues), so the relaxation is one of two documented, practical
   choices (option ``warm_relaxation``):

   * ``"box"`` (default): the non-convex box QP itself, L-BFGS-B from the centre and
     :data:`BOX_STARTS` - 1 random points seeded by the solve's seed, the lowest
     local minimum kept.  Its minima sit mostly on vertices, so this is close to
     warm-starting from a local-search solution (which the paper also considers,
     with the same regularisation).  Measured by
     :mod:`benchmarks.bench_qaoa_variants`, it gives the higher P(optimum) on 6 of
     its 7 traffic and dispatch instances.
   * ``"convex"``: the convexified QP
     ``f(x) + lam * sum_i (x_i**2 - x_i)`` with ``lam = max(0, -lambda_min(W) / 2) + 1e-9``.
     The added term is zero on every binary point and non-positive in the box,
     so it is a true relaxation (its minimum is a lower bound of the QUBO's), and
     its Hessian ``W + 2 lam I`` is positive semidefinite, so L-BFGS-B from the
     centre of the box finds its global minimum; deterministic.  (The diagonal
     shift is the classic convexification of binary quadratic programs, a cheap
     stand-in for the SDP of Goemans-Williamson that the paper uses on MaxCut.)

2. **Regularise.**  ``c_i = min(max(c*_i, eps), 1 - eps)`` with ``eps`` the option
   ``warm_epsilon`` (default 0.25, as in the paper), so no qubit starts frozen in a
   basis state that the mixer could not leave.

3. **Initial state and mixer.**  ``|psi_0> = prod_i RY(theta_i)|0>`` with
   ``theta_i = 2 arcsin(sqrt(c_i))``, so qubit ``i`` reads 1 with probability ``c_i``.
   The mixer is, on every qubit,

       RY(theta_i) RZ(2 beta) RY(-theta_i) = exp(-i beta H_i),  H_i = cos(theta_i) Z + sin(theta_i) X,

   the paper's ``RY(theta) RZ(-2 beta) RY(-theta)`` with ``beta -> -beta``: our
   convention writes the X mixer ``exp(-i beta X)`` with negative betas for
   minimisation, and with this sign the warm-start ansatz *is* plain QAOA when
   every ``c_i = 1/2`` (``theta = pi/2``: ``H_i = X``, ``|psi_0> = |+>^n``), so the
   linear ramp and the angle table carry over.  ``|psi_0>`` is an eigenstate of
   every ``H_i`` (eigenvalue +1): at ``gamma = 0`` the ansatz returns the relaxed
   distribution itself.

The mixer is a product of one-qubit gates, so it replaces the X mixer and cannot
be combined with the XY mixers of one-hot groups: the one-hot penalty stays in
the cost.  Backends: ``fast`` (:class:`WarmFastBackend`, a numpy state vector
with an adjoint gradient, not the tile kernels of :mod:`solvers.qaoa.fastsim`)
and ``qsim`` (:class:`WarmQsimBackend`, the Cirq circuit of
:func:`warm_circuit`); they agree amplitude for amplitude (tested).  Device
backends (``qvm``, ``engine``) are refused with an :class:`InvalidOptionError`.

Examples
--------
>>> from solvers import QUBO
>>> q = QUBO.from_terms({"a": -1.0, "b": 2.0}, {("a", "b"): 0.5})
>>> ws = prepare_warm_start(q, relaxation="convex", epsilon=0.25)
>>> [round(c, 3) for c in ws.c_star], [round(c, 3) for c in ws.c]
([1.0, 0.0], [0.75, 0.25])
>>> round(float(np.sin(ws.thetas[0] / 2) ** 2), 6)
0.75
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from solvers.errors import InvalidInputError, InvalidOptionError
from solvers.qaoa.backends.base import QAOABackend
from solvers.qaoa.backends.qsim import QsimBackend
from solvers.qaoa.options import STATE_BACKENDS as WARM_BACKENDS
from solvers.qaoa.options import WARM_RELAXATIONS as RELAXATIONS

if TYPE_CHECKING:  # pragma: no cover
    import cirq

    from solvers.qaoa.circuit import AnsatzOp
    from solvers.qaoa.cost import IsingCost
    from solvers.qubo import QUBO

__all__ = [
    "BOX_STARTS",
    "RELAXATIONS",
    "WARM_BACKENDS",
    "WarmFastBackend",
    "WarmQsimBackend",
    "WarmStart",
    "make_warm_backend",
    "prepare_warm_start",
    "relax_qubo",
    "warm_circuit",
    "warm_layout",
]

#: Starting points of the non-convex ``"box"`` relaxation (the centre, then seeded random points).
BOX_STARTS = 8
#: Qubits per mixer block of :class:`WarmFastBackend` (one ``2**k`` matrix product each).
MIX_BLOCK = 4
#: Name the warm-start mixer is reported under (``resources["mixer"]``).
WARM_MIXER = "warm-start"


@dataclass(frozen=True)
class WarmStart:
    """A relaxation's solution and the angles it gives.

    Attributes
    ----------
    relaxation : {"box", "convex"}
    epsilon : float
    c_star : tuple of float
        The relaxed solution in ``[0, 1]^n``.
    c : tuple of float
        ``c_star`` clipped into ``[epsilon, 1 - epsilon]``.
    thetas : ndarray
        ``2 arcsin(sqrt(c))``, one per qubit.
    relaxed_energy : float
        The QUBO's energy ``f(c_star)`` (its multilinear extension at ``c_star``).
    lam : float
        The convexifying shift (0 for ``"box"``).
    """

    relaxation: str
    epsilon: float
    c_star: tuple[float, ...]
    c: tuple[float, ...]
    thetas: np.ndarray
    relaxed_energy: float
    lam: float

    def summary(self) -> dict[str, Any]:
        """JSON-ready facts for ``Solution.info``."""
        return {"relaxation": self.relaxation, "epsilon": self.epsilon, "lambda": self.lam,
                "relaxed_energy": self.relaxed_energy, "c_star": list(self.c_star), "c": list(self.c),
                "thetas": [float(t) for t in self.thetas]}


def _quadratic_form(qubo: QUBO) -> tuple[np.ndarray, np.ndarray, float]:
    return np.asarray(qubo.linear, dtype=np.float64), qubo.symmetric_couplings(), float(qubo.offset)


def relax_qubo(qubo: QUBO, relaxation: str = "box", *, seed: int | None = None) -> tuple[np.ndarray, float]:
    """Minimise the QUBO's continuous relaxation over ``[0, 1]^n``.

    Returns ``(c_star, lam)``: the minimiser and the convexifying shift (see the
    module docstring; 0 for ``"box"``).

    Examples
    --------
    >>> from solvers import QUBO
    >>> q = QUBO.from_terms({"a": 1.0, "b": 1.0}, {("a", "b"): -3.0})   # non-convex
    >>> c, lam = relax_qubo(q, "convex")
    >>> lam > 0, bool(np.all((c >= 0) & (c <= 1)))
    (True, True)
    """
    from scipy.optimize import minimize

    if relaxation not in RELAXATIONS:
        msg = f"option 'warm_relaxation' of solver 'qaoa' must be one of: {', '.join(RELAXATIONS)}; got {relaxation!r}"
        raise InvalidOptionError(msg)
    a, W, _ = _quadratic_form(qubo)
    n = a.shape[0]
    lam = 0.0
    if relaxation == "convex" and n:
        lam_min = float(np.linalg.eigvalsh(W)[0]) if n > 1 else 0.0
        lam = max(0.0, -lam_min / 2.0) + (1e-9 if lam_min < 0 else 0.0)

    def f(x: np.ndarray) -> tuple[float, np.ndarray]:
        wx = W @ x
        val = a @ x + 0.5 * x @ wx + lam * float(x @ x - x.sum())
        return float(val), a + wx + lam * (2.0 * x - 1.0)

    bounds = [(0.0, 1.0)] * n
    starts = [np.full(n, 0.5)]
    if relaxation == "box":
        rng = np.random.default_rng(seed)
        starts += [rng.random(n) for _ in range(BOX_STARTS - 1)]
    best_x, best_v = starts[0], math.inf
    for x0 in starts:
        res = minimize(f, x0, jac=True, method="L-BFGS-B", bounds=bounds,
                       options={"maxiter": 2000, "ftol": 1e-12, "gtol": 1e-10})
        x = np.clip(np.asarray(res.x, dtype=np.float64), 0.0, 1.0)
        v = f(x)[0]
        if v < best_v - 1e-12:
            best_x, best_v = x, v
    return best_x, lam


def prepare_warm_start(qubo: QUBO, *, relaxation: str = "box", epsilon: float = 0.25,
                       seed: int | None = None) -> WarmStart:
    """Relax, regularise and turn into angles (the module docstring's steps 1-3)."""
    if not (isinstance(epsilon, (int, float)) and 0.0 <= epsilon <= 0.5):
        msg = f"option 'warm_epsilon' of solver 'qaoa' must be a number in [0, 0.5], got {epsilon!r}"
        raise InvalidOptionError(msg)
    c_star, lam = relax_qubo(qubo, relaxation, seed=seed)
    c = np.clip(c_star, epsilon, 1.0 - epsilon)
    thetas = 2.0 * np.arcsin(np.sqrt(c))
    thetas.setflags(write=False)
    a, W, off = _quadratic_form(qubo)
    relaxed = float(off + a @ c_star + 0.5 * c_star @ W @ c_star)
    return WarmStart(relaxation, float(epsilon), tuple(float(v) for v in c_star), tuple(float(v) for v in c),
                     thetas, relaxed, float(lam))


# ------------------------------------------------------------------ the circuit
def warm_layout(h: Sequence[float] | np.ndarray, J: dict[tuple[int, int], float], depth: int,
                thetas: Sequence[float] | np.ndarray) -> list[AnsatzOp]:
    """Every gate of the warm-start ansatz in circuit order (see :func:`warm_circuit`).

    Kinds: ``"ry"`` (``value`` the angle), the cost's ``"zz"`` / ``"z"`` as in
    :func:`solvers.qaoa.circuit.ansatz_layout`, and ``"rz"`` (``rz(2 beta_layer)``).
    """
    from solvers.qaoa.circuit import AnsatzOp, ansatz_layout
    from solvers.qaoa.mixers import make_mixer

    thetas = np.asarray(thetas, dtype=np.float64).reshape(-1)
    n = int(np.asarray(h).reshape(-1).shape[0])
    if thetas.shape[0] != n:
        msg = f"thetas has {thetas.shape[0]} entries for {n} qubits"
        raise InvalidInputError(msg)
    ops: list[AnsatzOp] = []
    for op in ansatz_layout(h, J, depth, make_mixer("x", n)):
        if op.kind == "h":
            ops.append(AnsatzOp("ry", op.qubits, -1, float(thetas[op.qubits[0]])))
        elif op.kind == "rx":
            q = op.qubits[0]
            ops.append(AnsatzOp("ry", op.qubits, op.layer, -float(thetas[q])))
            ops.append(AnsatzOp("rz", op.qubits, op.layer))
            ops.append(AnsatzOp("ry", op.qubits, op.layer, float(thetas[q])))
        else:
            ops.append(op)
    return ops


def warm_circuit(h: Sequence[float] | np.ndarray, J: dict[tuple[int, int], float], depth: int,
                 thetas: Sequence[float] | np.ndarray, *, qubits: Sequence[cirq.Qid] | None = None,
                 gammas: Sequence[float] | None = None, betas: Sequence[float] | None = None) -> cirq.Circuit:
    """The depth-``p`` warm-start QAOA circuit, no measurement.

    ``cirq.ry(theta_i)`` on every qubit, then per layer the cost gates of
    :func:`solvers.qaoa.circuit.qaoa_circuit` and, on every qubit,
    ``cirq.ry(-theta_i)``, ``cirq.rz(2 beta_k)``, ``cirq.ry(theta_i)``
    (``exp(-i beta_k (cos theta_i Z + sin theta_i X))``, no global phase).
    Parameterised by ``gamma_k`` / ``beta_k`` where the angles are not given.

    Examples
    --------
    >>> import numpy as np, cirq
    >>> c = warm_circuit(np.array([0.5, 0.0]), {(0, 1): 1.0}, 1, [np.pi / 2, np.pi / 2])
    >>> sorted(cirq.parameter_names(c)), len(list(c.all_operations()))
    (['beta_0', 'gamma_0'], 10)
    """
    import cirq

    from solvers.qaoa.circuit import _check_angles, _to_operation, parameter_symbols

    if not isinstance(depth, int) or isinstance(depth, bool) or depth < 1:
        msg = f"depth must be a positive integer, got {depth!r}"
        raise InvalidInputError(msg)
    h = np.asarray(h, dtype=np.float64).reshape(-1)
    qs = list(cirq.LineQubit.range(h.shape[0]) if qubits is None else qubits)
    if len(qs) != h.shape[0]:
        msg = f"qubits has {len(qs)} entries for {h.shape[0]} variables"
        raise InvalidInputError(msg)
    sym_g, sym_b = parameter_symbols(depth)
    g_vals, b_vals = _check_angles("gammas", gammas, depth), _check_angles("betas", betas, depth)
    gs = g_vals if g_vals is not None else sym_g
    bs = b_vals if b_vals is not None else sym_b
    out = []
    for op in warm_layout(h, J, depth, thetas):
        if op.kind == "ry":
            out.append(cirq.ry(op.value).on(qs[op.qubits[0]]))
        elif op.kind == "rz":
            out.append(cirq.rz(2.0 * bs[op.layer]).on(qs[op.qubits[0]]))
        else:
            out.append(_to_operation(op, qs, gs, bs))
    return cirq.Circuit(out)


# ------------------------------------------------------------------ backends
class WarmQsimBackend(QsimBackend):
    """``qsim`` with the warm-start ansatz: :func:`warm_circuit` on qsim's state vector."""

    name = "qsim"

    def __init__(self, cost: IsingCost, depth: int, *, thetas: Sequence[float], **kwargs: Any) -> None:
        if kwargs.pop("init_state", "auto") != "auto":
            msg = "backend option 'init_state' does not apply with warm_start=True (the relaxation sets the state)"
            raise InvalidOptionError(msg)
        super().__init__(cost, depth, **kwargs)
        self.thetas = np.asarray(thetas, dtype=np.float64)
        self.circuit = warm_circuit(cost.h, cost.J, depth, self.thetas, qubits=self.qubits)


class WarmFastBackend(QAOABackend):
    """``fast`` with the warm-start ansatz: a numpy state vector on the cost diagonal.

    Per layer: the phase ``exp(-i gamma C')`` (one elementwise product), then on
    each qubit the 2x2 matrix ``cos(beta) I - i sin(beta) H_i`` (``H_i**2 = I``),
    applied to the state viewed as ``(2**q, 2, 2**(n-q-1))``.  The gradient is the
    adjoint method of :mod:`solvers.qaoa.fastsim.simulator`: a layer's mixer is
    ``exp(-i beta sum_i H_i)`` (its factors commute), so ``dE/dbeta = 2 Im <lam| sum_i H_i |psi>``
    and ``dE/dgamma = 2 Im <lam| C' |psi>``, both vectors just after the layer's gate.

    Option ``precision``: ``"complex128"`` (default) or ``"complex64"``.  The tile
    kernels, the GPU path and the ``init_state`` option of the plain ``fast``
    backend do not apply (an :class:`InvalidOptionError` says so).
    """

    name = "fast"
    supports_gradient = True

    def __init__(self, cost: IsingCost, depth: int, *, thetas: Sequence[float],
                 precision: str = "complex128", **kwargs: Any) -> None:
        for key, default in (("platform", "cpu"), ("kernels", "auto"), ("init_state", "auto")):
            if kwargs.pop(key, default) != default:
                msg = (f"backend option {key!r} does not apply with warm_start=True: the warm-start ansatz runs "
                       "on its own numpy state vector (CPU); drop the option")
                raise InvalidOptionError(msg)
        super().__init__(cost, depth, **kwargs)
        dtypes = {"complex128": np.complex128, "complex64": np.complex64}
        if precision not in dtypes:
            msg = f"option 'precision' of backend 'fast' must be one of: {', '.join(dtypes)}; got {precision!r}"
            raise InvalidOptionError(msg)
        self.precision = precision
        self._dtype = dtypes[precision]
        self.thetas = np.asarray(thetas, dtype=np.float64).reshape(-1)
        n = cost.num_qubits
        if self.thetas.shape[0] != n:
            msg = f"thetas has {self.thetas.shape[0]} entries for {n} qubits"
            raise InvalidInputError(msg)
        self._cos, self._sin = np.cos(self.thetas), np.sin(self.thetas)
        self._diag = np.asarray(cost.diag, dtype=np.float64)
        # |psi_0> = prod RY(theta)|0>: amplitudes cos(theta/2), sin(theta/2) per qubit
        psi0 = np.ones(1, dtype=np.complex128)
        for t in self.thetas:
            psi0 = np.kron(psi0, np.array([math.cos(t / 2.0), math.sin(t / 2.0)]))
        self._psi0 = psi0.astype(self._dtype)
        self._resources: dict[str, Any] | None = None
        # per block, sum_{i in block} H_i as a 2**k matrix
        self._h_blocks = []
        for first, k in self._blocks():
            hm = np.zeros((1 << k, 1 << k))
            for pos in range(k):
                q = first + pos
                h1 = np.array([[self._cos[q], self._sin[q]], [self._sin[q], -self._cos[q]]])
                hm += np.kron(np.kron(np.eye(1 << pos), h1), np.eye(1 << (k - pos - 1)))
            self._h_blocks.append(hm.astype(self._dtype))

    # ------------------------------------------------------------ kernels
    def _angles(self, gammas: Sequence[float], betas: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
        g = np.asarray(gammas, dtype=np.float64).reshape(-1)
        b = np.asarray(betas, dtype=np.float64).reshape(-1)
        if g.size != self.depth or b.size != self.depth:
            msg = f"gammas and betas must have depth={self.depth} entries, got {g.size} and {b.size}"
            raise InvalidInputError(msg)
        if not (np.all(np.isfinite(g)) and np.all(np.isfinite(b))):
            msg = "gammas and betas must be finite"
            raise InvalidInputError(msg)
        return g, b

    def _blocks(self) -> list[tuple[int, int]]:
        """The qubits in runs ``(first, k)`` of up to :data:`MIX_BLOCK`, each one matrix product."""
        n = self.num_qubits
        return [(q, min(MIX_BLOCK, n - q)) for q in range(0, n, MIX_BLOCK)]

    def _apply(self, psi: np.ndarray, first: int, k: int, mat: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """``mat`` (``2**k`` square) on qubits ``first..first+k-1`` of ``psi``; in place unless ``out``."""
        rest = self.num_qubits - first - k
        v = psi.reshape(1 << first, 1 << k, 1 << rest)
        res = (v.reshape(-1, 1 << k) @ mat.T) if rest == 0 else np.matmul(mat, v)
        target = psi if out is None else out
        target.reshape(v.shape)[...] = res.reshape(v.shape)
        return target

    def _mix_matrix(self, first: int, k: int, beta: float) -> np.ndarray:
        cb, sb = math.cos(beta), math.sin(beta)
        m = np.ones((1, 1), dtype=np.complex128)
        for q in range(first, first + k):
            c, s = self._cos[q], self._sin[q]
            m = np.kron(m, np.array([[complex(cb, -sb * c), complex(0.0, -sb * s)],
                                     [complex(0.0, -sb * s), complex(cb, sb * c)]]))
        return m.astype(self._dtype)

    def _mix(self, psi: np.ndarray, beta: float) -> None:
        """``psi <- prod_i exp(-i beta H_i) psi`` in place."""
        for first, k in self._blocks():
            self._apply(psi, first, k, self._mix_matrix(first, k, beta))

    def _h_dot(self, lam: np.ndarray, psi: np.ndarray) -> complex:
        """``<lam| sum_i H_i |psi>``."""
        total = 0j
        tmp = np.empty_like(psi)
        for (first, k), hm in zip(self._blocks(), self._h_blocks):
            total += complex(np.vdot(lam, self._apply(psi, first, k, hm, out=tmp)))
        return total

    def _evolve(self, g: np.ndarray, b: np.ndarray, phases: list[np.ndarray] | None = None) -> np.ndarray:
        """The final state; the layers' phase vectors appended to ``phases`` when given."""
        psi = self._psi0.copy()
        for gamma, beta in zip(g.tolist(), b.tolist()):
            phase = np.exp(-1j * gamma * self._diag).astype(self._dtype)
            psi *= phase
            if phases is not None:
                phases.append(phase)
            self._mix(psi, beta)
        return psi

    # ------------------------------------------------------------ interface
    def state(self, gammas: Sequence[float], betas: Sequence[float]) -> np.ndarray:
        from solvers.qaoa.fastsim.kernels import single_threaded_blas

        with single_threaded_blas():  # small products: BLAS threads cost more than they save
            return self._evolve(*self._angles(gammas, betas))

    def expectation_and_gradient(self, gammas: Sequence[float], betas: Sequence[float]) -> tuple[float, np.ndarray]:
        from solvers.qaoa.fastsim.kernels import single_threaded_blas

        g, b = self._angles(gammas, betas)
        with single_threaded_blas():
            return self._adjoint(g, b)

    def _adjoint(self, g: np.ndarray, b: np.ndarray) -> tuple[float, np.ndarray]:
        p = g.size
        phases: list[np.ndarray] = []
        psi = self._evolve(g, b, phases)
        lam = psi * self._diag
        value = float(np.vdot(psi, lam).real)
        grad = np.zeros(2 * p)
        for k in reversed(range(p)):
            grad[p + k] = 2.0 * self._h_dot(lam, psi).imag
            self._mix(psi, -b[k])
            self._mix(lam, -b[k])
            grad[k] = 2.0 * float(np.vdot(lam, psi * self._diag).imag)
            undo = phases[k].conj()
            psi *= undo
            lam *= undo
        return value, grad

    def sample(self, gammas: Sequence[float], betas: Sequence[float], shots: int, *,
               seed: int | None = None) -> np.ndarray:
        from solvers.qubo import index_bits

        if not isinstance(shots, (int, np.integer)) or isinstance(shots, bool) or shots < 1:
            msg = f"shots must be a positive integer, got {shots!r}"
            raise InvalidInputError(msg)
        cdf = np.cumsum(self.probabilities(gammas, betas))
        u = np.random.default_rng(seed).random(int(shots)) * cdf[-1]
        idx = np.searchsorted(cdf, u, side="right")
        # u < cdf[-1] up to rounding; never step past the last state of non-zero probability
        np.minimum(idx, int(np.searchsorted(cdf, cdf[-1], side="left")), out=idx)
        return index_bits(idx, self.num_qubits, order="big")

    def resources(self) -> dict[str, Any]:
        if self._resources is None:
            from solvers.qaoa.circuit import layout_resources

            self._resources = layout_resources(warm_layout(self.cost.h, dict(self.cost.J), self.depth, self.thetas))
        return dict(self._resources)


def make_warm_backend(name: str, cost: IsingCost, depth: int, thetas: Sequence[float], *,
                      threads: int | None = None, **options: Any) -> QAOABackend:
    """The warm-start backend for the ``backend`` option ``name`` (``fast`` or ``qsim``).

    Raises
    ------
    InvalidOptionError
        For any other backend (device backends: the warm-start ansatz is not
        compiled for them).
    """
    from solvers.qaoa.backends import split_backend_name

    prefix, _ = split_backend_name(name)
    if prefix not in WARM_BACKENDS:
        msg = (f"option 'warm_start' of solver 'qaoa' runs on the backends {', '.join(WARM_BACKENDS)}, not "
               f"{name!r}; use backend='fast' or 'qsim', or drop warm_start")
        raise InvalidOptionError(msg)
    cls = WarmFastBackend if prefix == "fast" else WarmQsimBackend
    return cls(cost, depth, thetas=thetas, threads=threads, **options)
