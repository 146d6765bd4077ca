"""The QAOA cost: a QUBO's Ising form, normalised so that good angles are O(1).

A QUBO's energy is ``E(x) = offset + sum_i h_i s_i + sum_{i<j} J_ij s_i s_j`` with
``s = 1 - 2x`` (:meth:`solvers.qubo.QUBO.to_ising`).  QAOA works on the
*normalised* cost

    C'(s) = (E(x) - offset) / scale = sum_i h'_i s_i + sum_{i<j} J'_ij s_i s_j,
    h' = h / scale,  J' = J / scale,

where ``scale`` is the root-mean-square local field of the Ising model,

    scale = sqrt( mean_i ( h_i**2 + sum_{j != i} J_ij**2 ) ),

so each qubit sees a field of order one whatever the QUBO's units, and the
linear-ramp schedule (``dt ~ 0.75``) lands in the right region.  Angles on the
normalised cost convert to the original units by ``gamma = gamma' / scale``
(``betas`` are unchanged), energies by ``E = scale * C' + offset``.

The cost diagonal (``C'`` on each of the ``2**n`` basis states, Cirq's
big-endian order) is computed once, from :meth:`QUBO.all_energies`, and reused
for every expectation value.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from solvers.qubo import QUBO

__all__ = ["IsingCost", "ising_scale"]


def ising_scale(h: np.ndarray, J: Mapping[tuple[int, int], float]) -> float:
    """Root-mean-square local field ``sqrt(mean_i(h_i^2 + sum_j J_ij^2))``; 1.0 for a zero model."""
    h = np.asarray(h, dtype=np.float64)
    n = h.shape[0]
    if n == 0:
        return 1.0
    local = h**2
    for (i, j), w in J.items():
        local[i] += w * w
        local[j] += w * w
    s = math.sqrt(float(local.mean()))
    return s if s > 0.0 and math.isfinite(s) else 1.0


@dataclass(frozen=True, eq=False)
class IsingCost:
    """The normalised Ising cost of a QUBO and its diagonal.

    Attributes
    ----------
    h : ndarray, shape (n,)
        Normalised local fields ``h / scale``.
    J : dict {(i, j): float}
        Normalised couplings ``J / scale``, ``i < j``, zero terms dropped.
    scale : float
        The divisor (see the module docstring); positive.
    offset : float
        The Ising offset: ``E = scale * C' + offset``.
    diag : ndarray, shape (2**n,)
        ``C'`` of every basis state, variable 0 the most significant bit
        (Cirq's state-vector order for ``LineQubit(0..n-1)``).
    """

    h: np.ndarray
    J: Mapping[tuple[int, int], float]
    scale: float
    offset: float
    diag: np.ndarray

    @classmethod
    def from_qubo(cls, qubo: QUBO) -> IsingCost:
        """Normalise ``qubo``'s Ising form and build its cost diagonal (``O(2**n)``)."""
        h, J, offset = qubo.to_ising()
        J = {(min(i, j), max(i, j)): float(w) for (i, j), w in J.items() if w != 0.0}
        scale = ising_scale(h, J)
        diag = (qubo.all_energies(order="big") - offset) / scale
        diag.setflags(write=False)
        hn = h / scale
        hn.setflags(write=False)
        return cls(hn, {k: w / scale for k, w in J.items()}, float(scale), float(offset), diag)

    @property
    def num_qubits(self) -> int:
        return int(self.h.shape[0])

    def to_energy(self, value: float) -> float:
        """A normalised cost value (or expectation) in QUBO energy units."""
        return self.scale * float(value) + self.offset

    def expectation(self, probabilities: np.ndarray) -> float:
        """``sum_x p(x) C'(x)`` for a probability vector in the diagonal's order."""
        return float(np.dot(probabilities, self.diag))
