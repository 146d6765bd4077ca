"""What every planning problem offers: a QUBO, a native model, an objective, a decoder."""

from __future__ import annotations

import abc
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from solvers.cpsat import CpSatModel
    from solvers.qubo import QUBO
    from solvers.solution import Solution

__all__ = ["Problem"]


class Problem(abc.ABC):
    """A planning problem stated three ways: its own objective, a QUBO, a native model.

    Subclasses set ``kind`` (``"traffic"``, ``"fleet"``, ``"dispatch"``) and
    ``objective_units``, and implement the abstract methods.  Every solution,
    whatever solver made it, is scored by :meth:`objective` from its bits.
    """

    kind: str = ""
    objective_units: str = ""

    # -- identity ------------------------------------------------------------
    @property
    @abc.abstractmethod
    def instance_name(self) -> str:
        """Short name of the scenario, e.g. ``helsinki-t12-k3-s1``."""

    @property
    @abc.abstractmethod
    def instance(self) -> dict[str, Any]:
        """The scenario as a JSON-friendly dict (city / grid, sizes, seed)."""

    # -- formulations --------------------------------------------------------
    @abc.abstractmethod
    def to_qubo(self) -> QUBO:
        """The QUBO (cached by implementations: it is immutable)."""

    def native_cpsat(self) -> CpSatModel | None:
        """The native OR-Tools CP-SAT model, or None if the problem has none."""
        return None

    def native_solvers(self) -> Mapping[str, Callable[..., Solution]]:
        """Problem-specific solvers (baselines), by name."""
        return {}

    # -- scoring -------------------------------------------------------------
    @abc.abstractmethod
    def is_feasible(self, bits: np.ndarray) -> bool:
        """Whether ``bits`` meets every constraint of the problem."""

    @abc.abstractmethod
    def objective(self, bits: np.ndarray) -> float:
        """The objective of a feasible assignment, in :attr:`objective_units`."""

    def qubo_bound_to_objective(self, bound: float) -> float:
        """Turn a lower bound on the QUBO minimum into one on the objective.

        The default holds when a feasible assignment's QUBO energy equals its
        objective (all penalties vanish) and the penalties are large enough
        that the QUBO minimum is the feasible optimum.
        """
        return bound

    @abc.abstractmethod
    def decode(self, solution: Solution | np.ndarray) -> Any:
        """The plan a solution stands for (raises if it is infeasible)."""
