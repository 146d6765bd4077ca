"""Domain errors of cityopt's optimizer (cities, demand, problems, plans).

All derive from :class:`solvers.errors.CityoptError` and a builtin, and every
message names the bad value and the fix.  The CLI maps ``InvalidInputError``
(and the other ``ValueError``/``LookupError`` kinds here) to exit code 2.
"""

from __future__ import annotations

from solvers.errors import (
    BackendUnavailableError,
    CityoptError,
    InvalidInputError,
    InvalidOptionError,
    ProblemTooLargeError,
    SolverError,
    UnknownSolverError,
)

__all__ = [
    "BackendUnavailableError",
    "CityError",
    "CityNotFoundError",
    "CityoptError",
    "DemandError",
    "DeviceError",
    "ForecastError",
    "GridError",
    "GridNotFoundError",
    "InfeasibleSolutionError",
    "InvalidCityFileError",
    "InvalidGridFileError",
    "InvalidInputError",
    "InvalidOptionError",
    "PlanValidationError",
    "ProblemTooLargeError",
    "SensorDataError",
    "SimulationError",
    "SolverError",
    "SumoMissingError",
    "UnknownSolverError",
]


class CityError(InvalidInputError):
    """A city cannot be loaded as asked."""


class CityNotFoundError(CityError):
    """No bundled city by that name and no such file."""


class InvalidCityFileError(CityError):
    """The city file is empty, corrupt, or holds no drivable roads."""


class DemandError(InvalidInputError):
    """Trips or loads cannot be made as asked."""


class DeviceError(InvalidInputError):
    """A device file or a device generator's parameters cannot be used as asked (row, field and fix named)."""


class ForecastError(InvalidInputError):
    """Sensor readings or forecast options cannot be forecast as asked (columns, times, horizons, days)."""


class InfeasibleSolutionError(CityoptError, ValueError):
    """A solution breaks the problem's constraints, so no plan can be decoded from it."""


class PlanValidationError(CityoptError, ValueError):
    """A plan failed its from-scratch re-validation."""


class GridError(InvalidInputError):
    """A power grid cannot be loaded or used as asked."""


class GridNotFoundError(GridError):
    """No bundled grid, SimBench code or file by that name."""


class InvalidGridFileError(GridError):
    """The file is not a pandapower JSON or MATPOWER case, or holds no usable grid."""


class SensorDataError(InvalidInputError):
    """Sensor readings or a sensors table cannot be read or used as asked."""


class SumoMissingError(InvalidInputError):
    """Eclipse SUMO (the ``eclipse-sumo`` package or its binaries) is not installed."""


class SimulationError(CityoptError, RuntimeError):
    """netconvert or sumo failed, or the SUMO network does not match the road graph."""
