"""``qsim``: the Cirq circuit of the ansatz on qsim's exact state vector."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from solvers.errors import BackendUnavailableError
from solvers.qaoa.backends.base import QAOABackend

if TYPE_CHECKING:  # pragma: no cover
    import cirq

    from solvers.qaoa.cost import IsingCost

__all__ = ["QsimBackend"]


class QsimBackend(QAOABackend):
    """qsim (``qsimcirq``) state-vector simulation of the Cirq circuit.

    The parameterised circuit (:func:`~solvers.qaoa.circuit.qaoa_circuit` with the
    backend's ``mixer``, ``groups`` and ``init_state``) is built once; every
    evaluation resolves the symbols and simulates it with
    ``QSimSimulator.simulate``.  Sampling runs the resolved circuit with terminal
    measurements (key ``"x"``) through ``QSimSimulator(seed=seed).run``.

    Option ``init_state``: ``"auto"`` (default), ``"plus"``, ``"w"`` or ``"basis"``
    (see :mod:`solvers.qaoa.mixers`).
    """

    name = "qsim"

    def __init__(
        self, cost: IsingCost, depth: int, *, init_state: str = "auto", **kwargs: Any
    ) -> None:
        super().__init__(cost, depth, **kwargs)
        self.init_state = init_state
        try:
            import cirq
            import qsimcirq
        except ImportError as exc:  # pragma: no cover - both are dependencies
            msg = f"the 'qsim' QAOA backend needs cirq and qsimcirq ({exc}); pip install qsimcirq"
            raise BackendUnavailableError(msg) from exc

        from solvers.qaoa.circuit import qaoa_circuit

        self._cirq = cirq
        self._qsimcirq = qsimcirq
        self.qubits = cirq.LineQubit.range(self.num_qubits)
        self.circuit: cirq.Circuit = qaoa_circuit(
            cost.h,
            cost.J,
            depth,
            mixer=self.mixer,
            groups=self.groups,
            init_state=init_state,
            qubits=self.qubits,
        )
        self._options = qsimcirq.QSimOptions(cpu_threads=self.threads)
        self._simulator = qsimcirq.QSimSimulator(self._options)

    def resolved_circuit(self, gammas: Sequence[float], betas: Sequence[float]) -> cirq.Circuit:
        """The circuit with the angles bound."""
        from solvers.qaoa.circuit import angle_resolver

        return self._cirq.resolve_parameters(self.circuit, angle_resolver(gammas, betas))

    def state(self, gammas: Sequence[float], betas: Sequence[float]) -> np.ndarray:
        from solvers.qaoa.circuit import angle_resolver

        result = self._simulator.simulate(
            self.circuit, param_resolver=angle_resolver(gammas, betas), qubit_order=self.qubits
        )
        return np.asarray(result.final_state_vector)

    def sample(
        self,
        gammas: Sequence[float],
        betas: Sequence[float],
        shots: int,
        *,
        seed: int | None = None,
    ) -> np.ndarray:
        cirq = self._cirq
        circuit = self.resolved_circuit(gammas, betas)
        circuit.append(cirq.measure(*self.qubits, key="x"))
        sim = self._qsimcirq.QSimSimulator(self._options, seed=seed)
        result = sim.run(circuit, repetitions=int(shots))
        return np.asarray(result.measurements["x"], dtype=np.uint8)

    def resources(self) -> dict[str, Any]:
        from solvers.qaoa.circuit import count_two_qubit_gates

        return {
            "two_qubit_gates": count_two_qubit_gates(self.circuit),
            "circuit_moments": len(self.circuit),
        }
