"""``fast``: the QAOA backend on the project's own simulator (:mod:`solvers.qaoa.fastsim`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from solvers.errors import InvalidInputError
from solvers.qaoa.backends.base import QAOABackend
from solvers.qaoa.fastsim import FastSimulator
from solvers.qaoa.fastsim.kernels import check_angles
from solvers.qaoa.mixers import make_mixer

if TYPE_CHECKING:  # pragma: no cover
    from solvers.qaoa.cost import IsingCost

__all__ = ["FastBackend"]


class FastBackend(QAOABackend):
    """The ``fast`` backend: :class:`FastSimulator` on the normalised cost's diagonal.

    Options (keyword arguments of the constructor, besides the base class's):

    - ``precision``: ``"complex64"`` (default) or ``"complex128"``;
    - ``platform``: ``"cpu"`` (default) or ``"gpu"`` (CuPy; raises
      :class:`~solvers.errors.BackendUnavailableError` where it cannot run);
    - ``init_state``: ``"auto"`` (default), ``"plus"``, ``"w"`` or ``"basis"``
      (see :mod:`solvers.qaoa.mixers`);
    - ``kernels``: ``"auto"`` (default: ``"jit"`` on the CPU, ``"blas"`` on the
      GPU), ``"jit"`` (the compiled butterflies of :mod:`solvers.qaoa.fastsim.jit`) or
      ``"blas"`` (Kronecker-block matrix products, the GPU's code run on numpy).

    Sampling draws from the exact probabilities with ``numpy.random.default_rng(seed)``.
    ``resources()`` are those of the equivalent Cirq circuit, counted from
    :func:`solvers.qaoa.circuit.ansatz_layout` without building it.

    Examples
    --------
    >>> from solvers import QUBO
    >>> from solvers.qaoa.cost import IsingCost
    >>> cost = IsingCost.from_qubo(QUBO.from_terms({0: 1.0, 1: -1.0}, {(0, 1): 2.0}))
    >>> b = FastBackend(cost, 2, precision="complex128")
    >>> value, grad = b.expectation_and_gradient([0.3, 0.6], [-0.5, -0.2])
    >>> grad.shape, b.resources()["two_qubit_gates"]
    ((4,), 2)
    """

    name = "fast"
    supports_gradient = True

    def __init__(
        self,
        cost: IsingCost,
        depth: int,
        *,
        precision: str = "complex64",
        platform: str = "cpu",
        init_state: str = "auto",
        kernels: str = "auto",
        **kwargs: Any,
    ) -> None:
        super().__init__(cost, depth, **kwargs)
        self.init_state = init_state
        self.mixer_spec = make_mixer(
            self.mixer, cost.num_qubits, groups=self.groups, init_state=init_state
        )
        self.simulator = FastSimulator(
            cost.diag,
            self.mixer_spec,
            precision=precision,
            platform=platform,
            threads=self.threads,
            kernels=kernels,
        )
        self.precision = precision
        self.platform = platform
        self._resources: dict[str, Any] | None = None

    def _angles(
        self, gammas: Sequence[float], betas: Sequence[float]
    ) -> tuple[np.ndarray, np.ndarray]:
        g, b = check_angles(gammas, betas)
        if g.size != self.depth:
            msg = f"gammas and betas must have depth={self.depth} entries, got {g.size}"
            raise InvalidInputError(msg)
        return g, b

    def state(self, gammas: Sequence[float], betas: Sequence[float]) -> np.ndarray:
        return self.simulator.state(*self._angles(gammas, betas))

    def probabilities(self, gammas: Sequence[float], betas: Sequence[float]) -> np.ndarray:
        return self.simulator.probabilities(*self._angles(gammas, betas))

    def expectation(self, gammas: Sequence[float], betas: Sequence[float]) -> float:
        return self.simulator.expectation(*self._angles(gammas, betas))

    def expectation_and_gradient(
        self, gammas: Sequence[float], betas: Sequence[float]
    ) -> tuple[float, np.ndarray]:
        return self.simulator.expectation_and_gradient(*self._angles(gammas, betas))

    def sample(
        self,
        gammas: Sequence[float],
        betas: Sequence[float],
        shots: int,
        *,
        seed: int | None = None,
    ) -> np.ndarray:
        return self.simulator.sample(*self._angles(gammas, betas), shots, seed=seed)

    def resources(self) -> dict[str, Any]:
        if self._resources is None:
            from solvers.qaoa.circuit import ansatz_layout, layout_resources

            layout = ansatz_layout(self.cost.h, self.cost.J, self.depth, self.mixer_spec)
            self._resources = layout_resources(layout)
        return dict(self._resources)
