"""The QAOA ansatz as a Cirq circuit, built from a QUBO's Ising form.

The state is

    |psi(gamma, beta)> = prod_{k=0}^{p-1} exp(-i beta_k B) exp(-i gamma_k C) |+>^n

with the cost ``C = sum_i h_i Z_i + sum_{i<j} J_ij Z_i Z_j`` (the Ising form of
:meth:`solvers.qubo.QUBO.to_ising`, offset dropped) and the transverse-field
mixer ``B = sum_i X_i``.  Qubit ``i`` is variable ``i``; ``|0>`` is ``x_i = 0``
(spin ``+1``).

Gate conventions (checked against an explicit matrix exponential in the tests):

- ``exp(-i gamma h Z)`` is ``cirq.ZPowGate(exponent=2 gamma h / pi, global_shift=-1/2)``
  (that is ``cirq.rz(2 gamma h)``);
- ``exp(-i gamma J Z Z)`` is ``cirq.ZZPowGate(exponent=2 gamma J / pi, global_shift=-1/2)``;
- ``exp(-i beta X)`` is ``cirq.rx(2 beta)``.

With ``global_shift=-1/2`` each gate *is* the exponential, global phase
included, so the circuit's unitary equals the textbook one exactly.

Cirq and sympy are imported inside the functions, so importing this module
(and :mod:`solvers.qaoa`) stays cheap.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

from solvers.errors import InvalidInputError

if TYPE_CHECKING:  # pragma: no cover
    import cirq
    import sympy

__all__ = [
    "angle_resolver",
    "count_two_qubit_gates",
    "parameter_symbols",
    "qaoa_circuit",
]


def parameter_symbols(depth: int) -> tuple[list[sympy.Symbol], list[sympy.Symbol]]:
    """The symbols ``gamma_0..gamma_{p-1}`` and ``beta_0..beta_{p-1}`` of a depth-``p`` ansatz."""
    import sympy

    return (
        [sympy.Symbol(f"gamma_{k}") for k in range(depth)],
        [sympy.Symbol(f"beta_{k}") for k in range(depth)],
    )


def angle_resolver(gammas: Sequence[float], betas: Sequence[float]) -> cirq.ParamResolver:
    """A ``cirq.ParamResolver`` binding ``gamma_k`` and ``beta_k`` to the given angles."""
    import cirq

    if len(gammas) != len(betas):
        msg = f"gammas and betas must have the same length, got {len(gammas)} and {len(betas)}"
        raise InvalidInputError(msg)
    values = {f"gamma_{k}": float(g) for k, g in enumerate(gammas)}
    values.update({f"beta_{k}": float(b) for k, b in enumerate(betas)})
    return cirq.ParamResolver(values)


def _check_angles(name: str, values: Sequence[float] | None, depth: int) -> list[float] | None:
    if values is None:
        return None
    out = [float(v) for v in np.asarray(values, dtype=np.float64).reshape(-1)]
    if len(out) != depth:
        msg = f"{name} must have depth={depth} entries, got {len(out)}"
        raise InvalidInputError(msg)
    if not all(math.isfinite(v) for v in out):
        msg = f"{name} must be finite, got {out!r}"
        raise InvalidInputError(msg)
    return out


def qaoa_circuit(
    h: Sequence[float] | np.ndarray,
    J: Mapping[tuple[int, int], float],
    depth: int,
    *,
    qubits: Sequence[cirq.Qid] | None = None,
    gammas: Sequence[float] | None = None,
    betas: Sequence[float] | None = None,
) -> cirq.Circuit:
    """The depth-``p`` QAOA circuit (X mixer) for the Ising cost ``(h, J)``, no measurement.

    Parameters
    ----------
    h : array_like, shape (n,)
        Local fields: the cost has ``h_i Z_i``.
    J : mapping {(i, j): float}
        Couplings: the cost has ``J_ij Z_i Z_j`` (``i != j``; both orders allowed).
    depth : int
        Number of cost + mixer layers ``p`` (at least 1).
    qubits : sequence of cirq.Qid, optional
        The ``n`` qubits, qubit ``i`` for variable ``i`` (default ``cirq.LineQubit.range(n)``).
    gammas, betas : sequence of float, optional
        Angles of each layer.  Where not given, the circuit is parameterised by
        the sympy symbols ``gamma_k`` / ``beta_k`` (see :func:`angle_resolver`).

    Returns
    -------
    cirq.Circuit
        Hadamards, then per layer ``k``: ``exp(-i gamma_k C)`` as ZZ and Z
        rotations (zero coefficients skipped), and ``exp(-i beta_k sum X)`` as
        ``rx(2 beta_k)`` on every qubit.

    Raises
    ------
    InvalidInputError
        When ``depth`` is not a positive integer, the angle lists have the wrong
        length, ``J`` names a qubit out of range or a self-coupling, or ``qubits``
        has the wrong length.

    Examples
    --------
    >>> import numpy as np
    >>> import cirq
    >>> c = qaoa_circuit(np.array([0.5, 0.0]), {(0, 1): 1.0}, 2)
    >>> count_two_qubit_gates(c), sorted(cirq.parameter_names(c))
    (2, ['beta_0', 'beta_1', 'gamma_0', 'gamma_1'])
    """
    import cirq

    if not isinstance(depth, int) or isinstance(depth, bool) or depth < 1:
        msg = f"depth must be a positive integer, got {depth!r}"
        raise InvalidInputError(msg)
    h = np.asarray(h, dtype=np.float64).reshape(-1)
    n = h.shape[0]
    if qubits is None:
        qubits = cirq.LineQubit.range(n)
    qubits = list(qubits)
    if len(qubits) != n:
        msg = f"qubits has {len(qubits)} entries for {n} variables"
        raise InvalidInputError(msg)
    couplings: list[tuple[int, int, float]] = []
    for (i, j), w in J.items():
        i, j = int(i), int(j)
        if i == j or not (0 <= i < n and 0 <= j < n):
            msg = f"coupling ({i}, {j}) is not a pair of distinct qubits in 0..{n - 1}"
            raise InvalidInputError(msg)
        if w:
            couplings.append((i, j, float(w)))
    fields = [(i, float(w)) for i, w in enumerate(h) if w]

    sym_g, sym_b = parameter_symbols(depth)
    g_vals = _check_angles("gammas", gammas, depth)
    b_vals = _check_angles("betas", betas, depth)
    gs = g_vals if g_vals is not None else sym_g
    bs = b_vals if b_vals is not None else sym_b

    circuit = cirq.Circuit(cirq.H.on_each(*qubits))
    for k in range(depth):
        g, b = gs[k], bs[k]
        circuit.append(
            cirq.ZZPowGate(exponent=2.0 * w / math.pi * g, global_shift=-0.5).on(
                qubits[i], qubits[j]
            )
            for i, j, w in couplings
        )
        circuit.append(
            cirq.ZPowGate(exponent=2.0 * w / math.pi * g, global_shift=-0.5).on(qubits[i])
            for i, w in fields
        )
        circuit.append(cirq.rx(2.0 * b).on(q) for q in qubits)
    return circuit


def count_two_qubit_gates(circuit: cirq.AbstractCircuit) -> int:
    """Number of operations acting on exactly two qubits (measurements excluded)."""
    import cirq

    return sum(
        1 for op in circuit.all_operations() if len(op.qubits) == 2 and not cirq.is_measurement(op)
    )
