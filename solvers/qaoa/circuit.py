"""The QAOA ansatz as a Cirq circuit, built from a QUBO's Ising form.

The state is

    |psi(gamma, beta)> = prod_{k=0}^{p-1} U_B(beta_k) exp(-i gamma_k C) |psi_0>

with the cost ``C = sum_i h_i Z_i + sum_{i<j} J_ij Z_i Z_j`` (the Ising form of
:meth:`solvers.qubo.QUBO.to_ising`, offset dropped), the mixer layer ``U_B`` and
the initial state ``|psi_0>`` of :mod:`solvers.qaoa.mixers` (by default the
transverse-field mixer ``exp(-i beta sum_i X_i)`` from ``|+>^n``).  Qubit ``i``
is variable ``i``; ``|0>`` is ``x_i = 0`` (spin ``+1``).

Gate conventions (checked against explicit matrix exponentials in the tests):

- ``exp(-i gamma h Z)`` is ``cirq.ZPowGate(exponent=2 gamma h / pi, global_shift=-1/2)``
  (that is ``cirq.rz(2 gamma h)``);
- ``exp(-i gamma J Z Z)`` is ``cirq.ZZPowGate(exponent=2 gamma J / pi, global_shift=-1/2)``;
- ``exp(-i beta X)`` is ``cirq.rx(2 beta)``;
- ``exp(-i beta (X X + Y Y) / 2)`` is ``cirq.ISwapPowGate(exponent=-2 beta / pi)``:
  ``cos(beta)`` on ``|01>, |10>``, ``-i sin(beta)`` between them, ``1`` on
  ``|00>, |11>``, with no global phase (one two-qubit gate per XY edge);
- the W state of a group ``(g0, ..., g_{k-1})``: ``X`` on ``g0``, then for
  ``i = 0..k-2`` the Givens rotation ``cirq.givens(theta_i)`` on
  ``(g_{i+1}, g_i)`` with ``cos(theta_i) = 1/sqrt(k - i)``, which keeps
  amplitude ``1/sqrt(k - i)`` of what is left on ``g_i`` and moves the rest on to
  ``g_{i+1}`` (``k - 1`` two-qubit gates, real non-negative amplitudes
  ``1/sqrt(k)``).

With ``global_shift=-1/2`` each cost and X gate *is* the exponential, global phase
included, so the circuit's unitary equals the textbook one exactly.

Cirq and sympy are imported inside the functions, so importing this module
(and :mod:`solvers.qaoa`) stays cheap.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from solvers.errors import InvalidInputError

if TYPE_CHECKING:  # pragma: no cover
    import cirq
    import sympy

    from solvers.qaoa.mixers import Mixer

__all__ = [
    "AnsatzOp",
    "angle_resolver",
    "ansatz_layout",
    "count_two_qubit_gates",
    "layout_resources",
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


@dataclass(frozen=True)
class AnsatzOp:
    """One gate of the ansatz, before it becomes a Cirq operation.

    ``kind`` is ``"h"``, ``"x"``, ``"givens"`` (``value`` the angle), ``"zz"`` /
    ``"z"`` (``value`` the coefficient ``J_ij`` / ``h_i``), ``"xy"`` or ``"rx"``;
    ``layer`` is the QAOA layer ``k`` (``-1`` for the initial state).
    """

    kind: str
    qubits: tuple[int, ...]
    layer: int = -1
    value: float = 0.0


def ansatz_layout(
    h: Sequence[float] | np.ndarray,
    J: Mapping[tuple[int, int], float],
    depth: int,
    mixer: Mixer,
) -> list[AnsatzOp]:
    """Every gate of the ansatz in circuit order, without Cirq.

    :func:`qaoa_circuit` turns this list into operations one for one, and
    :func:`layout_resources` counts it, so a backend that never builds the
    circuit reports the same resources.

    Raises
    ------
    InvalidInputError
        When ``J`` names a qubit out of range or a self-coupling.
    """
    h = np.asarray(h, dtype=np.float64).reshape(-1)
    n = h.shape[0]
    ops: list[AnsatzOp] = [AnsatzOp("h", (q,)) for q in mixer.plus_qubits]
    for group in mixer.prepared_groups:
        ops.append(AnsatzOp("x", (group[0],)))
        if mixer.init_state == "w":
            k = len(group)
            ops.extend(
                AnsatzOp("givens", (group[i + 1], group[i]), -1, math.acos(1.0 / math.sqrt(k - i)))
                for i in range(k - 1)
            )
    couplings: list[tuple[int, int, float]] = []
    for (i, j), w in J.items():
        i, j = int(i), int(j)
        if i == j or not (0 <= i < n and 0 <= j < n):
            msg = f"coupling ({i}, {j}) is not a pair of distinct qubits in 0..{n - 1}"
            raise InvalidInputError(msg)
        if w:
            couplings.append((i, j, float(w)))
    fields = [(i, float(w)) for i, w in enumerate(h) if w]
    edges, free = mixer.edges, mixer.free_qubits
    for k in range(depth):
        ops.extend(AnsatzOp("zz", (i, j), k, w) for i, j, w in couplings)
        ops.extend(AnsatzOp("z", (i,), k, w) for i, w in fields)
        ops.extend(AnsatzOp("xy", e, k) for e in edges)
        ops.extend(AnsatzOp("rx", (q,), k) for q in free)
    return ops


def layout_resources(layout: Sequence[AnsatzOp]) -> dict[str, int]:
    """``two_qubit_gates`` and ``circuit_moments`` of a layout, as Cirq would build it.

    Moments follow Cirq's ``InsertStrategy.EARLIEST`` (what ``cirq.Circuit(ops)``
    and ``append`` use): each gate goes in the moment just after the last one
    touching any of its qubits.
    """
    last: dict[int, int] = {}
    moments = 0
    for op in layout:
        m = 1 + max((last.get(q, 0) for q in op.qubits), default=0)
        for q in op.qubits:
            last[q] = m
        moments = max(moments, m)
    return {
        "two_qubit_gates": sum(1 for op in layout if len(op.qubits) == 2),
        "circuit_moments": moments,
    }


def _to_operation(op: AnsatzOp, qubits: Sequence[cirq.Qid], gs: Sequence, bs: Sequence) -> Any:
    import cirq

    qs = [qubits[q] for q in op.qubits]
    if op.kind == "h":
        return cirq.H(*qs)
    if op.kind == "x":
        return cirq.X(*qs)
    if op.kind == "givens":
        return cirq.givens(op.value).on(*qs)
    if op.kind == "zz":
        return cirq.ZZPowGate(
            exponent=2.0 * op.value / math.pi * gs[op.layer], global_shift=-0.5
        ).on(*qs)
    if op.kind == "z":
        return cirq.ZPowGate(
            exponent=2.0 * op.value / math.pi * gs[op.layer], global_shift=-0.5
        ).on(*qs)
    if op.kind == "xy":
        return cirq.ISwapPowGate(exponent=-2.0 / math.pi * bs[op.layer]).on(*qs)
    if op.kind == "rx":
        return cirq.rx(2.0 * bs[op.layer]).on(*qs)
    msg = f"unknown ansatz gate kind {op.kind!r}"  # pragma: no cover - ansatz_layout makes them
    raise ValueError(msg)


def qaoa_circuit(
    h: Sequence[float] | np.ndarray,
    J: Mapping[tuple[int, int], float],
    depth: int,
    *,
    mixer: str = "x",
    groups: Sequence[Sequence[int]] = (),
    init_state: str = "auto",
    qubits: Sequence[cirq.Qid] | None = None,
    gammas: Sequence[float] | None = None,
    betas: Sequence[float] | None = None,
) -> cirq.Circuit:
    """The depth-``p`` QAOA circuit for the Ising cost ``(h, J)``, no measurement.

    Parameters
    ----------
    h : array_like, shape (n,)
        Local fields: the cost has ``h_i Z_i``.
    J : mapping {(i, j): float}
        Couplings: the cost has ``J_ij Z_i Z_j`` (``i != j``; both orders allowed).
    depth : int
        Number of cost + mixer layers ``p`` (at least 1).
    mixer : {"x", "xy-ring", "xy-complete"}
        The mixer layer (see :mod:`solvers.qaoa.mixers`).
    groups : sequence of sequence of int
        One-hot groups (qubit indices) for the XY mixers and the ``"w"`` /
        ``"basis"`` initial states.
    init_state : {"auto", "plus", "w", "basis"}
        The initial state (``"auto"``: ``|+>^n`` for ``"x"``, W states for XY).
    qubits : sequence of cirq.Qid, optional
        The ``n`` qubits, qubit ``i`` for variable ``i`` (default ``cirq.LineQubit.range(n)``).
    gammas, betas : sequence of float, optional
        Angles of each layer.  Where not given, the circuit is parameterised by
        the sympy symbols ``gamma_k`` / ``beta_k`` (see :func:`angle_resolver`).

    Returns
    -------
    cirq.Circuit
        The initial-state preparation, then per layer ``k``: ``exp(-i gamma_k C)``
        as ZZ and Z rotations (zero coefficients skipped), and the mixer layer:
        the XY edges (``ISwapPowGate``) in the documented order, then
        ``rx(2 beta_k)`` on every qubit in no group (every qubit for ``"x"``).
        The gates are those of :func:`ansatz_layout`, in its order.

    Raises
    ------
    InvalidInputError
        When ``depth`` is not a positive integer, the angle lists have the wrong
        length, ``J`` names a qubit out of range or a self-coupling, or ``qubits``
        has the wrong length.
    InvalidOptionError
        When ``mixer``, ``init_state`` or ``groups`` are invalid (see
        :func:`solvers.qaoa.mixers.make_mixer`).

    Examples
    --------
    >>> import numpy as np
    >>> import cirq
    >>> c = qaoa_circuit(np.array([0.5, 0.0]), {(0, 1): 1.0}, 2)
    >>> count_two_qubit_gates(c), sorted(cirq.parameter_names(c))
    (2, ['beta_0', 'beta_1', 'gamma_0', 'gamma_1'])
    >>> c = qaoa_circuit(np.zeros(3), {(0, 1): 1.0}, 1, mixer="xy-ring", groups=[(0, 1, 2)])
    >>> count_two_qubit_gates(c)  # 2 Givens (W state) + 1 ZZ + 3 XY edges
    6
    """
    import cirq

    from solvers.qaoa.mixers import make_mixer

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
    spec = make_mixer(mixer, n, groups=groups, init_state=init_state)
    layout = ansatz_layout(h, J, depth, spec)

    sym_g, sym_b = parameter_symbols(depth)
    g_vals = _check_angles("gammas", gammas, depth)
    b_vals = _check_angles("betas", betas, depth)
    gs = g_vals if g_vals is not None else sym_g
    bs = b_vals if b_vals is not None else sym_b
    return cirq.Circuit(_to_operation(op, qubits, gs, bs) for op in layout)


def count_two_qubit_gates(circuit: cirq.AbstractCircuit) -> int:
    """Number of operations acting on exactly two qubits (measurements excluded)."""
    import cirq

    return sum(
        1 for op in circuit.all_operations() if len(op.qubits) == 2 and not cirq.is_measurement(op)
    )
