"""cityopt's solvers: QUBO in, :class:`Solution` out.  Knows nothing of cities.

Heavy libraries (Cirq, qsim, OR-Tools) are imported only by the solver that
needs them, so ``import solvers`` is cheap.
"""

from solvers.errors import (
    BackendUnavailableError,
    CityoptError,
    InvalidInputError,
    InvalidOptionError,
    ProblemTooLargeError,
    SolverError,
    UnknownSolverError,
)
from solvers.qubo import QUBO, QUBOBuilder
from solvers.registry import available_solvers, register_solver, solve_qubo
from solvers.solution import Solution, Status

__all__ = [
    "QUBO",
    "BackendUnavailableError",
    "CityoptError",
    "InvalidInputError",
    "InvalidOptionError",
    "ProblemTooLargeError",
    "QUBOBuilder",
    "Solution",
    "SolverError",
    "Status",
    "UnknownSolverError",
    "available_solvers",
    "register_solver",
    "solve_qubo",
]
