"""QAOA backends: one small interface, one class per way of running the ansatz.

A backend runs the depth-``p`` ansatz of one normalised cost: the expectation
the optimiser minimises, and the samples the answer is picked from (the
interface: :class:`~solvers.qaoa.backends.base.QAOABackend`).

Backends are registered by name in :data:`BACKENDS`; the solver builds them
with :func:`make_backend`:

- ``qsim``: the Cirq circuit on qsim's exact state vector, qsim sampling
  (:mod:`solvers.qaoa.backends.qsim`);
- ``fast``: the project's own QAOA simulator (:mod:`solvers.qaoa.backends.fast` on
  :mod:`solvers.qaoa.fastsim`), checked amplitude for amplitude against qsim,
  with an adjoint gradient;
- ``qvm:<processor>``: cirq_google's quantum virtual machine (qsim with the
  processor's calibrated noise), after placement, qubit mapping and compilation
  (:mod:`solvers.qaoa.backends.qvm`, :mod:`solvers.qaoa.backends.device`);
- ``engine:<processor>``: a real processor through ``cirq_google.Engine``, or any
  ``cirq.Sampler`` given as ``backend_options={"sampler": ...}``
  (:mod:`solvers.qaoa.backends.engine`).

Heavy libraries (cirq, qsimcirq) are imported when a backend is built, not when
this package is imported.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from solvers.errors import InvalidOptionError
from solvers.qaoa.backends.base import (
    PARALLEL_MIN_QUBITS,
    QAOABackend,
    available_cores,
    default_threads,
)

if TYPE_CHECKING:  # pragma: no cover
    from solvers.qaoa.cost import IsingCost

__all__ = [
    "BACKENDS",
    "NEEDS_PROCESSOR",
    "PARALLEL_MIN_QUBITS",
    "QAOABackend",
    "available_backends",
    "available_cores",
    "default_threads",
    "get_backend",
    "make_backend",
    "split_backend_name",
]


#: Backend name (the part before any ``":"``) -> class, or ``"module:Class"`` imported
#: on first use.  ``"qvm:weber"`` resolves to the ``"qvm"`` entry with processor ``"weber"``.
BACKENDS: dict[str, type[QAOABackend] | str] = {
    "qsim": "solvers.qaoa.backends.qsim:QsimBackend",
    "fast": "solvers.qaoa.backends.fast:FastBackend",
    "qvm": "solvers.qaoa.backends.qvm:QVMBackend",
    "engine": "solvers.qaoa.backends.engine:EngineBackend",
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
