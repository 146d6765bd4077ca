"""``qvm:<processor>``: the Cirq quantum virtual machine of a Google processor.

qsim with the processor's calibrated noise (cirq_google's noise model built
from the median calibration that cirq_google ships), its device graph and gate
set, reached through the same Engine interface a real processor uses:
``engine.get_processor(pid).get_sampler()`` of the virtual engine that
:func:`cirq_google.engine.create_default_noisy_quantum_virtual_machine` builds.
Placement, qubit mapping, compilation and validation are those of every device
backend (:mod:`solvers.qaoa.backends.device`); nothing here touches the network.

Noise costs time: qsim simulates noisy circuits one trajectory per shot.
Measured on 2 cores, one thread, weber, per 1000 shots: 8 qubits, p=1 (34
sqrt-iSWAPs) 0.7-0.8 s; 10 qubits, p=1 (76) 1.8 s; 10 qubits, p=2 (160) 5 s;
12 qubits, p=2 (175) 6-7 s.  The noiseless qsim samples the same circuit in
milliseconds.  ``python -m benchmarks.bench_qvm`` (9 variables, p=1, 20 logical
ZZ gates -> 71-73 compiled two-qubit gates with 13 SWAPs) measured 1.8-3.3 s per
1000-shot evaluation on a shared 2-core machine, a solve 250-450 times qsim's,
and at qsim's best angles P(optimum) 0.017 -> 0.007-0.009 and a feasible
fraction 0.35 -> 0.17-0.26.

Examples
--------
>>> from solvers import QUBO
>>> from solvers.qaoa.cost import IsingCost
>>> from solvers.qaoa.backends.qvm import QVMBackend
>>> cost = IsingCost.from_qubo(QUBO.from_terms({0: 1.0, 1: -1.0}, {(0, 1): 0.5}))
>>> qvm = QVMBackend(cost, 1, processor="weber", shots_per_eval=200)
>>> bits = qvm.sample([0.4], [-0.4], 100, seed=1)
>>> bits.shape, qvm.resources()["processor"], qvm.resources()["gateset"]
((100, 2), 'weber', 'sqrt_iswap')
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from solvers.errors import BackendUnavailableError, InvalidOptionError
from solvers.qaoa.backends.device import DeviceBackend, DeviceTarget

if TYPE_CHECKING:  # pragma: no cover
    import cirq

    from solvers.qaoa.cost import IsingCost

__all__ = ["QVMBackend", "virtual_processors"]


def virtual_processors() -> list[str]:
    """Processors cirq_google ships a device template and a median calibration for."""
    try:
        from cirq_google.engine import virtual_engine_factory as vef
    except ImportError as exc:  # pragma: no cover - cirq-google is a dependency
        msg = f"the 'qvm' QAOA backend needs cirq-google ({exc}); pip install cirq-google"
        raise BackendUnavailableError(msg) from exc
    return sorted(set(vef.list_virtual_processors()) & set(vef.MEDIAN_CALIBRATIONS))


class QVMBackend(DeviceBackend):
    """The noisy quantum virtual machine of processor ``processor`` (see the module docstring).

    Options: ``shots_per_eval``, ``qubits``, ``gateset``, ``seed`` (see
    :class:`~solvers.qaoa.backends.device.DeviceBackend`).  :meth:`sample` with a
    ``seed`` is reproducible: the virtual machine's qsim simulator draws from one
    ``numpy.random.RandomState`` that each run reseeds.
    """

    name = "qvm"

    def __init__(
        self, cost: IsingCost, depth: int, *, processor: str | None = None, **kwargs: Any
    ) -> None:
        valid = virtual_processors()
        if processor not in valid:
            msg = f"backend 'qvm:<processor>' takes a processor among: {', '.join(valid)}; got {processor!r}"
            raise InvalidOptionError(msg)
        super().__init__(cost, depth, processor=processor, **kwargs)

    def _connect(self) -> DeviceTarget:
        try:
            import qsimcirq
            from cirq_google.engine import virtual_engine_factory as vef
        except ImportError as exc:  # pragma: no cover - both are dependencies
            msg = f"the 'qvm' QAOA backend needs cirq-google and qsimcirq ({exc})"
            raise BackendUnavailableError(msg) from exc

        pid = str(self.processor)
        # qsim keeps the RandomState it is given (cirq.value.parse_random_state passes
        # one through), so reseeding it per run makes each run reproducible
        self._random_state = np.random.RandomState(0)
        self.engine = vef.create_default_noisy_quantum_virtual_machine(
            pid,
            simulator_class=qsimcirq.QSimSimulator,
            seed=self._random_state,
            qsim_options=qsimcirq.QSimOptions(cpu_threads=self.threads),
        )
        self._processor = self.engine.get_processor(pid)
        self._processor_sampler = self._processor.get_sampler()
        return DeviceTarget(
            pid, self._processor.get_device(), self._processor.get_current_calibration()
        )

    def _sampler(self, seed: int | None) -> cirq.Sampler:
        self._random_state.seed(seed)  # None: fresh entropy
        return self._processor_sampler
