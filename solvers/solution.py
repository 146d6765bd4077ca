"""What every solver returns: a :class:`Solution` with a :class:`Status`."""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

__all__ = ["SCHEMA_VERSION", "Solution", "Status", "relative_gap"]

SCHEMA_VERSION = 1


class Status(enum.StrEnum):
    """How a solver's answer stands."""

    OPTIMAL = "OPTIMAL"  #: proven optimal
    FEASIBLE = "FEASIBLE"  #: feasible, optimality not proven
    INFEASIBLE = "INFEASIBLE"  #: no feasible assignment was found (heuristics) or exists (exact)
    TIMEOUT = "TIMEOUT"  #: the time limit ran out with no assignment at all
    UNKNOWN = "UNKNOWN"


def relative_gap(objective: float | None, bound: float | None, *, noise: float = 0.0) -> float | None:
    """How far ``objective`` is above a lower ``bound``: ``(objective - bound) / max(|objective|, 1e-9)``.

    Never below 0; a gap under ``noise`` reads 0 (rounding, not a gap: the
    comparison table and the report pass 1e-9); ``None`` when either value is
    missing or not finite.

    >>> relative_gap(101.0, 100.0) == 1 / 101, relative_gap(99.0, 100.0), relative_gap(None, 1.0)
    (True, 0.0, None)
    >>> relative_gap(1e15 + 0.25, 1e15) > 0, relative_gap(1e15 + 0.25, 1e15, noise=1e-9)
    (True, 0.0)
    """
    if objective is None or bound is None or not math.isfinite(objective) or not math.isfinite(bound):
        return None
    gap = max(0.0, (objective - bound) / max(abs(objective), 1e-9))
    return gap if gap >= noise else 0.0


@dataclass(frozen=True, eq=False)
class Solution:
    """One solver's answer to one QUBO (or native model).

    Attributes
    ----------
    bits : ndarray of uint8
        The assignment, aligned with the QUBO's variables.
    energy : float
        QUBO energy of ``bits`` (``nan`` when the solver saw no QUBO).
    status : Status
    solver : str
        Registered solver name.
    feasible : bool
        Every one-hot group of the QUBO holds exactly one 1.
    wall_time_s : float
        Solver wall time, model building included.
    best_bound : float or None
        A proven lower bound on the minimum of what the solver minimised.
    bound_of : {"qubo", "native"}
        What ``best_bound`` bounds: the QUBO energy, or the native model's
        objective (in the problem's units).
    options : dict
        The options the solver ran with (defaults filled in).
    resources : dict
        Solver resources (for QAOA: qubits, depth, two-qubit gates, shots, ...).
    info : dict
        Anything else worth keeping (traces, counts, native objective).
    decision : object, optional
        The native decision when a problem's own solver made the solution
        (routes, route choices, levels), beside ``bits``.  Such solvers never
        build the QUBO: their ``energy`` is ``nan`` until someone who holds the
        QUBO scores the bits (:meth:`with_energy`).
    """

    bits: np.ndarray
    energy: float
    status: Status
    solver: str
    feasible: bool = True
    wall_time_s: float = 0.0
    best_bound: float | None = None
    bound_of: str = "qubo"
    options: Mapping[str, Any] = field(default_factory=dict)
    resources: Mapping[str, Any] = field(default_factory=dict)
    info: Mapping[str, Any] = field(default_factory=dict)
    decision: Any = None

    def __post_init__(self) -> None:
        b = np.asarray(self.bits, dtype=np.uint8).reshape(-1).copy()
        b.setflags(write=False)
        object.__setattr__(self, "bits", b)
        object.__setattr__(self, "status", Status(self.status))
        object.__setattr__(self, "energy", float(self.energy))

    def with_energy(self, energy: float) -> Solution:
        """The same solution with its QUBO energy filled in (a native solver's leaves it ``nan``)."""
        return replace(self, energy=float(energy))

    @property
    def gap(self) -> float | None:
        """Relative gap between ``energy`` and ``best_bound`` (QUBO bounds only)."""
        if self.bound_of != "qubo":
            return None
        return relative_gap(self.energy, self.best_bound)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "bits": "".join(str(int(b)) for b in self.bits),
            "energy": self.energy,
            "status": self.status.value,
            "solver": self.solver,
            "feasible": self.feasible,
            "wall_time_s": self.wall_time_s,
            "best_bound": self.best_bound,
            "bound_of": self.bound_of,
            "options": dict(self.options),
            "resources": dict(self.resources),
        }

    def __repr__(self) -> str:
        return (
            f"Solution(solver={self.solver!r}, status={self.status.value}, energy={self.energy:.6g}, "
            f"feasible={self.feasible}, wall_time_s={self.wall_time_s:.3g})"
        )
