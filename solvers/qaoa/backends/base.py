"""The interface every QAOA backend implements, and the default thread count.

A backend is built for one normalised cost (:class:`~solvers.qaoa.cost.IsingCost`)
and one depth, and answers two questions about the angles ``(gammas, betas)``
(on the normalised cost):

- :meth:`QAOABackend.expectation`: ``<psi|C'|psi>``, what the optimiser minimises;
- :meth:`QAOABackend.sample`: bitstrings drawn from ``|psi>``, what the answer is
  picked from.
"""

from __future__ import annotations

import abc
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from solvers.errors import InvalidOptionError

if TYPE_CHECKING:  # pragma: no cover
    from solvers.qaoa.cost import IsingCost

__all__ = ["PARALLEL_MIN_QUBITS", "QAOABackend", "available_cores", "default_threads"]


#: From this many qubits up, the default is every core; below it, one thread.
PARALLEL_MIN_QUBITS = 20


def available_cores() -> int:
    """CPU cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def default_threads(num_qubits: int) -> int:
    """Simulator threads when the user names none.

    One thread below :data:`PARALLEL_MIN_QUBITS` qubits: a state vector of
    ``2**19`` amplitudes or fewer takes milliseconds, and qsim's OpenMP threads
    then cost more than they save, several times more on a loaded machine (measured
    on 2 cores: 18 qubits, 100 evaluations, 3.1-3.6 s on one thread, 5.6-6.2 s on
    two).  Every available core from :data:`PARALLEL_MIN_QUBITS` qubits up.
    """
    return available_cores() if num_qubits >= PARALLEL_MIN_QUBITS else 1


class QAOABackend(abc.ABC):
    """Runs the depth-``p`` QAOA ansatz of one normalised Ising cost.

    Parameters
    ----------
    cost : IsingCost
        The normalised cost; its diagonal gives expectation values.
    depth : int
        Number of QAOA layers ``p``.
    threads : int, optional
        CPU threads for the simulator (default: :func:`default_threads`).
    """

    #: The name the backend is registered under (``"qvm"`` for ``"qvm:weber"``).
    name: ClassVar[str]
    #: ``expectation`` is exact (state vector), not estimated from shots.
    exact_expectation: ClassVar[bool] = True
    #: ``expectation_and_gradient`` is implemented (e.g. by the adjoint method).
    supports_gradient: ClassVar[bool] = False

    def __init__(
        self,
        cost: IsingCost,
        depth: int,
        *,
        mixer: str = "x",
        groups: Sequence[Sequence[int]] = (),
        threads: int | None = None,
        processor: str | None = None,
        **options: Any,
    ) -> None:
        """``mixer`` is ``"x"``, ``"xy-ring"`` or ``"xy-complete"``; ``groups`` are the
        one-hot groups an XY mixer acts on (and whose feasible initial state it
        starts from); ``processor`` is the part after ``":"`` in names like
        ``"qvm:weber"``; ``options`` are backend-specific (unknown ones raise)."""
        if options:
            msg = f"QAOA backend {self.name!r} takes no option(s) {sorted(options)}"
            raise InvalidOptionError(msg)
        self.cost = cost
        self.depth = depth
        self.mixer = mixer
        self.groups = tuple(tuple(int(v) for v in g) for g in groups)
        self.processor = processor
        self.threads = threads if threads is not None else default_threads(cost.num_qubits)

    def expectation_and_gradient(
        self, gammas: Sequence[float], betas: Sequence[float]
    ) -> tuple[float, np.ndarray]:
        """Expectation and its gradient ``[d/dgamma_0.., d/dbeta_0..]`` (if ``supports_gradient``)."""
        msg = f"QAOA backend {self.name!r} gives no gradient; use a gradient-free optimiser"
        raise NotImplementedError(msg)

    @property
    def num_qubits(self) -> int:
        return self.cost.num_qubits

    @abc.abstractmethod
    def state(self, gammas: Sequence[float], betas: Sequence[float]) -> np.ndarray:
        """Final state vector (big-endian: qubit 0 the most significant bit)."""

    def probabilities(self, gammas: Sequence[float], betas: Sequence[float]) -> np.ndarray:
        """``|amplitude|**2`` of every basis state, float64."""
        psi = self.state(gammas, betas)
        return psi.real.astype(np.float64) ** 2 + psi.imag.astype(np.float64) ** 2

    def expectation(self, gammas: Sequence[float], betas: Sequence[float]) -> float:
        """``<psi(gammas, betas)| C' |psi(gammas, betas)>`` on the normalised cost."""
        return self.cost.expectation(self.probabilities(gammas, betas))

    @abc.abstractmethod
    def sample(
        self,
        gammas: Sequence[float],
        betas: Sequence[float],
        shots: int,
        *,
        seed: int | None = None,
    ) -> np.ndarray:
        """``shots`` measured bitstrings, an ``(shots, n)`` uint8 array (column ``i`` = variable ``i``)."""

    @abc.abstractmethod
    def resources(self) -> dict[str, Any]:
        """Circuit resources: ``two_qubit_gates`` and ``circuit_moments`` at least."""
