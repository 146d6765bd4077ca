"""QAOA backends: one small interface, one class per way of running the ansatz.

A backend is built for one normalised cost (:class:`~solvers.qaoa.cost.IsingCost`)
and one depth, and answers two questions about the angles ``(gammas, betas)``
(on the normalised cost):

- :meth:`QAOABackend.expectation`: ``<psi|C'|psi>``, what the optimiser minimises;
- :meth:`QAOABackend.sample`: bitstrings drawn from ``|psi>``, what the answer is
  picked from.

Backends are registered by name in :data:`BACKENDS`; the solver builds them
with :func:`make_backend`:

- ``qsim``: the Cirq circuit on qsim's exact state vector, qsim sampling;
- ``fast``: the project's own QAOA simulator (:mod:`solvers.qaoa.fast`), checked
  amplitude for amplitude against qsim, with an adjoint gradient;
- ``qvm:<processor>``: cirq_google's quantum virtual machine (qsim with the
  processor's calibrated noise), after placement, routing and compilation
  (:mod:`solvers.qaoa.qvm`, :mod:`solvers.qaoa.device`);
- ``engine:<processor>``: a real processor through ``cirq_google.Engine``, or any
  ``cirq.Sampler`` given as ``backend_options={"sampler": ...}``
  (:mod:`solvers.qaoa.engine`).

Heavy libraries (cirq, qsimcirq) are imported when a backend is built, not when
this module is imported.
"""

from __future__ import annotations

import abc
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from solvers.errors import BackendUnavailableError, InvalidOptionError

if TYPE_CHECKING:  # pragma: no cover
    import cirq

    from solvers.qaoa.cost import IsingCost

__all__ = [
    "BACKENDS",
    "NEEDS_PROCESSOR",
    "QAOABackend",
    "QsimBackend",
    "available_backends",
    "get_backend",
    "make_backend",
    "split_backend_name",
]


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


#: Backend name (the part before any ``":"``) -> class, or ``"module:Class"`` imported
#: on first use.  ``"qvm:weber"`` resolves to the ``"qvm"`` entry with processor ``"weber"``.
BACKENDS: dict[str, type[QAOABackend] | str] = {
    QsimBackend.name: QsimBackend,
    "fast": "solvers.qaoa.fast:FastBackend",
    "qvm": "solvers.qaoa.qvm:QVMBackend",
    "engine": "solvers.qaoa.engine:EngineBackend",
}
#: Backends whose name needs a ``":<processor>"`` suffix.
NEEDS_PROCESSOR: set[str] = {"qvm", "engine"}


def available_backends() -> tuple[str, ...]:
    """Names of the registered QAOA backends (``qvm:<processor>`` style where a processor is needed)."""
    return tuple(sorted(f"{k}:<processor>" if k in NEEDS_PROCESSOR else k for k in BACKENDS))


def split_backend_name(name: str) -> tuple[str, str | None]:
    """``"qvm:weber"`` -> ``("qvm", "weber")``; ``"qsim"`` -> ``("qsim", None)``.

    Raises
    ------
    InvalidOptionError
        When no backend is registered under the prefix, or a processor is
        missing or given where none is taken (the message lists the valid ones).
    """
    if not isinstance(name, str):
        name = repr(name)
    prefix, _, processor = name.partition(":")
    ok = prefix in BACKENDS and (bool(processor) == (prefix in NEEDS_PROCESSOR))
    if not ok:
        msg = (
            f"option 'backend' of solver 'qaoa' must be one of: "
            f"{', '.join(available_backends())}; got {name!r}"
        )
        raise InvalidOptionError(msg)
    return prefix, (processor or None)


def get_backend(name: str) -> type[QAOABackend]:
    """The backend class for ``name`` (imported on first use)."""
    import importlib

    prefix, _ = split_backend_name(name)
    entry = BACKENDS[prefix]
    if isinstance(entry, str):
        module, cls = entry.split(":")
        entry = getattr(importlib.import_module(module), cls)
        BACKENDS[prefix] = entry
    return entry


def make_backend(name: str, cost: IsingCost, depth: int, **kwargs: Any) -> QAOABackend:
    """Build the backend named ``name`` (e.g. ``"qsim"``, ``"qvm:weber"``) for ``cost``."""
    _, processor = split_backend_name(name)
    return get_backend(name)(cost, depth, processor=processor, **kwargs)
