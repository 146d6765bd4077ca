"""cityopt's planner: cities and grids to problems, plans, reports and jobs.

Light at import: heavy libraries load when the object that needs them is used.

Examples
--------
>>> from optimizer import City, problems, solve
>>> city = City.load("helsinki")                  # bundled, offline
>>> prob = problems.Traffic.from_city(city, trips=12, routes=3, seed=1)
>>> plan = prob.decode(solve(prob, "cpsat")).validate()
>>> len(plan.routes), plan.objective_units
(12, 'vehicle-hours')

Street sensors, forecasts and the live loop, for notebooks:

>>> from optimizer import Sensors, forecast, live
>>> stream = Sensors.read("replay:helsinki")             # five mornings of 18 loops, shipped
>>> stream.tz, len(stream.sensors)
('Europe/Helsinki', 18)
>>> f = forecast(stream, model="historical", horizon_min=(15, 30), at="2026-03-06T05:00Z")
>>> f.shape, str(f.target_time.min())                    # one row per sensor and horizon
((36, 7), '2026-03-06 05:15:00+00:00')
>>> res = live("helsinki", sensors=stream, trips=150, hours=0.25, solvers=("cpsat",),
...            forecast="gbt", out="outputs/live")        # doctest: +SKIP
>>> res.verdict["best"], res.strategies["cityopt-cpsat"].vehicles_arrived    # doctest: +SKIP
('cityopt-cpsat', 600)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from optimizer import problems
from optimizer.errors import (
    BackendUnavailableError,
    CityError,
    CityNotFoundError,
    CityoptError,
    DemandError,
    GridError,
    GridNotFoundError,
    InfeasibleSolutionError,
    InvalidCityFileError,
    InvalidGridFileError,
    InvalidInputError,
    InvalidOptionError,
    PlanValidationError,
    ProblemTooLargeError,
    SolverError,
    UnknownSolverError,
)
from optimizer.solve import solve, solver_names

if TYPE_CHECKING:  # pragma: no cover
    from optimizer.inputs.city import City
    from optimizer.inputs.grid import Grid
    from optimizer.plans.dispatch import DispatchPlan
    from optimizer.plans.fleet import FleetPlan
    from optimizer.plans.routing import RoutingPlan
    from optimizer.runs.live import live
    from optimizer.sensing.forecast import forecast
    from optimizer.sensing.readings import Sensors

__version__ = "0.1.0"

__all__ = [
    "BackendUnavailableError",
    "City",
    "CityError",
    "CityNotFoundError",
    "CityoptError",
    "DemandError",
    "DispatchPlan",
    "FleetPlan",
    "Grid",
    "GridError",
    "GridNotFoundError",
    "InfeasibleSolutionError",
    "InvalidCityFileError",
    "InvalidGridFileError",
    "InvalidInputError",
    "InvalidOptionError",
    "PlanValidationError",
    "ProblemTooLargeError",
    "RoutingPlan",
    "Sensors",
    "SolverError",
    "UnknownSolverError",
    "__version__",
    "forecast",
    "live",
    "problems",
    "solve",
    "solver_names",
]

_LAZY = {"City": "optimizer.inputs.city", "Grid": "optimizer.inputs.grid",
         "RoutingPlan": "optimizer.plans.routing", "FleetPlan": "optimizer.plans.fleet",
         "DispatchPlan": "optimizer.plans.dispatch",
         # the smart-city loop: sensor streams, per-sensor forecasts, the closed loop in SUMO
         "Sensors": "optimizer.sensing.readings", "forecast": "optimizer.sensing.forecast",
         "live": "optimizer.runs.live"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    msg = f"module 'optimizer' has no attribute {name!r}"
    raise AttributeError(msg)
